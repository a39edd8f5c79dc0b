/**
 * Handing the event loop a turn during long synchronous work, so signals, timers and I/O are
 * served (the engine's target: event-loop delay p99 ≤ 20 ms, max ≤ 100 ms, measured by
 * `bench/engine.ts`; tsx kills a child that has not acknowledged a signal within 30 ms).
 *
 * Effect's scheduler yields between fibers through microtasks, which never let the event loop
 * run; `setImmediate` does.
 *
 * @internal
 */
import { Effect } from "effect"

/** One turn of the event loop (`setImmediate`). */
export const yieldToEventLoop: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/** Longest stretch of work between two turns, milliseconds. */
export const defaultBudgetMs = 8

let lastTurn = performance.now()

/** Yields when more than `budgetMs` have passed since the last turn taken here, by any caller in this process. */
export const yieldIfBusy = (budgetMs: number = defaultBudgetMs): Effect.Effect<void> =>
  Effect.suspend(() =>
    performance.now() - lastTurn < budgetMs
      ? Effect.void
      : Effect.tap(yieldToEventLoop, () => void (lastTurn = performance.now()))
  )
