/**
 * Runs and run summaries: `runs`, `getRun`, `listRuns`, `llmUsage`, `runSummary`.
 *
 * `runSummary` reads the run's statistics (`stats.ts`), kept by every write: its time does not grow
 * with the run's records (`npm run bench -- dashboard`). Duration percentiles come from their
 * histograms: within 4.4 % above the nearest-rank value, the maximum exact.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { Effect, Option } from "effect"
import type { CallStatus, CallType } from "../TelemetryEvent.js"
import { addTotals, emptyTotals, type RunTotals, type Totals } from "../internal/usage.js"
import { num, type RunDbRow, toRunRow } from "./decode.js"
import { listPartitions } from "./partitions.js"
import type { NodeKind, RunRow, TokenOutcome } from "./records.js"
import type { RunsOptions, RunSummary } from "./results.js"
import { durationStats, noDuration, readStats, readUsage, type RunStats, type Usage } from "./stats.js"

interface NodeDb {
  readonly node_id: string
  readonly name: string
  readonly kind: NodeKind
  readonly position: number
}

/** LLM totals of a run from its usage by node (`nodes` in pipeline order): per node, and summed. */
const totalsOf = (runId: string, nodes: ReadonlyArray<NodeDb>, usage: ReadonlyMap<string, Usage>): RunTotals => {
  const perNode = nodes.flatMap((n) => {
    const u = usage.get(n.node_id)
    return u === undefined ? [] : [{ ...u, node: n.name }]
  })
  return { runId, run: perNode.reduce<Totals>(addTotals, emptyTotals), nodes: perNode }
}

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

  const nodesOf = (runId: string) =>
    sql<NodeDb>`SELECT node_id, name, kind, position FROM nodes WHERE run_id = ${runId} ORDER BY position`

  /** The run's LLM totals, per node in pipeline order, from its statistics (`llm_usage_stats`). */
  const llmUsage = (runId: string): Effect.Effect<RunTotals, SqlError.SqlError> =>
    Effect.map(Effect.zip(nodesOf(runId), readUsage(sql, runId)), ([nodes, usage]) => totalsOf(runId, nodes, usage))

  /** Each node's states by status and their duration histogram, from the run's statistics. */
  const nodeStats = (stats: RunStats) => {
    const byNode = new Map<string, { states: Record<string, number>; buckets: Array<{ bucket: number; count: number }>; max: number | null }>()
    for (const s of stats.states.values()) {
      const entry = byNode.get(s.nodeId) ?? { states: {}, buckets: [], max: null }
      entry.states[s.status] = (entry.states[s.status] ?? 0) + s.count
      entry.buckets.push({ bucket: s.bucket, count: s.count })
      if (s.maxMs !== null && s.bucket !== noDuration) entry.max = Math.max(entry.max ?? s.maxMs, s.maxMs)
      byNode.set(s.nodeId, entry)
    }
    return byNode
  }

  /** Calls by type, service and status, with their latency histogram. */
  const callGroups = (stats: RunStats) => {
    const groups = new Map<string, { callType: CallType; service: string; status: CallStatus; count: number; buckets: Array<{ bucket: number; count: number }>; max: number | null }>()
    for (const c of stats.calls.values()) {
      const key = `${c.callType}\u0000${c.service}\u0000${c.status}`
      const group = groups.get(key) ?? { callType: c.callType as CallType, service: c.service, status: c.status as CallStatus, count: 0, buckets: [], max: null }
      group.count += c.count
      group.buckets.push({ bucket: c.bucket, count: c.count })
      if (c.maxMs !== null) group.max = Math.max(group.max ?? c.maxMs, c.maxMs)
      groups.set(key, group)
    }
    return [...groups.values()].sort((a, b) => a.callType.localeCompare(b.callType) || a.service.localeCompare(b.service) || a.status.localeCompare(b.status))
  }

  const runSummary = (runId: string): Effect.Effect<Option.Option<RunSummary>, SqlError.SqlError> =>
    Effect.gen(function* () {
      const run = yield* getRun(runId)
      if (Option.isNone(run)) return Option.none()
      const nodes = yield* nodesOf(runId)
      const name = new Map(nodes.map((n) => [n.node_id, n.name]))
      const stats = yield* readStats(sql, runId)
      const operations = yield* sql<{ readonly node_id: string; readonly kind: string; readonly status: string; readonly duration_ms: number | null; readonly error: string | null }>`
        SELECT node_id, kind, status, duration_ms, error FROM operations WHERE run_id = ${runId} ORDER BY chain_seq, chain_ord`
      const partitions = yield* listPartitions(sql, runId)

      const outcomeCounts: Record<TokenOutcome | "none", number> = {
        routed: 0, quarantined: 0, failed: 0, completed: 0, expanded: 0, forked: 0, coalesced: 0, consumed_in_batch: 0, none: 0
      }
      const sinks: Record<string, number> = {}
      for (const o of stats.outcomes.values()) {
        outcomeCounts[o.outcome as TokenOutcome | "none"] += o.count
        if (o.outcome === "routed" && o.sinkNodeId !== "") {
          const sink = name.get(o.sinkNodeId) ?? o.sinkNodeId
          sinks[sink] = (sinks[sink] ?? 0) + o.count
        }
      }
      const byNode = nodeStats(stats)
      const llm = totalsOf(runId, nodes, stats.usage)
      return Option.some({
        run: run.value,
        nodes: nodes.map((n) => {
          const s = byNode.get(n.node_id)
          return {
            nodeId: n.node_id,
            name: n.name,
            kind: n.kind,
            position: num(n.position),
            states: s?.states ?? {},
            durationMs: s === undefined ? null : durationStats(s.buckets, s.max)
          }
        }),
        outcomes: outcomeCounts,
        sinks,
        calls: callGroups(stats).map((g) => ({ callType: g.callType, service: g.service, status: g.status, count: g.count, latencyMs: durationStats(g.buckets, g.max)! })),
        llm,
        quarantineReasons: [...stats.quarantine.values()]
          .map((q) => ({ node: name.get(q.nodeId) ?? q.nodeId, kind: q.kind, reason: q.reason, count: q.count, exampleRowId: q.exampleRowId }))
          .sort((a, b) => b.count - a.count || a.node.localeCompare(b.node) || a.reason.localeCompare(b.reason)),
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
