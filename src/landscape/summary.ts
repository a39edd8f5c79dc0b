/**
 * Runs and run summaries: `runs`, `getRun`, `listRuns`, `llmUsage`, `runSummary`.
 *
 * `runSummary` counts in SQL (`GROUP BY`) and takes duration percentiles by nearest rank (the value
 * at rank ⌈p·n⌉) with a window function over the run's node states, in one sort: its time grows
 * with the run's node states (see `bench/landscape-read.ts`).
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { Effect, Option } from "effect"
import type { CallStatus, CallType } from "../TelemetryEvent.js"
import { runTotals } from "../internal/usage.js"
import { failureLine, num, percentile, type RunDbRow, toRunRow } from "./decode.js"
import { listPartitions } from "./partitions.js"
import type { NodeKind, RunRow, TokenOutcome } from "./records.js"
import type { DurationStats, RunsOptions, RunSummary } from "./results.js"

export const makeSummary = (sql: SqlClient.SqlClient) => {
  const getRun = (runId: string) =>
    Effect.map(sql<RunDbRow>`SELECT * FROM runs WHERE run_id = ${runId}`, (rows) => Option.map(Option.fromNullable(rows[0]), toRunRow))

  const runs = (options: RunsOptions = {}): Effect.Effect<ReadonlyArray<RunRow>, SqlError.SqlError> => {
    const status = options.status === undefined ? [] : typeof options.status === "string" ? [options.status] : options.status
    const where = sql.and([
      ...(status.length > 0 ? [sql`status IN ${sql.in(status)}`] : []),
      ...(options.pipeline !== undefined ? [sql`pipeline = ${options.pipeline}`] : []),
      ...(options.parentRunId !== undefined ? [sql`parent_run_id = ${options.parentRunId}`] : []),
      ...(options.since !== undefined ? [sql`started_at >= ${options.since}`] : [])
    ])
    return Effect.map(
      sql<RunDbRow>`SELECT * FROM runs WHERE ${where} ORDER BY started_at DESC, run_id LIMIT ${Math.max(1, options.limit ?? 100)}`,
      (rows) => rows.map(toRunRow)
    )
  }

  const llmUsage = (runId: string) =>
    Effect.map(
      sql<{ readonly node_id: string; readonly name: string; readonly attributes_json: string }>`
        SELECT c.node_id, n.name, c.attributes_json FROM calls c JOIN nodes n ON n.node_id = c.node_id
        WHERE c.run_id = ${runId} AND c.call_type = 'llm' ORDER BY c.chain_seq, c.chain_ord`,
      (rows) => runTotals(runId, rows.map((r) => ({ nodeId: r.node_id, node: r.name, attributes: JSON.parse(r.attributes_json) as Record<string, unknown> })))
    )

  /** Nearest-rank p50/p95 and max of the durations `values` (already sorted ascending). */
  const stats = (values: ReadonlyArray<number>): DurationStats | null =>
    values.length === 0 ? null : { p50: percentile(values, 0.5), p95: percentile(values, 0.95), max: values[values.length - 1]! }

  /**
   * Nearest-rank p50, p95 and max of each node's state durations in one pass: SQLite numbers each
   * node's durations in order (a window function) and returns only the three ranks per node.
   */
  const nodeDurations = (runId: string) =>
    Effect.map(
      sql<{ readonly node_id: string; readonly d: number; readonly rn: number; readonly cnt: number }>`
        SELECT node_id, d, rn, cnt FROM (
          SELECT node_id, duration_ms AS d, row_number() OVER (PARTITION BY node_id ORDER BY duration_ms) AS rn, count(*) OVER (PARTITION BY node_id) AS cnt
          FROM node_states WHERE run_id = ${runId} AND duration_ms IS NOT NULL) ranked
        WHERE rn = (cnt * 50 + 99) / 100 OR rn = (cnt * 95 + 99) / 100 OR rn = cnt`,
      (rows) => {
        const byNode = new Map<string, { p50: number; p95: number; max: number }>()
        for (const r of rows) {
          const entry = byNode.get(r.node_id) ?? { p50: 0, p95: 0, max: 0 }
          const cnt = num(r.cnt)
          const rn = num(r.rn)
          if (rn === Math.floor((cnt * 50 + 99) / 100)) entry.p50 = num(r.d)
          if (rn === Math.floor((cnt * 95 + 99) / 100)) entry.p95 = num(r.d)
          if (rn === cnt) entry.max = num(r.d)
          byNode.set(r.node_id, entry)
        }
        return byNode
      }
    )

  const runSummary = (runId: string): Effect.Effect<Option.Option<RunSummary>, SqlError.SqlError> =>
    Effect.gen(function* () {
      const run = yield* getRun(runId)
      if (Option.isNone(run)) return Option.none()
      const nodes = yield* sql<{ readonly node_id: string; readonly name: string; readonly kind: NodeKind; readonly position: number }>`
        SELECT node_id, name, kind, position FROM nodes WHERE run_id = ${runId} ORDER BY position`
      const name = new Map(nodes.map((n) => [n.node_id, n.name]))
      const byStatus = yield* sql<{ readonly node_id: string; readonly status: string; readonly n: number }>`
        SELECT node_id, status, count(*) AS n FROM node_states WHERE run_id = ${runId} GROUP BY node_id, status`
      const durations = yield* nodeDurations(runId)
      const outcomes = yield* sql<{ readonly outcome: TokenOutcome | null; readonly sink_node_id: string | null; readonly n: number }>`
        SELECT outcome, sink_node_id, count(*) AS n FROM tokens WHERE run_id = ${runId} GROUP BY outcome, sink_node_id`
      const calls = yield* sql<{ readonly call_type: CallType; readonly status: CallStatus; readonly latency_ms: number }>`
        SELECT call_type, status, latency_ms FROM calls WHERE run_id = ${runId} ORDER BY call_type, status, latency_ms`
      const quarantined = yield* sql<{ readonly node_id: string; readonly error_json: string | null; readonly row_id: string }>`
        SELECT s.node_id, s.error_json, t.row_id FROM tokens t JOIN node_states s ON s.token_id = t.token_id AND s.status = 'failed'
        WHERE t.run_id = ${runId} AND t.outcome = 'quarantined' ORDER BY t.chain_seq, t.chain_ord`
      const operations = yield* sql<{ readonly node_id: string; readonly kind: string; readonly status: string; readonly duration_ms: number | null; readonly error: string | null }>`
        SELECT node_id, kind, status, duration_ms, error FROM operations WHERE run_id = ${runId} ORDER BY chain_seq, chain_ord`
      const llm = yield* llmUsage(runId)
      const partitions = yield* listPartitions(sql, runId)

      const outcomeCounts: Record<TokenOutcome | "none", number> = {
        routed: 0, quarantined: 0, failed: 0, completed: 0, expanded: 0, forked: 0, coalesced: 0, consumed_in_batch: 0, none: 0
      }
      const sinks: Record<string, number> = {}
      for (const o of outcomes) {
        outcomeCounts[o.outcome ?? "none"] += num(o.n)
        if (o.outcome === "routed" && o.sink_node_id !== null) {
          const sink = name.get(o.sink_node_id) ?? o.sink_node_id
          sinks[sink] = (sinks[sink] ?? 0) + num(o.n)
        }
      }
      const callGroups = new Map<string, { callType: CallType; status: CallStatus; latencies: Array<number> }>()
      for (const c of calls) {
        const key = `${c.call_type}\u0000${c.status}`
        const group = callGroups.get(key) ?? { callType: c.call_type, status: c.status, latencies: [] }
        group.latencies.push(num(c.latency_ms))
        callGroups.set(key, group)
      }
      const reasons = new Map<string, { node: string; kind: string; reason: string; count: number; exampleRowId: string }>()
      for (const q of quarantined) {
        const kind = q.error_json === null ? "unknown" : String((JSON.parse(q.error_json) as { kind?: unknown }).kind ?? "unknown")
        const reason = failureLine(q.error_json) ?? ""
        const node = name.get(q.node_id) ?? q.node_id
        const key = `${node}\u0000${kind}\u0000${reason}`
        const group = reasons.get(key) ?? { node, kind, reason, count: 0, exampleRowId: q.row_id }
        group.count += 1
        reasons.set(key, group)
      }
      return Option.some({
        run: run.value,
        nodes: nodes.map((n) => ({
          nodeId: n.node_id,
          name: n.name,
          kind: n.kind,
          position: num(n.position),
          states: Object.fromEntries(byStatus.filter((s) => s.node_id === n.node_id).map((s) => [s.status, num(s.n)])),
          durationMs: durations.get(n.node_id) ?? null
        })),
        outcomes: outcomeCounts,
        sinks,
        calls: [...callGroups.values()].map((g) => ({ callType: g.callType, status: g.status, count: g.latencies.length, latencyMs: stats(g.latencies)! })),
        llm,
        quarantineReasons: [...reasons.values()].sort((a, b) => b.count - a.count),
        operations: operations.map((o) => ({ node: name.get(o.node_id) ?? o.node_id, kind: o.kind, status: o.status, durationMs: o.duration_ms === null ? null : num(o.duration_ms), error: o.error })),
        partitions
      } satisfies RunSummary)
    })

  return {
    getRun,
    runs,
    listRuns: (options?: { readonly limit?: number }) => runs(options?.limit === undefined ? {} : { limit: options.limit }),
    llmUsage,
    runSummary
  }
}
