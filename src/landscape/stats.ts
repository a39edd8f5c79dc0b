/**
 * Run statistics: the counts a run's summary shows (`runSummary`, the dashboard's run page), kept
 * up to date in the transaction of every write that changes them, so reading a run's summary costs
 * the same for 100 rows as for 1,000,000 (`npm run bench -- dashboard`). Tables (migration 0011):
 *
 * - `node_state_stats`: node states by node, status and duration bucket, with the largest duration;
 * - `token_outcome_stats`: tokens by terminal outcome (`none`: not yet) and sink (`''`: none);
 * - `call_stats`: external calls by node, call type, service, status and latency bucket;
 * - `llm_usage_stats`: LLM calls, tokens and cost (USD) by node;
 * - `quarantine_stats`: quarantined tokens by the node, kind and message of their last failed node
 *   state (`''` and `unknown` when they have none), with the first row recorded as an example.
 *
 * Durations and latencies (ms) are counted in the buckets of OpenTelemetry's base-2 exponential
 * histogram at scale 4 (https://opentelemetry.io/docs/specs/otel/metrics/data-model/#exponentialhistogram):
 * bucket `i` holds the values in (2^(i/16), 2^((i+1)/16)], so a percentile read back is the upper
 * bound of the bucket holding the nearest-rank value, at most 4.4 % above it (2^(1/16) = 1.0443), and
 * never above the exact maximum. Zero has a bucket of its own; a state still running, none.
 *
 * Every change is a delta (`RunStats`), added by upsert: a state closed later moves from `running`
 * to its status, a token's outcome from `none` to it. `verify` recomputes the statistics from the
 * records (`recompute`) and names each difference.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { Effect } from "effect"
import { addCall, emptyTotals, type Totals } from "../internal/usage.js"
import { failureLine, num, numOrNull } from "./decode.js"
import { makeInserter } from "./insert.js"

/** OpenTelemetry exponential histogram scale: 2^4 buckets per doubling. */
const scale = 4
const perDoubling = 2 ** scale
/** The bucket of durations of zero (OpenTelemetry's `zero_count`). */
export const zeroBucket = -1_000_000
/** The bucket of states without a duration (still running, or closed by recovery). */
export const noDuration = -1_000_001

/** The bucket of a duration in ms (`index = ⌈log2(v)·2^scale⌉ − 1`, the spec's logarithm mapping; exact at powers of two). */
export const bucketOf = (ms: number | null | undefined): number =>
  ms === null || ms === undefined ? noDuration : ms <= 0 ? zeroBucket : Math.ceil(Math.log2(ms) * perDoubling) - 1

/** The inclusive upper bound of a bucket, ms. */
const upperBound = (bucket: number): number => (bucket === zeroBucket ? 0 : 2 ** ((bucket + 1) / perDoubling))

/**
 * Nearest-rank p50, p95 (each the upper bound of the bucket holding the value at rank ⌈p·n⌉, capped
 * at the maximum) and the exact maximum of a histogram; `null` when it holds no duration.
 */
export const durationStats = (
  buckets: ReadonlyArray<{ readonly bucket: number; readonly count: number }>,
  maxMs: number | null
): { readonly p50: number; readonly p95: number; readonly max: number } | null => {
  const sorted = buckets.filter((b) => b.bucket !== noDuration && b.count > 0).sort((a, b) => a.bucket - b.bucket)
  const n = sorted.reduce((sum, b) => sum + b.count, 0)
  if (n === 0 || maxMs === null) return null
  const at = (p: number) => {
    const rank = Math.max(1, Math.ceil(p * n))
    let seen = 0
    for (const b of sorted) {
      seen += b.count
      if (seen >= rank) return Math.min(upperBound(b.bucket), maxMs)
    }
    return maxMs
  }
  return { p50: at(0.5), p95: at(0.95), max: maxMs }
}

/** `a` or `b`, whichever is larger; `null` only when both are. */
const larger = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : Math.max(a, b))

/** The service of a call: the host of an HTTP call (`server.address`), the provider of an LLM call (`gen_ai.provider.name`), the database of a SQL call (`db.system.name`); else `''`. */
export const serviceOf = (attributes: Readonly<Record<string, unknown>>): string => {
  for (const key of ["server.address", "gen_ai.provider.name", "db.system.name"]) {
    const value = attributes[key]
    if (typeof value === "string") return value
  }
  return ""
}

/** A failure's kind (`error_json.kind`) and one-line message, as the quarantine statistics group them. */
export const reasonOf = (errorJson: string | null): { readonly kind: string; readonly reason: string } => {
  if (errorJson === null) return { kind: "unknown", reason: "" }
  const kind = (JSON.parse(errorJson) as { readonly kind?: unknown }).kind
  return { kind: typeof kind === "string" ? kind : "unknown", reason: (failureLine(errorJson) ?? "").slice(0, 500) }
}

export interface StateCount {
  readonly nodeId: string
  readonly status: string
  readonly bucket: number
  count: number
  maxMs: number | null
}
export interface OutcomeCount {
  readonly outcome: string
  readonly sinkNodeId: string
  count: number
}
export interface CallCount {
  readonly nodeId: string
  readonly callType: string
  readonly service: string
  readonly status: string
  readonly bucket: number
  count: number
  maxMs: number | null
}
export interface QuarantineCount {
  readonly nodeId: string
  readonly kind: string
  readonly reason: string
  count: number
  readonly exampleRowId: string
}
export type Usage = { -readonly [K in keyof Totals]: Totals[K] } & { readonly nodeId: string }

/** A failed node state of a quarantined token, as `quarantineFacts` reads it. */
export interface QuarantineFact {
  readonly token_id: string
  readonly row_id: string
  readonly node_id: string | null
  readonly step_index: number | null
  readonly attempt: number | null
  readonly error_json: string | null
}

/** Statistics of one run, or a change to them: counts keyed by what they count. */
export class RunStats {
  readonly states = new Map<string, StateCount>()
  readonly outcomes = new Map<string, OutcomeCount>()
  readonly calls = new Map<string, CallCount>()
  readonly usage = new Map<string, Usage>()
  readonly quarantine = new Map<string, QuarantineCount>()
  constructor(readonly runId: string) {}

  /**
   * `states` by node, status and bucket: the engine adds every node state of a batch here, and
   * nested maps find an entry without building its string key (node ids and statuses are the same
   * string objects each time, whose hashes V8 keeps).
   */
  private readonly stateIndex = new Map<string, Map<string, Map<number, StateCount>>>()

  /** `count` node states of `nodeId` with `status`, lasting `durationMs` (negative: states that no longer are). */
  state(nodeId: string, status: string, durationMs: number | null | undefined, count = 1): void {
    const bucket = bucketOf(durationMs)
    let byStatus = this.stateIndex.get(nodeId)
    if (byStatus === undefined) this.stateIndex.set(nodeId, byStatus = new Map())
    let byBucket = byStatus.get(status)
    if (byBucket === undefined) byStatus.set(status, byBucket = new Map())
    const entry = byBucket.get(bucket)
    const maxMs = count > 0 ? (durationMs ?? null) : null
    if (entry === undefined) {
      const created: StateCount = { nodeId, status, bucket, count, maxMs }
      byBucket.set(bucket, created)
      this.states.set(`${nodeId}\u0000${status}\u0000${bucket}`, created)
    } else {
      entry.count += count
      if (maxMs !== null && (entry.maxMs === null || maxMs > entry.maxMs)) entry.maxMs = maxMs
    }
  }

  /** `count` tokens with `outcome` (`null`: none yet) at `sinkNodeId`. */
  outcome(outcome: string | null, sinkNodeId: string | null, count = 1): void {
    const o = outcome ?? "none"
    const sink = sinkNodeId ?? ""
    const key = `${o}\u0000${sink}`
    const entry = this.outcomes.get(key)
    if (entry === undefined) this.outcomes.set(key, { outcome: o, sinkNodeId: sink, count })
    else entry.count += count
  }

  /** One external call (and its LLM usage, from its attributes). */
  call(nodeId: string, callType: string, status: string, latencyMs: number, attributes: Readonly<Record<string, unknown>>): void {
    const service = serviceOf(attributes)
    const bucket = bucketOf(latencyMs)
    const key = `${nodeId}\u0000${callType}\u0000${service}\u0000${status}\u0000${bucket}`
    const entry = this.calls.get(key)
    if (entry === undefined) this.calls.set(key, { nodeId, callType, service, status, bucket, count: 1, maxMs: latencyMs })
    else {
      entry.count += 1
      entry.maxMs = larger(entry.maxMs, latencyMs)
    }
    if (callType === "llm") this.usage.set(nodeId, { ...addCall(this.usage.get(nodeId) ?? { ...emptyTotals, nodeId }, attributes), nodeId })
  }

  /** The quarantined tokens of `facts` (each token's failed states): each counted by its last failed state's node and reason. */
  quarantined(facts: ReadonlyArray<QuarantineFact>): void {
    const last = new Map<string, QuarantineFact>()
    for (const f of facts) {
      const seen = last.get(f.token_id)
      const later = seen === undefined || seen.node_id === null ||
        (f.node_id !== null && (num(f.step_index!) > num(seen.step_index!) || (num(f.step_index!) === num(seen.step_index!) && num(f.attempt!) > num(seen.attempt!))))
      if (later) last.set(f.token_id, f)
    }
    for (const f of last.values()) {
      const { kind, reason } = f.node_id === null ? { kind: "unknown", reason: "" } : reasonOf(f.error_json)
      const nodeId = f.node_id ?? ""
      const key = `${nodeId}\u0000${kind}\u0000${reason}`
      const entry = this.quarantine.get(key)
      if (entry === undefined) this.quarantine.set(key, { nodeId, kind, reason, count: 1, exampleRowId: f.row_id })
      else entry.count += 1
    }
  }

  get isEmpty(): boolean {
    return this.states.size + this.outcomes.size + this.calls.size + this.usage.size + this.quarantine.size === 0
  }
}

/** The failed node states of the quarantined tokens `tokenIds` (or of every quarantined token of `runId`). */
export const quarantineFacts = (sql: SqlClient.SqlClient, select: { readonly runId: string } | { readonly tokenIds: ReadonlyArray<string> }) =>
  "tokenIds" in select && select.tokenIds.length === 0
    ? Effect.succeed<ReadonlyArray<QuarantineFact>>([])
    : sql<QuarantineFact>`
      SELECT t.token_id, t.row_id, s.node_id, s.step_index, s.attempt, s.error_json
      FROM tokens t LEFT JOIN node_states s ON s.token_id = t.token_id AND s.status = 'failed'
      WHERE ${"runId" in select ? sql`t.run_id = ${select.runId}` : sql`t.token_id IN ${sql.in(select.tokenIds)}`} AND t.outcome = 'quarantined'`

/** Keeps the larger of the stored and the added maximum (`NULL` when both are). */
const keepMax = (table: string, column: string) =>
  `${column} = CASE WHEN excluded.${column} IS NULL THEN ${table}.${column} WHEN ${table}.${column} IS NULL OR excluded.${column} > ${table}.${column} THEN excluded.${column} ELSE ${table}.${column} END`

/** Adds `RunStats` deltas to the stored statistics, one upsert statement per table and chunk. */
export const makeStatsWriter = (sql: SqlClient.SqlClient) => {
  const upsert = {
    states: makeInserter<StateCount & { readonly runId: string }>(sql, {
      name: "node_state_stats",
      columns: ["run_id", "node_id", "status", "bucket", "count", "max_ms"],
      values: (s, p) => void p.push(s.runId, s.nodeId, s.status, s.bucket, s.count, s.maxMs),
      onConflict: `ON CONFLICT (run_id, node_id, status, bucket) DO UPDATE SET count = node_state_stats.count + excluded.count, ${keepMax("node_state_stats", "max_ms")}`
    }),
    outcomes: makeInserter<OutcomeCount & { readonly runId: string }>(sql, {
      name: "token_outcome_stats",
      columns: ["run_id", "outcome", "sink_node_id", "count"],
      values: (o, p) => void p.push(o.runId, o.outcome, o.sinkNodeId, o.count),
      onConflict: "ON CONFLICT (run_id, outcome, sink_node_id) DO UPDATE SET count = token_outcome_stats.count + excluded.count"
    }),
    calls: makeInserter<CallCount & { readonly runId: string }>(sql, {
      name: "call_stats",
      columns: ["run_id", "node_id", "call_type", "service", "status", "bucket", "count", "max_ms"],
      values: (c, p) => void p.push(c.runId, c.nodeId, c.callType, c.service, c.status, c.bucket, c.count, c.maxMs),
      onConflict: `ON CONFLICT (run_id, node_id, call_type, service, status, bucket) DO UPDATE SET count = call_stats.count + excluded.count, ${keepMax("call_stats", "max_ms")}`
    }),
    usage: makeInserter<Usage & { readonly runId: string }>(sql, {
      name: "llm_usage_stats",
      columns: ["run_id", "node_id", "calls", "input_tokens", "output_tokens", "total_tokens", "cached_input_tokens", "reasoning_tokens", "cost_usd", "unpriced_calls"],
      values: (u, p) =>
        void p.push(u.runId, u.nodeId, u.calls, u.inputTokens, u.outputTokens, u.totalTokens, u.cachedInputTokens, u.reasoningTokens, u.costUsd, u.unpricedCalls),
      onConflict: `ON CONFLICT (run_id, node_id) DO UPDATE SET ${
        ["calls", "input_tokens", "output_tokens", "total_tokens", "cached_input_tokens", "reasoning_tokens", "unpriced_calls"]
          .map((c) => `${c} = llm_usage_stats.${c} + excluded.${c}`).join(", ")
      }, cost_usd = CASE WHEN excluded.cost_usd IS NULL THEN llm_usage_stats.cost_usd ELSE COALESCE(llm_usage_stats.cost_usd, 0) + excluded.cost_usd END`
    }),
    quarantine: makeInserter<QuarantineCount & { readonly runId: string }>(sql, {
      name: "quarantine_stats",
      columns: ["run_id", "node_id", "kind", "reason", "count", "example_row_id"],
      values: (q, p) => void p.push(q.runId, q.nodeId, q.kind, q.reason, q.count, q.exampleRowId),
      onConflict: "ON CONFLICT (run_id, node_id, kind, reason) DO UPDATE SET count = quarantine_stats.count + excluded.count"
    })
  }
  const rows = <A>(runId: string, m: ReadonlyMap<string, A>) => [...m.values()].map((v) => ({ ...v, runId }))
  /** Adds `stats` (it is not changed, so a retried transaction adds the same). */
  return (stats: RunStats): Effect.Effect<void, SqlError.SqlError> =>
    stats.isEmpty ? Effect.void : Effect.all([
      upsert.states(rows(stats.runId, stats.states), 0),
      upsert.outcomes(rows(stats.runId, stats.outcomes), 0),
      upsert.calls(rows(stats.runId, stats.calls), 0),
      upsert.usage(rows(stats.runId, stats.usage), 0),
      upsert.quarantine(rows(stats.runId, stats.quarantine), 0)
    ], { discard: true })
}

/** The stored LLM usage of a run, by node (`llm_usage_stats`). */
export const readUsage = (sql: SqlClient.SqlClient, runId: string): Effect.Effect<ReadonlyMap<string, Usage>, SqlError.SqlError> =>
  Effect.map(
    sql<{
      node_id: string; calls: number; input_tokens: number; output_tokens: number; total_tokens: number; cached_input_tokens: number; reasoning_tokens: number
      cost_usd: number | null; unpriced_calls: number
    }>`SELECT * FROM llm_usage_stats WHERE run_id = ${runId} AND calls <> 0`,
    (rows) => new Map(rows.map((u) => [u.node_id, {
      nodeId: u.node_id, calls: num(u.calls), inputTokens: num(u.input_tokens), outputTokens: num(u.output_tokens), totalTokens: num(u.total_tokens),
      cachedInputTokens: num(u.cached_input_tokens), reasoningTokens: num(u.reasoning_tokens), costUsd: numOrNull(u.cost_usd), unpricedCalls: num(u.unpriced_calls)
    }]))
  )

/** The stored statistics of a run (rows counting nothing left out), to read: `state` would not find the entries read. */
export const readStats = (sql: SqlClient.SqlClient, runId: string): Effect.Effect<RunStats, SqlError.SqlError> =>
  Effect.gen(function* () {
    const stats = new RunStats(runId)
    const states = yield* sql<{ node_id: string; status: string; bucket: number; count: number; max_ms: number | null }>`
      SELECT node_id, status, bucket, count, max_ms FROM node_state_stats WHERE run_id = ${runId} AND count <> 0`
    for (const s of states) {
      stats.states.set(`${s.node_id}\u0000${s.status}\u0000${num(s.bucket)}`, { nodeId: s.node_id, status: s.status, bucket: num(s.bucket), count: num(s.count), maxMs: numOrNull(s.max_ms) })
    }
    const outcomes = yield* sql<{ outcome: string; sink_node_id: string; count: number }>`
      SELECT outcome, sink_node_id, count FROM token_outcome_stats WHERE run_id = ${runId} AND count <> 0`
    for (const o of outcomes) stats.outcomes.set(`${o.outcome}\u0000${o.sink_node_id}`, { outcome: o.outcome, sinkNodeId: o.sink_node_id, count: num(o.count) })
    const calls = yield* sql<{ node_id: string; call_type: string; service: string; status: string; bucket: number; count: number; max_ms: number | null }>`
      SELECT node_id, call_type, service, status, bucket, count, max_ms FROM call_stats WHERE run_id = ${runId} AND count <> 0`
    for (const c of calls) {
      stats.calls.set(`${c.node_id}\u0000${c.call_type}\u0000${c.service}\u0000${c.status}\u0000${num(c.bucket)}`, {
        nodeId: c.node_id, callType: c.call_type, service: c.service, status: c.status, bucket: num(c.bucket), count: num(c.count), maxMs: numOrNull(c.max_ms)
      })
    }
    for (const [nodeId, u] of yield* readUsage(sql, runId)) stats.usage.set(nodeId, u)
    const quarantine = yield* sql<{ node_id: string; kind: string; reason: string; count: number; example_row_id: string }>`
      SELECT node_id, kind, reason, count, example_row_id FROM quarantine_stats WHERE run_id = ${runId} AND count <> 0`
    for (const q of quarantine) {
      stats.quarantine.set(`${q.node_id}\u0000${q.kind}\u0000${q.reason}`, { nodeId: q.node_id, kind: q.kind, reason: q.reason, count: num(q.count), exampleRowId: q.example_row_id })
    }
    return stats
  })

/** Calls read per query by `recompute`: bounds its memory whatever the run's size. */
const callPage = 10_000

/** A run's statistics computed from its records (for `verify`, and for runs recorded before migration 0011). */
export const recompute = (sql: SqlClient.SqlClient, runId: string): Effect.Effect<RunStats, SqlError.SqlError> =>
  Effect.gen(function* () {
    const stats = new RunStats(runId)
    const states = yield* sql<{ node_id: string; status: string; duration_ms: number | null; n: number }>`
      SELECT node_id, status, duration_ms, count(*) AS n FROM node_states WHERE run_id = ${runId} GROUP BY node_id, status, duration_ms`
    for (const s of states) stats.state(s.node_id, s.status, numOrNull(s.duration_ms), num(s.n))
    const outcomes = yield* sql<{ outcome: string | null; sink_node_id: string | null; n: number }>`
      SELECT outcome, sink_node_id, count(*) AS n FROM tokens WHERE run_id = ${runId} GROUP BY outcome, sink_node_id`
    for (const o of outcomes) stats.outcome(o.outcome, o.sink_node_id, num(o.n))
    let after = ""
    while (true) {
      const calls = yield* sql<{ call_id: string; node_id: string; call_type: string; status: string; latency_ms: number; attributes_json: string }>`
        SELECT call_id, node_id, call_type, status, latency_ms, attributes_json FROM calls
        WHERE run_id = ${runId} AND call_id > ${after} ORDER BY call_id LIMIT ${callPage}`
      for (const c of calls) stats.call(c.node_id, c.call_type, c.status, num(c.latency_ms), JSON.parse(c.attributes_json) as Record<string, unknown>)
      if (calls.length < callPage) break
      after = calls[calls.length - 1]!.call_id
    }
    stats.quarantined(yield* quarantineFacts(sql, { runId }))
    return stats
  })

/**
 * Where `stored` differs from `computed`, one line each: `[table and key, message]`. LLM cost is a
 * sum of floating-point numbers added in another order, so it may differ by a rounding (1e-9 of it).
 */
export const differences = (stored: RunStats, computed: RunStats): ReadonlyArray<readonly [string, string]> => {
  const out: Array<readonly [string, string]> = []
  const compare = <A extends { readonly count: number } | { readonly calls: number }>(
    table: string, a: ReadonlyMap<string, A>, b: ReadonlyMap<string, A>, same: (x: A, y: A) => boolean, show: (x: A | undefined) => string
  ) => {
    const zero = (v: A | undefined) => v === undefined || ("count" in v ? v.count : v.calls) === 0
    for (const key of new Set([...a.keys(), ...b.keys()])) {
      const x = a.get(key)
      const y = b.get(key)
      if (zero(x) && zero(y)) continue
      if (x === undefined || y === undefined || !same(x, y)) out.push([`${table} ${key.replaceAll("\u0000", " ")}`, `stored ${show(x)}, the records give ${show(y)}`])
    }
  }
  const close = (x: number | null, y: number | null) => x === y || (x !== null && y !== null && Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y)))
  compare("node_state_stats", stored.states, computed.states, (x, y) => x.count === y.count && x.maxMs === y.maxMs, (v) => v === undefined ? "none" : `${v.count} (max ${v.maxMs} ms)`)
  compare("token_outcome_stats", stored.outcomes, computed.outcomes, (x, y) => x.count === y.count, (v) => `${v?.count ?? 0}`)
  compare("call_stats", stored.calls, computed.calls, (x, y) => x.count === y.count && x.maxMs === y.maxMs, (v) => v === undefined ? "none" : `${v.count} (max ${v.maxMs} ms)`)
  compare("llm_usage_stats", stored.usage, computed.usage, (x, y) =>
    x.calls === y.calls && x.inputTokens === y.inputTokens && x.outputTokens === y.outputTokens && x.totalTokens === y.totalTokens &&
    x.cachedInputTokens === y.cachedInputTokens && x.reasoningTokens === y.reasoningTokens && x.unpricedCalls === y.unpricedCalls && close(x.costUsd, y.costUsd),
    (v) => v === undefined ? "none" : `${v.calls} calls, ${v.inputTokens}+${v.outputTokens} tokens, ${v.costUsd ?? "no"} USD`)
  compare("quarantine_stats", stored.quarantine, computed.quarantine, (x, y) => x.count === y.count, (v) => `${v?.count ?? 0}`)
  return out
}
