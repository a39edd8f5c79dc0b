/**
 * `Telemetry.layerConfig`: telemetry configured from the environment through Effect `Config`,
 * honouring the standard OpenTelemetry variables (specification
 * `configuration/sdk-environment-variables.md` and `protocol/exporter.md`).
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Config, type ConfigError, Duration, Effect, Layer, Option, type Scope } from "effect"
import * as OtlpExporter from "../../OtlpExporter.js"
import * as Telemetry from "../../Telemetry.js"
import type { Granularity } from "../../TelemetryEvent.js"

/** `key1=value1,key2=value2`, values percent-decoded (`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_RESOURCE_ATTRIBUTES`). */
export const parseKeyValues = (text: string): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const pair of text.split(",")) {
    const eq = pair.indexOf("=")
    if (eq <= 0) continue
    const key = pair.slice(0, eq).trim()
    const raw = pair.slice(eq + 1).trim()
    let value = raw
    try {
      value = decodeURIComponent(raw)
    } catch {
      // kept as written
    }
    if (key !== "") out[key] = value
  }
  return out
}

const optionalString = (name: string) => Config.option(Config.nonEmptyString(name))

/** What the environment says. */
export const EnvConfig = Config.all({
  disabled: Config.boolean("OTEL_SDK_DISABLED").pipe(Config.withDefault(false)),
  endpoint: optionalString("OTEL_EXPORTER_OTLP_ENDPOINT"),
  logsEndpoint: optionalString("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"),
  tracesEndpoint: optionalString("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
  metricsEndpoint: optionalString("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
  protocol: Config.literal("http/protobuf", "http/json")("OTEL_EXPORTER_OTLP_PROTOCOL").pipe(Config.withDefault("http/protobuf" as const)),
  headers: Config.string("OTEL_EXPORTER_OTLP_HEADERS").pipe(Config.withDefault("")),
  timeoutMs: Config.integer("OTEL_EXPORTER_OTLP_TIMEOUT").pipe(Config.withDefault(10_000)),
  compression: Config.literal("gzip", "none")("OTEL_EXPORTER_OTLP_COMPRESSION").pipe(Config.withDefault("none" as const)),
  serviceName: optionalString("OTEL_SERVICE_NAME"),
  resourceAttributes: Config.string("OTEL_RESOURCE_ATTRIBUTES").pipe(Config.withDefault("")),
  metricIntervalMs: Config.integer("OTEL_METRIC_EXPORT_INTERVAL").pipe(Config.withDefault(60_000)),
  logsExporter: Config.string("OTEL_LOGS_EXPORTER").pipe(Config.withDefault("otlp")),
  tracesExporter: Config.string("OTEL_TRACES_EXPORTER").pipe(Config.withDefault("otlp")),
  metricsExporter: Config.string("OTEL_METRICS_EXPORTER").pipe(Config.withDefault("otlp")),
  granularity: Config.option(Config.literal("lifecycle", "rows", "full")("SIGHTLINE_GRANULARITY"))
})
export type EnvConfig = Config.Config.Success<typeof EnvConfig>

const urls = (env: EnvConfig): Pick<OtlpExporter.Options, "url" | "logsUrl" | "tracesUrl" | "metricsUrl"> => {
  const out: { url?: string; logsUrl?: string; tracesUrl?: string; metricsUrl?: string } = {}
  if (Option.isSome(env.endpoint)) out.url = env.endpoint.value
  if (Option.isSome(env.logsEndpoint)) out.logsUrl = env.logsEndpoint.value
  if (Option.isSome(env.tracesEndpoint)) out.tracesUrl = env.tracesEndpoint.value
  if (Option.isSome(env.metricsEndpoint)) out.metricsUrl = env.metricsEndpoint.value
  return out
}

/** The OTLP options the environment gives, or `undefined` when no endpoint is set. */
export const otlpOptions = (env: EnvConfig): OtlpExporter.Options | undefined => {
  if (Option.isNone(env.endpoint) && Option.isNone(env.logsEndpoint) && Option.isNone(env.tracesEndpoint) && Option.isNone(env.metricsEndpoint)) {
    return undefined
  }
  const attributes = parseKeyValues(env.resourceAttributes)
  const serviceName = Option.getOrUndefined(env.serviceName) ?? attributes["service.name"]
  return {
    ...urls(env),
    protocol: env.protocol,
    headers: parseKeyValues(env.headers),
    timeout: Duration.millis(env.timeoutMs),
    compression: env.compression,
    metricsInterval: Duration.millis(env.metricIntervalMs),
    ...(serviceName === undefined ? {} : { serviceName }),
    resourceAttributes: attributes
  }
}

/**
 * Telemetry configured from the environment, on top of `options` (exporters given in code, such
 * as a JSON Lines file, are kept):
 *
 * - `OTEL_SDK_DISABLED=true` → `Telemetry.layerDisabled`.
 * - `OTEL_EXPORTER_OTLP_ENDPOINT` (signals at `/v1/logs`, `/v1/traces`, `/v1/metrics`) or the
 *   per-signal `OTEL_EXPORTER_OTLP_{LOGS,TRACES,METRICS}_ENDPOINT` (used as is) → the OTLP
 *   exporters, with `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, default, or `http/json`;
 *   `grpc` is a `ConfigError`), `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT` (ms,
 *   default 10 000), `OTEL_EXPORTER_OTLP_COMPRESSION` (`gzip` | `none`), `OTEL_SERVICE_NAME`,
 *   `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_METRIC_EXPORT_INTERVAL` (ms, default 60 000), and
 *   `OTEL_{LOGS,TRACES,METRICS}_EXPORTER=none` to leave one signal out. Requests go through
 *   `NodeHttpClient.layerUndici` (undici's own client, pooled keep-alive connections), which
 *   costs the main job less CPU than `FetchHttpClient` (undici's `fetch`, whose web streams add
 *   work to every ~250 KB request): see the figures measured with `process.cpuUsage` in
 *   `bench/otlp.ts`'s header.
 * - `SIGHTLINE_GRANULARITY` (`lifecycle` | `rows` | `full`) when `options` gives none.
 */
export const layerConfig = <E = never, R = never>(
  options: Partial<Telemetry.Options<E, R>> = {}
): Layer.Layer<Telemetry.Telemetry, E | ConfigError.ConfigError, Exclude<R, Scope.Scope>> => {
  const fromEnv = (env: EnvConfig): Layer.Layer<Telemetry.Telemetry, E, Exclude<R, Scope.Scope>> => {
    if (env.disabled) return Telemetry.layerDisabled
    const granularity: Granularity = options.granularity ?? Option.getOrElse(env.granularity, () => "rows" as const)
    const base: Telemetry.Options<E, R> = { ...options, granularity, exporters: options.exporters ?? [] }
    const otlp = otlpOptions(env)
    if (otlp === undefined) return Telemetry.layer(base)
    const withOtlp: Telemetry.Options<E, R | HttpClient.HttpClient> = {
      ...base,
      exporters: [...base.exporters, ...(env.logsExporter === "none" ? [] : [OtlpExporter.logs(otlp)])],
      spanExporters: [...(options.spanExporters ?? []), ...(env.tracesExporter === "none" ? [] : [OtlpExporter.traces(otlp)])],
      metricExporters: [...(options.metricExporters ?? []), ...(env.metricsExporter === "none" ? [] : [OtlpExporter.metrics(otlp)])]
    }
    return Layer.provide(Telemetry.layer(withOtlp), NodeHttpClient.layerUndici)
  }
  return Layer.unwrapEffect(Effect.map(EnvConfig, fromEnv))
}
