/** Run-time control, sampling, health, circuit with probe, last-resort sink and attribute caps (TestClock). */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schedule, TestClock } from "effect"
import { keep } from "../../src/internal/hub/sampling.js"
import * as TelemetryStats from "../../src/TelemetryStats.js"
import { call, fail, row, runStarted, scripted, traceId, transform } from "./_helpers.js"
import { quiet, scenario } from "./_drive-helpers.js"

describe("control", () => {
  it.effect("granularity, allow/deny, on/off apply to events emitted after the change", () =>
    Effect.gen(function* () {
      const rec = scripted("rec", () => Effect.void)
      const { stats } = yield* scenario({ exporters: [Effect.succeed(rec.exporter)], granularity: "rows", lastResort: quiet }, (t) =>
        Effect.gen(function* () {
          yield* t.emit(row(1))
          yield* t.control.setGranularity("lifecycle")
          expect(t.granularity).toBe("lifecycle")
          yield* t.emit(row(2)) // filtered
          yield* t.emit(runStarted(3))
          yield* t.control.update({ granularity: "full", deny: ["Transform*"] })
          yield* t.emit(transform(4)) // denied
          yield* t.emit(row(5))
          yield* t.control.setFilter({ allow: ["Run*"] })
          yield* t.emit(row(6)) // not allowed
          yield* t.control.setEnabled(false, "maintenance")
          expect(t.enabled).toBe(false)
          yield* t.emit(runStarted(7)) // off
          expect((yield* t.health).status).toBe("degraded")
          yield* t.control.setEnabled(true)
          yield* t.emit(runStarted(8))
        }))
      const tags = rec.received.map((e) => e._tag)
      // Health events skip the ingress queue, so they may overtake events still queued.
      expect(tags.filter((t) => t !== "TelemetryDisabled")).toEqual(["RowCreated", "RunStarted", "RowCreated", "RunStarted"])
      expect(tags.filter((t) => t === "TelemetryDisabled").length).toBe(1)
      expect(stats.filtered).toBe(4)
      expect(TelemetryStats.unaccounted(stats, "rec")).toBe(0)
    }))

  it.effect("sampling is per type and keeps or drops a trace whole", () =>
    Effect.gen(function* () {
      const rec = scripted("rec", () => Effect.void)
      const { stats } = yield* scenario({
        exporters: [Effect.succeed(rec.exporter)],
        granularity: "full",
        sampling: { RowCreated: 0.5, TransformCompleted: 0.5 },
        lastResort: quiet
      }, (t) =>
        Effect.gen(function* () {
          for (let i = 0; i < 2000; i++) {
            yield* t.emit(row(i, traceId(i)))
            yield* t.emit(transform(i, traceId(i)))
          }
        }))
      const rows = new Set(rec.received.filter((e) => e._tag === "RowCreated").map((e) => e.traceId))
      const transforms = new Set(rec.received.filter((e) => e._tag === "TransformCompleted").map((e) => e.traceId))
      expect(rows).toEqual(transforms) // whole traces
      expect(rows.size).toBeGreaterThan(800)
      expect(rows.size).toBeLessThan(1200)
      expect(stats.sampledOut).toBe(4000 - rec.received.length)
    }))

  it("sampling decisions nest: kept at r implies kept at every rate above r", () => {
    for (let i = 0; i < 1000; i++) {
      const id = traceId(i)
      if (keep(id, 0.2)) expect(keep(id, 0.6)).toBe(true)
    }
  })

  it.effect("bad sampling rate dies with a TypeError (programming error)", () =>
    Effect.gen(function* () {
      const exit = yield* scenario({ exporters: [], lastResort: quiet }, (t) => t.control.setSampling({ RowCreated: 2 })).pipe(Effect.exit)
      expect(exit._tag).toBe("Failure")
    }))
})

describe("circuit, health and last resort", () => {
  it.effect("opens after consecutive failures, probes periodically, recovers; health follows", () =>
    Effect.gen(function* () {
      let failing = true
      const flaky = scripted("flaky", () => (failing ? fail("flaky") : Effect.void))
      const lines: Array<string> = []
      const { result, stats } = yield* scenario({
        exporters: [Effect.succeed(flaky.exporter)],
        retry: Schedule.recurs(0),
        failureThreshold: 2,
        probeInterval: "10 seconds",
        exportInterval: "100 millis",
        lastResort: { write: (l) => lines.push(l), intervalMs: 10_000, burst: 100 }
      }, (t) =>
        Effect.gen(function* () {
          yield* t.emit(row(1))
          yield* t.flush
          yield* t.emit(row(2))
          yield* t.flush
          const open = yield* t.health
          yield* t.emit(row(3)) // dropped: circuit open
          failing = false
          yield* TestClock.adjust("11 seconds")
          yield* t.emit(row(4)) // the probe batch
          yield* t.flush
          return { open, closed: yield* t.health }
        }))
      expect(result.open.status).toBe("unhealthy")
      expect(result.open.exporters.flaky?.status).toBe("unhealthy")
      expect(result.closed.exporters.flaky?.status).not.toBe("unhealthy")
      const f = stats.exporters.flaky!
      expect(f.dropped.exportFailed).toBe(2)
      expect(f.dropped.circuitOpen).toBeGreaterThanOrEqual(1)
      expect(f.circuit).toBe("closed")
      expect(flaky.received.map((e) => e._tag)).toContain("ExporterRecovered")
      expect(lines.some((l) => l.includes("every telemetry exporter is failing"))).toBe(true)
      expect(lines.some((l) => l.includes("ExporterFailed"))).toBe(true)
      expect(TelemetryStats.unaccounted(stats, "flaky")).toBe(0)
    }))

  it("the last-resort sink is rate-limited and counts what it suppressed", async () => {
    const { make } = await import("../../src/internal/hub/lastResort.js")
    const lines: Array<string> = []
    const sink = make({ write: (l) => lines.push(l), intervalMs: 1000, burst: 2 })
    for (let i = 0; i < 10; i++) sink.write({ i }, 0)
    sink.write({ i: 10 }, 1000)
    expect(lines.length).toBe(3)
    expect(JSON.parse(lines[2]!).suppressed).toBe(8)
  })

  it.effect("free-form attributes are capped and counted, never thrown", () =>
    Effect.gen(function* () {
      const rec = scripted("rec", () => Effect.void)
      const attributes: Record<string, string> = {}
      for (let i = 0; i < 10; i++) attributes[`k${i}`] = "x".repeat(100)
      const { stats } = yield* scenario({
        exporters: [Effect.succeed(rec.exporter)],
        granularity: "full",
        attributeLimits: { maxAttributes: 4, maxAttributeLength: 10 },
        lastResort: quiet
      }, (t) => t.emit(call(1, attributes)))
      const e = rec.received[0]
      expect(e?._tag).toBe("ExternalCallCompleted")
      if (e?._tag === "ExternalCallCompleted") {
        expect(Object.keys(e.attributes).length).toBe(4)
        expect(e.attributes.k0).toBe("x".repeat(10))
      }
      expect(stats.truncated).toEqual({ attributes: 6, values: 4 })
    }))
})
