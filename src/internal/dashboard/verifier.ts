/**
 * `verify` asked from the dashboard's run page: it runs in the background of the server (it reads
 * every record of the run: 46 to 75 s for 1,000,000 rows on the bench machine, far too long for a page),
 * one run at a time, and its last outcome per run is kept in memory for the run page to show. It
 * only reads: the Landscape stays read-only.
 *
 * @internal
 */
import { Cause, Clock, Context, Effect, Exit, Layer, Option, Ref } from "effect"
import { Landscape, type VerifyReport } from "../../Landscape.js"

/** Where a run's verification stands (times are epoch ms). */
export type Verification =
  | { readonly _tag: "waiting"; readonly since: number }
  | { readonly _tag: "running"; readonly since: number }
  | { readonly _tag: "done"; readonly since: number; readonly at: number; readonly report: VerifyReport }
  | { readonly _tag: "failed"; readonly since: number; readonly at: number; readonly message: string }

export interface VerifierService {
  /** Starts verifying `runId` unless it is already waiting or running; returns at once. */
  readonly start: (runId: string) => Effect.Effect<void>
  /** The run's verification, if one was asked since the server started. */
  readonly get: (runId: string) => Effect.Effect<Option.Option<Verification>>
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

export class Verifier extends Context.Tag("sightline/Dashboard/Verifier")<Verifier, VerifierService>() {}

/** The verifier of a dashboard, its fibers interrupted when the layer's scope closes. */
export const layer: Layer.Layer<Verifier, never, Landscape> = Layer.scoped(
  Verifier,
  Effect.gen(function* () {
    const landscape = yield* Landscape
    const scope = yield* Effect.scope
    const state = yield* Ref.make<ReadonlyMap<string, Verification>>(new Map())
    // One verification at a time: each reads a whole run, and they would only slow each other and the pages.
    const one = yield* Effect.makeSemaphore(1)
    const set = (runId: string, v: Verification) => Ref.update(state, (m) => new Map(m).set(runId, v))
    const verify = (runId: string, since: number) =>
      one.withPermits(1)(Effect.gen(function* () {
        yield* set(runId, { _tag: "running", since })
        const exit = yield* Effect.exit(landscape.verify(runId))
        const at = yield* Clock.currentTimeMillis
        yield* set(runId, Exit.match(exit, {
          onFailure: (cause) => ({ _tag: "failed", since, at, message: messageOf(Cause.squash(cause)) }),
          onSuccess: (report) => ({ _tag: "done", since, at, report })
        }))
      }))
    return {
      start: (runId) =>
        Effect.gen(function* () {
          const since = yield* Clock.currentTimeMillis
          const begun = yield* Ref.modify(state, (m) => {
            const current = m.get(runId)?._tag
            return current === "waiting" || current === "running" ? [false, m] : [true, new Map(m).set(runId, { _tag: "waiting", since })]
          })
          if (begun) yield* Effect.forkIn(verify(runId, since), scope)
        }),
      get: (runId) => Effect.map(Ref.get(state), (m) => Option.fromNullable(m.get(runId)))
    } satisfies VerifierService
  })
)
