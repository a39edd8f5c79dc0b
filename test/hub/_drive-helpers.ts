/** Runs a hub scenario under the TestClock: the body runs in a fiber while virtual time advances. */
import { type Duration, Effect, Exit, Fiber, Layer, Option, Scope, TestClock } from "effect"
import * as Telemetry from "../../src/Telemetry.js"
import type * as TelemetryStats from "../../src/TelemetryStats.js"

/** Forks `self` and advances the TestClock by `step` until it ends (at most `maxSteps` steps). */
export const drive = <A>(self: Effect.Effect<A>, step: Duration.DurationInput = "10 millis", maxSteps = 100_000): Effect.Effect<A> =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(self)
    for (let i = 0; i < maxSteps; i++) {
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) return yield* Exit.matchEffect(done.value, { onFailure: Effect.failCause, onSuccess: Effect.succeed })
      yield* TestClock.adjust(step)
      yield* Effect.yieldNow()
    }
    return yield* Effect.dieMessage(`scenario still running after ${maxSteps} steps of ${step}`)
  })

/**
 * Builds the layer in a scope of its own, runs `body` with the service, closes the scope (the
 * drain), and returns the body's result with the stats read after the close. All under `drive`.
 */
export const scenario = <A>(
  options: Telemetry.Options<never, never>,
  body: (t: Telemetry.TelemetryService) => Effect.Effect<A>
): Effect.Effect<{ readonly result: A; readonly stats: TelemetryStats.TelemetryStats }> =>
  drive(
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const ctx = yield* Layer.buildWithScope(Telemetry.layer(options), scope)
      const t = ctx.unsafeMap.get(Telemetry.Telemetry.key) as Telemetry.TelemetryService
      const result = yield* body(t)
      yield* Scope.close(scope, Exit.void)
      return { result, stats: yield* t.stats }
    })
  )

export const quiet = { write: () => {} }
