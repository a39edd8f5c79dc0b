/**
 * What every `sightline` command shares: which Landscape (`--db`, else `SIGHTLINE_LANDSCAPE`, else
 * `out/landscape.db`: a SQLite file, or a PostgreSQL URL), opening it (a file is never created),
 * `latest` as a run id, times and ages.
 *
 * @internal
 */
import { Data, Duration, Effect, Layer, Option, Redacted } from "effect"
import { existsSync, statSync } from "node:fs"
import { Landscape, type LandscapeError } from "../Landscape.js"
import * as LandscapePg from "../LandscapePg.js"
import * as LandscapeSqlite from "../LandscapeSqlite.js"

/** A usage error of the command: one line, exit code 2. */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

/** The Landscape of a command: a file name or a PostgreSQL URL. */
export const dbPath = (option: Option.Option<string>): string =>
  Option.getOrElse(option, () => process.env["SIGHTLINE_LANDSCAPE"] || "out/landscape.db")

/**
 * The Landscape layer over an existing file, or a PostgreSQL database (`postgres://…`; errors name
 * the server without its password). A missing file is a usage error (never created: a typo in
 * `--db` must not leave an empty Landscape behind). Opening migrates an older schema, unless
 * `readonly` (nothing is written then: an older schema must be migrated by another command first).
 */
export const landscapeAt = (path: string, options: { readonly readonly?: boolean } = {}): Layer.Layer<Landscape, LandscapeError | UsageError> =>
  LandscapePg.isUrl(path)
    ? LandscapePg.layer({ url: Redacted.make(path), ...options })
    : !existsSync(path)
    ? Layer.fail(new UsageError({ message: `no Landscape at ${path} (run a pipeline first, or pass --db FILE or set SIGHTLINE_LANDSCAPE)` }))
    : statSync(path).isDirectory()
    ? Layer.fail(new UsageError({ message: `${path} is a directory, not a Landscape file` }))
    : LandscapeSqlite.layer({ filename: path, ...options })

/** A run id, or the most recently started run for `latest`. */
export const resolveRun = (runId: string): Effect.Effect<string, LandscapeError | UsageError, Landscape> =>
  Effect.flatMap(Landscape, (l) =>
    runId !== "latest"
      ? Effect.flatMap(l.getRun(runId), (run) =>
        Option.isSome(run) ? Effect.succeed(runId) : Effect.fail(new UsageError({ message: `no run ${runId} in this Landscape (see: sightline runs)` })))
      : Effect.flatMap(l.runs({ limit: 1 }), ([latest]) =>
        latest === undefined ? Effect.fail(new UsageError({ message: "this Landscape has no runs yet" })) : Effect.succeed(latest.runId)))

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

/** `90d`, `12h`, `30m`, `45s`, `500ms`, `2w` as milliseconds. */
export const parseAge = (text: string): Option.Option<number> => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(text.trim())
  return m === null ? Option.none() : Option.some(Number(m[1]) * units[m[2]!]!)
}

/** A point in time: an ISO 8601 date or time, epoch milliseconds, or an age (`1h` = an hour ago). */
export const parseTime = (text: string, now: number): Effect.Effect<number, UsageError> => {
  const age = parseAge(text)
  if (Option.isSome(age)) return Effect.succeed(now - age.value)
  if (/^\d{12,}$/.test(text)) return Effect.succeed(Number(text))
  const parsed = Date.parse(text)
  return Number.isNaN(parsed)
    ? Effect.fail(new UsageError({ message: `cannot read "${text}" as a time (give an ISO date like 2026-01-31T12:00Z, epoch ms, or an age like 90m, 12h, 7d)` }))
    : Effect.succeed(parsed)
}

export const durationText = (msValue: number) => Duration.format(Duration.millis(Math.round(msValue)))
