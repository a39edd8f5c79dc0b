/**
 * LLM triage: classifies real movie titles (vega-datasets `movies.json`, column `Title`) by genre
 * through the audited LLM client, records every call in the Landscape (SQLite, out/llm-triage/),
 * and prints tokens and cost per node.
 *
 *   npm run example:llm-triage
 *
 * By default it starts a local OpenAI-compatible server (./server.ts) and talks to it over HTTP
 * with `@effect/ai-openai`. To run the same code against a real provider, set OPENAI_BASE_URL
 * (e.g. https://api.openai.com/v1) and OPENAI_API_KEY; OPENAI_MODEL picks the model (default
 * gpt-4o-mini); TRIAGE_ROWS the number of titles (default 24).
 */
import { OpenAiClient, OpenAiLanguageModel } from "@effect/ai-openai"
import { NodeHttpClient } from "@effect/platform-node"
import { Config, Effect, Layer, Option, pipe, Redacted, Schema } from "effect"
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { AuditedLlmClient, JsonLinesExporter, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, Telemetry } from "../../src/index.js"
import * as LocalServer from "./server.js"

const moviesPath = join(dirname(fileURLToPath(import.meta.url)), "../../node_modules/vega-datasets/data/movies.json")
const outDir = "out/llm-triage"

const Movie = Schema.Struct({ Title: Schema.String, "Major Genre": Schema.NullOr(Schema.String) })
type Movie = typeof Movie.Type

const genres = ["action", "comedy", "drama", "horror", "romance", "sci-fi"] as const

const program = Effect.gen(function* () {
  const rowCount = yield* Config.integer("TRIAGE_ROWS").pipe(Config.withDefault(24))
  const model = yield* Config.string("OPENAI_MODEL").pipe(Config.withDefault("gpt-4o-mini"))
  const remoteUrl = yield* Config.option(Config.string("OPENAI_BASE_URL"))
  const apiKey = yield* Config.redacted("OPENAI_API_KEY").pipe(Config.withDefault(Redacted.make("sk-local-example-key")))
  const baseUrl = Option.isSome(remoteUrl)
    ? remoteUrl.value
    : (yield* LocalServer.start({ apiKey: Redacted.value(apiKey) })).baseUrl
  console.log(`LLM endpoint: ${baseUrl}${Option.isSome(remoteUrl) ? "" : " (local server started by the example)"}, model ${model}`)

  const all = JSON.parse(readFileSync(moviesPath, "utf8")) as ReadonlyArray<Record<string, unknown>>
  const records = all.filter((m) => typeof m["Title"] === "string").slice(0, rowCount)

  const languageModel = OpenAiLanguageModel.layer({ model }).pipe(
    Layer.provide(OpenAiClient.layer({ apiKey, apiUrl: baseUrl })),
    Layer.provide(NodeHttpClient.layerUndici)
  )
  const llm = yield* AuditedLlmClient.make({ provider: "openai", model }).pipe(
    Effect.provide(yield* Layer.build(languageModel))
  )

  const ask = (instruction: string, title: string) =>
    llm.generateText({
      prompt: [
        { role: "system", content: instruction },
        { role: "user", content: title }
      ]
    }).pipe(Effect.map((r) => r.text.trim().toLowerCase()))

  const pipeline = pipe(
    Pipeline.make({ name: "llm-triage", source: Source.fromIterable({ records, schema: Movie, name: "movies" }) }),
    Pipeline.transform(Pipeline.makeTransform("classify", (m: Movie) =>
      Effect.map(
        ask(`Classify the movie by its title into one of: ${genres.join(", ")}. Answer with the genre only.`, m.Title),
        (genre) => ({ title: m.Title, datasetGenre: m["Major Genre"], genre })
      ))),
    Pipeline.transform(Pipeline.makeTransform("audience", (m: { title: string; datasetGenre: string | null; genre: string }) =>
      Effect.map(
        ask("Who is the main audience of this movie: family, teens or adults? Answer with one word.", m.title),
        (audience) => ({ ...m, audience })
      ))),
    Pipeline.toSinks({
      sinks: { triaged: Sink.jsonLines<{ title: string; datasetGenre: string | null; genre: string; audience: string }>({ path: `${outDir}/triaged.jsonl` }) },
      default: "triaged",
      quarantine: Sink.jsonLines({ path: `${outDir}/quarantine.jsonl` })
    })
  )

  const summary = yield* Orchestrator.run(pipeline, { concurrency: 4 }).pipe(
    Effect.provide(Layer.merge(
      Telemetry.layer({ granularity: "full", exporters: [JsonLinesExporter.make({ path: `${outDir}/telemetry.jsonl` })] }),
      LandscapeSqlite.layer({ filename: `${outDir}/landscape.db` })
    ))
  )
  console.log(`run ${summary.runId}: ${summary.rowsRead} titles, ${summary.rowsPerSink["triaged"]} triaged, ${summary.quarantined} quarantined, ${summary.durationMs.toFixed(0)} ms`)

  const totals = summary.llm // the same totals: AuditedLlmClient.usageTotals(runId) reads them from any Landscape
  const usd = (v: number | null) => (v === null ? "unknown (no price)" : `$${v.toFixed(6)}`)
  console.log("tokens and cost per node (from the Landscape):")
  for (const n of totals.nodes) {
    console.log(`  ${n.node.padEnd(10)} calls ${n.calls}  input ${n.inputTokens}  output ${n.outputTokens}  total ${n.totalTokens}  cost ${usd(n.costUsd)}`)
  }
  const r = totals.run
  console.log(`  ${"run".padEnd(10)} calls ${r.calls}  input ${r.inputTokens}  output ${r.outputTokens}  total ${r.totalTokens}  cost ${usd(r.costUsd)}`)
  console.log(`rows in ${outDir}/triaged.jsonl, audit trail in ${outDir}/landscape.db, telemetry in ${outDir}/telemetry.jsonl`)
})

Effect.runPromise(Effect.scoped(program)).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
