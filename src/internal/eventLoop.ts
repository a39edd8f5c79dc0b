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
 *   operations, or checked by time every 64 operations) or wakes another fiber, and it has used its
 *   share of the turn's budget, the drain waits for the next turn of the loop (one `setImmediate`
 *   per turn for all of them) instead of a microtask, so every fiber waits behind one turn.
 * - {@link yieldIfBusy}: for plain-JavaScript stretches that run without Effect operations (a
 *   batch of rows settled in a loop, a multi-row SQLite statement): the same test at a point the
 *   code chooses.
 *
 * @internal
 */
import { Effect, Scheduler } from "effect"

/** Longest stretch of work between two turns of the event loop, milliseconds. */
export const defaultBudgetMs = 4

/** Shortest share of a turn's budget any waiting fiber gets, milliseconds. */
const minSliceMs = 0.5

/** When the current slice of work began (set as each waiting fiber is let run, once per turn). */
let lastTurn = performance.now()
/** The current slice's budget: the turn's budget shared among the fibers let run in that turn. */
let sliceMs = defaultBudgetMs
const overBudget = () => performance.now() - lastTurn >= sliceMs

/** What waits for the next turn of the event loop, in arrival order. */
let waiting: Array<() => void> = []
let turnScheduled = false

/**
 * One turn's work: everything that yielded since the last turn, in the order it yielded, each let
 * run with an equal share of the turn's budget (at least {@link minSliceMs}). One `setImmediate`
 * per turn: when each fiber had an immediate of its own that started a fresh budget, all of them
 * ran in the same check phase, one budget after the other, and the loop waited 15–25 ms (a
 * long-task probe on the main job: gaps made of several fibers' 4 ms slices and a scavenge). With
 * one budget shared in arrival order instead of equal shares, the first fiber took it all and the
 * others' least steps (a 256-row statement) came on top: main-job p99 19.2 ms against 15.5 ms
 * this way and 22.6 ms before (9 runs each, alternated; `test/eventLoop.test.ts` checks the turn).
 * The more frequent turns cost the identity pipeline 2–3 % of its rows/s (4 alternated runs, within
 * this machine's noise).
 */
const runTurn = () => {
  turnScheduled = false
  const ready = waiting
  waiting = []
  sliceMs = Math.max(minSliceMs, defaultBudgetMs / ready.length)
  for (let i = 0; i < ready.length; i++) {
    lastTurn = performance.now()
    try {
      ready[i]!()
    } catch (error) {
      // What had its own immediate before still runs, in the next turn; the error goes on as it did.
      for (let j = i + 1; j < ready.length; j++) onNextTurn(ready[j]!)
      throw error
    }
  }
}

/** Runs `f` in the next turn of the event loop, after what is already waiting. */
const onNextTurn = (f: () => void) => {
  waiting.push(f)
  if (!turnScheduled) {
    turnScheduled = true
    setImmediate(runTurn)
  }
}

/** One turn of the event loop. */
export const yieldToEventLoop: Effect.Effect<void> = Effect.async<void>((resume) => {
  let interrupted = false
  onNextTurn(() => {
    if (!interrupted) resume(Effect.void)
  })
  return Effect.sync(() => {
    interrupted = true
  })
})

/** Yields to the event loop when the current slice has used its share of the turn's budget (at most `budgetMs`). */
export const yieldIfBusy = (budgetMs: number = defaultBudgetMs): Effect.Effect<void> =>
  Effect.suspend(() => (performance.now() - lastTurn < Math.min(budgetMs, sliceMs) ? Effect.void : yieldToEventLoop))

const runners = Scheduler.SchedulerRunner.cached((depth, drain) => {
  if (overBudget()) {
    onNextTurn(() => drain(0))
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
