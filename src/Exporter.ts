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
import { Effect, Schema } from "effect"
import type { TelemetryEvent } from "./TelemetryEvent.js"

/**
 * An export attempt failed. `exporter` is the exporter's name.
 *
 * @since 0.1.0
 */
export class ExportError extends Schema.TaggedError<ExportError>()("ExportError", {
  exporter: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * @since 0.1.0
 */
export interface Exporter {
  /** Unique among the exporters of one `Telemetry` layer; used in stats, health and logs. */
  readonly name: string
  /** Delivers one batch (1 to `maxBatchSize` events, in emit order). */
  readonly export: (batch: ReadonlyArray<TelemetryEvent>) => Effect.Effect<void, ExportError>
  /** Flushes buffers and releases resources. Called once, after the last `export`. */
  readonly shutdown: Effect.Effect<void>
}

/**
 * Builds an exporter from its parts; `shutdown` defaults to doing nothing.
 *
 * @since 0.1.0
 */
export const make = (options: {
  readonly name: string
  readonly export: (batch: ReadonlyArray<TelemetryEvent>) => Effect.Effect<void, ExportError>
  readonly shutdown?: Effect.Effect<void>
}): Exporter => ({
  name: options.name,
  export: options.export,
  shutdown: options.shutdown ?? Effect.void
})
