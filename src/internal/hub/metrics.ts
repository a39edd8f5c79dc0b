/**
 * The hub's self-observability: Effect `Metric`s defined through `PipelineMetric` (so named
 * `pipeline.telemetry.<component>.<metric_type>.<metric_name>` and carrying their unit). Updated
 * synchronously (`unsafeUpdate`) so the hot paths allocate no Effect.
 *
 * | metric | unit | labels |
 * |---|---|---|
 * | `pipeline.telemetry.ingress.gauge.queue_depth` | `{event}` | |
 * | `pipeline.telemetry.hub.counter.events_emitted` | `{event}` | |
 * | `pipeline.telemetry.hub.counter.events_dropped` | `{event}` | `reason`, `exporter` (absent at hub level) |
 * | `pipeline.telemetry.exporter.gauge.queue_depth` | `{event}` | `exporter` |
 * | `pipeline.telemetry.exporter.histogram.export_duration` | `s` | `exporter` |
 * | `pipeline.telemetry.exporter.counter.export_failures` | `{batch}` | `exporter` |
 * | `pipeline.telemetry.exporter.counter.events_exported` | `{event}` | `exporter` |
 * | `pipeline.telemetry.exporter.gauge.circuit_open` | `1` | `exporter` (1 open, 0.5 half-open, 0 closed) |
 *
 * @internal
 */
import type { MetricLabel } from "effect"
import * as PipelineMetric from "../../PipelineMetric.js"

export const ingressDepth = PipelineMetric.gauge("pipeline.telemetry.ingress.gauge.queue_depth", {
  unit: "{event}",
  description: "Events waiting in the telemetry ingress queue"
})
export const eventsEmitted = PipelineMetric.counter("pipeline.telemetry.hub.counter.events_emitted", {
  unit: "{event}",
  description: "Events handed to Telemetry.emit, plus the hub's health events"
})
export const eventsDropped = PipelineMetric.counter("pipeline.telemetry.hub.counter.events_dropped", {
  unit: "{event}",
  description: "Events lost, by reason and (for exporter-level reasons) exporter"
})
export const exporterDepth = PipelineMetric.gauge("pipeline.telemetry.exporter.gauge.queue_depth", {
  unit: "{event}",
  description: "Items waiting in one exporter's queue"
})
const exportDuration = PipelineMetric.histogram("pipeline.telemetry.exporter.histogram.export_duration", {
  unit: "s",
  description: "Duration of one export call including retries",
  boundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
})
export const exportFailures = PipelineMetric.counter("pipeline.telemetry.exporter.counter.export_failures", {
  unit: "{batch}",
  description: "Batches that still failed after the time-out and retries"
})
export const eventsExported = PipelineMetric.counter("pipeline.telemetry.exporter.counter.events_exported", {
  unit: "{event}",
  description: "Items delivered by a successful export"
})
export const circuitOpen = PipelineMetric.gauge("pipeline.telemetry.exporter.gauge.circuit_open", {
  unit: "1",
  description: "1 while an exporter's circuit is open, 0.5 while half-open, 0 when closed"
})

/** Records one export's duration, given in milliseconds. */
export const exportLatency = {
  unsafeUpdate: (ms: number, labels: Labels) => exportDuration.unsafeUpdate(ms / 1000, labels)
}

export type Labels = ReadonlyArray<MetricLabel.MetricLabel>

export const exporterLabels = (exporter: string): Labels => PipelineMetric.labels({ exporter })

export const dropLabels = (reason: string, exporter?: string): Labels =>
  PipelineMetric.labels(exporter === undefined ? { reason } : { reason, exporter })
