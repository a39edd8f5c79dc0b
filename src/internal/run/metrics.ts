/**
 * The engine's metrics (`PipelineMetric` catalogue, DESIGN.md Conventions): rows read, rows routed
 * per sink, rows quarantined per node (at each commit), and the duration of every node state (as
 * each step settles). Updated synchronously (`unsafeUpdate`) with one label array per node, sink
 * and status, built once per run: Effect keeps a metric's hook by the identity of its label array,
 * so an update costs no registry lookup and allocates nothing. Labels come only from the closed
 * set (`node`, `sink`, `status`), never from row values.
 *
 * @internal
 */
import type { MetricLabel } from "effect"
import * as PipelineMetric from "../../PipelineMetric.js"
import type { Plan } from "./plan.js"

type Labels = ReadonlyArray<MetricLabel.MetricLabel>

export interface RunMetrics {
  /** A node state ended: its node id, status, and duration in milliseconds. */
  readonly state: (nodeId: string, status: "completed" | "failed", durationMs: number) => void
  /** A batch was committed: rows read, rows per sink name, rows quarantined per node name. */
  readonly committed: (read: number, routed: ReadonlyMap<string, number>, quarantined: ReadonlyMap<string, number>) => void
}

export const make = (plan: Plan): RunMetrics => {
  const names = new Map<string, string>([
    [plan.source.nodeId, plan.source.name],
    ...plan.steps.map((s) => [s.nodeId, s.step.name] as const),
    ...plan.sinks.map((s) => [s.nodeId, s.name] as const)
  ])
  const cache = new Map<string, Labels>()
  const labels = (key: string, values: Parameters<typeof PipelineMetric.labels>[0]): Labels => {
    let found = cache.get(key)
    if (found === undefined) {
      found = PipelineMetric.labels(values)
      cache.set(key, found)
    }
    return found
  }
  const source = labels(`read`, { node: plan.source.name })
  /** Per node, the label arrays of its two statuses: two lookups on the hot path, no string built. */
  const stateLabels = new Map([...names].map(([nodeId, node]) => [nodeId, {
    completed: labels(`state ${nodeId} completed`, { node, status: "completed" }),
    failed: labels(`state ${nodeId} failed`, { node, status: "failed" })
  }] as const))
  return {
    state: (nodeId, status, durationMs) => {
      const byStatus = stateLabels.get(nodeId)
      if (byStatus !== undefined) PipelineMetric.nodeStateDuration.unsafeUpdate(durationMs / 1000, byStatus[status])
    },
    committed: (read, routed, quarantined) => {
      PipelineMetric.rowsRead.unsafeUpdate(read, source)
      for (const [sink, n] of routed) PipelineMetric.rowsRouted.unsafeUpdate(n, labels(`sink ${sink}`, { sink }))
      for (const [node, n] of quarantined) PipelineMetric.rowsQuarantined.unsafeUpdate(n, labels(`quarantined ${node}`, { node }))
    }
  }
}
