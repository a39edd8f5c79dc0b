/**
 * Rate limits of the audited clients (issue 12): a shared Effect `RateLimiter` spaces the calls of
 * a real pipeline, and each call records how long it waited for its permit
 * (`sightline.rate_limit.wait_ms`), apart from its latency. HTTP against a real server on
 * 127.0.0.1; LLM against an in-process `LanguageModel`; `SqlSink` against a real SQLite target.
 */
import { LanguageModel } from "@effect/ai"
import { HttpClientResponse, HttpRouter, HttpServerResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, RateLimiter, Schema } from "effect"
import { join } from "node:path"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { AuditedHttpClient, AuditedLlmClient, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, SqlSink, TestExporter } from "../src/index.js"
import { querySqlite, tempDir } from "./helpers.js"
import { serve } from "./support/server-helpers.js"

const Item = Schema.Struct({ id: Schema.Number })
type Item = typeof Item.Type
const items = [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }]

/** One step calling `call` for each item, 4 rows at once, into a SQLite Landscape in `dir`. */
const runCalls = <R>(dir: string, call: (i: Item) => Effect.Effect<unknown, unknown, R>) =>
  Orchestrator.run(
    Pipeline.make({ name: "limited", source: Source.fromIterable({ records: items, schema: Item }) }).pipe(
      Pipeline.transform(Pipeline.makeTransform("call", (i: Item) => Effect.as(call(i), i))),
      Pipeline.toSinks({ sinks: { out: Sink.jsonLines<Item>({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
    ),
    { concurrency: 4 }
  ).pipe(Effect.provide(Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: join(dir, "landscape.db") }))))

/** The recorded waits, milliseconds, smallest first. */
const waits = (dir: string) =>
  Effect.map(
    querySqlite<{ wait: number | null }>(join(dir, "landscape.db"), `SELECT json_extract(attributes_json, '$."sightline.rate_limit.wait_ms"') AS wait FROM calls`),
    (rows) => rows.map((r) => r.wait ?? Number.NaN).sort((a, b) => a - b)
  )

describe("rate limits", () => {
  it.scopedLive("HTTP: four calls at once, one permit per 150 ms: spaced by the limiter, each wait recorded on its call", () =>
    Effect.gen(function* () {
      const arrivals: Array<number> = []
      const url = yield* serve(HttpRouter.empty.pipe(HttpRouter.get("/ok", Effect.sync(() => {
        arrivals.push(performance.now())
        return HttpServerResponse.unsafeJson({ ok: true })
      }))))
      const limiter = yield* RateLimiter.make({ limit: 1, interval: "150 millis", algorithm: "fixed-window" })
      const client = yield* Layer.build(AuditedHttpClient.layer({ rateLimit: limiter }).pipe(Layer.provide(NodeHttpClient.layerUndici)))
      const dir = tempDir()
      const summary = yield* runCalls(dir, () =>
        Effect.flatMap(AuditedHttpClient.AuditedHttpClient, (c) => Effect.flatMap(c.get(`${url}/ok`), HttpClientResponse.filterStatusOk))
      ).pipe(Effect.provide(client))
      expect(summary.rowsPerSink).toEqual({ out: 4 })
      const gaps = arrivals.slice(1).map((t, i) => t - arrivals[i]!)
      for (const gap of gaps) expect(gap).toBeGreaterThan(100)
      const recorded = yield* waits(dir)
      expect(recorded).toHaveLength(4)
      expect(recorded[0]).toBeLessThan(50)
      expect(recorded[3]).toBeGreaterThan(300)
    }))

  it.scopedLive("SqlSink: a batch of three INSERT statements takes three permits before its transaction; each statement's call records its wait", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const target = join(dir, "target.db")
      yield* querySqlite(target, "CREATE TABLE items (id INTEGER)")
      const limiter = yield* RateLimiter.make({ limit: 1, interval: "150 millis", algorithm: "fixed-window" })
      const summary = yield* Orchestrator.run(
        Pipeline.make({ name: "limited-sql", source: Source.fromIterable({ records: [...items, { id: 5 }, { id: 6 }], schema: Item }) }).pipe(
          Pipeline.toSinks({ sinks: { db: SqlSink.make<Item>({ table: "items", batchSize: 2, rateLimit: limiter }) }, default: "db", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
        )
      ).pipe(Effect.provide(Layer.mergeAll(TestExporter.layer(), LandscapeSqlite.layer({ filename: join(dir, "landscape.db") }), SqliteClient.layer({ filename: target }))))
      expect(summary.rowsPerSink).toEqual({ db: 6 })
      expect(yield* querySqlite<{ n: number }>(target, "SELECT count(*) AS n FROM items")).toEqual([{ n: 6 }])
      const recorded = yield* waits(dir)
      expect(recorded).toHaveLength(3)
      // Taken one after the other: the first at once, each next one a window (150 ms) later.
      expect(recorded[0]).toBeLessThan(50)
      expect(recorded[1]).toBeGreaterThan(100)
      expect(recorded[2]).toBeGreaterThan(100)
    }))

  it.scopedLive("LLM: the same for an audited LanguageModel; without a limit no wait is recorded", () =>
    Effect.gen(function* () {
      const model = Layer.effect(LanguageModel.LanguageModel, LanguageModel.make({
        generateText: () => Effect.succeed([{ type: "text", text: "ok" }, { type: "finish", reason: "stop", usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 } }] as const),
        streamText: () => Effect.die("not supported") as never
      }))
      const limiter = yield* RateLimiter.make({ limit: 2, interval: "200 millis", algorithm: "fixed-window" })
      const options = { provider: "openai", model: "gpt-4o-mini" }
      const limited = yield* AuditedLlmClient.make({ ...options, rateLimit: limiter }).pipe(Effect.provide(model))
      const dir = tempDir()
      yield* runCalls(dir, () => limited.generateText({ prompt: "hi" }))
      const recorded = yield* waits(dir)
      expect(recorded.filter((w) => w < 50)).toHaveLength(2)
      expect(recorded.filter((w) => w > 100)).toHaveLength(2)

      const free = yield* AuditedLlmClient.make(options).pipe(Effect.provide(model))
      const other = tempDir()
      yield* runCalls(other, () => free.generateText({ prompt: "hi" }))
      expect((yield* waits(other)).every(Number.isNaN)).toBe(true)
    }))
})
