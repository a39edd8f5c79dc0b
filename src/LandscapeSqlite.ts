/**
 * The Landscape on embedded SQLite (`@effect/sql-sqlite-node`, better-sqlite3): the default store.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Cause, Config, type ConfigError, Duration, Effect, Layer } from "effect"
import { mkdirSync } from "node:fs"
import { dirname } from "node:path"
import { Landscape, type LandscapeError } from "./Landscape.js"
import { toLandscapeError } from "./landscape/error.js"
import * as Checkpointer from "./landscape/checkpointer.js"
import { recoverStaleRuns } from "./landscape/recovery.js"
import { make, migrate, requireSchema } from "./landscape/service.js"

/**
 * Options of {@link layer}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Database file; created (with its directory) when missing. `":memory:"` for a private in-memory database. */
  readonly filename: string
  /** Open read-only: reads work, every write fails with `LandscapeError`. Default `false`. */
  readonly readonly?: boolean
  /**
   * A `running` run whose heartbeat is older than this is taken for dead when the Landscape is
   * opened, and marked `interrupted` (with its open operations and node states closed). A run owned
   * by a process of this host that no longer exists is marked at once. Default 60 seconds (the
   * engine beats every 5 seconds, so a live run is never this late unless its process is frozen).
   */
  readonly staleRunAfter?: Duration.DurationInput
}

/**
 * The Landscape on SQLite, in WAL mode with `synchronous = NORMAL` (durable across process
 * crashes; the last commits may be lost on power loss, see https://www.sqlite.org/wal.html).
 * Applies pending migrations when built, then marks `interrupted` every run left `running` by a
 * process that is gone (see `staleRunAfter`). Fails with `LandscapeError` (`operation: "open"`,
 * naming the file) when the file cannot be opened or migrated.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Landscape, LandscapeError> => {
  const where = `file "${options.filename}"`
  const client = Layer.unwrapEffect(
    Effect.try({
      try: () => {
        if (options.filename !== ":memory:" && !options.readonly) mkdirSync(dirname(options.filename), { recursive: true })
        return SqliteClient.layer({ filename: options.filename, readonly: options.readonly ?? false })
      },
      catch: toLandscapeError("open", where)
    })
  ).pipe(
    // better-sqlite3 throws while the client layer is built (a directory, a missing file under
    // `readonly`): that arrives as a defect, and is still a Landscape that cannot be opened.
    Layer.catchAllCause((cause) => Layer.fail(toLandscapeError("open", where)(Cause.squash(cause))))
  )
  const staleAfterMs = Duration.toMillis(Duration.decode(options.staleRunAfter ?? "60 seconds"))
  const service = Layer.scoped(
    Landscape,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      if (!options.readonly) {
        yield* Effect.mapError(sql`PRAGMA synchronous = NORMAL`, toLandscapeError("open", where))
        if (options.filename !== ":memory:") {
          // Checkpoints off the event loop's thread (see landscape/checkpointer.ts).
          yield* Effect.mapError(sql`PRAGMA wal_autocheckpoint = 0`, toLandscapeError("open", where))
          yield* Checkpointer.start(options.filename)
        }
        yield* migrate
        const recovered = yield* Effect.mapError(recoverStaleRuns(sql, staleAfterMs), toLandscapeError("recoverStaleRuns", where))
        if (recovered.length > 0) yield* Effect.logWarning(`Landscape: marked ${recovered.length} run(s) left running by a dead process interrupted`, recovered)
      } else {
        yield* requireSchema(where)
      }
      return yield* make({ readonly: options.readonly ?? false })
    }).pipe(Effect.withTracerEnabled(false))
  )
  return service.pipe(Layer.provide(client))
}

/**
 * {@link layer} with its options from `Config` (e.g. `Config.string("SIGHTLINE_LANDSCAPE")` for
 * `filename`). Fails with the `ConfigError` too.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (config: Config.Config.Wrap<Options>): Layer.Layer<Landscape, LandscapeError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
