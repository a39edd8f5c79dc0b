/**
 * Lineage: `explain` (backward, from a row or token to its source record, through every node
 * state, routing decision and call, to its outcome) and `trace` (forward, from a source row to
 * every token of it and where each ended). Each is a handful of indexed lookups (primary keys,
 * `tokens_row`, `node_states_token`, `routing_events_token`, `calls_state`), so its time does not
 * grow with the size of the run.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { Effect, Option } from "effect"
import type { CallStatus, CallType, RunStatus } from "../TelemetryEvent.js"
import { num, numOrNull, parseJson, payload } from "./decode.js"
import { type Dialect, dialectOf, jsonArrayAgg, placeholders } from "./dialect.js"
import type { NodeKind, TokenOutcome } from "./records.js"
import type { BatchView, CallView, Explanation, ExplainRequest, OutcomeView, StateView, Trace } from "./results.js"

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

/**
 * A node state as `explain`'s statement aggregates it (`json_array`, in this order): id, node,
 * step, attempt, status, input hash, output hash, error JSON text, started, completed (epoch ms),
 * duration (ms).
 */
type StateTuple = readonly [string, string, number, number, StateView["status"], string, string | null, string | null, number, number | null, number | null]

/** A routing decision as aggregated: its state, destination, destination node (null for `continue`). */
type RoutingTuple = readonly [string, string, string | null, number, number]

/**
 * A call as aggregated: id, state, type, status, request JSON text and hash, response JSON text and
 * hash, attributes JSON text, error, latency (ms), created (epoch ms), purged (epoch ms or null).
 */
type CallTuple = readonly [
  string, string, CallType, CallStatus, string | null, string | null, string | null, string | null, string, string | null, number, number, number | null, number, number
]

type Node = { readonly name: string; readonly kind: NodeKind }

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

const callView = (c: CallTuple): CallView => {
  const [callId, , callType, status, requestJson, requestHash, responseJson, responseHash, attributesJson, error, latencyMs, createdAt, purgedAt] = c
  return {
    callId,
    callType,
    status,
    latencyMs: num(latencyMs),
    createdAt: num(createdAt),
    requestHash,
    responseHash,
    request: requestHash === null && requestJson === null ? { status: "none" } : payload(requestJson, purgedAt),
    response: responseHash === null && responseJson === null ? { status: "none" } : payload(responseJson, purgedAt),
    attributes: JSON.parse(attributesJson) as Record<string, unknown>,
    error
  }
}

/** A node state's columns as `explain` aggregates them (see {@link StateTuple}). */
const stateColumns = `s.state_id, s.node_id, s.step_index, s.attempt, s.status, s.input_hash, s.output_hash, s.error_json,
  s.started_at, s.completed_at, s.duration_ms`

/** A call's columns as `explain` aggregates them (see {@link CallTuple}), then its place in the chain. */
const callColumns = `c.call_id, c.state_id, c.call_type, c.status, c.request_json, c.request_hash, c.response_json, c.response_hash,
  c.attributes_json, c.error, c.latency_ms, c.created_at, c.purged_at, c.chain_seq, c.chain_ord`

/**
 * `explain`'s one statement: the token with its row and run, and the token's states, routing
 * decisions and calls, each kind aggregated into one JSON array as text (`jsonArrayAgg`: SQLite's
 * `json_group_array`, PostgreSQL's `json_agg`; both keep every double exactly). One statement instead of two to four:
 * each statement through `@effect/sql` costs some 45 µs of fixed overhead (semaphore,
 * prepared-statement cache, fiber steps) where `SELECT 1` takes 2 µs through better-sqlite3 itself
 * (measured on this project's 2-core machine, the one of `bench/landscape-read.ts`), about half of SQLite's own work for one
 * token on a million-row file (~100 µs). The arrays are put in order in JS ({@link statesOf}): an
 * aggregate's `ORDER BY` opens a sorter per array, 10 to 60 µs more per call here for a handful of
 * elements. `where` selects the token (its parameters are bound by the caller).
 */
const explainStatement = (dialect: Dialect, where: string) => placeholders(dialect, `SELECT tok.*,
  (SELECT ${jsonArrayAgg(dialect, stateColumns)}
    FROM node_states s WHERE s.token_id = tok.token_id) AS states_json,
  (SELECT ${jsonArrayAgg(dialect, "re.state_id, re.destination, re.destination_node_id, re.chain_seq, re.chain_ord")}
    FROM routing_events re WHERE re.token_id = tok.token_id) AS routing_json,
  (SELECT ${jsonArrayAgg(dialect, callColumns)}
    FROM node_states s JOIN calls c ON c.state_id = s.state_id WHERE s.token_id = tok.token_id) AS calls_json,
  (SELECT ${jsonArrayAgg(dialect, `b.batch_id, b.node_id, b.status, b.trigger_reason, m.ordinal, b.state_id,
      (SELECT count(*) FROM batch_members m2 WHERE m2.batch_id = b.batch_id)`)}
    FROM batch_members m JOIN batches b ON b.batch_id = m.batch_id WHERE m.token_id = tok.token_id) AS batch_json
  FROM (SELECT ${tokenColumns}, ru.pipeline, ru.status AS run_status FROM rows r JOIN tokens t ON t.row_id = r.row_id JOIN runs ru ON ru.run_id = r.run_id
    ${where} ORDER BY t.chain_seq, t.chain_ord LIMIT 1) tok`)

/**
 * The statements of `explain` in one dialect: the token by its id, its row's id, or its row's
 * index; and a batch's flush, one node state (by id, bound twice) with its calls.
 */
const explainStatements = (dialect: Dialect) => ({
  byToken: explainStatement(dialect, "WHERE t.token_id = ? AND t.run_id = ?"),
  byRow: explainStatement(dialect, "WHERE r.row_id = ? AND r.run_id = ?"),
  byIndex: explainStatement(dialect, "WHERE r.run_id = ? AND r.row_index = ?"),
  flush: placeholders(dialect, `SELECT
  (SELECT ${jsonArrayAgg(dialect, stateColumns)} FROM node_states s WHERE s.state_id = ?) AS states_json,
  '[]' AS routing_json,
  (SELECT ${jsonArrayAgg(dialect, callColumns)} FROM calls c WHERE c.state_id = ?) AS calls_json`)
})

type Found = TokenRowDb & {
  readonly pipeline: string
  readonly run_status: RunStatus
  readonly states_json: string
  readonly routing_json: string
  readonly calls_json: string
  readonly batch_json: string
}

/** A token's batch as aggregated: id, node, status, trigger, ordinal, flush state, size. */
type BatchTuple = readonly [string, string, BatchView["status"], BatchView["trigger"], number, string | null, number]

/** Compares tuples by the numbers at `keys`, in turn. */
const byKeys = (...keys: ReadonlyArray<number>) => (a: ReadonlyArray<unknown>, b: ReadonlyArray<unknown>): number => {
  for (const k of keys) {
    const d = Number(a[k]) - Number(b[k])
    if (d !== 0) return d
  }
  return 0
}

/** The token's states in order, each with its routing decisions and calls (in theirs). */
const statesOf = (found: Pick<Found, "states_json" | "routing_json" | "calls_json">, nodes: ReadonlyMap<string, Node>): Array<StateView> => {
  const nameOf = (id: string) => nodes.get(id)?.name ?? id
  const views = new Map<string, StateView & { routing: Array<StateView["routing"][number]>; calls: Array<CallView> }>()
  for (const s of (JSON.parse(found.states_json) as Array<StateTuple>).sort(byKeys(2, 3, 8))) {
    const [stateId, nodeId, stepIndex, attempt, status, inputHash, outputHash, errorJson, startedAt, completedAt, durationMs] = s
    views.set(stateId, {
      stateId,
      nodeId,
      node: nameOf(nodeId),
      kind: nodes.get(nodeId)?.kind ?? "transform",
      stepIndex: num(stepIndex),
      attempt: num(attempt),
      status,
      inputHash,
      outputHash,
      startedAt: num(startedAt),
      completedAt: numOrNull(completedAt),
      durationMs: numOrNull(durationMs),
      error: parseJson(errorJson),
      routing: [],
      calls: []
    })
  }
  for (const [stateId, destination, destinationNodeId] of (JSON.parse(found.routing_json) as Array<RoutingTuple>).sort(byKeys(3, 4))) {
    views.get(stateId)?.routing.push({ destination, sink: destinationNodeId === null ? null : nameOf(destinationNodeId) })
  }
  for (const c of (JSON.parse(found.calls_json) as Array<CallTuple>).sort(byKeys(11, 13, 14))) views.get(c[1])?.calls.push(callView(c))
  return [...views.values()]
}

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

  const statements = explainStatements(dialectOf(sql))
  const findToken = (request: ExplainRequest) =>
    "tokenId" in request
      ? sql.unsafe<Found>(statements.byToken, [request.tokenId, request.runId])
      : "rowId" in request
      ? sql.unsafe<Found>(statements.byRow, [request.rowId, request.runId])
      : sql.unsafe<Found>(statements.byIndex, [request.runId, request.rowIndex])

  /** The token's batch, with its flush's state and calls (one more statement, for a token that was buffered). */
  const batchOf = (found: Found, nodes: ReadonlyMap<string, Node>): Effect.Effect<BatchView | undefined, SqlError.SqlError> => {
    const [tuple] = JSON.parse(found.batch_json) as Array<BatchTuple>
    if (tuple === undefined) return Effect.succeed(undefined)
    const [batchId, nodeId, status, trigger, ordinal, stateId, size] = tuple
    const view = (flush: StateView | null): BatchView => ({ batchId, node: nameOf(nodes, nodeId), status, trigger, ordinal: num(ordinal), size: num(size), flush })
    if (stateId === null) return Effect.succeed(view(null))
    return Effect.map(sql.unsafe<Pick<Found, "states_json" | "routing_json" | "calls_json">>(statements.flush, [stateId, stateId]), ([flush]) => view(flush === undefined ? null : statesOf(flush, nodes)[0] ?? null))
  }

  /** One statement (two for a token buffered into a batch), and one more for the run's nodes the first time the run is explained. */
  const explain = (request: ExplainRequest): Effect.Effect<Option.Option<Explanation>, SqlError.SqlError> =>
    Effect.flatMap(findToken(request), ([found]) =>
      found === undefined
        ? Effect.succeedNone
        : Effect.flatMap(nodesOf(request.runId), (nodes) => Effect.map(batchOf(found, nodes), (batch) =>
          Option.some({
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
            states: statesOf(found, nodes),
            ...(batch === undefined ? {} : { batch }),
            outcome: outcomeOf(found, found.run_status, nodes)
          } satisfies Explanation))))

  const trace = (request: { readonly runId: string; readonly rowId: string }): Effect.Effect<Option.Option<Trace>, SqlError.SqlError> =>
    Effect.gen(function* () {
      const [row] = yield* sql<{ readonly row_id: string; readonly row_index: number; readonly source_data_hash: string }>`
        SELECT row_id, row_index, source_data_hash FROM rows WHERE row_id = ${request.rowId} AND run_id = ${request.runId}`
      const run = yield* runOf(request.runId)
      if (row === undefined || Option.isNone(run)) return Option.none()
      const nodes = yield* nodesOf(request.runId)
      type TokenDb = {
        readonly token_id: string
        readonly row_id: string
        readonly outcome: TokenOutcome | null
        readonly sink_node_id: string | null
        readonly completed_at: number | null
      }
      const tokens = [...yield* sql<TokenDb>`
        SELECT token_id, row_id, outcome, sink_node_id, completed_at FROM tokens WHERE row_id = ${row.row_id} ORDER BY chain_seq, chain_ord`]
      // Tokens of other rows made from these (a batch's output) and all made from those in turn.
      let frontier = tokens.filter((t) => t.outcome === "consumed_in_batch").map((t) => t.token_id)
      while (frontier.length > 0) {
        const seen = new Set(tokens.map((t) => t.token_id))
        const made = (yield* sql<TokenDb>`
          SELECT DISTINCT t.token_id, t.row_id, t.outcome, t.sink_node_id, t.completed_at, t.chain_seq, t.chain_ord FROM token_parents p
          JOIN tokens t ON t.token_id = p.token_id WHERE p.parent_token_id IN ${sql.in(frontier)}
          ORDER BY t.chain_seq, t.chain_ord`).filter((t) => !seen.has(t.token_id))
        tokens.push(...made)
        frontier = made.map((t) => t.token_id)
      }
      const states = tokens.length === 0 ? [] : yield* sql<{ readonly token_id: string; readonly node_id: string; readonly status: string }>`
        SELECT token_id, node_id, status FROM node_states WHERE token_id IN ${sql.in(tokens.map((t) => t.token_id))} ORDER BY step_index, attempt, started_at`
      const links = tokens.length === 0 ? [] : yield* sql<{ readonly token_id: string; readonly parent_token_id: string }>`
        SELECT token_id, parent_token_id FROM token_parents WHERE token_id IN ${sql.in(tokens.map((t) => t.token_id))} ORDER BY ordinal`
      return Option.some({
        runId: request.runId,
        row: { rowId: row.row_id, rowIndex: num(row.row_index), dataHash: row.source_data_hash },
        tokens: tokens.map((t) => ({
          tokenId: t.token_id,
          rowId: t.row_id,
          parents: links.filter((l) => l.token_id === t.token_id).map((l) => l.parent_token_id),
          path: states.filter((s) => s.token_id === t.token_id).map((s) => ({ node: nameOf(nodes, s.node_id), status: s.status })),
          outcome: outcomeOf(t, run.value.status, nodes)
        }))
      } satisfies Trace)
    })

  return { explain, trace }
}
