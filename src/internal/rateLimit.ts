/**
 * Rate limits of the audited clients: before a call is made, a permit of the client's Effect
 * `RateLimiter` is taken, and the time spent waiting for it is recorded on the call
 * (`sightline.rate_limit.wait_ms`), apart from the call's own latency.
 *
 * @internal
 */
import { Clock, Effect } from "effect"
import type * as RateLimiter from "effect/RateLimiter"

/** The call attribute holding the wait for a permit, milliseconds (engine `Clock`). */
export const waitAttribute = "sightline.rate_limit.wait_ms"

/** Takes a permit of `limiter` (with none, nothing to wait for: `undefined`); the wait in milliseconds by the `Clock`. */
export const acquire = (limiter: RateLimiter.RateLimiter | undefined): Effect.Effect<number | undefined> =>
  limiter === undefined ? Effect.succeed(undefined) : Effect.gen(function* () {
    const before = yield* Clock.currentTimeNanos
    yield* limiter(Effect.void)
    return Number((yield* Clock.currentTimeNanos) - before) / 1e6
  })
