/**
 * The Landscape service over any `@effect/sql` `SqlClient` (`make`), and its migrations (`migrate`).
 * The write side is here and in `write.ts`; the read side in `read.ts` and the modules it names.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import * as Migrator from "@effect/sql/Migrator"
import { Clock, Effect } from "effect"
import type { LandscapeService, PartitionsService, RunCheckpointsService } from "./api.js"
import * as Chain from "./chain.js"
import { landscapeError, LandscapeError, toLandscapeError } from "./error.js"
import { migrations } from "./migrations.js"
import { operation } from "./operation.js"
import { makePartitions, type Partitions } from "./partitions.js"
import { makeReader } from "./read.js"
import type { OperationEnd, RunEnd } from "./records.js"
import { makeRunCheckpoints, type RunCheckpoints } from "./resume.js"
import { canonicalVersion, configOf, json, makeChain, makeRecordBatch, owner } from "./write.js"

export { toLandscapeError }

/** The run checkpoint writes as Landscape operations (`runCheckpoint`; resume as `resumeRun`). */
const checkpointsService = (c: RunCheckpoints): RunCheckpointsService => ({
  begin: (cp, now) => operation("runCheckpoint", c.begin(cp, now)),
  write: (cp, now) => operation("runCheckpoint", c.write(cp, now)),
  read: (runId) => operation("runCheckpoint", c.read(runId)),
  resume: (request) => operation("resumeRun", c.resume(request))
})

/** The partition writes as Landscape operations (`partitions`; lost leases fail as `partitionLease`). */
const partitionsService = (
  p: Partitions,
  finishIfRunning: (run: RunEnd) => Effect.Effect<boolean, SqlError.SqlError | LandscapeError>,
  completeIfRunning: (o: OperationEnd) => Effect.Effect<boolean, SqlError.SqlError | LandscapeError>
): PartitionsService => ({
  create: (runId, count, traceparent, now) => operation("partitions", p.create(runId, count, traceparent, now)),
  claim: (runId, owner, leaseMs, now) => operation("partitions", p.claim(runId, owner, leaseMs, now)),
  renew: (lease, expiresAt, now) => operation("partitions", p.renew(lease, expiresAt, now)),
  checkpoint: (cp, now) => operation("partitions", p.checkpoint(cp, now)),
  release: (lease, now) => operation("partitions", p.release(lease, now)),
  fail: (lease, now) => operation("partitions", p.fail(lease, now)),
  complete: (cp, now) => operation("partitions", p.complete(cp, now)),
  list: (runId) => operation("partitions", p.list(runId)),
  join: (runId) => operation("partitions", p.join(runId)),
  leftovers: (lease, ids) => operation("partitions", p.leftovers(lease, ids)),
  finishRun: (run) => operation("finishRun", finishIfRunning(run)),
  completeOperation: (o) => operation("completeOperation", completeIfRunning(o))
})

/** The cause of the refusal to end a run (or an operation) that has ended already. */
const alreadyEnded = { reason: "it has ended already" }

/** The refusal to end what has ended already: fails the write inside its transaction, so nothing is appended. */
const refuseEnded = (operation: "finishRun" | "completeOperation", message: string) =>
  new LandscapeError({ operation, message: `Landscape ${operation} failed: ${message}`, cause: alreadyEnded })

/** `true` once the end is recorded; with `ifRunning`, `false` instead of the {@link refuseEnded} refusal. */
const recordedUnlessEnded = (ifRunning: boolean) => <E>(write: Effect.Effect<void, E>): Effect.Effect<boolean, E> =>
  write.pipe(
    Effect.as(true),
    Effect.catchIf((e) => ifRunning && e instanceof LandscapeError && e.cause === alreadyEnded, () => Effect.succeed(false))
  )

/** The write half of the service. */
const makeWriter = (sql: SqlClient.SqlClient) => {
  const append = makeChain(sql)
  const recordBatch = makeRecordBatch(sql)
  /**
   * Records how the run ended. A run no longer `running` fails the write (nothing is appended), or,
   * with `ifRunning`, leaves it as it is and answers `false`.
   */
  const finish = (run: RunEnd, ifRunning: boolean) =>
    Effect.suspend(() => {
      const end = {
        runId: run.runId,
        status: run.status,
        finishedAt: run.finishedAt,
        durationMs: run.durationMs,
        rowsRead: run.rowsRead,
        rowsQuarantined: run.rowsQuarantined,
        error: run.error ?? null
      }
      return append(run.runId, "run_end", { run_end: [Chain.facts.runEnd(end)] }, 1, (seq, chainHash) =>
        Effect.gen(function* () {
          const [before] = yield* sql<{ readonly status: string; readonly error: string | null }>`SELECT status, error FROM runs WHERE run_id = ${run.runId}`
          if (before === undefined) return yield* landscapeError("finishRun", `run ${run.runId} is not recorded`)
          if (before.status !== "running") {
            return yield* refuseEnded("finishRun", `run ${run.runId} is already ${before.status}${before.error ? ` (${before.error})` : ""}`)
          }
          yield* sql`UPDATE runs SET ${
            sql.update({
              status: end.status,
              finished_at: end.finishedAt,
              duration_ms: end.durationMs,
              rows_read: end.rowsRead,
              rows_quarantined: end.rowsQuarantined,
              error: end.error,
              end_seq: seq,
              chain_hash: chainHash
            })
          } WHERE run_id = ${run.runId}`
        })).pipe(recordedUnlessEnded(ifRunning))
    })
  /**
   * Records how an operation ended. With `ifRunning`, an operation already ended is left as it is
   * (`false`, nothing appended): the check and the write hold the run's lock together, so of two
   * workers closing one operation (a takeover and the worker it took over from) one records it.
   */
  const completeOperation = (o: OperationEnd, ifRunning: boolean) =>
    Effect.gen(function* () {
      const [found] = yield* sql<{ readonly run_id: string }>`SELECT run_id FROM operations WHERE operation_id = ${o.operationId}`
      if (found === undefined) return yield* landscapeError("completeOperation", `operation ${o.operationId} is not recorded`)
      const end = {
        operationId: o.operationId,
        status: o.status,
        detailsJson: json(o.details),
        error: o.error ?? null,
        completedAt: o.completedAt,
        durationMs: o.durationMs
      }
      return yield* append(found.run_id, "operation_end", { operation_end: [Chain.facts.operationEnd(end)] }, 1, (seq) =>
        Effect.gen(function* () {
          if (ifRunning) {
            const [current] = yield* sql<{ readonly status: string }>`SELECT status FROM operations WHERE operation_id = ${o.operationId}`
            if (current?.status !== "running") return yield* refuseEnded("completeOperation", `operation ${o.operationId} has ended already`)
          }
          yield* sql`UPDATE operations SET ${
            sql.update({
              status: end.status,
              details_json: end.detailsJson,
              error: end.error,
              completed_at: end.completedAt,
              duration_ms: end.durationMs,
              end_seq: seq
            })
          } WHERE operation_id = ${o.operationId}`
        })).pipe(recordedUnlessEnded(ifRunning))
    })
  const writer: Pick<
    LandscapeService,
    "beginRun" | "heartbeat" | "finishRun" | "registerNodes" | "recordBatch" | "beginOperation" | "completeOperation" | "recordCall" | "partitions" | "checkpoints"
  > = {
    beginRun: (run) =>
      operation("beginRun", Effect.suspend(() => {
        const config = configOf(run.config)
        const row = {
          runId: run.runId,
          pipeline: run.pipeline,
          startedAt: run.startedAt,
          configHash: config.hash,
          telemetryEnabled: run.telemetryEnabled ? 1 : 0,
          telemetryGranularity: run.telemetryEnabled ? run.telemetryGranularity : null,
          ownerHost: run.owner === "workers" ? null : owner.host,
          ownerPid: run.owner === "workers" ? null : owner.pid,
          canonicalVersion,
          traceId: run.traceId ?? null,
          parentRunId: run.parentRunId ?? null
        }
        return append(run.runId, "run", { run: [Chain.facts.run(row)] }, 1, () =>
          sql`INSERT INTO runs ${
            sql.insert({
              run_id: row.runId,
              pipeline: row.pipeline,
              status: "running",
              started_at: row.startedAt,
              config_json: config.json,
              config_hash: row.configHash,
              telemetry_enabled: row.telemetryEnabled,
              telemetry_granularity: row.telemetryGranularity,
              owner_host: row.ownerHost,
              owner_pid: row.ownerPid,
              heartbeat_at: run.startedAt,
              canonical_version: row.canonicalVersion,
              trace_id: row.traceId,
              ...(row.parentRunId === null ? {} : { parent_run_id: row.parentRunId })
            })
          }`.pipe(Effect.asVoid))
      })),
    heartbeat: (runId) =>
      operation("heartbeat", Effect.flatMap(Clock.currentTimeMillis, (now) =>
        sql`UPDATE runs SET heartbeat_at = ${now} WHERE run_id = ${runId} AND status = 'running'`)),
    finishRun: (run) => operation("finishRun", finish(run, false)),
    registerNodes: (nodes) =>
      nodes.length === 0 ? Effect.void : operation("registerNodes", Effect.suspend(() => {
        const rows = nodes.map((n) => ({ ...n, configJson: json(n.config) }))
        const runs = new Set(rows.map((n) => n.runId))
        if (runs.size > 1) return Effect.fail(landscapeError("registerNodes", `nodes of one run at a time, these are of ${runs.size}`))
        return append(rows[0]!.runId, "nodes", { node: rows.map((n) => Chain.facts.node(n)) }, rows.length, (seq) =>
          sql`INSERT INTO nodes ${
            sql.insert(rows.map((n, ord) => ({
              node_id: n.nodeId,
              run_id: n.runId,
              name: n.name,
              kind: n.kind,
              position: n.position,
              config_json: n.configJson,
              chain_seq: seq,
              chain_ord: ord
            })))
          }`.pipe(Effect.asVoid))
      })),
    recordBatch: (batch, checkpoint) => operation("recordBatch", recordBatch(batch, checkpoint)),
    beginOperation: (o) =>
      operation("beginOperation", Effect.suspend(() => {
        const detailsJson = json(o.details)
        const fact = Chain.facts.operation({ operationId: o.operationId, nodeId: o.nodeId, kind: o.kind, detailsJson, startedAt: o.startedAt })
        return append(o.runId, "operation", { operation: [fact] }, 1, (seq) =>
          sql`INSERT INTO operations ${
            sql.insert({
              operation_id: o.operationId,
              run_id: o.runId,
              node_id: o.nodeId,
              kind: o.kind,
              status: "running",
              details_json: detailsJson,
              begin_details_json: detailsJson,
              started_at: o.startedAt,
              chain_seq: seq,
              chain_ord: 0
            })
          }`.pipe(Effect.asVoid))
      })),
    completeOperation: (o) => operation("completeOperation", Effect.asVoid(completeOperation(o, false))),
    partitions: partitionsService(makePartitions(sql), (run) => finish(run, true), (o) => completeOperation(o, true)),
    checkpoints: checkpointsService(makeRunCheckpoints(sql)),
    recordCall: (call) =>
      operation("recordCall", recordBatch({ rows: [], nodeStates: [], runningStates: [], stateUpdates: [], routing: [], calls: [call], outcomes: [] }))
  }
  return writer
}

/**
 * The Landscape service over the `SqlClient` in context (schema already migrated). `readonly`: the
 * client cannot write (`findRows` then scans instead of creating its index).
 */
export const make = (options: { readonly readonly?: boolean } = {}): Effect.Effect<LandscapeService, never, SqlClient.SqlClient> =>
  Effect.map(SqlClient.SqlClient, (sql) => ({ ...makeWriter(sql), ...makeReader(sql, { readonly: options.readonly ?? false }) }))

const runMigrations = Migrator.make({})({ loader: migrations })

/**
 * SQLite: foreign keys are off while the migrations run (0002 and 0003 rebuild referenced tables,
 * see `migrations.ts`) and checked after, when a migration ran: a violation fails the open.
 * (Checking on every open read the whole file: some twenty seconds for a million rows, on every
 * `sightline` command.)
 */
const migrateSqlite = (sql: SqlClient.SqlClient) =>
  Effect.gen(function* () {
    yield* sql`PRAGMA foreign_keys = OFF`
    const applied = yield* runMigrations.pipe(Effect.ensuring(Effect.ignore(sql`PRAGMA foreign_keys = ON`)))
    if (applied.length === 0) return
    const violations = yield* sql<{ readonly table: string }>`PRAGMA foreign_key_check`
    if (violations.length > 0) {
      return yield* landscapeError("migrate", `${violations.length} foreign key violations after migrating (first in table ${violations[0]!.table})`)
    }
  })

/**
 * PostgreSQL: the migrations table is created first, under an advisory lock, so workers opening a
 * new database at once do not race to create it (the Migrator's own check, `select
 * 'effect_sql_migrations'::regclass`, cannot run inside a transaction: it fails when the table is
 * missing, which aborts the transaction). The Migrator then locks that table for its transaction
 * (`LOCK TABLE … IN ACCESS EXCLUSIVE MODE`): the first process applies what is pending, the others
 * wait and find nothing left. DDL is transactional there, so a failed migration leaves the schema
 * as it was.
 */
const migratePg = (sql: SqlClient.SqlClient) =>
  Effect.zipRight(
    sql.withTransaction(Effect.zipRight(
      sql`SELECT pg_advisory_xact_lock(hashtextextended('sightline.landscape.migrate', 0))`,
      sql`CREATE TABLE IF NOT EXISTS effect_sql_migrations (
        migration_id integer primary key,
        created_at timestamp with time zone not null default now(),
        name text not null
      )`
    )),
    runMigrations
  )

/** The schema this Sightline reads and writes: the number of its last migration (`migrations.ts`). */
export const schemaVersion = 11

/**
 * For a Landscape opened read-only, which cannot migrate: fails with `LandscapeError` (`open`,
 * naming `where`) when its schema is older than {@link schemaVersion} (or it has none), saying how
 * to migrate it, rather than failing later on a table it lacks.
 */
export const requireSchema = (where: string): Effect.Effect<void, LandscapeError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ readonly version: number | null }>`SELECT max(migration_id) AS version FROM effect_sql_migrations`.pipe(
      Effect.orElseSucceed(() => [{ version: null }])
    )
    const version = row?.version === null || row?.version === undefined ? 0 : Number(row.version)
    if (version >= schemaVersion) return
    return yield* landscapeError(
      "open",
      version === 0
        ? `${where} holds no Landscape (no schema): nothing to read`
        : `${where} is at schema ${version}; this Sightline reads schema ${schemaVersion}. Open it read-write once to migrate it (any other sightline command, e.g. sightline runs --db …, or a pipeline run), then again read-only`
    )
  })

/** Applies pending migrations on the `SqlClient` in context (see `migrateSqlite`, `migratePg`). Needs no platform services. */
export const migrate = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql.onDialectOrElse({ pg: () => Effect.asVoid(migratePg(sql)), orElse: () => migrateSqlite(sql) })
}).pipe(Effect.mapError(toLandscapeError("migrate")))
