/**
 * Compile-time test (checked by `npm run typecheck`): an audited client needs `CallScope`, which
 * only the engine provides (inside a transform, gate, source or sink). Using it anywhere else,
 * even with `Landscape` and `Telemetry` provided, does not compile.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { AuditedHttpClient, type CallScope, LandscapeSqlite, TestExporter } from "../../src/index.js"

declare const client: AuditedHttpClient.Client
const services = Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: ":memory:" }))

// Missing CallScope: a type error.
// @ts-expect-error CallScope is not provided outside a pipeline node
Effect.runPromise(client.get("http://127.0.0.1:1/").pipe(Effect.provide(services)))

// The layer form needs it too.
const viaLayer = Effect.flatMap(AuditedHttpClient.AuditedHttpClient, (c) => c.get("http://127.0.0.1:1/")).pipe(
  Effect.provide(AuditedHttpClient.layer()),
  Effect.provide(NodeHttpClient.layerUndici),
  Effect.provide(services)
)
// @ts-expect-error CallScope is not provided outside a pipeline node
Effect.runPromise(viaLayer)

// Missing Telemetry is a type error as well (no default no-op telemetry).
const withScopeOnly = (scope: Layer.Layer<CallScope.CallScope>) =>
  client.get("http://127.0.0.1:1/").pipe(Effect.provide(scope), Effect.provide(LandscapeSqlite.layer({ filename: ":memory:" })))
// @ts-expect-error Telemetry is not provided
export const noTelemetry = (scope: Layer.Layer<CallScope.CallScope>) => Effect.runPromise(withScopeOnly(scope))
