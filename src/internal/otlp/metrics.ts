/**
 * A snapshot of Effect's metric registry as OTLP metrics (`opentelemetry/proto/metrics/v1/
 * metrics.proto`, collector `ExportMetricsServiceRequest`), cumulative, in protobuf and JSON.
 *
 * Mapping (as `@effect/opentelemetry`'s `OtlpMetrics` does, plus units): counter → `Sum`
 * (monotonic when the counter is `incremental`), gauge → `Gauge`, histogram → `Histogram` (Effect
 * keeps cumulative bucket counts; OTLP wants one count per bucket, the last for values above the
 * last finite bound), frequency → monotonic `Sum` with the occurrence in attribute `key`, summary →
 * `Summary`. One OTLP metric per name, one data point per set of labels. The unit comes from the
 * metric's definition (`internal/metricsRegistry.ts`; Effect's `MetricKey` has no unit field).
 *
 * @internal
 */
import { MetricKeyType, type MetricPair, MetricState, Option } from "effect"
import { unitOf } from "../metricsRegistry.js"
import { type Attributes, jsonAttributes, jsonResource, jsonScope, type Origin, writeAttributes, writeResource, writeScope } from "./common.js"
import { Writer } from "./protobuf.js"

const CUMULATIVE = 2

type Point =
  | { readonly kind: "number"; readonly attributes: Attributes; readonly value: number }
  | {
    readonly kind: "histogram"
    readonly attributes: Attributes
    readonly count: number
    readonly sum: number
    readonly min: number
    readonly max: number
    readonly bounds: ReadonlyArray<number>
    readonly counts: ReadonlyArray<number>
  }
  | {
    readonly kind: "summary"
    readonly attributes: Attributes
    readonly count: number
    readonly sum: number
    readonly quantiles: ReadonlyArray<readonly [number, number]>
  }

/** One OTLP metric: its data type, and a point per label set. */
export interface MetricModel {
  readonly name: string
  readonly description: string
  readonly unit: string
  readonly type: "sum" | "gauge" | "histogram" | "summary"
  readonly monotonic: boolean
  readonly points: Array<Point>
}

const labels = (pair: MetricPair.MetricPair.Untyped): Attributes => pair.metricKey.tags.map((t) => [t.key, t.value] as const)

/** Per-bucket counts from Effect's cumulative `[bound, count ≤ bound]` pairs and the total count. */
const histogramPoint = (attributes: Attributes, s: MetricState.MetricState.Histogram): Point => {
  const bounds: Array<number> = []
  const counts: Array<number> = []
  let previous = 0
  for (const [bound, cumulative] of s.buckets) {
    if (!Number.isFinite(bound)) continue
    bounds.push(bound)
    counts.push(cumulative - previous)
    previous = cumulative
  }
  counts.push(s.count - previous)
  return { kind: "histogram", attributes, count: s.count, sum: s.sum, min: s.min, max: s.max, bounds, counts }
}

/** Groups the snapshot into OTLP metrics. Pairs whose type OTLP cannot carry are skipped. */
export const fromSnapshot = (snapshot: ReadonlyArray<MetricPair.MetricPair.Untyped>): Array<MetricModel> => {
  const byName = new Map<string, MetricModel>()
  const add = (pair: MetricPair.MetricPair.Untyped, type: MetricModel["type"], monotonic: boolean, points: ReadonlyArray<Point>) => {
    const name = pair.metricKey.name
    let model = byName.get(name)
    if (model === undefined) {
      model = { name, description: Option.getOrElse(pair.metricKey.description, () => ""), unit: unitOf(name), type, monotonic, points: [] }
      byName.set(name, model)
    }
    model.points.push(...points)
  }
  for (const pair of snapshot) {
    const key = pair.metricKey.keyType
    const state = pair.metricState
    const attributes = labels(pair)
    if (MetricKeyType.isCounterKey(key) && MetricState.isCounterState(state)) {
      add(pair, "sum", key.incremental, [{ kind: "number", attributes, value: Number(state.count) }])
    } else if (MetricState.isGaugeState(state)) {
      add(pair, "gauge", false, [{ kind: "number", attributes, value: Number(state.value) }])
    } else if (MetricState.isHistogramState(state)) {
      add(pair, "histogram", false, [histogramPoint(attributes, state)])
    } else if (MetricState.isFrequencyState(state)) {
      const points: Array<Point> = []
      for (const [k, n] of state.occurrences) points.push({ kind: "number", attributes: [...attributes, ["key", k]], value: n })
      add(pair, "sum", true, points)
    } else if (MetricState.isSummaryState(state)) {
      const quantiles: Array<readonly [number, number]> = []
      for (const [q, v] of state.quantiles) if (Option.isSome(v)) quantiles.push([q, v.value])
      add(pair, "summary", false, [{ kind: "summary", attributes, count: state.count, sum: state.sum, quantiles }])
    }
  }
  return [...byName.values()]
}

const writePoint = (w: Writer, p: Point, start: bigint, time: bigint): void => {
  switch (p.kind) {
    case "number":
      writeAttributes(w, 7, p.attributes)
      w.fixed64(2, start)
      w.fixed64(3, time)
      w.double(4, p.value)
      return
    case "histogram": {
      writeAttributes(w, 9, p.attributes)
      w.fixed64(2, start)
      w.fixed64(3, time)
      w.fixed64(4, BigInt(p.count))
      w.double(5, p.sum)
      const counts = w.begin(6)
      for (const c of p.counts) w.rawFixed64(BigInt(c))
      w.end(counts)
      const bounds = w.begin(7)
      for (const b of p.bounds) w.rawDouble(b)
      w.end(bounds)
      if (p.count > 0) {
        w.double(11, p.min)
        w.double(12, p.max)
      }
      return
    }
    case "summary":
      writeAttributes(w, 7, p.attributes)
      w.fixed64(2, start)
      w.fixed64(3, time)
      w.fixed64(4, BigInt(p.count))
      w.double(5, p.sum)
      for (const [q, v] of p.quantiles) {
        const m = w.begin(6)
        w.double(1, q)
        w.double(2, v)
        w.end(m)
      }
  }
}

/** `Metric` field of each data type, and its points' field (1 in all of them). */
const dataField = { gauge: 5, sum: 7, histogram: 9, summary: 11 } as const

export const encodeProtobuf = (metrics: ReadonlyArray<MetricModel>, origin: Origin, start: bigint, time: bigint): Uint8Array => {
  const w = new Writer(4096 + metrics.length * 256)
  const resourceMetrics = w.begin(1)
  writeResource(w, 1, origin)
  const scopeMetrics = w.begin(2)
  writeScope(w, origin)
  for (const m of metrics) {
    const metric = w.begin(2)
    w.string(1, m.name)
    if (m.description !== "") w.string(2, m.description)
    if (m.unit !== "") w.string(3, m.unit)
    const data = w.begin(dataField[m.type])
    for (const p of m.points) {
      const point = w.begin(1)
      writePoint(w, p, start, time)
      w.end(point)
    }
    if (m.type === "sum" || m.type === "histogram") w.int(2, CUMULATIVE)
    if (m.type === "sum" && m.monotonic) w.bool(3, true)
    w.end(data)
    w.end(metric)
  }
  w.end(scopeMetrics)
  w.end(resourceMetrics)
  return w.finish()
}

const jsonPoint = (p: Point, start: string, time: string): object => {
  const base = { attributes: jsonAttributes(p.attributes), startTimeUnixNano: start, timeUnixNano: time }
  switch (p.kind) {
    case "number":
      return { ...base, asDouble: p.value }
    case "histogram":
      return {
        ...base,
        count: String(p.count),
        sum: p.sum,
        bucketCounts: p.counts.map(String),
        explicitBounds: p.bounds,
        ...(p.count > 0 ? { min: p.min, max: p.max } : {})
      }
    case "summary":
      return { ...base, count: String(p.count), sum: p.sum, quantileValues: p.quantiles.map(([quantile, value]) => ({ quantile, value })) }
  }
}

export const encodeJson = (metrics: ReadonlyArray<MetricModel>, origin: Origin, start: bigint, time: bigint): string => {
  const s = start.toString()
  const t = time.toString()
  return JSON.stringify({
    resourceMetrics: [{
      resource: jsonResource(origin),
      scopeMetrics: [{
        scope: jsonScope(origin),
        metrics: metrics.map((m) => ({
          name: m.name,
          ...(m.description === "" ? {} : { description: m.description }),
          ...(m.unit === "" ? {} : { unit: m.unit }),
          [m.type]: {
            dataPoints: m.points.map((p) => jsonPoint(p, s, t)),
            ...(m.type === "sum" || m.type === "histogram" ? { aggregationTemporality: CUMULATIVE } : {}),
            ...(m.type === "sum" && m.monotonic ? { isMonotonic: true } : {})
          }
        }))
      }]
    }]
  })
}
