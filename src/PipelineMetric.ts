/**
 * Sightline's metrics: the naming rule, enforced where a metric is defined, each metric's unit,
 * the closed set of label names, and the catalogue of the metrics Sightline itself records.
 *
 * **Naming rule** (DESIGN.md conventions): `pipeline.<module>.<component>.<metric_type>.<metric_name>`,
 * each part lowercase `[a-z0-9_]`, `<metric_type>` the constructor's (`counter`, `gauge`,
 * `histogram`). A literal name that breaks it does not compile (see `test/types/metrics.ts`); a
 * name only known at run time is checked when the metric is defined (a `TypeError`, at module
 * load for the catalogue below). The two GenAI metrics keep their OpenTelemetry semantic-convention
 * names (`gen_ai.client.token.usage`, `gen_ai.client.operation.duration`), as the specification
 * requires for interoperability.
 *
 * **Units** are UCUM (`s`, `By`, `1`) or an annotation in braces (`{row}`), recorded beside the
 * Effect metric (whose key has no unit) for the OTLP and Prometheus exporters. Durations are in
 * seconds (OpenTelemetry semantic conventions `general/metrics.md`: "use seconds").
 *
 * **Labels** come from a closed set ({@link Label}): names of nodes, sinks, providers, never row
 * values, so a metric's series stay few.
 *
 * @since 0.2.0
 */
import { Metric, MetricBoundaries, MetricLabel } from "effect"
import { register } from "./internal/metricsRegistry.js"

type Char =
  | "a" | "b" | "c" | "d" | "e" | "f" | "g" | "h" | "i" | "j" | "k" | "l" | "m" | "n" | "o" | "p" | "q" | "r" | "s"
  | "t" | "u" | "v" | "w" | "x" | "y" | "z" | "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "_"

type IsSegment<S extends string> = S extends `${infer C}${infer Rest}` ? C extends Char ? Rest extends "" ? true : IsSegment<Rest> : false
  : false

/**
 * `N` when it follows `pipeline.<module>.<component>.<Type>.<metric_name>`, else `never`.
 *
 * @since 0.2.0
 */
export type CheckedName<N extends string, Type extends string> = N extends `pipeline.${infer M}.${infer C}.${Type}.${infer Name}`
  ? [IsSegment<M>, IsSegment<C>, IsSegment<Name>] extends [true, true, true] ? N : never
  : never

/** @since 0.2.0 */
export type MetricType = "counter" | "gauge" | "histogram"

const pattern = /^pipeline\.[a-z0-9_]+\.[a-z0-9_]+\.(counter|gauge|histogram)\.[a-z0-9_]+$/

/**
 * Checks a metric name at run time; throws a `TypeError` naming the rule.
 *
 * @since 0.2.0
 */
export const checkName = (name: string, type: MetricType): string => {
  const match = pattern.exec(name)
  if (match === null || match[1] !== type) {
    throw new TypeError(`metric name "${name}" breaks pipeline.<module>.<component>.${type}.<metric_name> ([a-z0-9_] parts)`)
  }
  return name
}

/**
 * Label names a Sightline metric may carry.
 *
 * @since 0.2.0
 */
export type Label =
  | "node"
  | "sink"
  | "call_type"
  | "provider"
  | "status"
  | "exporter"
  | "reason"
  | "gen_ai.operation.name"
  | "gen_ai.provider.name"
  | "gen_ai.request.model"
  | "gen_ai.token.type"

/** @since 0.2.0 */
export interface Definition {
  /** UCUM unit or `{annotation}`. */
  readonly unit: string
  readonly description: string
}

/**
 * A monotonic counter named by the rule.
 *
 * @since 0.2.0
 */
export const counter = <const N extends string>(name: N & CheckedName<N, "counter">, definition: Definition) => {
  register({ name: checkName(name, "counter"), ...definition })
  return Metric.counter(name, { description: definition.description, incremental: true })
}

/**
 * A gauge named by the rule.
 *
 * @since 0.2.0
 */
export const gauge = <const N extends string>(name: N & CheckedName<N, "gauge">, definition: Definition) => {
  register({ name: checkName(name, "gauge"), ...definition })
  return Metric.gauge(name, { description: definition.description })
}

/**
 * A histogram named by the rule, with explicit bucket bounds.
 *
 * @since 0.2.0
 */
export const histogram = <const N extends string>(
  name: N & CheckedName<N, "histogram">,
  definition: Definition & { readonly boundaries: ReadonlyArray<number> }
) => {
  register({ name: checkName(name, "histogram"), unit: definition.unit, description: definition.description })
  return Metric.histogram(name, MetricBoundaries.fromIterable(definition.boundaries), definition.description)
}

/**
 * Labels for `Metric.taggedWithLabels`, from the closed set only.
 *
 * @since 0.2.0
 */
export const labels = (values: Partial<Readonly<Record<Label, string>>>): ReadonlyArray<MetricLabel.MetricLabel> =>
  Object.entries(values).flatMap(([k, v]) => (v === undefined ? [] : [MetricLabel.make(k, v)]))

// ---- the catalogue

/** Bounds for durations in seconds: OpenTelemetry's HTTP duration advice, 5 ms … 10 s (semconv `http/http-metrics.md`). */
const durationBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]

/** Rows a source produced (valid or not). Labels: `node` (the source). @since 0.2.0 */
export const rowsRead = counter("pipeline.engine.source.counter.rows_read", { unit: "{row}", description: "Rows read from a source" })

/** Rows written to a sink. Labels: `sink`. @since 0.2.0 */
export const rowsRouted = counter("pipeline.engine.sink.counter.rows_routed", { unit: "{row}", description: "Rows routed to a sink" })

/** Rows quarantined. Labels: `node` (where it failed). @since 0.2.0 */
export const rowsQuarantined = counter("pipeline.engine.processor.counter.rows_quarantined", {
  unit: "{row}",
  description: "Rows sent to the quarantine sink"
})

/** Time a token spent in one node state, seconds. Labels: `node`, `status`. @since 0.2.0 */
export const nodeStateDuration = histogram("pipeline.engine.node.histogram.state_duration", {
  unit: "s",
  description: "Duration of one node state (a step for one token)",
  boundaries: durationBuckets
})

/** Latency of one external call, seconds. Labels: `call_type`, `provider`, `status`. @since 0.2.0 */
export const callDuration = histogram("pipeline.client.call.histogram.duration", {
  unit: "s",
  description: "Duration of one audited external call",
  boundaries: durationBuckets
})

/** Cost of LLM calls in US dollars, by the price table in force. Labels: `provider`, `gen_ai.request.model`. @since 0.2.0 */
export const llmCost = counter("pipeline.client.llm.counter.cost", { unit: "{USD}", description: "Cost of LLM calls, US dollars" })

const semconv = (name: string, definition: Definition & { readonly boundaries: ReadonlyArray<number> }) => {
  register({ name, unit: definition.unit, description: definition.description })
  return Metric.histogram(name, MetricBoundaries.fromIterable(definition.boundaries), definition.description)
}

/**
 * `gen_ai.client.token.usage` (semconv v1.41.0 `gen-ai/gen-ai-metrics.md`): tokens per call, buckets
 * powers of 4 from 1 to 67,108,864. Labels: `gen_ai.operation.name`, `gen_ai.provider.name`,
 * `gen_ai.request.model`, `gen_ai.token.type` (`input` | `output`).
 *
 * @since 0.2.0
 */
export const genAiTokenUsage = semconv("gen_ai.client.token.usage", {
  unit: "{token}",
  description: "Number of input and output tokens used",
  boundaries: Array.from({ length: 14 }, (_, i) => 4 ** i)
})

/**
 * `gen_ai.client.operation.duration` (same source): seconds, buckets 0.01 … 81.92 (doubling).
 *
 * @since 0.2.0
 */
export const genAiOperationDuration = semconv("gen_ai.client.operation.duration", {
  unit: "s",
  description: "GenAI operation duration",
  boundaries: Array.from({ length: 14 }, (_, i) => 0.01 * 2 ** i)
})
