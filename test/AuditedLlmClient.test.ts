import { AiError, LanguageModel } from "@effect/ai"
import { OpenAiClient, OpenAiLanguageModel } from "@effect/ai-openai"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, Option, pipe, Redacted, Schema } from "effect"
import { join } from "node:path"
import * as LlmServer from "../examples/llm-triage/server.js"
import { AuditedLlmClient, LandscapeSqlite, Orchestrator, Pipeline, Pricing, Sink, Source, TelemetryEvent, TestExporter } from "../src/index.js"
import { querySqlite } from "./helpers.js"
import { auditLayers, databaseBytes, readCalls, tmpDir } from "./support/server-helpers.js"

const json = (text: string | null): Record<string, unknown> => JSON.parse(text ?? "null") as Record<string, unknown>

/** A fake in-process provider: echoes the prompt, reports fixed usage (1000 in / 400 cached, 200 out / 50 reasoning). */
const FakeLlm = (options: { readonly fail?: boolean } = {}) =>
  Layer.effect(
    LanguageModel.LanguageModel,
    LanguageModel.make({
      generateText: (opts) =>
        Effect.gen(function* () {
          if (options.fail) {
            return yield* new AiError.UnknownError({ module: "Fake", method: "generateText", description: "provider down" })
          }
          const last = opts.prompt.content.at(-1)
          const text = last?.role === "user" ? last.content.map((p) => (p.type === "text" ? p.text : "")).join("") : ""
          return [
            { type: "response-metadata", modelId: "fake-1-2025", id: "r1" },
            { type: "text", text: `label for: ${text}` },
            {
              type: "finish",
              reason: "stop",
              usage: { inputTokens: 1000, outputTokens: 200, totalTokens: 1200, cachedInputTokens: 400, reasoningTokens: 50 }
            }
          ] as const
        }),
      streamText: () => Effect.die("not supported") as never
    })
  )

const Row = Schema.Struct({ id: Schema.Number, text: Schema.String })
const rows = [
  { id: 1, text: "A love story" },
  { id: 2, text: "My key is in the prompt, not in the row" }
]

/** Two LLM transforms ("first", "second") over the rows, against SQLite in `dir`. */
const twoStepPipeline = (llm: AuditedLlmClient.Client, dir: string) =>
  pipe(
    Pipeline.make({ name: "llm", source: Source.fromIterable({ records: rows, schema: Row }) }),
    Pipeline.transform(Pipeline.makeTransform("first", (row: typeof Row.Type) =>
      // a secret planted in the prompt (not in the row, which the engine stores as source data)
      Effect.map(llm.generateText({ prompt: `${row.text} [auth sk-PLANTEDsecret0123456789abcdef]` }), (r) => ({ ...row, first: r.text })))),
    Pipeline.transform(Pipeline.makeTransform("second", (row: typeof Row.Type & { first: string }) =>
      Effect.map(llm.generateText({ prompt: [{ role: "system", content: "Be brief." }, { role: "user", content: row.first }] }), (r) => ({ ...row, second: r.text })))),
    Pipeline.toSinks({
      sinks: { out: Sink.jsonLines<typeof Row.Type & { first: string; second: string }>({ path: join(dir, "out.jsonl") }) },
      default: "out",
      quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") })
    })
  )

const totals = (dir: string, runId: string) =>
  AuditedLlmClient.usageTotals(runId).pipe(Effect.provide(LandscapeSqlite.layer({ filename: join(dir, "landscape.db") })), Effect.orDie)

describe("Pricing", () => {
  it("prices cached and reasoning tokens at their own rates; unknown model has no cost", () => {
    const table = Pricing.make({ version: "t-1", models: { "p/m": { input: 10, cachedInput: 1, output: 20, reasoning: 40 } }, base: null })
    const cost = Pricing.cost(table, "p", "m", { inputTokens: 1000, cachedInputTokens: 400, outputTokens: 200, reasoningTokens: 50 })
    // 600 × 10 + 400 × 1 + 150 × 20 + 50 × 40 = 6000 + 400 + 3000 + 2000 = 11 400 per million
    expect(Option.map(cost, (c) => c.usd)).toEqual(Option.some(0.0114))
    expect(Option.map(cost, (c) => c.tableVersion)).toEqual(Option.some("t-1"))
    expect(Pricing.cost(table, "p", "other", { inputTokens: 1, outputTokens: 1 })).toEqual(Option.none())
    expect(Pricing.cost(table, "openai", "gpt-4o-mini", { inputTokens: 1, outputTokens: 1 })).toEqual(Option.none())
    expect(() => Pricing.make({ version: "bad", models: { "p/m": { input: -1, output: 1 } } })).toThrow(RangeError)
  })
})

describe("AuditedLlmClient (fake LanguageModel)", () => {
  it.scopedLive("records prompt, completion, usage and cost per call; totals per run and node; no secret stored", () =>
    Effect.gen(function* () {
      const dir = tmpDir("llm-fake")
      const pricing = Pricing.make({ version: "test-2025", models: { "fake/fake-1": { input: 10, cachedInput: 1, output: 20, reasoning: 40 } } })
      const llm = yield* AuditedLlmClient.make({ provider: "fake", model: "fake-1", pricing }).pipe(Effect.provide(FakeLlm()))
      const { events, summary } = yield* Effect.gen(function* () {
        const summary = yield* Orchestrator.run(twoStepPipeline(llm, dir), { concurrency: 1 })
        const events = yield* Effect.flatMap(TestExporter.TestExporter, (t) => t.events)
        return { summary, events }
      }).pipe(Effect.provide(auditLayers(dir)))
      expect(summary.rowsPerSink).toEqual({ out: 2 })
      const calls = yield* readCalls(dir)
      expect(calls).toHaveLength(4)
      const a = json(calls[0]!.attributes_json)
      expect(a).toMatchObject({
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "fake",
        "gen_ai.request.model": "fake-1",
        "gen_ai.response.model": "fake-1-2025",
        "gen_ai.response.finish_reasons": "stop",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 200,
        "sightline.llm.usage.total_tokens": 1200,
        "sightline.llm.usage.cached_input_tokens": 400,
        "sightline.llm.usage.reasoning_tokens": 50,
        "sightline.pricing.version": "test-2025"
      })
      expect(a["sightline.llm.cost_usd"]).toBeCloseTo(0.0114, 10)
      expect(calls.every((c) => c.call_type === "llm" && c.state_id !== null && c.status === "success")).toBe(true)
      expect(json(calls[0]!.request_json)["prompt"]).toEqual([{ role: "user", text: "A love story [auth [REDACTED]]" }])
      expect(json(calls[0]!.response_json)).toMatchObject({ text: "label for: A love story [auth [REDACTED]]", finishReason: "stop", truncated: false })
      // the planted key is neither stored nor exported
      const exported = events.map(TelemetryEvent.encodeJson).join("\n")
      expect(exported).toContain("gen_ai.usage.input_tokens")
      for (const haystack of [databaseBytes(dir), exported]) expect(haystack).not.toContain("sk-PLANTEDsecret0123456789abcdef")
      expect(calls[0]!.request_json).toContain("[REDACTED]")
      expect(calls[1]!.response_json).toContain("[REDACTED]")

      const t = yield* totals(dir, summary.runId)
      expect(summary.llm).toEqual(t) // the run summary carries the same totals
      expect(t.run).toMatchObject({ calls: 4, inputTokens: 4000, outputTokens: 800, totalTokens: 4800, cachedInputTokens: 1600, reasoningTokens: 200, unpricedCalls: 0 })
      expect(t.run.costUsd).toBeCloseTo(4 * 0.0114, 10)
      expect(t.nodes.map((n) => [n.node, n.calls, n.inputTokens])).toEqual([["first", 2, 2000], ["second", 2, 2000]])
      expect(t.nodes[0]!.costUsd).toBeCloseTo(2 * 0.0114, 10)
    }))

  it.scopedLive("unknown model: cost null and a warning logged, never a guess", () =>
    Effect.gen(function* () {
      const dir = tmpDir("llm-unknown")
      const logs: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => void logs.push(`${logLevel.label} ${JSON.stringify(message)}`))
      const llm = yield* AuditedLlmClient.make({ provider: "fake", model: "fake-1" }).pipe(Effect.provide(FakeLlm()))
      const summary = yield* Orchestrator.run(twoStepPipeline(llm, dir)).pipe(
        Effect.provide(Layer.merge(auditLayers(dir), Logger.replace(Logger.defaultLogger, logger)))
      )
      const calls = yield* readCalls(dir)
      expect(calls.map((c) => json(c.attributes_json)["sightline.llm.cost_usd"])).toEqual([undefined, undefined, undefined, undefined])
      expect(logs.filter((l) => l.startsWith("WARN") && l.includes("no price for fake/fake-1"))).toHaveLength(4)
      const t = yield* totals(dir, summary.runId)
      expect(t.run.costUsd).toBeNull()
      expect(t.run.unpricedCalls).toBe(4)
    }))

  it.scopedLive("the provider's AiError reaches the caller typed and the call is recorded as an error", () =>
    Effect.gen(function* () {
      const dir = tmpDir("llm-error")
      const llm = yield* AuditedLlmClient.make({ provider: "fake", model: "fake-1" }).pipe(Effect.provide(FakeLlm({ fail: true })))
      const pipeline = pipe(
        Pipeline.make({ name: "llm-error", source: Source.fromIterable({ records: rows.slice(0, 1), schema: Row }) }),
        Pipeline.transform(Pipeline.makeTransform("ask", (row: typeof Row.Type) =>
          llm.generateText({ prompt: row.text }).pipe(
            Effect.as("ok"),
            Effect.catchTag("UnknownError", (e) => Effect.succeed(`caught ${e._tag}: ${e.description}`)),
            Effect.map((result) => ({ result }))
          ))),
        Pipeline.toSinks({ sinks: { out: Sink.jsonLines<{ result: string }>({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
      )
      yield* Orchestrator.run(pipeline).pipe(Effect.provide(auditLayers(dir)))
      const { readFileSync } = yield* Effect.promise(() => import("node:fs"))
      expect(JSON.parse(readFileSync(join(dir, "out.jsonl"), "utf8"))).toEqual({ result: "caught UnknownError: provider down" })
      const [call] = yield* readCalls(dir)
      expect(call!.status).toBe("error")
      expect(call!.error).toContain("UnknownError")
      expect(call!.response_json).toBeNull()
    }))
})

describe("AuditedLlmClient (@effect/ai-openai against a local OpenAI-compatible server)", () => {
  const openAi = (baseUrl: string, apiKey: string) =>
    OpenAiLanguageModel.layer({ model: "gpt-4o-mini" }).pipe(
      Layer.provide(OpenAiClient.layer({ apiKey: Redacted.make(apiKey), apiUrl: baseUrl })),
      Layer.provide(NodeHttpClient.layerUndici)
    )

  it.scopedLive("real client, real HTTP: usage and default-table cost recorded; the API key is never stored", () =>
    Effect.gen(function* () {
      const apiKey = "sk-test-LOCALKEY-0123456789abcdef"
      const server = yield* LlmServer.start({ apiKey, usage: () => ({ input: 1000, cached: 400, output: 200, reasoning: 50 }) })
      const dir = tmpDir("llm-openai")
      const ctx = yield* Layer.build(openAi(server.baseUrl, apiKey))
      const llm = yield* AuditedLlmClient.make({ provider: "openai", model: "gpt-4o-mini" }).pipe(Effect.provide(ctx))
      const { summary, exported } = yield* Effect.gen(function* () {
        const summary = yield* Orchestrator.run(twoStepPipeline(llm, dir))
        const exported = (yield* Effect.flatMap(TestExporter.TestExporter, (t) => t.events)).map(TelemetryEvent.encodeJson)
        return { summary, exported }
      }).pipe(Effect.provide(auditLayers(dir)))
      expect(summary.rowsPerSink).toEqual({ out: 2 })
      expect(server.seen).toHaveLength(4)
      expect(server.seen[0]!.headers["authorization"]).toBe(`Bearer ${apiKey}`)
      const calls = yield* readCalls(dir)
      const a = json(calls[0]!.attributes_json)
      expect(a["gen_ai.provider.name"]).toBe("openai")
      expect(a["gen_ai.response.model"]).toBe("gpt-4o-mini")
      expect(a["sightline.pricing.version"]).toBe(Pricing.defaultTable.version)
      // gpt-4o-mini: 600 × 0.15 + 400 × 0.075 + 150 × 0.60 + 50 × 0.60 = 240 USD per million calls' worth
      expect(a["sightline.llm.cost_usd"]).toBeCloseTo(0.00024, 12)
      // Rows run concurrently, so calls are stored in the order they completed: find row 0's first call by its node state.
      const [first] = yield* querySqlite<{ response_json: string }>(join(dir, "landscape.db"), `
        SELECT c.response_json FROM calls c JOIN node_states s ON s.state_id = c.state_id JOIN tokens t ON t.token_id = s.token_id
        JOIN rows r ON r.row_id = t.row_id JOIN nodes n ON n.node_id = s.node_id WHERE r.row_index = 0 AND n.name = 'first'`)
      expect(json(first!.response_json)["text"]).toBe("romance")
      const t = yield* totals(dir, summary.runId)
      expect(t.run.costUsd).toBeCloseTo(4 * 0.00024, 12)
      for (const haystack of [databaseBytes(dir), exported.join("\n")]) {
        expect(haystack).not.toContain("LOCALKEY")
        expect(haystack).not.toContain("sk-PLANTEDsecret")
      }
    }))

  it.scopedLive("a 401 from the provider is a typed AiError for the caller and an error call in the Landscape", () =>
    Effect.gen(function* () {
      const server = yield* LlmServer.start({ apiKey: "sk-right-key-0123456789abcdef" })
      const dir = tmpDir("llm-401")
      const ctx = yield* Layer.build(openAi(server.baseUrl, "sk-wrong-key-0123456789abcdef"))
      const llm = yield* AuditedLlmClient.make({ provider: "openai", model: "gpt-4o-mini" }).pipe(Effect.provide(ctx))
      const result = yield* Effect.gen(function* () {
        const pipeline = pipe(
          Pipeline.make({ name: "llm-401", source: Source.fromIterable({ records: rows.slice(0, 1), schema: Row }) }),
          Pipeline.transform(Pipeline.makeTransform("ask", (row: typeof Row.Type) =>
            llm.generateText({ prompt: row.text }).pipe(
              Effect.as("ok"),
              Effect.catchIf(AiError.isAiError, (e) => Effect.succeed(e._tag)),
              Effect.map((result) => ({ result }))
            ))),
          Pipeline.toSinks({ sinks: { out: Sink.jsonLines<{ result: string }>({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
        )
        return yield* Orchestrator.run(pipeline)
      }).pipe(Effect.provide(auditLayers(dir)))
      expect(result.rowsPerSink).toEqual({ out: 1 })
      const { readFileSync } = yield* Effect.promise(() => import("node:fs"))
      expect(JSON.parse(readFileSync(join(dir, "out.jsonl"), "utf8"))).toEqual({ result: "HttpResponseError" })
      const [call] = yield* readCalls(dir)
      expect(call!.status).toBe("error")
      expect(json(call!.attributes_json)["error.type"]).toBe("HttpResponseError")
      expect(databaseBytes(dir)).not.toContain("wrong-key")
    }))
})
