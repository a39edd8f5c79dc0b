import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Schedule, TestClock } from "effect"
import * as Exporter from "../../src/Exporter.js"
import type { TelemetryEvent } from "../../src/TelemetryEvent.js"
import * as Telemetry from "../../src/Telemetry.js"
import * as TelemetryStats from "../../src/TelemetryStats.js"
import { quiet, scenario } from "./_drive-helpers.js"
import { faulty, row, runStarted } from "./_helpers.js"

const build = <A>(options: Telemetry.Options<never, never>, body: (t: Telemetry.TelemetryService) => Effect.Effect<A>) =>
  Effect.scoped(Effect.flatMap(Layer.build(Telemetry.layer(options)), (ctx) => body(ctx.unsafeMap.get(Telemetry.Telemetry.key) as Telemetry.TelemetryService)))

describe("hub basics", () => {
  it.effect("delivers everything and the identity holds", () =>
    Effect.gen(function* () {
      const ok = faulty("ok", "healthy")
      let statsAfter: TelemetryStats.TelemetryStats | undefined
      yield* build({ exporters: [Effect.succeed(ok.exporter)], lastResort: { write: () => {} } }, (t) =>
        Effect.gen(function* () {
          for (let i = 0; i < 5000; i++) yield* t.emit(row(i))
          yield* t.emit(runStarted())
          yield* t.flush
          statsAfter = yield* t.stats
        }))
      expect(ok.received.length).toBe(5001)
      expect(statsAfter?.emitted).toBe(5001)
      expect(TelemetryStats.unaccounted(statsAfter!, "ok")).toBe(0)
    }))

  it.effect("an exporter's own maxBatchSize replaces the hub's for its batches, capped at its queue's capacity", () =>
    Effect.gen(function* () {
      const sizes: Record<string, Array<number>> = { small: [], large: [], plain: [] }
      const recording = (name: string, maxBatchSize?: number) =>
        Effect.succeed(Exporter.make({
          name,
          ...(maxBatchSize === undefined ? {} : { maxBatchSize }),
          export: (batch: ReadonlyArray<TelemetryEvent>) => Effect.sync(() => void sizes[name]!.push(batch.length))
        }))
      const { stats } = yield* scenario({
        exporters: [recording("small", 3), recording("large", 1000), recording("plain")],
        maxBatchSize: 16,
        exporterQueue: { capacity: 64, strategy: "block" },
        lastResort: quiet
      }, (t) => Effect.zipRight(t.emitAll(Array.from({ length: 500 }, (_, i) => row(i))), t.flush))
      expect(Math.max(...sizes["small"]!)).toBe(3)
      expect(Math.max(...sizes["plain"]!)).toBe(16)
      expect(Math.max(...sizes["large"]!)).toBe(64) // the queue's capacity
      for (const name of ["small", "large", "plain"]) {
        expect(sizes[name]!.reduce((a, b) => a + b, 0)).toBe(500)
        expect(TelemetryStats.unaccounted(stats, name)).toBe(0)
      }
    }))

  it.effect("an exporter's maxBatchSize that is not a whole number of at least 1 is refused by name", () =>
    Effect.gen(function* () {
      for (const maxBatchSize of [0, 2.5, Number.NaN]) {
        const exit = yield* Effect.exit(build({
          exporters: [Effect.succeed(Exporter.make({ name: "odd", maxBatchSize, export: () => Effect.void }))],
          lastResort: quiet
        }, () => Effect.void))
        expect(Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "succeeded").toContain(`exporter "odd" has maxBatchSize ${maxBatchSize};`)
      }
    }))

  it.effect("batches by exportInterval under the TestClock", () =>
    Effect.gen(function* () {
      const ok = faulty("ok", "healthy")
      yield* build({ exporters: [Effect.succeed(ok.exporter)], exportInterval: "5 seconds", lastResort: { write: () => {} } }, (t) =>
        Effect.gen(function* () {
          yield* t.emit(row(1))
          yield* TestClock.adjust("4 seconds")
          expect(ok.received.length).toBe(0)
          yield* TestClock.adjust("1 second")
          expect(ok.received.length).toBe(1)
        }))
    }))

  it.effect("retries then counts exportFailed", () =>
    Effect.gen(function* () {
      const bad = faulty("bad", "throws")
      yield* build({
        exporters: [Effect.succeed(bad.exporter)],
        retry: Schedule.recurs(2),
        lastResort: { write: () => {} }
      }, (t) =>
        Effect.gen(function* () {
          yield* t.emit(row(1))
          yield* t.flush
          const s = yield* t.stats
          expect(bad.calls()).toBe(3)
          expect(s.exporters.bad?.dropped.exportFailed).toBe(1)
          expect(TelemetryStats.unaccounted(s, "bad")).toBe(0)
        }))
    }))

  it.effect("under `drop`, a producer that never yields loses nothing to a consumer that keeps up", () =>
    Effect.gen(function* () {
      // Queues of 64 and 50 000 events emitted in one synchronous loop: on one thread the
      // dispatcher and the worker only run when emit yields, so a queue that dropped at the first
      // refusal would lose almost everything here (effect-v3-notes §4).
      const ok = faulty("ok", "healthy")
      yield* build({
        exporters: [Effect.succeed(ok.exporter)],
        queue: { capacity: 64, strategy: "drop" },
        exporterQueue: { capacity: 64, strategy: "drop" },
        lastResort: { write: () => {} }
      }, (t) =>
        Effect.gen(function* () {
          for (let i = 0; i < 50_000; i++) yield* t.emit(row(i))
          yield* t.flush
          const s = yield* t.stats
          expect(s.dropped.ingressOverflow).toBe(0)
          expect(TelemetryStats.droppedFor(s, "ok")).toBe(0)
          expect(ok.received.length).toBe(50_000)
        }))
    }))

  it.effect("an emit interrupted while it waits for space under `drop` is not counted", () =>
    Effect.gen(function* () {
      const hung = faulty("hung", "hangs")
      const { result, stats } = yield* scenario({
        exporters: [Effect.succeed(hung.exporter)],
        queue: { capacity: 1, strategy: "drop" },
        exporterQueue: { capacity: 1, strategy: "block" },
        maxBatchSize: 1,
        exportInterval: "1 millis",
        exportTimeout: "1 hour",
        shutdownTimeout: "1 second",
        lastResort: quiet
      }, (t) =>
        Effect.gen(function* () {
          // Fill the pipe: one event in the hung export, one in the lane, one held by the
          // dispatcher (blocked on the lane), one in the ingress.
          for (let i = 0; i < 4; i++) {
            yield* t.emit(row(i))
            yield* TestClock.adjust("1 millis")
          }
          const before = (yield* t.stats).emitted
          const waiting = yield* Effect.fork(t.emit(row(4)))
          yield* Effect.yieldNow()
          yield* Fiber.interrupt(waiting)
          return { before, after: (yield* t.stats).emitted }
        }))
      expect(result.before).toBe(4)
      expect(result.after).toBe(4)
      expect(TelemetryStats.unaccounted(stats, "hung")).toBe(0)
    }))
})

