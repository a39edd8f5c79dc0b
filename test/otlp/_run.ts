/** Runs a `Telemetry` layer in a scope of its own over the real `fetch` client, and returns the stats read after closing it. */
import { FetchHttpClient, type HttpClient } from "@effect/platform"
import { Effect, Exit, Layer, Scope } from "effect"
import * as Telemetry from "../../src/Telemetry.js"

export const quiet = { write: () => {} }

export const runWith = <A, E>(
  layer: Layer.Layer<Telemetry.Telemetry, E, HttpClient.HttpClient>,
  body: (t: Telemetry.TelemetryService) => Effect.Effect<A, E>
) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const ctx = yield* Layer.buildWithScope(layer.pipe(Layer.provide(FetchHttpClient.layer)), scope)
    const t = ctx.unsafeMap.get(Telemetry.Telemetry.key) as Telemetry.TelemetryService
    const result = yield* Effect.provide(body(t), ctx)
    yield* Scope.close(scope, Exit.void)
    return { result, stats: yield* t.stats }
  })
