/**
 * The engine's scheduler (src/internal/eventLoop.ts) lets the event loop turn after about one
 * budget of work (4 ms), however many fibers are busy: fibers waiting for the next turn share it.
 * Counted in steps, not timed: each fiber works in steps of 0.2 ms (spinning) and calls
 * `yieldIfBusy`, or leaves the yielding to the scheduler's own check, and a `setImmediate` ticker
 * counts the steps taken between two of its ticks. When each waiting fiber got a budget of its
 * own per turn, 8 fibers took about 8 × 20 steps per turn.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as EventLoop from "../src/internal/eventLoop.js"

const spin = (ms: number) => {
  const end = performance.now() + ms
  while (performance.now() < end) {
    // busy, as a synchronous stretch of engine work is
  }
}

/** Steps taken between consecutive ticks of the event loop while `fibers` fibers each run `steps` steps. */
const stepsPerTurn = (fibers: number, steps: number, step: Effect.Effect<void>) =>
  Effect.gen(function* () {
    let taken = 0
    const perTurn: Array<number> = []
    let ticking = true
    const tick = () => {
      perTurn.push(taken)
      taken = 0
      if (ticking) setImmediate(tick)
    }
    setImmediate(tick)
    const worker = Effect.gen(function* () {
      for (let i = 0; i < steps; i++) {
        spin(0.2)
        taken++
        yield* step
      }
    })
    yield* Effect.all(Array.from({ length: fibers }, () => worker), { concurrency: "unbounded", discard: true }).pipe(
      Effect.withScheduler(EventLoop.scheduler)
    )
    ticking = false
    return perTurn.filter((n) => n > 0).sort((a, b) => a - b)
  })

const p90 = (xs: ReadonlyArray<number>) => xs[Math.floor(0.9 * (xs.length - 1))]!

describe("EventLoop.scheduler", () => {
  it.live("fibers that yield with yieldIfBusy share one budget per turn of the event loop", () =>
    Effect.gen(function* () {
      const turns = yield* stepsPerTurn(8, 150, EventLoop.yieldIfBusy())
      // One budget is 20 steps of 0.2 ms; 8 fibers with a budget each took about 160.
      expect(p90(turns)).toBeLessThanOrEqual(48)
      expect(turns.length).toBeGreaterThan(10)
    }))

  it.live("fibers the scheduler stops by its own time check share one budget per turn of the event loop", () =>
    Effect.gen(function* () {
      // 64 Effect operations per step: the scheduler checks the time every 64 operations.
      const ops = Effect.forEach(Array.from({ length: 63 }), () => Effect.void, { discard: true })
      const turns = yield* stepsPerTurn(8, 150, ops)
      expect(p90(turns)).toBeLessThanOrEqual(48)
      expect(turns.length).toBeGreaterThan(10)
    }))
})
