/**
 * The hub's self-observability: Effect `Metric`s named
 * `pipeline.telemetry.<component>.<metric_type>.<metric_name>` (DESIGN.md conventions), checked
 * when defined. Updated synchronously (`unsafeUpdate`) so the hot paths allocate no Effect.
 *
 * | metric | labels |
 * |---|---|
 * | `pipeline.telemetry.ingress.gauge.queue_depth` | |
 * | `pipeline.telemetry.hub.counter.events_emitted` | |
 * | `pipeline.telemetry.hub.counter.events_dropped` | `reason`, `exporter` (absent at hub level) |
 * | `pipeline.telemetry.exporter.gauge.queue_depth` | `exporter` |
 * | `pipeline.telemetry.exporter.histogram.export_latency_ms` | `exporter` |
 * | `pipeline.telemetry.exporter.counter.export_failures` | `exporter` |
 * | `pipeline.telemetry.exporter.counter.events_exported` | `exporter` |
 * | `pipeline.telemetry.exporter.gauge.circuit_open` | `exporter` (1 open, 0.5 half-open, 0 closed) |
 *
 * @internal
 */
import { Metric, MetricBoundaries, MetricLabel } from "effect"

const metricName = /^pipeline\.telemetry\.[a-z][a-z0-9_]*\.(counter|gauge|histogram|summary|frequency)\.[a-z][a-z0-9_]*$/

/** `pipeline.telemetry.<component>.<type>.<name>`; throws when a part breaks the convention. */
export const name = (component: string, type: "counter" | "gauge" | "histogram", metric: string): string => {
  const full = `pipeline.telemetry.${component}.${type}.${metric}`
  if (!metricName.test(full)) throw new TypeError(`metric name "${full}" breaks pipeline.telemetry.<component>.<metric_type>.<metric_name>`)
  return full
}

export const ingressDepth = Metric.gauge(name("ingress", "gauge", "queue_depth"), {
  description: "Events waiting in the telemetry ingress queue"
})
export const eventsEmitted = Metric.counter(name("hub", "counter", "events_emitted"), {
  description: "Calls to Telemetry.emit, plus the hub's health events",
  incremental: true
})
export const eventsDropped = Metric.counter(name("hub", "counter", "events_dropped"), {
  description: "Events lost, by reason and (for exporter-level reasons) exporter",
  incremental: true
})
export const exporterDepth = Metric.gauge(name("exporter", "gauge", "queue_depth"), {
  description: "Events waiting in one exporter's queue"
})
export const exportLatency = Metric.histogram(
  name("exporter", "histogram", "export_latency_ms"),
  MetricBoundaries.exponential({ start: 0.25, factor: 2, count: 18 }),
  "Duration of one export call including retries, milliseconds"
)
export const exportFailures = Metric.counter(name("exporter", "counter", "export_failures"), {
  description: "Batches that still failed after the time-out and retries",
  incremental: true
})
export const eventsExported = Metric.counter(name("exporter", "counter", "events_exported"), {
  description: "Events delivered by a successful export",
  incremental: true
})
export const circuitOpen = Metric.gauge(name("exporter", "gauge", "circuit_open"), {
  description: "1 while an exporter's circuit is open, 0.5 while half-open, 0 when closed"
})

export type Labels = ReadonlyArray<MetricLabel.MetricLabel>

export const exporterLabels = (exporter: string): Labels => [MetricLabel.make("exporter", exporter)]

export const dropLabels = (reason: string, exporter?: string): Labels =>
  exporter === undefined
    ? [MetricLabel.make("reason", reason)]
    : [MetricLabel.make("reason", reason), MetricLabel.make("exporter", exporter)]
