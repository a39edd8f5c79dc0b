/**
 * Property: whatever the capacities, strategies, exporter speeds and failure patterns, once the
 * hub has drained, for every exporter emitted = exported + dropped + filtered + sampled out.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schedule, TestContext } from "effect"
import fc from "fast-check"
import * as Exporter from "../../src/Exporter.js"
import * as TelemetryStats from "../../src/TelemetryStats.js"
import type { TelemetryEvent } from "../../src/TelemetryEvent.js"
import { row, runStarted, traceId, transform } from "./_helpers.js"
import { quiet, scenario } from "./_drive-helpers.js"

const strategy = fc.constantFrom("block" as const, "drop" as const, "slide" as const)

const exporterSpec = fc.record({
  /** Per call: 0 succeed, 1 fail, 2 throw, 3 hang (until the time-out). */
  pattern: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 8 }),
  delayMs: fc.integer({ min: 0, max: 40 })
})

const params = fc.record({
  ingress: fc.record({ capacity: fc.integer({ min: 1, max: 64 }), strategy }),
  exporterQueue: fc.record({ capacity: fc.integer({ min: 1, max: 64 }), strategy }),
  maxBatchSize: fc.integer({ min: 1, max: 32 }),
  exporters: fc.array(exporterSpec, { minLength: 1, maxLength: 3 }),
  events: fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 300 }),
  yieldEvery: fc.integer({ min: 1, max: 200 }),
  granularity: fc.constantFrom("lifecycle" as const, "rows" as const, "full" as const),
  rowRate: fc.constantFrom(0, 0.3, 1),
  deny: fc.constantFrom([], ["Transform*"]),
  threshold: fc.integer({ min: 1, max: 4 })
})

const makeExporter = (name: string, spec: { readonly pattern: ReadonlyArray<number>; readonly delayMs: number }) => {
  let calls = 0
  return Exporter.make({
    name,
    export: () =>
      Effect.suspend(() => {
        const step = spec.pattern[calls++ % spec.pattern.length]
        const delay = spec.delayMs > 0 ? Effect.sleep(`${spec.delayMs} millis`) : Effect.void
        switch (step) {
          case 1:
            return Effect.zipRight(delay, Effect.fail(new Exporter.ExportError({ exporter: name, message: "no" })))
          case 2:
            return Effect.zipRight(delay, Effect.sync(() => {
              throw new Error("boom")
            }))
          case 3:
            return Effect.never
          default:
            return delay
        }
      })
  })
}

const eventOf = (kind: number, i: number): TelemetryEvent =>
  kind === 0 ? runStarted(i) : kind === 1 ? row(i, traceId(i % 17)) : transform(i)

describe("accounting identity (property)", () => {
  it("holds after drain for random configurations", async () => {
    await fc.assert(
      fc.asyncProperty(params, async (p) => {
        const names = p.exporters.map((_, i) => `e${i}`)
        const program = scenario(
          {
            exporters: p.exporters.map((spec, i) => Effect.succeed(makeExporter(names[i]!, spec))),
            granularity: p.granularity,
            sampling: { RowCreated: p.rowRate },
            deny: p.deny,
            queue: p.ingress,
            exporterQueue: p.exporterQueue,
            maxBatchSize: p.maxBatchSize,
            exportInterval: "50 millis",
            exportTimeout: "200 millis",
            retry: Schedule.recurs(1),
            failureThreshold: p.threshold,
            probeInterval: "300 millis",
            shutdownTimeout: "2 seconds",
            lastResort: quiet
          },
          (t) =>
            Effect.gen(function* () {
              for (let i = 0; i < p.events.length; i++) {
                yield* t.emit(eventOf(p.events[i]!, i))
                if (i % p.yieldEvery === 0) yield* Effect.sleep("5 millis")
              }
            })
        )
        const run = Effect.runPromise(program.pipe(Effect.provide(TestContext.TestContext)))
        let timer: ReturnType<typeof setTimeout> | undefined
        const { stats } = await Promise.race([
          run,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`stuck: ${JSON.stringify(p)}`)), 10_000)
          })
        ]).finally(() => clearTimeout(timer))
        expect(stats.emitted).toBe(p.events.length + stats.healthEvents)
        for (const name of names) expect(TelemetryStats.unaccounted(stats, name)).toBe(0)
      }),
      { numRuns: 60 }
    )
  }, 120_000)
})
