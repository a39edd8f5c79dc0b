/**
 * Run statistics (`src/landscape/stats.ts`, migration 0011) on each backend: a run written by the
 * real engine (retries, external calls flushed early then closed, quarantines at the source and in
 * a step) has a summary equal to its records counted by plain SQL here; `verify` names a statistic
 * that no longer matches its records; and the histogram's percentiles stay within 2^(1/16) above the
 * exact nearest-rank value (fast-check).
 */
import { describe, expect, it } from "@effect/vitest"
import { Data, Duration, Effect, Layer, Option, Schedule, Schema } from "effect"
import fc from "fast-check"
import { join } from "node:path"
import { CallScope, Landscape, Orchestrator, Pipeline, Sink, Source, TestExporter } from "../src/index.js"
import { bucketOf, durationStats } from "../src/landscape/stats.js"
import { tempDir } from "./helpers.js"
import { eachBackend, type Store } from "./support/backends.js"

class Flaky extends Data.TaggedError("Flaky")<{ readonly message: string }> {}
class Invalid extends Data.TaggedError("Invalid")<{ readonly message: string }> {}

const Item = Schema.Struct({ id: Schema.Number })
type Item = typeof Item.Type

/**
 * 60 items and one that does not decode: `fetch` records an HTTP call to one of two hosts (which
 * flushes the row early), fails once for every fifth item (retried), and rejects every seventh and
 * eleventh item for two different reasons (quarantined).
 */
const pipeline = (dir: string) => {
  const tries = new Map<number, number>()
  const fetch = Pipeline.makeTransform("fetch", (i: Item) =>
    Effect.gen(function* () {
      const attempt = (tries.get(i.id) ?? 0) + 1
      tries.set(i.id, attempt)
      yield* CallScope.recordCall({
        callType: "http",
        status: i.id % 3 === 0 ? "error" : "success",
        attributes: { "http.request.method": "GET", "server.address": i.id % 2 === 0 ? "a.example" : "b.example" },
        latencyMs: (i.id % 13) * 1.7
      })
      if (i.id % 5 === 0 && attempt === 1) return yield* new Flaky({ message: "try again" })
      if (i.id % 7 === 0) return yield* new Invalid({ message: "a multiple of seven" })
      if (i.id % 11 === 0) return yield* new Invalid({ message: "a multiple of eleven" })
      return i
    }), { retry: Pipeline.retry({ schedule: Schedule.intersect(Schedule.spaced(Duration.millis(1)), Schedule.recurs(2)), retryable: (e) => e instanceof Flaky }) })
  const records: Array<unknown> = Array.from({ length: 60 }, (_, k) => ({ id: k + 1 }))
  records.splice(30, 0, { id: "not a number" })
  return Pipeline.make({ name: "stats", source: Source.fromIterable({ records, schema: Item, name: "items" }) }).pipe(
    Pipeline.transform(fetch),
    Pipeline.toSinks({ sinks: { out: Sink.jsonLines<Item>({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
  )
}

const runOn = (store: Store) =>
  Orchestrator.run(pipeline(tempDir()), { concurrency: 4 }).pipe(Effect.provide(Layer.merge(TestExporter.layer(), store.layer())), Effect.orDie)

/** Nearest-rank value of `p` in `values`. */
const nearestRank = (values: ReadonlyArray<number>, p: number) => [...values].sort((a, b) => a - b)[Math.max(0, Math.ceil(p * values.length) - 1)]!

eachBackend((backend) => {
  describe("run statistics", () => {
    it.live("a run's summary is its records counted: states by status, durations, outcomes, sinks, calls by service, quarantine reasons", () =>
      Effect.gen(function* () {
        const store = yield* backend.fresh()
        const { runId } = yield* runOn(store)
        const s = Option.getOrThrow(yield* Landscape.runSummary(runId).pipe(Effect.provide(store.layer())))

        const states = yield* store.exec<{ name: string; status: string; n: number }>(`
          SELECT n.name, s.status, count(*) AS n FROM node_states s JOIN nodes n ON n.node_id = s.node_id WHERE s.run_id = '${runId}' GROUP BY n.name, s.status`)
        const expected: Record<string, Record<string, number>> = {}
        for (const r of states) (expected[r.name] ??= {})[r.status] = Number(r.n)
        expect(Object.fromEntries(s.nodes.filter((n) => Object.keys(n.states).length > 0).map((n) => [n.name, n.states]))).toEqual(expected)
        // Of 60 items, 8 multiples of seven and 5 of eleven are quarantined (77 > 60: none is both), 47 complete; 12 multiples
        // of five fail once first (35 and 55 then fail for good: their last failed state is their reason, not the first).
        expect(expected["fetch"]).toEqual({ completed: 47, failed: 12 + 8 + 5 })

        const durations = (yield* store.exec<{ d: number }>(`
          SELECT s.duration_ms AS d FROM node_states s JOIN nodes n ON n.node_id = s.node_id WHERE s.run_id = '${runId}' AND n.name = 'fetch'`)).map((r) => Number(r.d))
        const fetch = s.nodes.find((n) => n.name === "fetch")!.durationMs!
        expect(fetch.max).toBe(Math.max(...durations))
        for (const p of [0.5, 0.95] as const) {
          const exact = nearestRank(durations, p)
          const shown = p === 0.5 ? fetch.p50 : fetch.p95
          expect(shown).toBeGreaterThanOrEqual(exact)
          expect(shown).toBeLessThanOrEqual(Math.max(exact * 2 ** (1 / 16), 0) + 1e-9)
        }

        expect(s.outcomes).toMatchObject({ routed: 47, quarantined: 8 + 5 + 1, none: 0 })
        expect(s.sinks).toEqual({ out: 47 })

        const calls = yield* store.exec<{ host: string; status: string; n: number; max: number }>(`
          SELECT ${backend.name === "postgres" ? "attributes_json::json->>'server.address'" : "json_extract(attributes_json, '$.\"server.address\"')"} AS host,
                 status, count(*) AS n, max(latency_ms) AS max FROM calls WHERE run_id = '${runId}' GROUP BY 1, 2 ORDER BY 1, 2`)
        expect(s.calls.map((c) => [c.service, c.status, c.count, c.latencyMs.max])).toEqual(calls.map((c) => [c.host, c.status, Number(c.n), Number(c.max)]))
        expect(s.calls.every((c) => c.callType === "http")).toBe(true)

        expect(s.quarantineReasons.map((q) => [q.node, q.kind, q.count])).toEqual([["fetch", expect.any(String), 8], ["fetch", expect.any(String), 5], ["items", "decode", 1]])
        expect(s.quarantineReasons.map((q) => q.reason)).toEqual([expect.stringContaining("seven"), expect.stringContaining("eleven"), expect.any(String)])
        const example = Option.getOrThrow(yield* Landscape.explain({ runId, rowId: s.quarantineReasons[0]!.exampleRowId }).pipe(Effect.provide(store.layer())))
        expect(example.outcome.outcome).toBe("quarantined")
        expect((example.row.data as { value: Item }).value.id % 7).toBe(0)

        const report = yield* Landscape.verify(runId).pipe(Effect.provide(store.layer()))
        expect(report.problems).toEqual([])
      }))

    it.live("verify names a statistic that no longer matches the records", () =>
      Effect.gen(function* () {
        const store = yield* backend.fresh()
        const { runId } = yield* runOn(store)
        yield* store.exec(`UPDATE token_outcome_stats SET count = count + 1 WHERE run_id = '${runId}' AND outcome = 'routed'`)
        yield* store.exec(`UPDATE node_states SET duration_ms = 123456 WHERE state_id = (SELECT min(state_id) FROM node_states WHERE run_id = '${runId}' AND status = 'completed')`)
        const report = yield* Landscape.verify(runId).pipe(Effect.provide(store.layer()))
        const statistics = report.problems.filter((p) => p.check === "statistics")
        expect(statistics.map((p) => p.record)).toEqual(expect.arrayContaining([expect.stringMatching(/^token_outcome_stats routed /), expect.stringMatching(/^node_state_stats /)]))
        expect(statistics.find((p) => p.record.startsWith("token_outcome_stats"))!.message).toBe("stored 48, the records give 47")
        expect(statistics.some((p) => p.message.includes("123456"))).toBe(true)
      }))
  })
})

describe("duration histogram", () => {
  it("p50 and p95 lie between the exact nearest-rank value and 2^(1/16) above it; max is exact", () =>
    fc.assert(fc.property(fc.array(fc.oneof(fc.constant(0), fc.double({ min: 1e-6, max: 1e7, noNaN: true })), { minLength: 1, maxLength: 300 }), (values) => {
      const buckets = new Map<number, number>()
      for (const v of values) buckets.set(bucketOf(v), (buckets.get(bucketOf(v)) ?? 0) + 1)
      const stats = durationStats([...buckets].map(([bucket, count]) => ({ bucket, count })), Math.max(...values))!
      expect(stats.max).toBe(Math.max(...values))
      for (const [p, shown] of [[0.5, stats.p50], [0.95, stats.p95]] as const) {
        const exact = nearestRank(values, p)
        expect(shown).toBeGreaterThanOrEqual(exact * (1 - 1e-12))
        expect(shown).toBeLessThanOrEqual(exact * 2 ** (1 / 16) * (1 + 1e-12))
      }
    })))

  it("powers of two are the inclusive upper bounds of their buckets (the spec's exact mapping)", () => {
    expect(bucketOf(1)).toBe(-1)
    expect(bucketOf(1.0001)).toBe(0)
    expect(bucketOf(2)).toBe(15)
    expect(bucketOf(0.5)).toBe(-17)
  })
})
