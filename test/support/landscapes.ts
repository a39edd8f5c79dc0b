/**
 * Landscapes written by the real engine, for the read-side tests: the orders pipeline with a row
 * quarantined at the source, and the LLM example's pipeline (AuditedLlmClient over the example's
 * local OpenAI-compatible server) whose rows make external calls.
 */
import { OpenAiClient, OpenAiLanguageModel } from "@effect/ai-openai"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, pipe, Redacted, Schema } from "effect"
import { copyFileSync, existsSync } from "node:fs"
import { join } from "node:path"
import * as LlmServer from "../../examples/llm-triage/server.js"
import { AuditedLlmClient, type Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, TestExporter } from "../../src/index.js"
import { ordersPipeline, tempDir, threeOrders } from "../helpers.js"

/** Three valid orders and one whose amount is not a number (quarantined at the source, row index 3). */
export const ordersWithBadRow = [...threeOrders, { id: "4", customer: "eve", amount: "lots" }]

/** The orders pipeline over `records` into the Landscape of `landscape` (a SQLite file's name, or a layer). */
export const runOrders = (landscape: string | Layer.Layer<Landscape.Landscape, Landscape.LandscapeError>, records: ReadonlyArray<unknown> = ordersWithBadRow) =>
  Orchestrator.run(ordersPipeline(tempDir(), records)).pipe(
    Effect.provide(Layer.merge(TestExporter.layer(), typeof landscape === "string" ? LandscapeSqlite.layer({ filename: landscape }) : landscape)),
    Effect.orDie
  )

const Movie = Schema.Struct({ Title: Schema.String })

/** The LLM example's pipeline (classify, then audience) over `titles`, against its local server. */
export const runLlm = (landscape: Layer.Layer<Landscape.Landscape, Landscape.LandscapeError>, titles: ReadonlyArray<string> = ["Alien", "Toy Story"]) =>
  Effect.scoped(Effect.gen(function* () {
    const apiKey = Redacted.make("sk-local-test-key")
    const { baseUrl } = yield* LlmServer.start({ apiKey: Redacted.value(apiKey) })
    const model = OpenAiLanguageModel.layer({ model: "gpt-4o-mini" }).pipe(
      Layer.provide(OpenAiClient.layer({ apiKey, apiUrl: baseUrl })),
      Layer.provide(NodeHttpClient.layerUndici)
    )
    const llm = yield* AuditedLlmClient.make({ provider: "openai", model: "gpt-4o-mini" }).pipe(Effect.provide(yield* Layer.build(model)))
    const ask = (instruction: string, text: string) =>
      llm.generateText({ prompt: [{ role: "system", content: instruction }, { role: "user", content: text }] }).pipe(Effect.map((r) => r.text.trim()))
    const dir = tempDir()
    const pipeline = pipe(
      Pipeline.make({ name: "llm-triage", source: Source.fromIterable({ records: titles.map((Title) => ({ Title })), schema: Movie, name: "movies" }) }),
      Pipeline.transform(Pipeline.makeTransform("classify", (m: typeof Movie.Type) => Effect.map(ask("Genre?", m.Title), (genre) => ({ title: m.Title, genre })))),
      Pipeline.transform(Pipeline.makeTransform("audience", (m: { title: string; genre: string }) => Effect.map(ask("Audience?", m.title), (audience) => ({ ...m, audience })))),
      Pipeline.toSinks({
        sinks: { triaged: Sink.jsonLines<{ title: string; genre: string; audience: string }>({ path: join(dir, "triaged.jsonl") }) },
        default: "triaged",
        quarantine: Sink.jsonLines({ path: join(dir, "quarantine.jsonl") })
      })
    )
    return yield* Orchestrator.run(pipeline, { concurrency: 2 }).pipe(
      Effect.provide(Layer.merge(TestExporter.layer(), landscape))
    )
  })).pipe(Effect.orDie)

/**
 * A Landscape holding an orders run (with a quarantined row) and an LLM run, built once per test
 * process and copied for each test that changes it.
 */
let shared: Promise<{ readonly db: string; readonly orders: string; readonly llm: string }> | undefined
export const sharedLandscape = () =>
  (shared ??= Effect.runPromise(Effect.gen(function* () {
    const db = join(tempDir(), "landscape.db")
    const orders = yield* runOrders(db)
    const llm = yield* runLlm(LandscapeSqlite.layer({ filename: db }))
    return { db, orders: orders.runId, llm: llm.runId }
  })))

/** A private copy of the shared Landscape (the WAL is checkpointed when the writer closes). */
export const copyOf = (db: string): string => {
  const copy = join(tempDir(), "landscape.db")
  copyFileSync(db, copy)
  for (const suffix of ["-wal", "-shm"]) if (existsSync(db + suffix)) copyFileSync(db + suffix, copy + suffix)
  return copy
}
