/**
 * Shapes of the hub's accounting and health. Counts are events unless named `batches…`.
 *
 * @internal
 */

/** Per-exporter counters. */
export interface ExporterStats {
  /** Events delivered by a successful `export`. */
  exported: number
  batchesExported: number
  batchesFailed: number
  /** Failed batches in a row; reset by a successful export. */
  consecutiveFailures: number
  dropped: {
    /** Refused (`drop`) or evicted (`slide`) by this exporter's full queue. */
    queueOverflow: number
    /** In a batch that still failed after the time-out and retries (or a failed probe). */
    exportFailed: number
    /** Routed to this exporter while its circuit was open. */
    circuitOpen: number
    /** Still queued, or in an export cut short, when the shutdown time-out ran out. */
    shutdown: number
  }
  /** `closed` (normal), `open` (failing: events dropped), `halfOpen` (the next batch is a probe). */
  circuit: "closed" | "open" | "halfOpen"
  lastError?: string
}

export const newExporterStats = (): ExporterStats => ({
  exported: 0,
  batchesExported: 0,
  batchesFailed: 0,
  consecutiveFailures: 0,
  dropped: { queueOverflow: 0, exportFailed: 0, circuitOpen: 0, shutdown: 0 },
  circuit: "closed"
})

/**
 * A snapshot of the hub's accounting.
 *
 * **The accounting identity.** Once the hub has drained (after `flush` with no concurrent `emit`,
 * or after its scope closed), for every exporter `e`:
 *
 * ```
 * emitted = filtered + sampledOut
 *         + dropped.ingressOverflow + dropped.shutdown                 (hub level: lost for everyone)
 *         + exporters[e].exported
 *         + exporters[e].dropped.queueOverflow + exporters[e].dropped.exportFailed
 *         + exporters[e].dropped.circuitOpen + exporters[e].dropped.shutdown
 * ```
 *
 * `emitted` includes the hub's own health events (`healthEvents`); they never pass the ingress
 * queue, are never filtered or sampled, and are counted per exporter like any other event.
 * {@link unaccounted} computes `emitted` minus the right-hand side (0 when the identity holds).
 */
export interface TelemetryStats {
  /** Every call to `emit`, plus the hub's own health events. */
  readonly emitted: number
  /** Below the granularity, refused by the allow/deny patterns, or emitted while switched off. */
  readonly filtered: number
  /** Removed by sampling. */
  readonly sampledOut: number
  /** Health events the hub emitted itself (already included in `emitted`). */
  readonly healthEvents: number
  /** Free-form attributes capped on the way in (the events themselves were kept). */
  readonly truncated: {
    /** Attributes removed because an event had more than `maxAttributes`. */
    readonly attributes: number
    /** String values cut to `maxAttributeLength`. */
    readonly values: number
  }
  readonly dropped: {
    /** Refused (`drop`) or evicted (`slide`) by the full ingress queue. */
    readonly ingressOverflow: number
    /**
     * Emitted after shutdown began, left in the ingress queue when it ended, or whose blocked
     * `emit` was interrupted.
     */
    readonly shutdown: number
  }
  readonly exporters: Readonly<Record<string, Readonly<ExporterStats>>>
}

/**
 * `emitted` minus everything accounted for exporter `name` (see {@link TelemetryStats}); 0 once
 * the hub has drained. Before that, the difference is what is still in flight.
 */
export const unaccounted = (stats: TelemetryStats, name: string): number => {
  const e = stats.exporters[name]
  if (e === undefined) return Number.NaN
  return stats.emitted - stats.filtered - stats.sampledOut - stats.dropped.ingressOverflow - stats.dropped.shutdown -
    e.exported - e.dropped.queueOverflow - e.dropped.exportFailed - e.dropped.circuitOpen - e.dropped.shutdown
}

/** Every event an exporter lost, all reasons, hub level included. */
export const droppedFor = (stats: TelemetryStats, name: string): number => {
  const e = stats.exporters[name]
  if (e === undefined) return 0
  return stats.dropped.ingressOverflow + stats.dropped.shutdown + e.dropped.queueOverflow + e.dropped.exportFailed +
    e.dropped.circuitOpen + e.dropped.shutdown
}

export const emptyStats: TelemetryStats = {
  emitted: 0,
  filtered: 0,
  sampledOut: 0,
  healthEvents: 0,
  truncated: { attributes: 0, values: 0 },
  dropped: { ingressOverflow: 0, shutdown: 0 },
  exporters: {}
}

export type HealthStatus = "healthy" | "degraded" | "unhealthy"

export interface ComponentHealth {
  readonly status: HealthStatus
  /** Why it is not `healthy` (absent when it is). */
  readonly reason?: string
}

/**
 * Per exporter: `unhealthy` while its circuit is open; `degraded` after a failed batch, while a
 * probe is pending, or when it dropped events within the last `healthWindow`; else `healthy`.
 * Overall: `unhealthy` when every exporter is unhealthy (nothing is delivered), `degraded` when
 * any exporter is not healthy, the ingress queue dropped within the window, or telemetry is
 * switched off; else `healthy`.
 */
export interface TelemetryHealth extends ComponentHealth {
  readonly exporters: Readonly<Record<string, ComponentHealth>>
}
