/**
 * The Landscape over any `@effect/sql` `SqlClient` (`make`), and its SQLite layer.
 *
 * @internal
 */
import { SqlClient, type SqlError } from "@effect/sql"
import * as Migrator from "@effect/sql/Migrator"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Cause, Context, Effect, Layer, Option } from "effect"
import { mkdirSync } from "node:fs"
import { dirname } from "node:path"
import { canonicalJson, hashCanonical } from "../internal/hashing.js"
import { runTotals } from "../internal/usage.js"
import {
  type CallRecord,
  Landscape,
  LandscapeError,
  type LandscapeService,
  type NodeStateEnd,
  type NodeStateStart,
  type RunRow,
  type SqliteOptions
} from "../Landscape.js"
import { migrations } from "./migrations.js"

const toLandscapeError = (operation: string) => (error: SqlError.SqlError | Migrator.MigrationError | unknown) =>
  new LandscapeError({
    operation,
    message: `Landscape ${operation} failed: ${describe(error)}`,
    cause: error
  })

const describe = (error: unknown): string => {
  if (typeof error !== "object" || error === null) return String(error)
  const e = error as { message?: unknown; cause?: { message?: unknown } }
  const inner = e.cause && typeof e.cause.message === "string" ? `: ${e.cause.message}` : ""
  return `${typeof e.message === "string" ? e.message : String(error)}${inner}`
}

const json = (value: unknown): string => canonicalJson(value)

const chunkArray = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

const callRow = (c: CallRecord) => ({
  call_id: c.callId,
  run_id: c.runId,
  node_id: c.nodeId,
  state_id: c.stateId ?? null,
  operation_id: c.operationId ?? null,
  call_type: c.callType,
  status: c.status,
  request_json: c.request === undefined ? null : json(c.request),
  request_hash: c.requestHash ?? null,
  response_json: c.response === undefined ? null : json(c.response),
  response_hash: c.responseHash ?? null,
  attributes_json: json(c.attributes),
  error: c.error ?? null,
  latency_ms: c.latencyMs,
  created_at: c.createdAt
})

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
}

const toRunRow = (r: RunDbRow): RunRow => ({
  runId: r.run_id,
  pipeline: r.pipeline,
  status: r.status,
  startedAt: Number(r.started_at),
  finishedAt: r.finished_at === null ? null : Number(r.finished_at),
  durationMs: r.duration_ms,
  configHash: r.config_hash,
  telemetryEnabled: Number(r.telemetry_enabled) === 1,
  telemetryGranularity: r.telemetry_granularity,
  rowsRead: r.rows_read,
  rowsQuarantined: r.rows_quarantined,
  error: r.error
})

/** The Landscape service over the `SqlClient` in context (schema already migrated). */
export const make: Effect.Effect<LandscapeService, never, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  /**
   * Every Landscape operation runs on the Landscape's own connection. `@effect/sql` finds an open
   * transaction through one tag shared by every client, so without the `omit` a Landscape write
   * made inside a user's `sql.withTransaction` would go to the user's database (and be rolled
   * back with it).
   */
  const op = <A>(name: string, effect: Effect.Effect<A, SqlError.SqlError>) =>
    effect.pipe(
      Effect.mapError(toLandscapeError(name)),
      Effect.mapInputContext((context: Context.Context<never>) => Context.omit(SqlClient.TransactionConnection)(context))
    )

  return {
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
            telemetry_granularity: run.telemetryEnabled ? run.telemetryGranularity : null
          })
        }`
      ),
    finishRun: (run) =>
      op(
        "finishRun",
        sql`UPDATE runs SET ${
          sql.update({
            status: run.status,
            finished_at: run.finishedAt,
            duration_ms: run.durationMs,
            rows_read: run.rowsRead,
            rows_quarantined: run.rowsQuarantined,
            error: run.error ?? null
          })
        } WHERE run_id = ${run.runId}`
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
    recordBatch: (batch) => {
      const chunks = <A>(items: ReadonlyArray<A>, f: (chunk: ReadonlyArray<A>) => Effect.Effect<unknown, SqlError.SqlError>) =>
        Effect.forEach(chunkArray(items, 500), f, { discard: true })
      const stateRow = (s: NodeStateStart & Partial<Omit<NodeStateEnd, "stateId">>) => ({
        state_id: s.stateId,
        run_id: s.runId,
        token_id: s.tokenId,
        node_id: s.nodeId,
        step_index: s.stepIndex,
        status: s.status ?? "running",
        input_hash: s.inputHash,
        output_hash: s.outputHash ?? null,
        error_json: s.error === undefined ? null : json(s.error),
        started_at: s.startedAt,
        completed_at: s.completedAt ?? null,
        duration_ms: s.durationMs ?? null
      })
      return op(
        "recordBatch",
        sql.withTransaction(Effect.all([
          chunks(batch.rows, (rows) =>
            sql`INSERT INTO rows ${
              sql.insert(rows.map((row) => ({
                row_id: row.rowId,
                run_id: row.runId,
                source_node_id: row.sourceNodeId,
                row_index: row.rowIndex,
                source_data_json: json(row.data),
                source_data_hash: row.dataHash,
                created_at: row.createdAt
              })))
            }`),
          chunks(batch.rows, (rows) =>
            sql`INSERT INTO tokens ${
              sql.insert(rows.map((row) => ({ token_id: row.tokenId, row_id: row.rowId, run_id: row.runId, created_at: row.createdAt })))
            }`),
          chunks([...batch.nodeStates, ...batch.runningStates], (states) =>
            sql`INSERT INTO node_states ${sql.insert(states.map(stateRow))}`),
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
          chunks(batch.routing, (routing) =>
            sql`INSERT INTO routing_events ${
              sql.insert(routing.map((r) => ({
                routing_id: r.routingId,
                run_id: r.runId,
                state_id: r.stateId,
                token_id: r.tokenId,
                destination: r.destination,
                destination_node_id: r.destinationNodeId ?? null,
                created_at: r.createdAt
              })))
            }`),
          chunks(batch.calls, (calls) => sql`INSERT INTO calls ${sql.insert(calls.map(callRow))}`)
        ], { discard: true }))
      )
    },
    completeTokens: (tokens) =>
      tokens.length === 0 ? Effect.void : op(
        "completeTokens",
        sql.withTransaction(
          Effect.forEach(
            tokens,
            (t) =>
              sql`UPDATE tokens SET ${
                sql.update({ outcome: t.outcome, sink_node_id: t.sinkNodeId, completed_at: t.completedAt })
              } WHERE token_id = ${t.tokenId}`,
            { discard: true }
          )
        )
      ),
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
    recordCall: (c) => op("recordCall", sql`INSERT INTO calls ${sql.insert(callRow(c))}`),
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
})

/** Applies pending migrations on the `SqlClient` in context. Needs no platform services. */
export const migrate = Effect.mapError(Migrator.make({})({ loader: migrations }), toLandscapeError("migrate"))

export const layer = (options: SqliteOptions): Layer.Layer<Landscape, LandscapeError> => {
  const client = Layer.unwrapEffect(
    Effect.try({
      try: () => {
        if (options.filename !== ":memory:" && !options.readonly) mkdirSync(dirname(options.filename), { recursive: true })
        return SqliteClient.layer({ filename: options.filename, readonly: options.readonly ?? false })
      },
      catch: toLandscapeError("open")
    })
  ).pipe(
    // better-sqlite3 throws while the client layer is built (a directory, a missing file under
    // `readonly`): that arrives as a defect, and is still a Landscape that cannot be opened.
    Layer.catchAllCause((cause) => Layer.fail(toLandscapeError("open")(Cause.squash(cause))))
  )
  const service = Layer.effect(
    Landscape,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      if (!options.readonly) {
        yield* Effect.mapError(sql`PRAGMA synchronous = NORMAL`, toLandscapeError("open"))
        yield* migrate
      }
      return yield* make
    })
  )
  return service.pipe(Layer.provide(client))
}
