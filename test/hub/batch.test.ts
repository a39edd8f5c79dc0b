/**
 * `emitAll` and `accepts` (issue 9): a batch has the semantics and accounting of emitting each
 * event in order; `accepts` answers, synchronously, whether an event type would be filtered.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import * as Telemetry from "../../src/Telemetry.js"
import type { TelemetryEvent } from "../../src/TelemetryEvent.js"
import { TelemetryStats } from "../../src/index.js"
import { quiet, scenario } from "./_drive-helpers.js"
import { call, faulty, row, runStarted, transform } from "./_helpers.js"

const mixed = (n: number): Array<TelemetryEvent> =>
  Array.from({ length: n }, (_, i) =>
    i % 4 === 0 ? row(i) : i % 4 === 1 ? transform(i) : i % 4 === 2 ? call(i, { "http.request.method": "GET" }) : runStarted(i))

const options = (extra: Partial<Telemetry.Options<never, never>> = {}) => (rec: ReturnType<typeof faulty>) => ({
  exporters: [Effect.succeed(rec.exporter)],
  granularity: "rows" as const,
  sampling: { TransformCompleted: 0.5 },
  deny: ["RunStarted"],
  lastResort: quiet,
  ...extra
})

describe("emitAll", () => {
  it.effect("delivers the same events, in the same order, with the same accounting as emit one by one", () =>
    Effect.gen(function* () {
      const events = mixed(3000)
      const one = faulty("rec", "healthy")
      const each = yield* scenario(options()(one), (t) => Effect.forEach(events, (e) => t.emit(e), { discard: true }))
      const all = faulty("rec", "healthy")
      const batch = yield* scenario(options()(all), (t) => t.emitAll(events))
      expect(all.received).toEqual(one.received)
      expect(batch.stats).toEqual(each.stats)
      expect(batch.stats.filtered).toBeGreaterThan(0) // calls (granularity full) and RunStarted (denied)
      expect(batch.stats.sampledOut).toBeGreaterThan(0)
      expect(TelemetryStats.unaccounted(batch.stats, "rec")).toBe(0)
    }))

  it.effect("under `block`, a batch larger than every queue waits for room and loses nothing", () =>
    Effect.gen(function* () {
      const rec = faulty("rec", "slow", 5)
      const { stats } = yield* scenario(
        options({
          queue: { capacity: 8, strategy: "block" },
          exporterQueue: { capacity: 8, strategy: "block" },
          maxBatchSize: 4,
          sampling: {},
          deny: []
        })(rec),
        (t) => t.emitAll(Array.from({ length: 200 }, (_, i) => row(i)))
      )
      expect(rec.received.map((e) => (e._tag === "RowCreated" ? e.rowIndex : -1))).toEqual(Array.from({ length: 200 }, (_, i) => i))
      expect(stats.emitted).toBe(200)
      expect(TelemetryStats.droppedFor(stats, "rec")).toBe(0)
    }))

  it.effect("interrupted while it waits, it counts the events handed over and not the rest", () =>
    Effect.gen(function* () {
      const hung = faulty("hung", "hangs")
      const { result, stats } = yield* scenario(
        options({
          queue: { capacity: 2, strategy: "block" },
          exporterQueue: { capacity: 2, strategy: "block" },
          maxBatchSize: 1,
          exportInterval: "1 millis",
          exportTimeout: "1 hour",
          shutdownTimeout: "1 second",
          sampling: {},
          deny: []
        })(hung),
        (t) =>
          Effect.gen(function* () {
            const fiber = yield* Effect.fork(t.emitAll(Array.from({ length: 50 }, (_, i) => row(i))))
            yield* Effect.sleep("100 millis")
            yield* Fiber.interrupt(fiber)
            return (yield* t.stats).emitted
          })
      )
      expect(result).toBeGreaterThan(0)
      expect(result).toBeLessThan(50)
      expect(stats.emitted).toBe(result)
      expect(TelemetryStats.unaccounted(stats, "hung")).toBe(0)
    }))
})

describe("accepts", () => {
  it.effect("follows granularity, allow/deny and on/off; sampling stays in emit", () =>
    Effect.gen(function* () {
      const rec = faulty("rec", "healthy")
      yield* scenario(options()(rec), (t) =>
        Effect.gen(function* () {
          expect(t.accepts("RowCreated")).toBe(true)
          expect(t.accepts("TransformCompleted")).toBe(true) // sampled at 0.5: decided per event in emit
          expect(t.accepts("ExternalCallCompleted")).toBe(false) // granularity rows
          expect(t.accepts("RunStarted")).toBe(false) // denied
          expect(t.accepts("EventsDropped")).toBe(true) // health events always pass
          yield* t.control.update({ granularity: "full", deny: [] })
          expect(t.accepts("ExternalCallCompleted")).toBe(true)
          expect(t.accepts("RunStarted")).toBe(true)
          yield* t.control.setEnabled(false)
          expect(t.accepts("RunStarted")).toBe(false)
          expect(t.accepts("RowCreated")).toBe(false)
          yield* t.control.setFilter({ allow: ["Run*"] })
          yield* t.control.setEnabled(true)
          expect(t.accepts("RunStarted")).toBe(true)
          expect(t.accepts("RowCreated")).toBe(false)
        }))
    }))

  it.effect("layerDisabled accepts nothing and emitAll does nothing", () =>
    Effect.gen(function* () {
      const t = yield* Telemetry.Telemetry
      expect(t.accepts("RunStarted")).toBe(false)
      expect(t.accepts("EventsDropped")).toBe(false)
      yield* t.emitAll([row(1), row(2)])
      expect((yield* t.stats).emitted).toBe(0)
    }).pipe(Effect.provide(Layer.fresh(Telemetry.layerDisabled))))
})

describe("sampleRowSpans", () => {
  it.effect("keeps about the configured fraction of rows, always the same ones, and none when disabled", () =>
    Effect.gen(function* () {
      const rec = faulty("rec", "healthy")
      const ids = Array.from({ length: 20_000 }, () => crypto.randomUUID())
      const { result } = yield* scenario(options({ rowSpanRate: 0.1 })(rec), (t) =>
        Effect.succeed({ first: ids.filter(t.sampleRowSpans), again: ids.filter(t.sampleRowSpans) }))
      expect(result.first).toEqual(result.again)
      expect(result.first.length).toBeGreaterThan(1600)
      expect(result.first.length).toBeLessThan(2400)
      const defaults = yield* scenario(options()(rec), (t) => Effect.succeed(ids.filter(t.sampleRowSpans).length))
      expect(defaults.result).toBeLessThan(100) // default 0.001: ~20 of 20,000
      const off = yield* Effect.provide(Effect.map(Telemetry.Telemetry, (t) => ids.some(t.sampleRowSpans)), Layer.fresh(Telemetry.layerDisabled))
      expect(off).toBe(false)
    }))
})
