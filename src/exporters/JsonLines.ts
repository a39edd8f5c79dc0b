/**
 * An exporter that appends one JSON object per line (JSON Lines, https://jsonlines.org) to a file,
 * encoded with `TelemetryEvent.encodeJson` so every line decodes back with `decodeJson`. Each batch
 * is one append, so a reader never sees half a batch from a completed export.
 *
 * @since 0.1.0
 */
import { Effect, type Scope } from "effect"
import { mkdir, open } from "node:fs/promises"
import { dirname } from "node:path"
import * as Exporter from "../Exporter.js"
import { encodeJson } from "../TelemetryEvent.js"

/**
 * @since 0.1.0
 */
export interface Options {
  /** File to write; its directory is created if missing. */
  readonly path: string
  /** `true` (default) appends to an existing file; `false` truncates it first. */
  readonly append?: boolean
  /** Default `"jsonl"`. */
  readonly name?: string
}

/**
 * Opens the file in the current scope (closed with it) and returns the exporter. Fails with
 * `ExportError` when the file cannot be opened.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Exporter.Exporter, Exporter.ExportError, Scope.Scope> => {
  const name = options.name ?? "jsonl"
  const fail = (message: string) => (cause: unknown) => new Exporter.ExportError({ exporter: name, message, cause })
  return Effect.gen(function* () {
    const handle = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          await mkdir(dirname(options.path), { recursive: true })
          return open(options.path, options.append === false ? "w" : "a")
        },
        catch: fail(`cannot open ${options.path}`)
      }),
      (h) => Effect.promise(() => h.close())
    )
    return Exporter.make({
      name,
      export: (batch) =>
        Effect.tryPromise({
          try: () => handle.appendFile(batch.map((e) => encodeJson(e) + "\n").join("")),
          catch: fail(`cannot write ${options.path}`)
        }),
      shutdown: Effect.promise(() => handle.datasync()).pipe(Effect.ignore)
    })
  })
}
