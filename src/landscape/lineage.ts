/**
 * Lineage: `explain` (backward, from a row or token to its source record, through every node
 * state, routing decision and call, to its outcome) and `trace` (forward, from a source row to
 * every token of it and where each ended). Each is a handful of indexed lookups (primary keys,
 * `tokens_row`, `node_states_token`, `routing_events_token`, `calls_state`), so its time does not
 * grow with the size of the run.
 *
 * @internal
 */
import type { SqlClient, SqlError } from "@effect/sql"
import { Effect, Option } from "effect"
import type { CallStatus, CallType, RunStatus } from "../TelemetryEvent.js"
import { num, numOrNull, parseJson, payload } from "./decode.js"
import type { NodeKind, TokenOutcome } from "./records.js"
import type { CallView, Explanation, ExplainRequest, OutcomeView, StateView, Trace } from "./results.js"

interface TokenRowDb {
  readonly token_id: string
  readonly token_created_at: number
  readonly outcome: TokenOutcome | null
  readonly sink_node_id: string | null
  readonly completed_at: number | null
  readonly row_id: string
  readonly row_index: number
  readonly source_node_id: string
  readonly source_data_json: string | null
  readonly source_data_hash: string
  readonly purged_at: number | null
  readonly created_at: number
}

interface StateDb {
  readonly state_id: string
  readonly token_id: string
  readonly node_id: string
  readonly step_index: number
  readonly attempt: number
  readonly status: StateView["status"]
  readonly input_hash: string
  readonly output_hash: string | null
  readonly error_json: string | null
  readonly started_at: number
  readonly completed_at: number | null
  readonly duration_ms: number | null
}

interface CallDb {
  readonly call_id: string
  readonly state_id: string | null
  readonly call_type: CallType
  readonly status: CallStatus
  readonly request_json: string | null
  readonly request_hash: string | null
  readonly response_json: string | null
  readonly response_hash: string | null
  readonly attributes_json: string
  readonly error: string | null
  readonly latency_ms: number
  readonly created_at: number
  readonly purged_at: number | null
}

type Node = { readonly name: string; readonly kind: NodeKind }

/** The routing decision and call columns joined to a state row (null where it has none). */
interface JoinedDb {
  readonly routing_id: string | null
  readonly destination: string | null
  readonly destination_node_id: string | null
  readonly call_id: string | null
  readonly call_type: CallType | null
  readonly call_status: CallStatus | null
  readonly request_json: string | null
  readonly request_hash: string | null
  readonly response_json: string | null
  readonly response_hash: string | null
  readonly attributes_json: string | null
  readonly call_error: string | null
  readonly latency_ms: number | null
  readonly call_created_at: number | null
  readonly call_purged_at: number | null
}

const tokenColumns = `t.token_id, t.created_at AS token_created_at, t.outcome, t.sink_node_id, t.completed_at,
  r.row_id, r.row_index, r.source_node_id, r.source_data_json, r.source_data_hash, r.purged_at, r.created_at`

/** Where a token ended, or why it has no outcome (from its run's status). */
export const outcomeOf = (
  token: { readonly outcome: TokenOutcome | null; readonly sink_node_id: string | null; readonly completed_at: number | null },
  runStatus: RunStatus,
  nodes: ReadonlyMap<string, Node>
): OutcomeView =>
  token.outcome !== null
    ? { outcome: token.outcome, sink: token.sink_node_id === null ? null : nodes.get(token.sink_node_id)?.name ?? token.sink_node_id, completedAt: numOrNull(token.completed_at) }
    : { outcome: null, reason: runStatus === "running" ? "running" : runStatus === "completed" ? "missing" : "in flight when the run stopped" }

const callView = (c: CallDb): CallView => ({
  callId: c.call_id,
  callType: c.call_type,
  status: c.status,
  latencyMs: num(c.latency_ms),
  createdAt: num(c.created_at),
  requestHash: c.request_hash,
  responseHash: c.response_hash,
  request: c.request_hash === null && c.request_json === null ? { status: "none" } : payload(c.request_json, c.purged_at),
  response: c.response_hash === null && c.response_json === null ? { status: "none" } : payload(c.response_json, c.purged_at),
  attributes: JSON.parse(c.attributes_json) as Record<string, unknown>,
  error: c.error
})

export const makeLineage = (sql: SqlClient.SqlClient) => {
  const runOf = (runId: string) =>
    Effect.map(
      sql<{ readonly run_id: string; readonly pipeline: string; readonly status: RunStatus }>`SELECT run_id, pipeline, status FROM runs WHERE run_id = ${runId}`,
      (rows) => Option.fromNullable(rows[0])
    )
  /** A run's nodes never change once registered: kept for the last few runs explained. */
  const nodeCache = new Map<string, ReadonlyMap<string, Node>>()
  const nodesOf = (runId: string) => {
    const cached = nodeCache.get(runId)
    if (cached !== undefined) return Effect.succeed(cached)
    return Effect.map(
      sql<{ readonly node_id: string; readonly name: string; readonly kind: NodeKind }>`SELECT node_id, name, kind FROM nodes WHERE run_id = ${runId}`,
      (rows) => {
        const nodes = new Map(rows.map((n) => [n.node_id, { name: n.name, kind: n.kind }]))
        if (nodes.size > 0) {
          if (nodeCache.size >= 64) nodeCache.delete(nodeCache.keys().next().value!)
          nodeCache.set(runId, nodes)
        }
        return nodes
      }
    )
  }
  const nameOf = (nodes: ReadonlyMap<string, Node>, id: string) => nodes.get(id)?.name ?? id

  // Fixed statement texts (prepared once by the client): the token with its row and run, the
  // token's states each with its routing decision, the calls of those states.
  const tokenSelect = `SELECT ${tokenColumns}, ru.pipeline, ru.status AS run_status FROM rows r JOIN tokens t ON t.row_id = r.row_id JOIN runs ru ON ru.run_id = r.run_id`
  const byToken = `${tokenSelect} WHERE t.token_id = ? AND t.run_id = ?`
  const byRow = `${tokenSelect} WHERE r.row_id = ? AND r.run_id = ? ORDER BY t.chain_seq, t.chain_ord LIMIT 1`
  const byIndex = `${tokenSelect} WHERE r.run_id = ? AND r.row_index = ? ORDER BY t.chain_seq, t.chain_ord LIMIT 1`
  // One statement for a token's states with their routing decisions and calls (a state row repeats per decision and call).
  const statesOf = `SELECT s.*, re.routing_id, re.destination, re.destination_node_id,
      c.call_id, c.call_type, c.status AS call_status, c.request_json, c.request_hash, c.response_json, c.response_hash,
      c.attributes_json, c.error AS call_error, c.latency_ms, c.created_at AS call_created_at, c.purged_at AS call_purged_at
    FROM node_states s
    LEFT JOIN routing_events re ON re.token_id = s.token_id AND re.state_id = s.state_id
    LEFT JOIN calls c ON c.state_id = s.state_id
    WHERE s.token_id = ? ORDER BY s.step_index, s.attempt, s.started_at, re.chain_seq, re.chain_ord, c.created_at, c.chain_seq, c.chain_ord`

  type Found = TokenRowDb & { readonly pipeline: string; readonly run_status: RunStatus }
  const findToken = (request: ExplainRequest) =>
    "tokenId" in request
      ? sql.unsafe<Found>(byToken, [request.tokenId, request.runId])
      : "rowId" in request
      ? sql.unsafe<Found>(byRow, [request.rowId, request.runId])
      : sql.unsafe<Found>(byIndex, [request.runId, request.rowIndex])

  const explain = (request: ExplainRequest): Effect.Effect<Option.Option<Explanation>, SqlError.SqlError> =>
    Effect.gen(function* () {
      const [found] = yield* findToken(request)
      if (found === undefined) return Option.none()
      const nodes = yield* nodesOf(request.runId)
      const rows = yield* sql.unsafe<StateDb & JoinedDb>(statesOf, [found.token_id])
      const views: Array<StateView & { routing: Array<StateView["routing"][number]>; calls: Array<CallView> }> = []
      const seen = new Set<string>()
      for (const s of rows) {
        let view = views.at(-1)
        if (view === undefined || view.stateId !== s.state_id) {
          view = {
            stateId: s.state_id,
            nodeId: s.node_id,
            node: nameOf(nodes, s.node_id),
            kind: nodes.get(s.node_id)?.kind ?? "transform",
            stepIndex: num(s.step_index),
            attempt: num(s.attempt),
            status: s.status,
            inputHash: s.input_hash,
            outputHash: s.output_hash,
            startedAt: num(s.started_at),
            completedAt: numOrNull(s.completed_at),
            durationMs: numOrNull(s.duration_ms),
            error: parseJson(s.error_json),
            routing: [],
            calls: []
          }
          views.push(view)
        }
        if (s.routing_id !== null && !seen.has(s.routing_id)) {
          seen.add(s.routing_id)
          view.routing.push({ destination: s.destination!, sink: s.destination_node_id === null ? null : nameOf(nodes, s.destination_node_id) })
        }
        if (s.call_id !== null && !seen.has(s.call_id)) {
          seen.add(s.call_id)
          view.calls.push(callView({
            call_id: s.call_id,
            state_id: s.state_id,
            call_type: s.call_type!,
            status: s.call_status!,
            request_json: s.request_json,
            request_hash: s.request_hash,
            response_json: s.response_json,
            response_hash: s.response_hash,
            attributes_json: s.attributes_json!,
            error: s.call_error,
            latency_ms: s.latency_ms!,
            created_at: s.call_created_at!,
            purged_at: s.call_purged_at
          }))
        }
      }
      return Option.some({
        run: { runId: request.runId, pipeline: found.pipeline, status: found.run_status },
        row: {
          rowId: found.row_id,
          rowIndex: num(found.row_index),
          sourceNode: nameOf(nodes, found.source_node_id),
          dataHash: found.source_data_hash,
          data: payload(found.source_data_json, found.purged_at),
          createdAt: num(found.created_at)
        },
        token: { tokenId: found.token_id, createdAt: num(found.token_created_at) },
        states: views,
        outcome: outcomeOf(found, found.run_status, nodes)
      } satisfies Explanation)
    })

  const trace = (request: { readonly runId: string; readonly rowId: string }): Effect.Effect<Option.Option<Trace>, SqlError.SqlError> =>
    Effect.gen(function* () {
      const [row] = yield* sql<{ readonly row_id: string; readonly row_index: number; readonly source_data_hash: string }>`
        SELECT row_id, row_index, source_data_hash FROM rows WHERE row_id = ${request.rowId} AND run_id = ${request.runId}`
      const run = yield* runOf(request.runId)
      if (row === undefined || Option.isNone(run)) return Option.none()
      const nodes = yield* nodesOf(request.runId)
      const tokens = yield* sql<{ readonly token_id: string; readonly outcome: TokenOutcome | null; readonly sink_node_id: string | null; readonly completed_at: number | null }>`
        SELECT token_id, outcome, sink_node_id, completed_at FROM tokens WHERE row_id = ${row.row_id} ORDER BY chain_seq, chain_ord`
      const states = tokens.length === 0 ? [] : yield* sql<{ readonly token_id: string; readonly node_id: string; readonly status: string }>`
        SELECT token_id, node_id, status FROM node_states WHERE token_id IN ${sql.in(tokens.map((t) => t.token_id))} ORDER BY step_index, attempt, started_at`
      return Option.some({
        runId: request.runId,
        row: { rowId: row.row_id, rowIndex: num(row.row_index), dataHash: row.source_data_hash },
        tokens: tokens.map((t) => ({
          tokenId: t.token_id,
          parents: [],
          path: states.filter((s) => s.token_id === t.token_id).map((s) => ({ node: nameOf(nodes, s.node_id), status: s.status })),
          outcome: outcomeOf(t, run.value.status, nodes)
        }))
      } satisfies Trace)
    })

  return { explain, trace }
}
