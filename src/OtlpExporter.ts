/**
 * OTLP/HTTP export of all three signals to an OpenTelemetry collector (or any OTLP receiver:
 * Jaeger, Tempo, Loki, Datadog, …), on the hub's bounded, counted lanes:
 *
 * - {@link logs}: every Sightline event as an OTLP log record with an event name
 *   (`sightline.run.started`, …), severity, trace/span ids and its fields as attributes;
 * - {@link traces}: the Effect spans the hub's tracer sees (run, rows, steps, client calls), with
 *   their parent links;
 * - {@link metrics}: Effect `Metric` values, cumulative, every `metricsInterval`.
 *
 * {@link layer} wires all three into `Telemetry`; `Telemetry.layerConfig` does it from the
 * standard `OTEL_EXPORTER_OTLP_*` variables. Encodings: protobuf (`http/protobuf`, the default,
 * as the specification's) or JSON (`http/json`); gzip optional. Outcomes (specification
 * `protocol/otlp.md`): retries only on transport errors and HTTP 429/502/503/504, waiting as long
 * as `Retry-After` says (seconds or HTTP date); any other status drops the batch; a
 * `partial_success` counts the rejected items as dropped, by the receiver's message. Everything
 * shows in `Telemetry.stats` (`exporters["otlp-logs"]`, `spans.exporters["otlp-traces"]`,
 * `metrics["otlp-metrics"]`).
 *
 * Unlike `@effect/opentelemetry`'s OTLP modules, nothing here buffers without bound, goes silent
 * after a failure, retries what OTLP forbids to retry, or loses the protobuf `event_name`.
 *
 * @since 0.2.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { Clock, Duration, Effect, type Layer, type Scope } from "effect"
import * as Exporter from "./Exporter.js"
import type { Attributes, Origin } from "./internal/otlp/common.js"
import * as Logs from "./internal/otlp/logs.js"
import * as Metrics from "./internal/otlp/metrics.js"
import * as Traces from "./internal/otlp/traces.js"
import { makeSend, type Protocol } from "./internal/otlp/transport.js"
import * as Telemetry from "./Telemetry.js"

/** The version reported as the instrumentation scope's and `telemetry.sdk.version`. */
const VERSION = "0.2.0"

/**
 * @since 0.2.0
 */
export interface Options {
  /**
   * Base URL of the receiver; signals go to `<url>/v1/logs`, `/v1/traces`, `/v1/metrics`
   * (`OTEL_EXPORTER_OTLP_ENDPOINT`). Default `http://localhost:4318` (the OTLP/HTTP port).
   */
  readonly url?: string
  /** Full URL per signal, used as is (`OTEL_EXPORTER_OTLP_{LOGS,TRACES,METRICS}_ENDPOINT`). */
  readonly logsUrl?: string
  readonly tracesUrl?: string
  readonly metricsUrl?: string
  /** Default `"http/protobuf"` (the specification's default for OTLP/HTTP). */
  readonly protocol?: Protocol
  /** Extra request headers, e.g. an API key (`OTEL_EXPORTER_OTLP_HEADERS`). */
  readonly headers?: Readonly<Record<string, string>>
  /** Default `"none"`. */
  readonly compression?: "gzip" | "none"
  /**
   * Time-out of one request, response included: the exporters' `timeout`, which the hub applies
   * to each attempt in place of its `exportTimeout`. Default 10 seconds (`OTEL_EXPORTER_OTLP_TIMEOUT`).
   */
  readonly timeout?: Duration.DurationInput
  /**
   * Most log records (or spans) per request: the exporters' `maxBatchSize`, in place of the hub's.
   * Default 2048, capped at the exporter queue's capacity (default 2048).
   *
   * Not OpenTelemetry's SDK default of 512: each request costs CPU on the event loop's thread
   * whatever its size (about 0.75 ms through `@effect/platform`'s undici client, measured on 170 KB
   * requests), and the main job's 120,000 events now take 81 requests instead of about 240. The
   * Collector's batch processor sends 8192 items by default (`send_batch_size`); 2048 of the main
   * job's log records are 1.1 MB of protobuf, far under the Collector's 20 MiB default limit on a
   * request body (`confighttp`).
   */
  readonly maxBatchSize?: number
  /** Time between metric exports. Default 60 seconds (`OTEL_METRIC_EXPORT_INTERVAL`). */
  readonly metricsInterval?: Duration.DurationInput
  /** `service.name`. Default `"sightline"` (`OTEL_SERVICE_NAME`). */
  readonly serviceName?: string
  readonly serviceVersion?: string
  /** More resource attributes (`OTEL_RESOURCE_ATTRIBUTES`). */
  readonly resourceAttributes?: Readonly<Record<string, string>>
}

const originOf = (options: Options): Origin => {
  const resource: Array<readonly [string, unknown]> = [
    ["service.name", options.serviceName ?? "sightline"],
    ...(options.serviceVersion === undefined ? [] : [["service.version", options.serviceVersion] as const]),
    ["telemetry.sdk.name", "sightline"],
    ["telemetry.sdk.language", "nodejs"],
    ["telemetry.sdk.version", VERSION]
  ]
  for (const [k, v] of Object.entries(options.resourceAttributes ?? {})) {
    const at = resource.findIndex(([key]) => key === k)
    if (at >= 0) resource[at] = [k, v]
    else resource.push([k, v])
  }
  return { resource: resource satisfies Attributes, scope: { name: "sightline", version: VERSION } }
}

const base = (options: Options) => (options.url ?? "http://localhost:4318").replace(/\/+$/, "")

const transport = (options: Options, name: string, url: string) =>
  Effect.map(HttpClient.HttpClient, (client) =>
    makeSend(client, {
      name,
      url,
      protocol: options.protocol ?? "http/protobuf",
      headers: options.headers ?? {},
      compression: options.compression ?? "none"
    }))

/** The time-out of one request, as the hub applies it to each attempt. */
const timeoutOf = (options: Options) => Duration.decode(options.timeout ?? "10 seconds")

/** Most records per request; see `Options.maxBatchSize`. */
const maxBatchSizeOf = (options: Options) => options.maxBatchSize ?? 2048

/**
 * The log exporter (name `otlp-logs`): one `ExportLogsServiceRequest` per batch.
 *
 * @since 0.2.0
 * @category constructors
 */
export const logs = (options: Options = {}): Effect.Effect<Exporter.Exporter, never, HttpClient.HttpClient> => {
  const origin = originOf(options)
  const json = options.protocol === "http/json"
  return Effect.map(transport(options, "otlp-logs", options.logsUrl ?? `${base(options)}/v1/logs`), (send) =>
    Exporter.make({
      name: "otlp-logs",
      timeout: timeoutOf(options),
      maxBatchSize: maxBatchSizeOf(options),
      export: (batch) =>
        Effect.flatMap(Clock.currentTimeNanos, (now) =>
          send(json ? Logs.encodeJson(batch, origin, now) : Logs.encodeProtobuf(batch, origin, now)))
    }))
}

/**
 * The span exporter (name `otlp-traces`): one `ExportTraceServiceRequest` per batch of ended spans.
 *
 * @since 0.2.0
 * @category constructors
 */
export const traces = (options: Options = {}): Effect.Effect<Exporter.SpanExporter, never, HttpClient.HttpClient> => {
  const origin = originOf(options)
  const json = options.protocol === "http/json"
  return Effect.map(transport(options, "otlp-traces", options.tracesUrl ?? `${base(options)}/v1/traces`), (send) => ({
    name: "otlp-traces",
    timeout: timeoutOf(options),
    maxBatchSize: maxBatchSizeOf(options),
    export: (batch: ReadonlyArray<Exporter.SpanData>) => send(json ? Traces.encodeJson(batch, origin) : Traces.encodeProtobuf(batch, origin)),
    shutdown: Effect.void
  }))
}

/**
 * The periodic metric exporter (name `otlp-metrics`): every `metricsInterval`, one
 * `ExportMetricsServiceRequest` with every metric in Effect's registry, cumulative since the
 * exporter was built.
 *
 * @since 0.2.0
 * @category constructors
 */
export const metrics = (options: Options = {}): Effect.Effect<Exporter.MetricExporter, never, HttpClient.HttpClient> => {
  const origin = originOf(options)
  const json = options.protocol === "http/json"
  return Effect.gen(function* () {
    const send = yield* transport(options, "otlp-metrics", options.metricsUrl ?? `${base(options)}/v1/metrics`)
    const start = yield* Clock.currentTimeNanos
    return {
      name: "otlp-metrics",
      timeout: timeoutOf(options),
      interval: Duration.decode(options.metricsInterval ?? "60 seconds"),
      export: (snapshot, time) => {
        const model = Metrics.fromSnapshot(snapshot)
        return send(json ? Metrics.encodeJson(model, origin, start, time) : Metrics.encodeProtobuf(model, origin, start, time))
      },
      shutdown: Effect.void
    }
  })
}

/**
 * `Telemetry.layer` with the three OTLP exporters added to `telemetry`'s own (for instance a JSON
 * Lines file beside the collector).
 *
 * @example
 * OtlpExporter.layer({ url: "http://127.0.0.1:4318" }).pipe(Layer.provide(NodeHttpClient.layerUndici))
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = <E = never, R = never>(
  options: Options = {},
  telemetry: Partial<Telemetry.Options<E, R>> = {}
): Layer.Layer<Telemetry.Telemetry, E, Exclude<R, Scope.Scope> | HttpClient.HttpClient> =>
  Telemetry.layer<E, R | HttpClient.HttpClient>({
    ...telemetry,
    exporters: [...(telemetry.exporters ?? []), logs(options)],
    spanExporters: [...(telemetry.spanExporters ?? []), traces(options)],
    metricExporters: [...(telemetry.metricExporters ?? []), metrics(options)]
  })
