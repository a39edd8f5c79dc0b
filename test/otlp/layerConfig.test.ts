/**
 * `Telemetry.layerConfig` from the standard OpenTelemetry variables: everything reaches a local
 * receiver, decoded with the official protos.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Scope } from "effect"
import { Telemetry } from "../../src/index.js"
import { parseKeyValues } from "../../src/internal/otlp/layerConfig.js"
import { row } from "../hub/_helpers.js"
import { decodeJson } from "./_proto.js"
import { startReceiver } from "./_receiver.js"

const withEnv = (env: Record<string, string>) => Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

const run = <A>(env: Record<string, string>, body: (t: Telemetry.TelemetryService) => Effect.Effect<A>) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const layer = Telemetry.layerConfig({ lastResort: { write: () => {} } }).pipe(Layer.provide(withEnv(env)))
    const ctx = yield* Layer.buildWithScope(layer, scope)
    const t = ctx.unsafeMap.get(Telemetry.Telemetry.key) as Telemetry.TelemetryService
    const result = yield* Effect.provide(body(t), ctx)
    yield* Scope.close(scope, Exit.void)
    return result
  })

describe("Telemetry.layerConfig", () => {
  it.live("OTEL_EXPORTER_OTLP_* send logs, spans and metrics, with headers, service name and resource attributes", () =>
    Effect.gen(function* () {
      const receiver = yield* Effect.promise(() => startReceiver())
      yield* run({
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=s3cr%3Dt,tenant=acme",
        OTEL_EXPORTER_OTLP_COMPRESSION: "gzip",
        OTEL_SERVICE_NAME: "flights",
        OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test",
        SIGHTLINE_GRANULARITY: "full"
      }, (t) => Effect.zipRight(Effect.withSpan("sightline.run")(t.emit(row(1))), t.flush))
      yield* Effect.promise(() => receiver.close())
      const paths = new Set(receiver.received.map((r) => r.path))
      expect(paths).toEqual(new Set(["/v1/logs", "/v1/traces", "/v1/metrics"]))
      for (const r of receiver.received) {
        expect(r.headers["x-api-key"]).toBe("s3cr=t")
        expect(r.headers["content-encoding"]).toBe("gzip")
        const signal = r.path.slice(4) as "logs" | "traces" | "metrics"
        const decoded = decodeJson(signal, r.body.toString("utf8"))
        const resource = (Object.values(decoded)[0] as Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> } }>)[0]!.resource
        const attrs = Object.fromEntries(resource.attributes.map((a) => [a.key, a.value.stringValue]))
        expect(attrs["service.name"]).toBe("flights")
        expect(attrs["deployment.environment"]).toBe("test")
      }
    }))

  it.live("OTEL_SDK_DISABLED=true is telemetry off; no endpoint is the plain hub; grpc is refused", () =>
    Effect.gen(function* () {
      expect(yield* run({ OTEL_SDK_DISABLED: "true" }, (t) => Effect.succeed(t.enabled))).toBe(false)
      const plain = yield* run({ SIGHTLINE_GRANULARITY: "lifecycle" }, (t) => Effect.map(t.stats, (s) => [t.granularity, Object.keys(s.exporters)]))
      expect(plain).toEqual(["lifecycle", []])
      const grpc = yield* Effect.exit(run({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:1", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }, () => Effect.void))
      expect(Exit.isFailure(grpc)).toBe(true)
    }))

  it("reads key=value lists with percent-encoded values", () => {
    expect(parseKeyValues("a=1, b = x%20y ,bad,=z,c=%E0")).toEqual({ a: "1", b: "x y", c: "%E0" })
  })
})
