/**
 * The Landscape service over any `@effect/sql` `SqlClient` (`make`), and its migrations (`migrate`).
 *
 * @internal
 */
import { SqlClient, type SqlError } from "@effect/sql"
import * as Migrator from "@effect/sql/Migrator"
import { Clock, Context, Effect, Option } from "effect"
import { hostname } from "node:os"
import { describeError } from "../internal/describe.js"
import { canonicalJson, hashCanonical } from "../internal/hashing.js"
import { runTotals } from "../internal/usage.js"
import {
  type CallRecord,
  LandscapeError,
  type LandscapeService,
  type NodeStateEnd,
  type NodeStateStart,
  type RoutingRecord,
  type RowRecord,
  type RunRow,
  type TokenEnd
} from "../Landscape.js"
import { makeInserter } from "./insert.js"
import { migrations } from "./migrations.js"

export const toLandscapeError = (operation: string, context?: string) => (error: unknown) =>
  error instanceof LandscapeError
    ? error
    : new LandscapeError({ operation, message: `Landscape ${operation}${context ? ` (${context})` : ""} failed: ${describeError(error)}`, cause: error })

const json = (value: unknown): string => canonicalJson(value)

const callValues = (c: CallRecord, p: Array<unknown>) => {
  p.push(
    c.callId,
    c.runId,
    c.nodeId,
    c.stateId ?? null,
    c.operationId ?? null,
    c.callType,
    c.status,
    c.request === undefined ? null : json(c.request),
    c.requestHash ?? null,
    c.response === undefined ? null : json(c.response),
    c.responseHash ?? null,
    json(c.attributes),
    c.error ?? null,
    c.latencyMs,
    c.createdAt
  )
}
const callColumns = [
  "call_id", "run_id", "node_id", "state_id", "operation_id", "call_type", "status", "request_json", "request_hash",
  "response_json", "response_hash", "attributes_json", "error", "latency_ms", "created_at"
]

const stateValues = (s: NodeStateStart & Partial<Omit<NodeStateEnd, "stateId">>, p: Array<unknown>) => {
  p.push(
    s.stateId,
    s.runId,
    s.tokenId,
    s.nodeId,
    s.stepIndex,
    s.status ?? "running",
    s.inputHash,
    s.outputHash ?? null,
    s.error === undefined ? null : json(s.error),
    s.startedAt,
    s.completedAt ?? null,
    s.durationMs ?? null
  )
}
const stateColumns = [
  "state_id", "run_id", "token_id", "node_id", "step_index", "status", "input_hash", "output_hash", "error_json",
  "started_at", "completed_at", "duration_ms"
]

interface RunDbRow {
  readonly run_id: string
  readonly pipeline: string
  readonly status: RunRow["status"]
  readonly started_at: number
  readonly finished_at: number | null
  readonly duration_ms: number | null
  readonly config_hash: string
  readonly telemetry_enabled: number
  readonly telemetry_granularity: string | null
  readonly rows_read: number | null
  readonly rows_quarantined: number | null
  readonly error: string | null
  readonly owner_host: string | null
  readonly owner_pid: number | null
  readonly heartbeat_at: number | null
}

const nullableNumber = (n: number | null) => (n === null ? null : Number(n))

const toRunRow = (r: RunDbRow): RunRow => ({
  runId: r.run_id,
  pipeline: r.pipeline,
  status: r.status,
  startedAt: Number(r.started_at),
  finishedAt: nullableNumber(r.finished_at),
  durationMs: r.duration_ms,
  configHash: r.config_hash,
  telemetryEnabled: Number(r.telemetry_enabled) === 1,
  telemetryGranularity: r.telemetry_granularity,
  rowsRead: r.rows_read,
  rowsQuarantined: r.rows_quarantined,
  error: r.error,
  ownerHost: r.owner_host,
  ownerPid: nullableNumber(r.owner_pid),
  heartbeatAt: nullableNumber(r.heartbeat_at)
})

/** The batch writers of one client: one multi-row inserter per table (see `insert.ts`). */
const makeWriters = (sql: SqlClient.SqlClient) => {
  const rows = makeInserter<RowRecord>(sql, {
    name: "rows",
    columns: ["row_id", "run_id", "source_node_id", "row_index", "source_data_json", "source_data_hash", "created_at"],
    values: (r, p) => void p.push(r.rowId, r.runId, r.sourceNodeId, r.rowIndex, r.dataJson, r.dataHash, r.createdAt)
  })
  /** A row's first token, with its outcome when the same batch holds it. */
  const tokens = makeInserter<{ readonly row: RowRecord; readonly end: TokenEnd | undefined }>(sql, {
    name: "tokens",
    columns: ["token_id", "row_id", "run_id", "created_at", "outcome", "sink_node_id", "completed_at"],
    values: ({ end, row }, p) =>
      void p.push(row.tokenId, row.rowId, row.runId, row.createdAt, end?.outcome ?? null, end?.sinkNodeId ?? null, end?.completedAt ?? null)
  })
  const states = makeInserter<NodeStateStart & Partial<Omit<NodeStateEnd, "stateId">>>(sql, {
    name: "node_states",
    columns: stateColumns,
    values: stateValues
  })
  const routing = makeInserter<RoutingRecord>(sql, {
    name: "routing_events",
    columns: ["routing_id", "run_id", "state_id", "token_id", "destination", "destination_node_id", "created_at"],
    values: (r, p) => void p.push(r.routingId, r.runId, r.stateId, r.tokenId, r.destination, r.destinationNodeId ?? null, r.createdAt)
  })
  const calls = makeInserter<CallRecord>(sql, { name: "calls", columns: callColumns, values: callValues })
  return { rows, tokens, states, routing, calls }
}

/** The Landscape service over the `SqlClient` in context (schema already migrated). */
export const make: Effect.Effect<LandscapeService, never, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const write = makeWriters(sql)
  const owner = { host: hostname(), pid: process.pid }
  /**
   * Every Landscape operation runs on the Landscape's own connection, untraced. `@effect/sql` finds
   * an open transaction through one tag shared by every client, so without the `omit` a Landscape
   * write made inside a user's `sql.withTransaction` would go to the user's database (and be rolled
   * back with it). Its statements are not traced: a span per audit statement would bury the
   * pipeline's own spans (the Landscape is not an external call of the pipeline).
   */
  const op = <A>(name: string, effect: Effect.Effect<A, SqlError.SqlError | LandscapeError>) =>
    effect.pipe(
      Effect.mapError(toLandscapeError(name)),
      Effect.withTracerEnabled(false),
      Effect.mapInputContext((context: Context.Context<never>) => Context.omit(SqlClient.TransactionConnection)(context))
    )

  const recordBatch: LandscapeService["recordBatch"] = (batch) => {
    const ends = new Map(batch.outcomes.map((end) => [end.tokenId, end]))
    const newTokens = batch.rows.map((row) => {
      const end = ends.get(row.tokenId)
      ends.delete(row.tokenId)
      return { row, end }
    })
    const inserted: Array<NodeStateStart & Partial<Omit<NodeStateEnd, "stateId">>> = [...batch.nodeStates, ...batch.runningStates]
    return op(
      "recordBatch",
      sql.withTransaction(Effect.all([
        write.rows(batch.rows),
        write.tokens(newTokens),
        write.states(inserted),
        Effect.forEach(batch.stateUpdates, (s) =>
          sql`UPDATE node_states SET ${
            sql.update({
              status: s.status,
              output_hash: s.outputHash ?? null,
              error_json: s.error === undefined ? null : json(s.error),
              completed_at: s.completedAt,
              duration_ms: s.durationMs
            })
          } WHERE state_id = ${s.stateId}`, { discard: true }),
        write.routing(batch.routing),
        write.calls(batch.calls),
        // Outcomes of tokens recorded by an earlier batch (a row flushed early by an external call).
        Effect.forEach(ends.values(), (t) =>
          sql`UPDATE tokens SET ${
            sql.update({ outcome: t.outcome, sink_node_id: t.sinkNodeId, completed_at: t.completedAt })
          } WHERE token_id = ${t.tokenId}`, { discard: true })
      ], { discard: true }))
    )
  }

  const service: LandscapeService = {
    beginRun: (run) =>
      op(
        "beginRun",
        sql`INSERT INTO runs ${
          sql.insert({
            run_id: run.runId,
            pipeline: run.pipeline,
            status: "running",
            started_at: run.startedAt,
            config_json: json(run.config),
            config_hash: hashCanonical(run.config),
            telemetry_enabled: run.telemetryEnabled ? 1 : 0,
            telemetry_granularity: run.telemetryEnabled ? run.telemetryGranularity : null,
            owner_host: owner.host,
            owner_pid: owner.pid,
            heartbeat_at: run.startedAt
          })
        }`
      ),
    heartbeat: (runId) =>
      op("heartbeat", Effect.flatMap(Clock.currentTimeMillis, (now) =>
        sql`UPDATE runs SET heartbeat_at = ${now} WHERE run_id = ${runId} AND status = 'running'`)),
    finishRun: (run) =>
      op(
        "finishRun",
        sql.withTransaction(Effect.gen(function* () {
          const [before] = yield* sql<{ readonly status: string; readonly error: string | null }>`SELECT status, error FROM runs WHERE run_id = ${run.runId}`
          if (before === undefined) return yield* new LandscapeError({ operation: "finishRun", message: `Landscape finishRun failed: run ${run.runId} is not recorded` })
          if (before.status !== "running") {
            return yield* new LandscapeError({
              operation: "finishRun",
              message: `Landscape finishRun failed: run ${run.runId} is already ${before.status}${before.error ? ` (${before.error})` : ""}`
            })
          }
          yield* sql`UPDATE runs SET ${
            sql.update({
              status: run.status,
              finished_at: run.finishedAt,
              duration_ms: run.durationMs,
              rows_read: run.rowsRead,
              rows_quarantined: run.rowsQuarantined,
              error: run.error ?? null
            })
          } WHERE run_id = ${run.runId}`
        }))
      ),
    registerNodes: (nodes) =>
      nodes.length === 0 ? Effect.void : op(
        "registerNodes",
        sql`INSERT INTO nodes ${
          sql.insert(nodes.map((n) => ({
            node_id: n.nodeId,
            run_id: n.runId,
            name: n.name,
            kind: n.kind,
            position: n.position,
            config_json: json(n.config)
          })))
        }`
      ),
    recordBatch,
    beginOperation: (o) =>
      op(
        "beginOperation",
        sql`INSERT INTO operations ${
          sql.insert({
            operation_id: o.operationId,
            run_id: o.runId,
            node_id: o.nodeId,
            kind: o.kind,
            status: "running",
            details_json: json(o.details),
            started_at: o.startedAt
          })
        }`
      ),
    completeOperation: (o) =>
      op(
        "completeOperation",
        sql`UPDATE operations SET ${
          sql.update({
            status: o.status,
            details_json: json(o.details),
            error: o.error ?? null,
            completed_at: o.completedAt,
            duration_ms: o.durationMs
          })
        } WHERE operation_id = ${o.operationId}`
      ),
    recordCall: (c) => op("recordCall", write.calls([c])),
    getRun: (runId) =>
      op("getRun", sql<RunDbRow>`SELECT * FROM runs WHERE run_id = ${runId}`).pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toRunRow))
      ),
    llmUsage: (runId) =>
      op(
        "llmUsage",
        sql<{ readonly node_id: string; readonly name: string; readonly attributes_json: string }>`
          SELECT c.node_id, n.name, c.attributes_json FROM calls c JOIN nodes n ON n.node_id = c.node_id
          WHERE c.run_id = ${runId} AND c.call_type = 'llm' ORDER BY c.created_at, c.call_id`
      ).pipe(Effect.map((rows) =>
        runTotals(runId, rows.map((r) => ({ nodeId: r.node_id, node: r.name, attributes: JSON.parse(r.attributes_json) as Record<string, unknown> })))
      )),
    listRuns: (options) =>
      op(
        "listRuns",
        sql<RunDbRow>`SELECT * FROM runs ORDER BY started_at DESC, run_id LIMIT ${options?.limit ?? 100}`
      ).pipe(Effect.map((rows) => rows.map(toRunRow)))
  }
  return service
})

/**
 * Applies pending migrations on the `SqlClient` in context. Needs no platform services. Foreign
 * keys are off while they run (0002 rebuilds referenced tables, see `migrations.ts`) and checked
 * after: a violation fails the open.
 */
export const migrate = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`PRAGMA foreign_keys = OFF`
  yield* Migrator.make({})({ loader: migrations }).pipe(Effect.ensuring(Effect.ignore(sql`PRAGMA foreign_keys = ON`)))
  const violations = yield* sql<{ readonly table: string }>`PRAGMA foreign_key_check`
  if (violations.length > 0) {
    return yield* new LandscapeError({
      operation: "migrate",
      message: `Landscape migrate failed: ${violations.length} foreign key violations after migrating (first in table ${violations[0]!.table})`
    })
  }
}).pipe(Effect.mapError(toLandscapeError("migrate")))
