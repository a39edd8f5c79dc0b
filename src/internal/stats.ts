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
    /** Refused or evicted by this exporter's full queue. */
    queueOverflow: number
    /** In a batch that still failed after the time-out and retries. */
    exportFailed: number
    /** Refused while this exporter's circuit was open. */
    circuitOpen: number
    /** Still queued when the shutdown time-out ran out. */
    shutdown: number
  }
  lastError?: string
}

export const newExporterStats = (): ExporterStats => ({
  exported: 0,
  batchesExported: 0,
  batchesFailed: 0,
  consecutiveFailures: 0,
  dropped: { queueOverflow: 0, exportFailed: 0, circuitOpen: 0, shutdown: 0 }
})

/**
 * A snapshot of the hub's accounting. After the hub has drained, for every exporter `e`:
 * `emitted = filtered + sampledOut + dropped.ingressOverflow + dropped.shutdown
 *            + exporters[e].exported + sum(exporters[e].dropped)`.
 */
export interface TelemetryStats {
  /** Every call to `emit`. */
  readonly emitted: number
  /** Below the configured granularity, or telemetry switched off. */
  readonly filtered: number
  /** Removed by sampling. */
  readonly sampledOut: number
  readonly dropped: {
    /** Refused or evicted by the full ingress queue. */
    readonly ingressOverflow: number
    /** Emitted after shutdown began, or left in the ingress queue when it ended. */
    readonly shutdown: number
  }
  readonly exporters: Readonly<Record<string, Readonly<ExporterStats>>>
}

export type HealthStatus = "healthy" | "degraded" | "unhealthy"

export interface TelemetryHealth {
  /** The worst status of any exporter (`healthy` when there are none). */
  readonly status: HealthStatus
  readonly exporters: Readonly<Record<string, { readonly status: HealthStatus; readonly reason?: string }>>
}
