/**
 * The LLM client's GenAI span (semantic conventions v1.41.0 `gen-ai/gen-ai-spans.md`): kind client,
 * named `chat <model>`, with the gen_ai attributes, a child of the step's span, and exported through
 * the hub's tracer like every Effect span.
 */
import { LanguageModel } from "@effect/ai"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, pipe, Schema } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { SpanData } from "../src/Exporter.js"
import { AuditedLlmClient, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, Telemetry } from "../src/index.js"

const FakeLlm = Layer.effect(
  LanguageModel.LanguageModel,
  LanguageModel.make({
    generateText: () =>
      Effect.succeed([
        { type: "text", text: "ok" },
        { type: "finish", reason: "stop", usage: { inputTokens: 10, outputTokens: 2, totalTokens: 12 } }
      ] as const),
    streamText: () => Effect.die("not supported") as never
  })
)

describe("AuditedLlmClient spans", () => {
  it.live("each call is a client span `chat <model>` with the GenAI attributes, under the step's span", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "sightline-llm-span-"))
      const spans: Array<SpanData> = []
      const memory = { name: "memory", export: (batch: ReadonlyArray<SpanData>) => Effect.sync(() => void spans.push(...batch)), shutdown: Effect.void }
      const llm = yield* AuditedLlmClient.make({ provider: "fake", model: "fake-1" }).pipe(Effect.provide(FakeLlm))
      const Row = Schema.Struct({ id: Schema.Number })
      const pipeline = pipe(
        Pipeline.make({ name: "llm", source: Source.fromIterable({ records: [{ id: 1 }], schema: Row }) }),
        Pipeline.transform(Pipeline.makeTransform("label", (row: typeof Row.Type) => Effect.as(llm.generateText({ prompt: "hi" }), row))),
        Pipeline.toSinks({ sinks: { out: Sink.jsonLines({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
      )
      yield* Effect.scoped(
        Orchestrator.run(pipeline).pipe(
          Effect.zipRight(Telemetry.flush),
          Effect.provide(Layer.merge(
            Telemetry.layer({ exporters: [], spanExporters: [Effect.succeed(memory)], rowSpanRate: 1 }),
            LandscapeSqlite.layer({ filename: join(dir, "landscape.db") })
          ))
        )
      )
      const chat = spans.find((s) => s.name === "chat fake-1")
      expect(chat).toBeDefined()
      expect(chat!.kind).toBe("client")
      expect(Object.fromEntries(chat!.attributes)).toMatchObject({
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "fake",
        "gen_ai.request.model": "fake-1",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 2
      })
      const parent = spans.find((s) => s.spanId === chat!.parentSpanId)
      expect(parent?.traceId).toBe(chat!.traceId)
      expect(spans.some((s) => s.name === "sightline.run")).toBe(true)
    }))
})
