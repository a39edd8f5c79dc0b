/**
 * The Landscape on PostgreSQL (`@effect/sql-pg`): the same schema, migrations, records, hash chain,
 * queries and `verify` as `LandscapeSqlite`, for pipelines that outgrow one process. Several
 * processes may write one database, and one run: each run's chain is appended under a per-run
 * advisory lock (see `writeTransaction` in `landscape/write.ts`).
 *
 * @since 0.1.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import Pg from "pg"
import { Config, type ConfigError, Duration, Effect, Layer, Redacted } from "effect"
import { Landscape, type LandscapeError } from "./Landscape.js"
import type { LandscapeService } from "./landscape/api.js"
import { landscapeError, type Operation, toLandscapeError } from "./landscape/error.js"
import { recoverStaleRuns } from "./landscape/recovery.js"
import { make, migrate, requireSchema } from "./landscape/service.js"

/**
 * Options of {@link layer}.
 *
 * @since 0.1.0
 */
export interface Options {
  /**
   * The server: `postgres://user:password@host:port/database` (libpq's URI form,
   * https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-CONNSTRING). Kept `Redacted`: errors
   * and logs name the server by {@link describe}, never with its password.
   */
  readonly url: Redacted.Redacted<string>
  /** Connections in the pool. Default 10 (`@effect/sql-pg`'s default). */
  readonly maxConnections?: number
  /** How long to wait for a connection to be established. Default 5 seconds. */
  readonly connectTimeout?: Duration.DurationInput
  /**
   * Open for reading only: no migration, no recovery of stale runs, `findRows` scans instead of
   * creating its index, and every write fails with `LandscapeError`. Default `false`.
   */
  readonly readonly?: boolean
  /** As `LandscapeSqlite.Options.staleRunAfter`: a `running` run with an older heartbeat is marked `interrupted` on open. Default 60 seconds. */
  readonly staleRunAfter?: Duration.DurationInput
}

/**
 * The server a URL names, without its credentials: `postgres://host:port/database`. What errors
 * and the CLI print.
 *
 * @since 0.1.0
 */
export const describe = (url: Redacted.Redacted<string> | string): string => {
  const text = typeof url === "string" ? url : Redacted.value(url)
  try {
    const u = new URL(text)
    return `${u.protocol}//${u.hostname}${u.port === "" ? "" : `:${u.port}`}${u.pathname}`
  } catch {
    return "postgres://(a URL that does not parse)"
  }
}

/**
 * Whether `target` is a PostgreSQL URL (`postgres://…` or `postgresql://…`, the schemes libpq
 * accepts) rather than a SQLite file name: how the CLI's `--db` and `SIGHTLINE_LANDSCAPE` choose.
 *
 * @since 0.1.0
 */
export const isUrl = (target: string): boolean => /^postgres(ql)?:\/\//i.test(target)

/** PostgreSQL's `int8` (BIGINT, `count(*)`) as a JS number, as SQLite gives it: epoch milliseconds and counts stay below 2^53. */
const int8 = 20
const types: Pg.CustomTypesConfig = {
  getTypeParser: (oid: number, format?: "text" | "binary") => (oid === int8 ? Number : Pg.types.getTypeParser(oid, format))
}

/** The service with every write failing: what `readonly: true` gives (a dry-run purge only reads, so it runs). */
const readOnly = (service: LandscapeService, where: string): LandscapeService => {
  const refuse = (operation: Operation) => () => Effect.fail(landscapeError(operation, `the Landscape at ${where} is open read-only`))
  return {
    ...service,
    beginRun: refuse("beginRun"),
    heartbeat: refuse("heartbeat"),
    finishRun: refuse("finishRun"),
    registerNodes: refuse("registerNodes"),
    recordBatch: refuse("recordBatch"),
    beginOperation: refuse("beginOperation"),
    completeOperation: refuse("completeOperation"),
    recordCall: refuse("recordCall"),
    partitions: {
      ...service.partitions,
      create: refuse("partitions"),
      claim: refuse("partitions"),
      renew: refuse("partitions"),
      checkpoint: refuse("partitions"),
      release: refuse("partitions"),
      fail: refuse("partitions"),
      complete: refuse("partitions"),
      finishRun: refuse("finishRun"),
      completeOperation: refuse("completeOperation")
    },
    purge: (options) => (options.dryRun === true ? service.purge(options) : refuse("purge")())
  }
}

/**
 * The Landscape on PostgreSQL 15 or later. Applies pending migrations when built (once, whatever
 * the number of processes opening the database at once: they wait on an advisory lock), then marks
 * `interrupted` every run left `running` by a process that is gone (by heartbeat, see
 * `staleRunAfter`; by pid only for processes of this host). Fails with `LandscapeError`
 * (`operation: "open"`, naming the server without its password) when the server cannot be reached
 * or the schema cannot be migrated.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Landscape, LandscapeError> => {
  const where = describe(options.url)
  const client = PgClient.layer({
    url: options.url,
    maxConnections: options.maxConnections ?? 10,
    connectTimeout: options.connectTimeout ?? "5 seconds",
    applicationName: "sightline",
    types
  }).pipe(Layer.mapError(toLandscapeError("open", where)))
  const staleAfterMs = Duration.toMillis(Duration.decode(options.staleRunAfter ?? "60 seconds"))
  const service = Layer.effect(
    Landscape,
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      if (options.readonly === true) {
        yield* requireSchema(where)
        return readOnly(yield* make({ readonly: true }), where)
      }
      yield* migrate
      const recovered = yield* Effect.mapError(recoverStaleRuns(sql, staleAfterMs), toLandscapeError("recoverStaleRuns", where))
      if (recovered.length > 0) yield* Effect.logWarning(`Landscape: marked ${recovered.length} run(s) left running by a dead process interrupted`, recovered)
      return yield* make({ readonly: false })
    }).pipe(Effect.withTracerEnabled(false))
  )
  return service.pipe(Layer.provide(client))
}

/**
 * {@link layer} with its options from `Config`, e.g.
 * `LandscapePg.layerConfig({ url: Config.redacted("SIGHTLINE_LANDSCAPE") })`. Fails with the
 * `ConfigError` too.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (config: Config.Config.Wrap<Options>): Layer.Layer<Landscape, LandscapeError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
