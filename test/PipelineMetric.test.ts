/** The naming rule at run time, units reaching the registry, and the clients' metrics. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { PipelineMetric } from "../src/index.js"
import { recordCall, recordLlm } from "../src/internal/clientMetrics.js"
import { unitOf } from "../src/internal/metricsRegistry.js"

describe("PipelineMetric", () => {
  it("refuses a name that breaks the rule when it is only known at run time", () => {
    const name: string = "pipeline.engine.sink.rows_routed"
    expect(() => PipelineMetric.checkName(name, "counter")).toThrow(/pipeline\.<module>\.<component>\.counter\.<metric_name>/)
    expect(() => PipelineMetric.checkName("pipeline.engine.sink.gauge.depth", "counter")).toThrow(TypeError)
    expect(PipelineMetric.checkName("pipeline.engine.sink.counter.rows_routed", "counter")).toBe("pipeline.engine.sink.counter.rows_routed")
  })

  it("records each catalogue metric's unit, and refuses a second definition with another unit", () => {
    expect(unitOf("pipeline.engine.node.histogram.state_duration")).toBe("s")
    expect(unitOf("gen_ai.client.token.usage")).toBe("{token}")
    expect(unitOf("pipeline.telemetry.hub.counter.events_dropped")).toBe("{event}")
    expect(() => PipelineMetric.counter("pipeline.engine.sink.counter.rows_routed", { unit: "By", description: "x" })).toThrow(/unit/)
  })

  it.effect("the clients' metrics: call duration in seconds, GenAI token usage and duration, cost", () =>
    Effect.gen(function* () {
      const tokens = Metric.taggedWithLabels(
        PipelineMetric.genAiTokenUsage,
        PipelineMetric.labels({ "gen_ai.operation.name": "chat", "gen_ai.provider.name": "p-test", "gen_ai.request.model": "m", "gen_ai.token.type": "input" })
      )
      const cost = Metric.taggedWithLabels(PipelineMetric.llmCost, PipelineMetric.labels({ provider: "p-test", "gen_ai.request.model": "m" }))
      const http = Metric.taggedWithLabels(PipelineMetric.callDuration, PipelineMetric.labels({ call_type: "http", provider: "h-test", status: "error" }))
      yield* recordLlm({ provider: "p-test", model: "m", status: "success", latencyMs: 1500, inputTokens: 100, outputTokens: 7, costUsd: 0.5 })
      yield* recordCall("http", "h-test", "error", 250)
      expect((yield* Metric.value(tokens)).sum).toBe(100)
      expect((yield* Metric.value(cost)).count).toBe(0.5)
      expect((yield* Metric.value(http)).sum).toBeCloseTo(0.25)
    }))
})
