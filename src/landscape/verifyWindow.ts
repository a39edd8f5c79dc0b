/**
 * Reads the records of links `lo..hi` of one run's chain and rebuilds each link's facts from them
 * (`chain.ts`): a record inserted by a link gives its fact there, in `chain_ord` order; a record
 * completed by a later link (`end_seq`, `outcome_seq`) gives its insert-time fact (still running,
 * no outcome) there and its completion fact in the later link.
 *
 * @internal
 */
import type { SqlClient, SqlError } from "@effect/sql"
import { Effect } from "effect"
import * as Chain from "./chain.js"
import { num, numOrNull, type RunDbRow } from "./decode.js"
import type { TokenOutcome } from "./records.js"

export interface NodeDb {
  readonly node_id: string
  readonly name: string
  readonly kind: string
  readonly position: number
  readonly config_json: string
  readonly chain_seq: number
}
export interface RowDb {
  readonly row_id: string
  readonly source_node_id: string
  readonly row_index: number
  readonly source_data_json: string | null
  readonly source_data_hash: string
  readonly purged_at: number | null
  readonly created_at: number
  readonly chain_seq: number
}
export interface TokenDb {
  readonly token_id: string
  readonly row_id: string
  readonly created_at: number
  readonly outcome: TokenOutcome | null
  readonly sink_node_id: string | null
  readonly completed_at: number | null
  readonly chain_seq: number
  readonly outcome_seq: number | null
}
export interface StateDb {
  readonly state_id: string
  readonly token_id: string
  readonly node_id: string
  readonly step_index: number
  readonly attempt: number
  readonly status: string
  readonly input_hash: string
  readonly output_hash: string | null
  readonly error_json: string | null
  readonly started_at: number
  readonly completed_at: number | null
  readonly duration_ms: number | null
  readonly chain_seq: number
  readonly end_seq: number | null
}
export interface CallDb {
  readonly call_id: string
  readonly node_id: string
  readonly state_id: string | null
  readonly operation_id: string | null
  readonly call_type: string
  readonly status: string
  readonly request_json: string | null
  readonly request_hash: string | null
  readonly response_json: string | null
  readonly response_hash: string | null
  readonly attributes_json: string
  readonly error: string | null
  readonly latency_ms: number
  readonly created_at: number
  readonly purged_at: number | null
  readonly chain_seq: number
}
export interface OperationDb {
  readonly operation_id: string
  readonly node_id: string
  readonly kind: string
  readonly status: string
  readonly details_json: string
  readonly begin_details_json: string | null
  readonly error: string | null
  readonly started_at: number
  readonly completed_at: number | null
  readonly duration_ms: number | null
  readonly chain_seq: number
  readonly end_seq: number | null
}
export interface RoutingDb {
  readonly routing_id: string
  readonly state_id: string
  readonly token_id: string
  readonly destination: string
  readonly destination_node_id: string | null
  readonly created_at: number
  readonly chain_seq: number
}

export interface WindowRecords {
  readonly nodes: ReadonlyArray<NodeDb>
  readonly rows: ReadonlyArray<RowDb>
  readonly tokens: ReadonlyArray<TokenDb>
  readonly states: ReadonlyArray<StateDb>
  readonly routing: ReadonlyArray<RoutingDb>
  readonly calls: ReadonlyArray<CallDb>
  readonly operations: ReadonlyArray<OperationDb>
  readonly gates: ReadonlySet<string>
  readonly transforms: ReadonlySet<string>
  /** Each link's rebuilt facts. */
  readonly facts: Map<number, Chain.BatchFacts>
}

const stateFact = (s: StateDb, atInsert: boolean) =>
  Chain.facts.state({
    stateId: s.state_id,
    tokenId: s.token_id,
    nodeId: s.node_id,
    stepIndex: num(s.step_index),
    attempt: num(s.attempt),
    status: atInsert ? "running" : s.status,
    inputHash: s.input_hash,
    outputHash: atInsert ? null : s.output_hash,
    errorJson: atInsert ? null : s.error_json,
    startedAt: num(s.started_at),
    completedAt: atInsert ? null : numOrNull(s.completed_at),
    durationMs: atInsert ? null : numOrNull(s.duration_ms)
  })

export const readWindow = (
  sql: SqlClient.SqlClient,
  run: RunDbRow,
  lo: number,
  hi: number,
  nodeKinds: { readonly gates: ReadonlySet<string>; readonly transforms: ReadonlySet<string> }
): Effect.Effect<WindowRecords, SqlError.SqlError> =>
  Effect.gen(function* () {
    const runId = run.run_id
    const inWindow = <A extends object>(table: string) =>
      sql.unsafe<A>(`SELECT * FROM ${table} WHERE run_id = ? AND chain_seq BETWEEN ? AND ? ORDER BY chain_seq, chain_ord`, [runId, lo, hi])
    const nodes = yield* inWindow<NodeDb>("nodes")
    const operations = yield* inWindow<OperationDb>("operations")
    const rows = yield* inWindow<RowDb>("rows")
    const tokens = yield* inWindow<TokenDb>("tokens")
    const states = yield* inWindow<StateDb>("node_states")
    const routing = yield* inWindow<RoutingDb>("routing_events")
    const calls = yield* inWindow<CallDb>("calls")
    const stateEnds = yield* sql<StateDb>`SELECT * FROM node_states WHERE run_id = ${runId} AND end_seq BETWEEN ${lo} AND ${hi}`
    const tokenEnds = yield* sql<TokenDb>`SELECT * FROM tokens WHERE run_id = ${runId} AND outcome_seq BETWEEN ${lo} AND ${hi}`
    const operationEnds = yield* sql<OperationDb>`SELECT * FROM operations WHERE run_id = ${runId} AND end_seq BETWEEN ${lo} AND ${hi}`

    const facts = new Map<number, Chain.BatchFacts>()
    const add = (seq: number | string, kind: Chain.FactKind, text: string) => {
      const key = num(seq)
      let batch = facts.get(key)
      if (batch === undefined) facts.set(key, batch = {})
      Chain.add(batch, kind, text)
    }
    if (lo <= 1 && 1 <= hi) {
      add(1, "run", Chain.facts.run({
        runId,
        pipeline: run.pipeline,
        startedAt: num(run.started_at),
        configHash: run.config_hash,
        telemetryEnabled: num(run.telemetry_enabled),
        telemetryGranularity: run.telemetry_granularity,
        ownerHost: run.owner_host,
        ownerPid: numOrNull(run.owner_pid),
        canonicalVersion: run.canonical_version,
        traceId: run.trace_id
      }))
    }
    for (const n of nodes) add(n.chain_seq, "node", Chain.facts.node({ nodeId: n.node_id, name: n.name, kind: n.kind, position: num(n.position), configJson: n.config_json }))
    for (const o of operations) {
      add(o.chain_seq, "operation", Chain.facts.operation({
        operationId: o.operation_id,
        nodeId: o.node_id,
        kind: o.kind,
        detailsJson: o.begin_details_json ?? o.details_json,
        startedAt: num(o.started_at)
      }))
    }
    for (const r of rows) {
      add(r.chain_seq, "row", Chain.facts.row({ rowId: r.row_id, sourceNodeId: r.source_node_id, rowIndex: num(r.row_index), dataHash: r.source_data_hash, createdAt: num(r.created_at) }))
    }
    for (const t of tokens) {
      const later = t.outcome_seq !== null
      add(t.chain_seq, "token", Chain.facts.token({
        tokenId: t.token_id,
        rowId: t.row_id,
        createdAt: num(t.created_at),
        outcome: later ? null : t.outcome,
        sinkNodeId: later ? null : t.sink_node_id,
        completedAt: later ? null : numOrNull(t.completed_at)
      }))
    }
    for (const s of states) add(s.chain_seq, "state", stateFact(s, s.end_seq !== null))
    for (const r of routing) {
      add(r.chain_seq, "routing", Chain.facts.routing({
        routingId: r.routing_id,
        stateId: r.state_id,
        tokenId: r.token_id,
        destination: r.destination,
        destinationNodeId: r.destination_node_id,
        createdAt: num(r.created_at)
      }))
    }
    for (const c of calls) {
      add(c.chain_seq, "call", Chain.facts.call({
        callId: c.call_id,
        nodeId: c.node_id,
        stateId: c.state_id,
        operationId: c.operation_id,
        callType: c.call_type,
        status: c.status,
        requestHash: c.request_hash,
        responseHash: c.response_hash,
        attributesJson: c.attributes_json,
        error: c.error,
        latencyMs: num(c.latency_ms),
        createdAt: num(c.created_at)
      }))
    }
    for (const s of stateEnds) {
      add(s.end_seq!, "state_end", Chain.facts.stateEnd({
        stateId: s.state_id,
        status: s.status,
        outputHash: s.output_hash,
        errorJson: s.error_json,
        completedAt: numOrNull(s.completed_at),
        durationMs: numOrNull(s.duration_ms)
      }))
    }
    for (const t of tokenEnds) {
      add(t.outcome_seq!, "token_end", Chain.facts.tokenEnd({ tokenId: t.token_id, outcome: t.outcome ?? "", sinkNodeId: t.sink_node_id, completedAt: numOrNull(t.completed_at) }))
    }
    for (const o of operationEnds) {
      add(o.end_seq!, "operation_end", Chain.facts.operationEnd({
        operationId: o.operation_id,
        status: o.status,
        detailsJson: o.details_json,
        error: o.error,
        completedAt: numOrNull(o.completed_at),
        durationMs: numOrNull(o.duration_ms)
      }))
    }
    if (run.end_seq !== null && lo <= num(run.end_seq) && num(run.end_seq) <= hi) {
      add(run.end_seq, "run_end", Chain.facts.runEnd({
        runId,
        status: run.status,
        finishedAt: numOrNull(run.finished_at),
        durationMs: numOrNull(run.duration_ms),
        rowsRead: numOrNull(run.rows_read),
        rowsQuarantined: numOrNull(run.rows_quarantined),
        error: run.error
      }))
    }
    return { nodes, rows, tokens, states, routing, calls, operations, gates: nodeKinds.gates, transforms: nodeKinds.transforms, facts }
  })
