/**
 * Compile-time test (checked by `npm run typecheck`): a metric name that breaks
 * `pipeline.<module>.<component>.<metric_type>.<metric_name>`, or whose type segment is not the
 * constructor's, does not compile; labels come from the closed set.
 */
import { PipelineMetric } from "../../src/index.js"

const unit = { unit: "{row}", description: "d" }

export const good = PipelineMetric.counter("pipeline.engine.sink.counter.rows_routed", unit)
// @ts-expect-error the type segment says gauge, the constructor is counter
export const wrongType = PipelineMetric.counter("pipeline.engine.sink.gauge.rows_routed", unit)
// @ts-expect-error a part is missing
export const short = PipelineMetric.counter("pipeline.engine.counter.rows_routed", unit)
// @ts-expect-error upper case is not allowed
export const upper = PipelineMetric.gauge("pipeline.engine.Sink.gauge.depth", unit)
// @ts-expect-error not under pipeline.
export const foreign = PipelineMetric.histogram("engine.sink.node.histogram.duration", { ...unit, boundaries: [1] })
// @ts-expect-error a dot inside the metric name
export const dotted = PipelineMetric.counter("pipeline.engine.sink.counter.rows.routed", unit)

export const labels = PipelineMetric.labels({ node: "enrich", sink: "delayed", "gen_ai.request.model": "m" })
// @ts-expect-error row values are not labels: only the closed set of names
export const rowLabel = PipelineMetric.labels({ rowId: "r-1" })
