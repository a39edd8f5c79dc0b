/**
 * Health assessment of the telemetry hub: pure functions from each exporter's circuit, its last
 * drop and the hub's own state to `healthy` | `degraded` | `unhealthy` with the reason.
 *
 * @internal
 */
import { Duration } from "effect"
import type * as Circuit from "./circuit.js"
import type { ComponentHealth, HealthStatus, TelemetryHealth } from "../../TelemetryStats.js"
import type { ExporterCounters } from "./stats.js"

/** What the assessment reads of one exporter lane. */
export interface LaneView {
  readonly name: string
  readonly stats: ExporterCounters
  readonly circuit: Circuit.Circuit
  /** Epoch ms of this exporter's last dropped event. */
  readonly lastDropAt: number
}

/** One exporter: unhealthy while its circuit is open, degraded while probing, failing or recently dropping. */
export const ofLane = (lane: LaneView, now: number, window: Duration.Duration): ComponentHealth => {
  const lastError = lane.stats.lastError ?? "unknown error"
  switch (lane.circuit.state) {
    case "open":
      return { status: "unhealthy", reason: `circuit open after ${lane.circuit.consecutiveFailures} failed batches: ${lastError}` }
    case "halfOpen":
      return { status: "degraded", reason: `recovering: the next batch is a probe (${lastError})` }
    case "closed":
      if (lane.circuit.consecutiveFailures > 0) {
        return { status: "degraded", reason: `${lane.circuit.consecutiveFailures} consecutive failed batches: ${lastError}` }
      }
      if (now - lane.lastDropAt < Duration.toMillis(window)) {
        return { status: "degraded", reason: `dropped events in the last ${Duration.format(window)}` }
      }
      return { status: "healthy" }
  }
}

/**
 * The whole hub: unhealthy when every exporter is, degraded when any exporter is not healthy, the
 * ingress queue dropped within `window`, or telemetry is switched off.
 */
export const ofHub = (options: {
  readonly lanes: ReadonlyArray<LaneView>
  readonly now: number
  readonly window: Duration.Duration
  readonly lastIngressDropAt: number
  readonly enabled: boolean
}): TelemetryHealth => {
  const { lanes, now, window } = options
  const exporters: Record<string, ComponentHealth> = {}
  const notHealthy: Array<string> = []
  let unhealthy = 0
  for (const lane of lanes) {
    const h = ofLane(lane, now, window)
    exporters[lane.name] = h
    if (h.status !== "healthy") notHealthy.push(`${lane.name}: ${h.reason ?? h.status}`)
    if (h.status === "unhealthy") unhealthy += 1
  }
  let status: HealthStatus = "healthy"
  const reasons: Array<string> = []
  if (lanes.length > 0 && unhealthy === lanes.length) {
    status = "unhealthy"
    reasons.push("every exporter is failing")
  } else if (notHealthy.length > 0) status = "degraded"
  if (now - options.lastIngressDropAt < Duration.toMillis(window)) {
    if (status === "healthy") status = "degraded"
    reasons.push(`ingress dropped events in the last ${Duration.format(window)}`)
  }
  if (!options.enabled) {
    if (status === "healthy") status = "degraded"
    reasons.push("telemetry is switched off")
  }
  reasons.push(...notHealthy)
  return status === "healthy" ? { status, exporters } : { status, reason: reasons.join("; "), exporters }
}
