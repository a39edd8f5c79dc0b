/**
 * The run's fatal channel (DESIGN.md invariant 3): one `Deferred<never, LandscapeError>` per run
 * that every Landscape write on the plugin path reports into, and that the run is raced against.
 * A plugin that swallows the failure (`catchAll`, `catchAllCause`, `ignore`, `orDie` then
 * `catchAllDefect`, or a `forkDaemon` it never joins) cannot hide it: the report has already been
 * made, and the run fails with the `LandscapeError` as soon as it is.
 *
 * Writes are also tracked while in flight, so the run waits for the ones already started (a call
 * in a daemon fiber) before it can be recorded `completed`.
 *
 * @internal
 */
import { Deferred, Effect, Exit, Fiber } from "effect"
import type { LandscapeError } from "../../Landscape.js"

export interface Fatal {
  /** Reports a Landscape failure; the first report wins. */
  readonly report: (error: LandscapeError) => Effect.Effect<void>
  /** Fails with the first report, once there is one. */
  readonly await: Effect.Effect<never, LandscapeError>
  /** Runs `write` as a tracked Landscape write: a failure is reported, then returned. */
  readonly track: <A>(write: Effect.Effect<A, LandscapeError>) => Effect.Effect<A, LandscapeError>
  /** Waits until no tracked write is in flight, then fails if any was reported. */
  readonly settle: Effect.Effect<void, LandscapeError>
  /**
   * Runs `body` in a child fiber and fails with the first report as soon as there is one. Either way
   * (a report, or this fiber interrupted) the body is interrupted and its cleanup (its scope's
   * finalizers: operations closed, sinks set aside) has finished before this returns, so the run
   * is recorded after its operations, never before.
   */
  readonly supervise: <A, E>(body: Effect.Effect<A, E>) => Effect.Effect<A, E | LandscapeError>
}

export const make: Effect.Effect<Fatal> = Effect.gen(function* () {
  const deferred = yield* Deferred.make<never, LandscapeError>()
  /** Open while no tracked write is in flight. */
  const idle = Effect.unsafeMakeLatch(true)
  let inFlight = 0
  const report = (error: LandscapeError) => Effect.asVoid(Deferred.fail(deferred, error))
  const track = <A>(write: Effect.Effect<A, LandscapeError>) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        if (inFlight++ === 0) idle.unsafeClose()
        return restore(write).pipe(
          Effect.tapError(report),
          Effect.ensuring(Effect.sync(() => {
            if (--inFlight === 0) idle.unsafeOpen()
          }))
        )
      })
    )
  // One scheduler turn first: a daemon fiber forked just before (a call a plugin never joins)
  // starts, and so registers its write, before the run looks.
  const settle = Effect.zipRight(
    Effect.zipRight(Effect.yieldNow(), idle.await),
    Effect.flatMap(Deferred.poll(deferred), (done) => (done._tag === "Some" ? done.value : Effect.void))
  )
  const supervise = <A, E>(body: Effect.Effect<A, E>): Effect.Effect<A, E | LandscapeError> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        const fiber = yield* Effect.fork(restore(body))
        const done: Effect.Effect<Exit.Exit<A, E | LandscapeError>> = Fiber.await(fiber)
        const reported: Effect.Effect<Exit.Exit<A, E | LandscapeError>> = Effect.exit(Deferred.await(deferred))
        const first = yield* restore(Effect.raceFirst(done, reported)).pipe(Effect.onInterrupt(() => Fiber.interrupt(fiber)))
        if (Exit.isFailure(first) && !fiber.unsafePoll()) yield* Fiber.interrupt(fiber)
        return yield* first
      })
    )
  return { report, await: Deferred.await(deferred), track, settle, supervise }
})
