/**
 * Keeping the event loop responsive while the engine works, so signals, timers and I/O are
 * served (the engine's targets: event-loop delay p99 ≤ 20 ms, max ≤ 100 ms, measured by
 * `bench/engine.ts`).
 *
 * Effect's default scheduler hands fibers over through microtasks, which never let the event loop
 * run: with the producer, the committer and the telemetry hub all busy, the loop could wait 30–60 ms
 * (measured) although each fiber stopped now and then. Two parts keep it under a budget:
 *
 * - {@link scheduler}: Effect's `MixedScheduler` plus a clock. When a fiber yields (every 2048
 *   operations, or checked by time every 64 operations) or wakes another fiber, and the event loop
 *   has not had a turn for `budgetMs`, the drain goes through `setImmediate` instead of a microtask,
 *   so every fiber waits behind one turn of the loop.
 * - {@link yieldIfBusy}: for plain-JavaScript stretches that run without Effect operations (a
 *   batch of rows settled in a loop, a multi-row SQLite statement): the same test at a point the
 *   code chooses.
 *
 * @internal
 */
import { Effect, Scheduler } from "effect"

/** Longest stretch of work between two turns of the event loop, milliseconds. */
export const defaultBudgetMs = 4

/** When the event loop last had a turn (updated in `setImmediate` callbacks, which run once per turn). */
let lastTurn = performance.now()
const overBudget = () => performance.now() - lastTurn >= defaultBudgetMs

/** One turn of the event loop (`setImmediate`). */
export const yieldToEventLoop: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => {
    lastTurn = performance.now()
    resume(Effect.void)
  })
  return Effect.sync(() => clearImmediate(handle))
})

/** Yields to the event loop when it has not had a turn for `budgetMs`. */
export const yieldIfBusy = (budgetMs: number = defaultBudgetMs): Effect.Effect<void> =>
  Effect.suspend(() => (performance.now() - lastTurn < budgetMs ? Effect.void : yieldToEventLoop))

const runners = Scheduler.SchedulerRunner.cached((depth, drain) => {
  if (overBudget()) {
    setImmediate(() => {
      lastTurn = performance.now()
      drain(0)
    })
  } else if (depth >= 2048) {
    setTimeout(() => drain(0), 0)
  } else {
    Promise.resolve(undefined).then(() => drain(depth + 1))
  }
})

/** Effect's default scheduling, with the event loop let in whenever it has waited `defaultBudgetMs`. */
export const scheduler: Scheduler.Scheduler = Scheduler.make(
  (task, priority, fiber) => runners(fiber).scheduleTask(task, priority),
  (fiber) => {
    const byCount = Scheduler.defaultShouldYield(fiber)
    if (byCount !== false) return byCount
    return fiber.currentOpCount % 64 === 0 && overBudget() ? 0 : false
  }
)
