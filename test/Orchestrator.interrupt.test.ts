/**
 * An interrupted run in process: rows whose steps were waiting on an external call when the run
 * stopped have been flushed to the Landscape by the call; the run closes their node states (failed,
 * with the reason) and leaves their tokens without an outcome, in flight.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { join } from "node:path"
import { CallScope, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, TestExporter } from "../src/index.js"
import { Order, querySqlite, tempDir, threeOrders } from "./helpers.js"

describe("interrupting a run", () => {
  it.live("closes the node states of rows flushed by a call and not committed; records the run interrupted; RunFinished says so", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "l.db")
      const pipeline = Pipeline.make({ name: "waits", source: Source.fromIterable({ records: threeOrders, schema: Order }) }).pipe(
        Pipeline.transform(Pipeline.makeTransform("lookup", (o: Order) =>
          CallScope.recordCall({ callType: "http", status: "success", attributes: { "http.request.method": "GET" }, latencyMs: 1 }).pipe(
            Effect.zipRight(Effect.never),
            Effect.as(o)
          ))),
        Pipeline.toSinks({ sinks: { out: Sink.jsonLines({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
      )
      const layers = Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: db }))
      yield* Effect.gen(function* () {
        const fiber = yield* Effect.fork(Orchestrator.run(pipeline, { concurrency: 3 }))
        for (let i = 0; i < 200; i++) {
          const [{ n }] = (yield* querySqlite<{ n: number }>(db, "SELECT count(*) AS n FROM calls").pipe(Effect.catchAllCause(() => Effect.succeed([{ n: 0 }])))) as [{ n: number }]
          if (n === 3) break
          yield* Effect.sleep("20 millis")
        }
        yield* Fiber.interrupt(fiber)
        yield* (yield* TestExporter.TestExporter).assertEmitted("RunFinished", { status: "interrupted", error: "interrupted", rowsRead: 0 })
      }).pipe(Effect.provide(layers))
      const [run] = yield* querySqlite<{ status: string }>(db, "SELECT status FROM runs")
      expect(run!.status).toBe("interrupted")
      const states = yield* querySqlite<{ status: string; error_json: string }>(db, "SELECT status, error_json FROM node_states")
      expect(states.length).toBe(3)
      for (const s of states) {
        expect(s.status).toBe("failed")
        expect(JSON.parse(s.error_json)).toEqual({ kind: "run", message: "the run was interrupted" })
      }
      const tokens = yield* querySqlite<{ outcome: string | null }>(db, "SELECT outcome FROM tokens")
      expect(tokens).toEqual([{ outcome: null }, { outcome: null }, { outcome: null }])
      const calls = yield* querySqlite<{ n: number }>(db, "SELECT count(*) AS n FROM calls")
      expect(calls).toEqual([{ n: 3 }])
    }))
})
