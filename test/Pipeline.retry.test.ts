/**
 * Retries (`Pipeline.retry`) through the real Orchestrator and a real SQLite Landscape: every
 * attempt is its own node state (`attempt` 1, 2, …) and its own `TransformCompleted`; a failure the
 * policy does not take up, or the last one the schedule allows, quarantines the row; HTTP 503 from a
 * real server on 127.0.0.1 is retried by the default predicate, each attempt's call recorded.
 */
import { HttpClientResponse, HttpRouter, HttpServerResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Clock, Data, Duration, Effect, Either, Fiber, Layer, Schedule, Schema, TestClock } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { AuditedHttpClient, type CallScope, Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, type Telemetry, TestExporter } from "../src/index.js"
import { querySqlite, tempDir } from "./helpers.js"
import { serve } from "./support/server-helpers.js"

class Flaky extends Data.TaggedError("Flaky")<{ readonly attempt: number }> {}
class Invalid extends Data.TaggedError("Invalid")<{ readonly id: number }> {}

const Item = Schema.Struct({ id: Schema.Number })
type Item = typeof Item.Type
const items = [{ id: 1 }, { id: 2 }, { id: 3 }]

/** Two retries, 1 ms apart: the tests' schedule (the default waits 1 s, then 2 s). */
const fast = Pipeline.retry({ schedule: Schedule.intersect(Schedule.spaced(Duration.millis(1)), Schedule.recurs(2)), retryable: (e) => e instanceof Flaky })

const pipelineOf = <E, R>(dir: string, step: Pipeline.Transform<Item, Item, E, R, "fetch">) =>
  Pipeline.make({ name: "retries", source: Source.fromIterable({ records: items, schema: Item }) }).pipe(
    Pipeline.transform(step),
    Pipeline.toSinks({ sinks: { out: Sink.jsonLines<Item>({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
  )

/** Node states of the step "fetch", by row index: [attempt, status] in attempt order. */
const attemptsOf = (db: string) =>
  Effect.map(querySqlite<{ row_index: number; attempt: number; status: string; step_index: number }>(db, `
    SELECT r.row_index, s.attempt, s.status, s.step_index FROM node_states s JOIN tokens t USING (token_id) JOIN rows r USING (row_id)
    JOIN nodes n ON n.node_id = s.node_id WHERE n.name = 'fetch' ORDER BY r.row_index, s.attempt`), (states) => {
    const by: Record<number, Array<[number, string]>> = {}
    for (const s of states) (by[s.row_index] ??= []).push([s.attempt, s.status])
    return by
  })

const run = <E, R>(dir: string, step: Pipeline.Transform<Item, Item, E, R, "fetch">, layers: Layer.Layer<Exclude<R, Landscape.Landscape | TestExporter.TestExporter | CallScope.CallScope | Telemetry.Telemetry>>) => {
  const db = join(dir, "landscape.db")
  return Effect.gen(function* () {
    const summary = yield* Orchestrator.run(pipelineOf(dir, step))
    const events = yield* (yield* TestExporter.TestExporter).eventsOf("TransformCompleted")
    const report = yield* Landscape.verify(summary.runId)
    return { summary, events, report, attempts: yield* attemptsOf(db) }
  }).pipe(Effect.provide(Layer.mergeAll(TestExporter.layer(), LandscapeSqlite.layer({ filename: db }), layers)))
}

describe("Pipeline.retry", () => {
  it.live("retries a failure the policy takes up: each attempt a node state and an event of its own, the row completed", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const tries = new Map<number, number>()
      // Row 2 fails twice (synchronously: an `Effect.fail`), then succeeds.
      const step = Pipeline.makeTransform("fetch", (i: Item) => {
        const n = (tries.get(i.id) ?? 0) + 1
        tries.set(i.id, n)
        return i.id === 2 && n < 3 ? Effect.fail(new Flaky({ attempt: n })) : Effect.succeed(i)
      }, { retry: fast })
      const { attempts, events, report, summary } = yield* run(dir, step, Layer.empty)
      expect(summary).toMatchObject({ rowsRead: 3, quarantined: 0, rowsPerSink: { out: 3 } })
      expect(attempts).toEqual({ 0: [[1, "completed"]], 1: [[1, "failed"], [2, "failed"], [3, "completed"]], 2: [[1, "completed"]] })
      expect(events.map((e) => [e.status, e.attempt])).toEqual([
        ["completed", undefined], ["failed", undefined], ["failed", 2], ["completed", 3], ["completed", undefined]
      ])
      // Row 2's three attempts: one row, three node states.
      expect(new Set(events.slice(1, 4).map((e) => e.rowId)).size).toBe(1)
      expect(new Set(events.slice(1, 4).map((e) => e.stateId)).size).toBe(3)
      expect(report).toMatchObject({ ok: true, problems: [] })
    }))

  it.live("quarantines at once a failure the policy does not take up, and after the last attempt one it does", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const step = Pipeline.makeTransform("fetch", (i: Item): Effect.Effect<Item, Invalid | Flaky> =>
        i.id === 1 ? Effect.fail(new Invalid({ id: i.id })) : i.id === 3 ? Effect.fail(new Flaky({ attempt: 0 })) : Effect.succeed(i), { retry: fast })
      const { attempts, report, summary } = yield* run(dir, step, Layer.empty)
      expect(summary).toMatchObject({ rowsRead: 3, quarantined: 2, rowsPerSink: { out: 1 } })
      expect(attempts).toEqual({ 0: [[1, "failed"]], 1: [[1, "completed"]], 2: [[1, "failed"], [2, "failed"], [3, "failed"]] })
      const quarantined = readFileSync(join(dir, "q.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { rowIndex: number; reason: string })
      expect(quarantined.map((q) => [q.rowIndex, q.reason.split(":")[0]])).toEqual([[0, "Invalid"], [2, "Flaky"]])
      expect(report.ok).toBe(true)
    }))

  it.scopedLive("retries HTTP 503 from a real server by default (isTransient), each attempt's call recorded in its own node state", () =>
    Effect.gen(function* () {
      // Each item's first two requests are answered 503, the third 200.
      const requests = new Map<string, number>()
      const url = yield* serve(HttpRouter.empty.pipe(HttpRouter.get("/flaky/:id", Effect.map(HttpRouter.params, ({ id = "" }) => {
        requests.set(id, (requests.get(id) ?? 0) + 1)
        return requests.get(id) === 3 ? HttpServerResponse.unsafeJson({ ok: true }) : HttpServerResponse.text("busy", { status: 503 })
      }))))
      const dir = tempDir()
      const step = Pipeline.makeTransform("fetch", (i: Item) =>
        Effect.flatMap(AuditedHttpClient.AuditedHttpClient, (client) =>
          client.get(`${url}/flaky/${i.id}`).pipe(Effect.flatMap(HttpClientResponse.filterStatusOk), Effect.as(i))), {
        retry: Pipeline.retry({ schedule: Schedule.intersect(Schedule.spaced(Duration.millis(1)), Schedule.recurs(2)) })
      })
      const client = AuditedHttpClient.layer().pipe(Layer.provide(NodeHttpClient.layerUndici))
      const { attempts, summary } = yield* run(dir, step, client)
      expect(summary).toMatchObject({ rowsRead: 3, quarantined: 0 })
      expect(Object.values(attempts).map((a) => a.map(([n, status]) => `${n}:${status}`).join(" "))).toEqual([
        "1:failed 2:failed 3:completed", "1:failed 2:failed 3:completed", "1:failed 2:failed 3:completed"
      ])
      const calls = yield* querySqlite<{ state_id: string; attempt: number; status: number }>(join(dir, "landscape.db"), `
        SELECT c.state_id, s.attempt, json_extract(c.attributes_json, '$."http.response.status_code"') AS status
        FROM calls c JOIN node_states s USING (state_id) ORDER BY c.created_at`)
      expect(calls.map((c) => [c.attempt, c.status]).sort()).toEqual([1, 1, 1, 2, 2, 2, 3, 3, 3].map((a) => [a, a === 3 ? 200 : 503]))
      expect(new Set(calls.map((c) => c.state_id)).size).toBe(9)
      expect([...requests.values()]).toEqual([3, 3, 3])
    }))

  it.effect("default schedule: 3 attempts, waiting about 1 s then 2 s (jittered ×0.8–1.2), by the engine's Clock", () =>
    Effect.gen(function* () {
      const driver = yield* Schedule.driver(Pipeline.defaultRetrySchedule)
      const waits = yield* Effect.fork(Effect.gen(function* () {
        const waited: Array<number> = []
        while (true) {
          const before = yield* Clock.currentTimeMillis
          const next = yield* Effect.either(driver.next(undefined))
          if (Either.isLeft(next)) return waited
          waited.push((yield* Clock.currentTimeMillis) - before)
        }
      }))
      yield* TestClock.adjust("1 minute")
      const [first, second, ...more] = yield* Fiber.join(waits)
      expect(more).toEqual([])
      expect(first).toBeGreaterThanOrEqual(800)
      expect(first).toBeLessThanOrEqual(1200)
      expect(second).toBeGreaterThanOrEqual(1600)
      expect(second).toBeLessThanOrEqual(2400)
      expect([first, second]).not.toEqual([1000, 2000]) // jittered
    }))

  it("isTransient: timeouts, transport errors and 408/429/5xx responses; not a 404 or an error of the step's own", () => {
    const response = (status: number) => ({ _tag: "ResponseError", reason: "StatusCode", response: { status } })
    expect([408, 429, 500, 502, 503, 504].map((s) => Pipeline.isTransient(response(s)))).toEqual([true, true, true, true, true, true])
    expect([400, 404, 501].map((s) => Pipeline.isTransient(response(s)))).toEqual([false, false, false])
    expect(Pipeline.isTransient({ _tag: "RequestError", reason: "Transport" })).toBe(true)
    expect(Pipeline.isTransient(new (class extends Error {})())).toBe(false)
    expect(Pipeline.isTransient(new Invalid({ id: 1 }))).toBe(false)
    expect(Pipeline.isTransient(new Cause.TimeoutException())).toBe(true)
  })
})
