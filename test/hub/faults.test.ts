/**
 * The fault matrix: an exporter that throws, hangs, is slow, or rejects half its batches, next to
 * a healthy one, under each overflow strategy. The faulty exporter only ever loses its own events,
 * the healthy one gets every event, and the accounting identity holds for both.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Schedule } from "effect"
import * as Exporter from "../../src/Exporter.js"
import * as TelemetryStats from "../../src/TelemetryStats.js"
import { type Fault, faulty, row } from "./_helpers.js"
import { quiet, scenario } from "./_drive-helpers.js"

const N = 3000
const strategies = ["block", "drop", "slide"] as const
const faults: ReadonlyArray<Fault> = ["throws", "hangs", "slow", "rejectsHalf"]
const rows: Array<string> = []

describe("fault matrix", () => {
  for (const fault of faults) {
    for (const strategy of strategies) {
      it.effect(`${fault} × ${strategy}`, () =>
        Effect.gen(function* () {
          const bad = faulty("faulty", fault, 50)
          const good = faulty("healthy", "healthy")
          const { stats } = yield* scenario({
            exporters: [Effect.succeed(bad.exporter), Effect.succeed(good.exporter)],
            queue: { capacity: 256, strategy },
            exporterQueue: { capacity: 256, strategy },
            maxBatchSize: 64,
            exportInterval: "100 millis",
            exportTimeout: "1 second",
            retry: Schedule.recurs(1),
            failureThreshold: 3,
            probeInterval: "5 seconds",
            shutdownTimeout: "10 seconds",
            lastResort: quiet
          }, (t) =>
            Effect.gen(function* () {
              for (let i = 0; i < N; i++) {
                yield* t.emit(row(i))
                if (i % 100 === 99) yield* Effect.sleep("10 millis")
              }
            }))
          const f = stats.exporters.faulty!
          const h = stats.exporters.healthy!
          rows.push(
            `${fault.padEnd(12)} ${strategy.padEnd(6)} emitted=${stats.emitted} health=${stats.healthEvents} ` +
              `faulty: exported=${f.exported} queueOverflow=${f.dropped.queueOverflow} exportFailed=${f.dropped.exportFailed} ` +
              `circuitOpen=${f.dropped.circuitOpen} shutdown=${f.dropped.shutdown} circuit=${f.circuit} | ` +
              `healthy: exported=${h.exported} dropped=${TelemetryStats.droppedFor(stats, "healthy")} | ` +
              `ingressOverflow=${stats.dropped.ingressOverflow} hubShutdown=${stats.dropped.shutdown}`
          )
          expect(TelemetryStats.unaccounted(stats, "faulty")).toBe(0)
          expect(TelemetryStats.unaccounted(stats, "healthy")).toBe(0)
          // The healthy exporter gets every event the pipeline emitted: the faulty one never holds it.
          expect(good.received.filter((e) => e._tag === "RowCreated").length).toBe(N)
          expect(TelemetryStats.droppedFor(stats, "healthy")).toBe(0)
          if (fault === "throws" || fault === "hangs") {
            expect(f.exported).toBe(0)
            expect(f.dropped.circuitOpen).toBeGreaterThan(0)
          }
          if (fault === "rejectsHalf") expect(f.exported).toBeGreaterThan(0)
        }))
    }
  }
  it("prints the matrix", () => {
    process.stdout.write(`\nfault matrix (${N} events, queues 256, batch 64):\n${rows.join("\n")}\n`)
  })
})

describe("an exporter's own time-out", () => {
  it.effect("replaces the hub's exportTimeout for each of its attempts, for events and for metrics", () =>
    Effect.gen(function* () {
      const timeout = Duration.millis(50)
      const hung = Exporter.make({ name: "hung", timeout, export: () => Effect.never })
      const metrics: Exporter.MetricExporter = { name: "hung-metrics", timeout, interval: Duration.hours(1), export: () => Effect.never, shutdown: Effect.void }
      const { stats } = yield* scenario({
        exporters: [Effect.succeed(hung)],
        metricExporters: [Effect.succeed(metrics)],
        exportTimeout: "1 hour",
        retry: Schedule.recurs(1),
        lastResort: quiet
      }, (t) => Effect.zipRight(t.emit(row(0)), t.flush))
      // Each batch (the event, then the drop report made at close) failed after two attempts of
      // 50 ms, not of an hour: `drive` would have given up first.
      const h = stats.exporters["hung"]!
      expect(h).toMatchObject({ exported: 0, lastError: "export timed out after 50ms" })
      expect(h.batchesFailed).toBeGreaterThan(0)
      expect(h.retries).toBe(h.batchesFailed)
      expect(TelemetryStats.unaccounted(stats, "hung")).toBe(0)
      expect(stats.metrics["hung-metrics"]).toMatchObject({ exported: 0, failed: 1, retries: 1, lastError: "export timed out after 50ms" })
    }))
})
