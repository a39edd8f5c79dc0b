/**
 * The telemetry hub's public models: its accounting (`TelemetryStats`, `ExporterStats`) and its
 * health (`TelemetryHealth`). Every value is a readonly snapshot, copied out of the hub when
 * `Telemetry.stats` / `Telemetry.health` runs; the hub's own counters are private.
 *
 * Counts are events unless named `batches…`.
 *
 * @since 0.2.0
 */

/**
 * What one exporter's lane did with the events routed to it.
 *
 * @since 0.2.0
 */
export interface ExporterStats {
  /** Events delivered by a successful `export` (for OTLP: accepted by the receiver, rejections excluded). */
  readonly exported: number
  readonly batchesExported: number
  readonly batchesFailed: number
  /** Failed batches in a row; reset by a successful export. */
  readonly consecutiveFailures: number
  readonly dropped: {
    /** Refused (`drop`) or evicted (`slide`) by this exporter's full queue. */
    readonly queueOverflow: number
    /**
     * In a batch that still failed after the time-out and retries (or a failed probe), or refused
     * by the receiver (an OTLP `partial_success` rejection: see `rejected`).
     */
    readonly exportFailed: number
    /** Routed to this exporter while its circuit was open. */
    readonly circuitOpen: number
    /** Still queued, or in an export cut short, when the shutdown time-out ran out. */
    readonly shutdown: number
  }
  /**
   * Of `dropped.exportFailed`, the events the receiver accepted the request for but rejected
   * (OTLP `partial_success.rejected_*`), by the receiver's `error_message` (`"unspecified"` when
   * it gave none).
   */
  readonly rejected: Readonly<Record<string, number>>
  /** Export attempts retried (transport errors, HTTP 429/502/503/504), whatever their outcome. */
  readonly retries: number
  /** `closed` (normal), `open` (failing: events dropped), `halfOpen` (the next batch is a probe). */
  readonly circuit: "closed" | "open" | "halfOpen"
  /** Message of the last failed export, if any. */
  readonly lastError?: string
}

/**
 * A snapshot of the hub's accounting.
 *
 * **The accounting identity** (DESIGN.md invariant 5). Once the hub has drained (after `flush`
 * with no concurrent `emit`, or after its scope closed), for every exporter `e`:
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
 *
 * @since 0.2.0
 */
export interface TelemetryStats {
  /** Every event handed to `emit` / `emitAll`, plus the hub's own health events. */
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
  readonly exporters: Readonly<Record<string, ExporterStats>>
  /** The tracer's spans (`Telemetry.Options.spanExporters`). */
  readonly spans: SpanStats
  /** Periodic metric exports, by exporter name (`Telemetry.Options.metricExporters`). */
  readonly metrics: Readonly<Record<string, MetricExporterStats>>
}

/**
 * Spans the hub's tracer handled. Once drained, for every span exporter `e`:
 * `ended = unsampled + exporters[e].exported + Σ exporters[e].dropped` (see {@link unaccountedSpans}).
 *
 * @since 0.2.0
 */
export interface SpanStats {
  /** Spans that ended while the tracer was installed. */
  readonly ended: number
  /** Of those, spans whose `sampled` flag was off: never exported. */
  readonly unsampled: number
  readonly exporters: Readonly<Record<string, ExporterStats>>
}

/**
 * One periodic metric exporter's outcomes. Counts are exports (snapshots), except `rejectedPoints`.
 *
 * @since 0.2.0
 */
export interface MetricExporterStats {
  /** Snapshots delivered. */
  readonly exported: number
  /** Snapshots that still failed after the time-out and retries. */
  readonly failed: number
  /** Ticks skipped because the previous export was still running (values are cumulative: nothing lost). */
  readonly skipped: number
  /** Data points the receiver rejected (OTLP `partial_success.rejected_data_points`). */
  readonly rejectedPoints: number
  readonly retries: number
  readonly lastError?: string
}

/**
 * `spans.ended` minus everything accounted for span exporter `name`; 0 once drained.
 *
 * @since 0.2.0
 */
export const unaccountedSpans = (stats: TelemetryStats, name: string): number => {
  const e = stats.spans.exporters[name]
  if (e === undefined) return Number.NaN
  return stats.spans.ended - stats.spans.unsampled - e.exported - e.dropped.queueOverflow - e.dropped.exportFailed -
    e.dropped.circuitOpen - e.dropped.shutdown
}

/**
 * `emitted` minus everything accounted for exporter `name` (see {@link TelemetryStats}); 0 once
 * the hub has drained. Before that, the difference is what is still in flight. `NaN` for an
 * exporter the stats do not know.
 *
 * @since 0.2.0
 */
export const unaccounted = (stats: TelemetryStats, name: string): number => {
  const e = stats.exporters[name]
  if (e === undefined) return Number.NaN
  return stats.emitted - stats.filtered - stats.sampledOut - stats.dropped.ingressOverflow - stats.dropped.shutdown -
    e.exported - e.dropped.queueOverflow - e.dropped.exportFailed - e.dropped.circuitOpen - e.dropped.shutdown
}

/**
 * Every event exporter `name` lost, all reasons, hub level included (0 for an unknown exporter).
 *
 * @since 0.2.0
 */
export const droppedFor = (stats: TelemetryStats, name: string): number => {
  const e = stats.exporters[name]
  if (e === undefined) return 0
  return stats.dropped.ingressOverflow + stats.dropped.shutdown + e.dropped.queueOverflow + e.dropped.exportFailed +
    e.dropped.circuitOpen + e.dropped.shutdown
}

/**
 * The stats of a hub that has seen nothing (what `Telemetry.layerDisabled` reports).
 *
 * @since 0.2.0
 */
export const empty: TelemetryStats = {
  emitted: 0,
  filtered: 0,
  sampledOut: 0,
  healthEvents: 0,
  truncated: { attributes: 0, values: 0 },
  dropped: { ingressOverflow: 0, shutdown: 0 },
  exporters: {},
  spans: { ended: 0, unsampled: 0, exporters: {} },
  metrics: {}
}

/**
 * @since 0.2.0
 */
export type HealthStatus = "healthy" | "degraded" | "unhealthy"

/**
 * @since 0.2.0
 */
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
 *
 * @since 0.2.0
 */
export interface TelemetryHealth extends ComponentHealth {
  readonly exporters: Readonly<Record<string, ComponentHealth>>
}
