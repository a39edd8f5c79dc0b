/**
 * OTLP traces and metrics against the official protos: the Effect spans the hub's tracer sees,
 * with parent links and error status, through a bounded counted lane; Effect metrics, cumulative,
 * with their units.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { OtlpExporter, PipelineMetric, TelemetryStats } from "../../src/index.js"
import { decodeJson, decodeProtobuf, hex } from "./_proto.js"
import { startReceiver } from "./_receiver.js"
import { quiet, runWith } from "./_run.js"

type Obj = Record<string, unknown>
const first = (o: Obj, ...path: Array<string>): Obj => path.reduce((x, k) => (x[k] as Array<Obj>)[0]!, o)

for (const protocol of ["http/protobuf", "http/json"] as const) {
  const decode = (signal: "traces" | "metrics", body: Buffer) =>
    protocol === "http/json" ? decodeJson(signal, body.toString("utf8")) : decodeProtobuf(signal, body)

  describe(`OTLP traces and metrics, ${protocol}`, () => {
    it.live("spans keep their parent links, kinds, attributes and error status; every span is counted", () =>
      Effect.gen(function* () {
        const receiver = yield* Effect.promise(() => startReceiver())
        const work = Effect.gen(function* () {
          yield* Effect.annotateCurrentSpan("sightline.run.id", "run-1")
          yield* Effect.withSpan("sightline.row", { attributes: { "sightline.row.index": 7 } })(Effect.void)
          yield* Effect.withSpan("http.client GET", { kind: "client" })(Effect.fail(new Error("refused"))).pipe(Effect.ignore)
        }).pipe(Effect.withSpan("sightline.run"))
        const { stats } = yield* runWith(
          OtlpExporter.layer({ url: receiver.url, protocol, metricsInterval: "1 hour" }, { exporters: [], lastResort: quiet }),
          (t) => Effect.zipRight(work, t.flush)
        )
        yield* Effect.promise(() => receiver.close())
        const requests = receiver.received.filter((r) => r.path === "/v1/traces")
        const spans = requests.flatMap((r) => (first(decode("traces", r.body), "resourceSpans", "scopeSpans")["spans"] as Array<Obj>))
        const byName = Object.fromEntries(spans.map((s) => [s["name"], s]))
        const run = byName["sightline.run"]!
        const row = byName["sightline.row"]!
        const call = byName["http.client GET"]!
        expect(run["parentSpanId"]).toBeUndefined()
        expect(hex(row["parentSpanId"])).toBe(hex(run["spanId"]))
        expect(hex(call["parentSpanId"])).toBe(hex(run["spanId"]))
        expect(hex(row["traceId"])).toBe(hex(run["traceId"]))
        expect(row["kind"]).toBe(1)
        expect(call["kind"]).toBe(3)
        expect(call["status"]).toEqual({ code: 2, message: "refused" })
        expect(BigInt(String(run["endTimeUnixNano"]))).toBeGreaterThanOrEqual(BigInt(String(run["startTimeUnixNano"])))
        const attributes = (run["attributes"] as Array<{ key: string; value: Obj }>).map((a) => [a.key, Object.values(a.value)[0]])
        expect(attributes).toContainEqual(["sightline.run.id", "run-1"])
        // Exporting makes no spans of its own (no client span, no traceparent on the requests).
        expect(stats.spans.ended).toBe(3)
        expect(receiver.received.map((r) => r.headers["traceparent"]).filter((h) => h !== undefined)).toEqual([])
        expect(stats.spans.exporters["otlp-traces"]?.exported).toBe(3)
        expect(TelemetryStats.unaccountedSpans(stats, "otlp-traces")).toBe(0)
      }))

    it.live("metrics are exported cumulative with their units, one point per label set", () =>
      Effect.gen(function* () {
        const receiver = yield* Effect.promise(() => startReceiver())
        // The registry is global and cumulative: expect what it holds, having added to it here.
        const delayed = Metric.taggedWithLabels(PipelineMetric.rowsRouted, PipelineMetric.labels({ sink: "delayed" }))
        const onTime = Metric.taggedWithLabels(PipelineMetric.rowsRouted, PipelineMetric.labels({ sink: "on_time" }))
        const node = `enrich-${protocol}`
        const { result, stats } = yield* runWith(
          OtlpExporter.layer({ url: receiver.url, protocol, metricsInterval: "1 hour" }, { exporters: [], lastResort: quiet }),
          () =>
            Effect.gen(function* () {
              yield* Metric.incrementBy(delayed, 5)
              yield* Metric.incrementBy(onTime, 2)
              for (const s of [0.02, 0.3, 4]) {
                yield* Metric.update(Metric.taggedWithLabels(PipelineMetric.nodeStateDuration, PipelineMetric.labels({ node })), s)
              }
              return [(yield* Metric.value(delayed)).count, (yield* Metric.value(onTime)).count]
            })
        )
        yield* Effect.promise(() => receiver.close())
        const last = receiver.received.filter((r) => r.path === "/v1/metrics").at(-1)! // the export on close
        const metrics = first(decode("metrics", last.body), "resourceMetrics", "scopeMetrics")["metrics"] as Array<Obj>
        const byName = Object.fromEntries(metrics.map((m) => [m["name"], m]))
        const routed = byName["pipeline.engine.sink.counter.rows_routed"]!
        expect(routed["unit"]).toBe("{row}")
        const sum = routed["sum"] as Obj
        expect(sum["isMonotonic"]).toBe(true)
        expect(sum["aggregationTemporality"]).toBe(2)
        const points = (sum["dataPoints"] as Array<Obj>).map((p) => [
          (p["attributes"] as Array<{ value: Obj }>)[0]!.value["stringValue"],
          p["asDouble"]
        ])
        expect(points).toEqual(expect.arrayContaining([["delayed", result[0]], ["on_time", result[1]]]))
        const duration = byName["pipeline.engine.node.histogram.state_duration"]!
        expect(duration["unit"]).toBe("s")
        const point = ((duration["histogram"] as Obj)["dataPoints"] as Array<Obj>).find((p) =>
          (p["attributes"] as Array<{ value: Obj }>)[0]!.value["stringValue"] === node
        )!
        expect(point["count"]).toBe("3")
        expect((point["bucketCounts"] as Array<string>).map(Number).reduce((a, b) => a + b, 0)).toBe(3)
        expect((point["explicitBounds"] as Array<number>).length + 1).toBe((point["bucketCounts"] as Array<string>).length)
        expect(point["sum"]).toBeCloseTo(4.32)
        expect(stats.metrics["otlp-metrics"]?.exported).toBeGreaterThanOrEqual(1)
        expect(stats.metrics["otlp-metrics"]?.failed).toBe(0)
      }))
  })
}
