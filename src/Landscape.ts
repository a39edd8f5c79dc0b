/**
 * The `Landscape` service: the permanent audit trail of what happened (DESIGN.md). Every run, node,
 * row, token, node state, routing decision, operation and external call is recorded here, 100 %,
 * each write one link of its run's hash chain; and read back: lineage (`explain`, `trace`),
 * `findRows`, audit queries, run summaries, `verify`, signed `exportRun`, `purge`.
 *
 * Every operation fails with {@link LandscapeError}, and a Landscape failure is fatal: the engine
 * never recovers it, so the run's `Exit` names it (DESIGN.md invariant 3). Times are epoch
 * milliseconds, durations milliseconds, hashes SHA-256 hex over RFC 8785 canonical JSON.
 *
 * `make` builds the service over an `@effect/sql` `SqlClient` (after `migrate`);
 * `LandscapeSqlite.layer` is the embedded default, `LandscapePg.layer` the same on PostgreSQL.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { Config, Context, Effect, type Option, Redacted, Stream } from "effect"
import type { LandscapeService } from "./landscape/api.js"
import { landscapeError, type LandscapeError } from "./landscape/error.js"
import { verifyExport as verifyExportLines } from "./landscape/export.js"
import type { RunRow } from "./landscape/records.js"
import type {
  AuditPage,
  AuditQuery,
  Explanation,
  ExplainRequest,
  ExportVerifyReport,
  FindRowsRequest,
  FoundRow,
  PurgeOptions,
  PurgeResult,
  RunsOptions,
  RunSummary,
  Trace,
  VerifyReport
} from "./landscape/results.js"
import * as Service from "./landscape/service.js"

export type { RunTotals, Totals } from "./internal/usage.js"
export type { LandscapeService } from "./landscape/api.js"
export { LandscapeError, Operation } from "./landscape/error.js"
export type * from "./landscape/records.js"
export type * from "./landscape/results.js"

/**
 * @since 0.1.0
 * @category tags
 */
export class Landscape extends Context.Tag("sightline/Landscape")<Landscape, LandscapeService>() {}

/**
 * The Landscape service over the `SqlClient` in context, whose schema {@link migrate} has brought up
 * to date. `readonly: true` when the client cannot write (`findRows` then scans instead of creating
 * its field index). Works on SQLite and PostgreSQL clients (`@effect/sql-sqlite-node`,
 * `@effect/sql-pg`, the dialect read from the client); `LandscapeSqlite.layer` and
 * `LandscapePg.layer` build it with their client, migrations and recovery.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Service.make

/**
 * Applies the Landscape's pending migrations (versioned, forward-only: an old file is migrated,
 * never recreated) on the `SqlClient` in context. Fails with `LandscapeError` (`operation: "migrate"`).
 *
 * @since 0.1.0
 */
export const migrate: Effect.Effect<void, LandscapeError, SqlClient.SqlClient> = Service.migrate

/** @since 0.1.0 */
export const getRun = (runId: string): Effect.Effect<Option.Option<RunRow>, LandscapeError, Landscape> =>
  Effect.flatMap(Landscape, (l) => l.getRun(runId))

/** Most recent first, at most `limit` (default 100). @since 0.1.0 */
export const listRuns = (options?: { readonly limit?: number }): Effect.Effect<ReadonlyArray<RunRow>, LandscapeError, Landscape> =>
  Effect.flatMap(Landscape, (l) => l.listRuns(options))

/** Runs by status, pipeline and start time, most recent first. @since 0.1.0 */
export const runs = (options?: RunsOptions): Effect.Effect<ReadonlyArray<RunRow>, LandscapeError, Landscape> =>
  Effect.flatMap(Landscape, (l) => l.runs(options))

/** See {@link LandscapeService.runSummary}. @since 0.1.0 */
export const runSummary = (runId: string): Effect.Effect<Option.Option<RunSummary>, LandscapeError, Landscape> =>
  Effect.flatMap(Landscape, (l) => l.runSummary(runId))

/** Backward lineage of a row (by id or index) or a token; `None` when the run has none such. @since 0.1.0 */
export const explain = (request: ExplainRequest): Effect.Effect<Option.Option<Explanation>, LandscapeError, Landscape> =>
  Effect.flatMap(Landscape, (l) => l.explain(request))

/** Forward lineage of a row; `None` when the run has no such row. @since 0.1.0 */
export const trace = (request: { readonly runId: string; readonly rowId: string }): Effect.Effect<Option.Option<Trace>, LandscapeError, Landscape> =>
  Effect.flatMap(Landscape, (l) => l.trace(request))

/** Rows by source field values. @since 0.1.0 */
export const findRows = (request: FindRowsRequest): Effect.Effect<ReadonlyArray<FoundRow>, LandscapeError, Landscape> =>
  Effect.flatMap(Landscape, (l) => l.findRows(request))

/** One page of an audit query. @since 0.1.0 */
export const query = (q: AuditQuery): Effect.Effect<AuditPage, LandscapeError, Landscape> => Effect.flatMap(Landscape, (l) => l.query(q))

/** Checks one run's hashes, chain, outcomes, open records and calls. @since 0.1.0 */
export const verify = (runId: string): Effect.Effect<VerifyReport, LandscapeError, Landscape> => Effect.flatMap(Landscape, (l) => l.verify(runId))

/** See {@link LandscapeService.purge}. @since 0.1.0 */
export const purge = (options: PurgeOptions): Effect.Effect<PurgeResult, LandscapeError, Landscape> => Effect.flatMap(Landscape, (l) => l.purge(options))

/**
 * The signing key of exports: `SIGHTLINE_SIGNING_KEY`. Fails with `LandscapeError` when it is not
 * set or empty: an export is never written unsigned.
 *
 * @since 0.1.0
 */
export const signingKey = (operation: "export" | "verifyExport"): Effect.Effect<Redacted.Redacted<string>, LandscapeError> =>
  Config.redacted("SIGHTLINE_SIGNING_KEY").pipe(
    Effect.filterOrFail((key) => Redacted.value(key).length > 0, () => landscapeError(operation, "SIGHTLINE_SIGNING_KEY is empty")),
    Effect.catchTag("ConfigError", () => Effect.fail(landscapeError(operation, "no signing key: set SIGHTLINE_SIGNING_KEY (an export is never written unsigned)")))
  )

/**
 * The run's complete audit as signed JSON Lines ending in a manifest (see `LandscapeService.exportRun`),
 * signed with `key` or else `SIGHTLINE_SIGNING_KEY`.
 *
 * @since 0.1.0
 */
export const exportRun = (runId: string, key?: Redacted.Redacted<string>): Stream.Stream<string, LandscapeError, Landscape> =>
  Stream.unwrap(Effect.zipWith(Landscape, key === undefined ? signingKey("export") : Effect.succeed(key), (l, k) => l.exportRun(runId, k)))

/**
 * Checks an export offline: every record's signature, the manifest's count and final hash, every
 * payload against its hash, and the chain values of the links. Needs no database; the key is `key`
 * or else `SIGHTLINE_SIGNING_KEY`.
 *
 * @since 0.1.0
 */
export const verifyExport = <E>(lines: Stream.Stream<string, E>, key?: Redacted.Redacted<string>): Effect.Effect<ExportVerifyReport, E | LandscapeError> =>
  Effect.flatMap(key === undefined ? signingKey("verifyExport") : Effect.succeed(key), (k) => verifyExportLines(lines, k))

