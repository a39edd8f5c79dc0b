/**
 * The exporter interface: where the telemetry hub delivers batches of events.
 *
 * An exporter is built by an `Effect` that may acquire resources in a `Scope` (a file handle, a
 * connection); the hub builds it inside the `Telemetry` layer's scope and calls `shutdown` once,
 * after the last batch, when that scope closes. The hub wraps every `export` call in a time-out
 * and a retry `Schedule`, and catches every failure and defect: an exporter can never fail the
 * pipeline (DESIGN.md invariant 2).
 *
 * @since 0.1.0
 */
import { type Duration, Effect, type MetricPair, Schema } from "effect"
import type { TelemetryEvent } from "./TelemetryEvent.js"

/**
 * An export attempt failed. `exporter` is the exporter's name.
 *
 * - `retryable` (default `true`): `false` tells the hub not to retry the batch (OTLP: an HTTP
 *   status other than 429/502/503/504, specification `protocol/exporter.md` "Retry").
 * - `retryAfterMillis`: the receiver asked to wait this long before the next attempt (HTTP
 *   `Retry-After`, RFC 9110 §10.2.3); the hub waits at least that long, and gives up at once
 *   when it is longer than the exporter's time-out.
 *
 * @since 0.1.0
 */
export class ExportError extends Schema.TaggedError<ExportError>()("ExportError", {
  exporter: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect),
  retryable: Schema.optional(Schema.Boolean),
  retryAfterMillis: Schema.optional(Schema.Number)
}) {}

/**
 * What a successful `export` may report: events the receiver took the batch for but rejected
 * (OTLP `partial_success`). The hub counts them as dropped (`exportFailed`, and under `rejected`
 * by `reason`), the rest of the batch as exported.
 *
 * @since 0.2.0
 */
export interface ExportResult {
  /** Events of the batch the receiver rejected, 0..batch length. */
  readonly rejected: number
  /** The receiver's reason (OTLP `error_message`); `"unspecified"` when empty. */
  readonly reason: string
}

/**
 * @since 0.1.0
 */
export interface Exporter {
  /** Unique among the exporters of one `Telemetry` layer; used in stats, health and logs. */
  readonly name: string
  /**
   * Delivers one batch (1 to `maxBatchSize` events, in emit order). Succeeds with nothing, or with
   * an {@link ExportResult} when the receiver rejected part of it.
   */
  readonly export: (batch: ReadonlyArray<TelemetryEvent>) => Effect.Effect<void | ExportResult, ExportError>
  /** Flushes buffers and releases resources. Called once, after the last `export`. */
  readonly shutdown: Effect.Effect<void>
  /**
   * Time-out of one export attempt, in place of the hub's `exportTimeout` for this exporter (each
   * retry gets it afresh; a `Retry-After` longer than it ends the retries). OTLP exporters set it
   * from `OTEL_EXPORTER_OTLP_TIMEOUT`. Default: the hub's `exportTimeout` (30 s).
   */
  readonly timeout?: Duration.Duration
  /**
   * Most events per `export`, in place of the hub's `maxBatchSize` for this exporter; capped at
   * the exporter queue's capacity. Default: the hub's `maxBatchSize` (512).
   */
  readonly maxBatchSize?: number
}

/**
 * Builds an exporter from its parts; `shutdown` defaults to doing nothing.
 *
 * @since 0.1.0
 */
export const make = (options: {
  readonly name: string
  readonly export: (batch: ReadonlyArray<TelemetryEvent>) => Effect.Effect<void | ExportResult, ExportError>
  readonly shutdown?: Effect.Effect<void>
  readonly timeout?: Duration.Duration
  readonly maxBatchSize?: number
}): Exporter => ({
  name: options.name,
  export: options.export,
  shutdown: options.shutdown ?? Effect.void,
  ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
  ...(options.maxBatchSize === undefined ? {} : { maxBatchSize: options.maxBatchSize })
})

/**
 * An ended Effect span as span exporters receive it: plain readonly data, copied when the span
 * ended. Ids are W3C lowercase hex (trace 32, span 16 characters); times are epoch nanoseconds.
 *
 * @since 0.2.0
 */
export interface SpanData {
  readonly name: string
  readonly traceId: string
  readonly spanId: string
  /** The parent's span id: a local span's, or a remote caller's (W3C `traceparent`); absent for a root. */
  readonly parentSpanId?: string
  readonly kind: "internal" | "server" | "client" | "producer" | "consumer"
  readonly startTimeUnixNano: bigint
  readonly endTimeUnixNano: bigint
  readonly attributes: ReadonlyArray<readonly [key: string, value: unknown]>
  readonly events: ReadonlyArray<{
    readonly name: string
    readonly timeUnixNano: bigint
    readonly attributes: ReadonlyArray<readonly [key: string, value: unknown]>
  }>
  readonly links: ReadonlyArray<{
    readonly traceId: string
    readonly spanId: string
    readonly attributes: ReadonlyArray<readonly [key: string, value: unknown]>
  }>
  /** `error` when the span's Effect failed or died (message: the squashed cause); `unset` otherwise. */
  readonly status: { readonly code: "unset" | "error"; readonly message?: string }
}

/**
 * Where the hub's tracer delivers ended spans (`Telemetry.Options.spanExporters`), through a lane
 * of its own with the same bounded queue, batching, time-out, retries and circuit as an event
 * exporter's.
 *
 * @since 0.2.0
 */
export interface SpanExporter {
  readonly name: string
  readonly export: (batch: ReadonlyArray<SpanData>) => Effect.Effect<void | ExportResult, ExportError>
  readonly shutdown: Effect.Effect<void>
  /** Time-out of one export attempt; default the hub's `exportTimeout` (see `Exporter.timeout`). */
  readonly timeout?: Duration.Duration
  /** Most spans per `export`; default the hub's `maxBatchSize` (see `Exporter.maxBatchSize`). */
  readonly maxBatchSize?: number
}

/**
 * A periodic metric exporter (`Telemetry.Options.metricExporters`): every `interval` the hub takes
 * a snapshot of Effect's metric registry (`Metric.unsafeSnapshot`) and hands it to `export`, with
 * the time-out and retries of the hub. One export at a time: a tick that finds the previous export
 * still running is skipped and counted (the values are cumulative, so nothing is lost). One last
 * export runs when the layer's scope closes.
 *
 * @since 0.2.0
 */
export interface MetricExporter {
  readonly name: string
  /** Time between exports. OpenTelemetry's default (`OTEL_METRIC_EXPORT_INTERVAL`) is 60 s. */
  readonly interval: Duration.Duration
  /** `startTimeUnixNano` of cumulative points is the time the exporter was built. */
  readonly export: (
    snapshot: ReadonlyArray<MetricPair.MetricPair.Untyped>,
    timeUnixNano: bigint
  ) => Effect.Effect<void | ExportResult, ExportError>
  readonly shutdown: Effect.Effect<void>
  /** Time-out of one export attempt; default the hub's `exportTimeout` (see `Exporter.timeout`). */
  readonly timeout?: Duration.Duration
}
