/**
 * Effect `Metric` values for Prometheus: `/metrics` in the text exposition format 0.0.4, served
 * by `@effect/platform`'s HTTP server (pull: Prometheus scrapes it).
 *
 * Names follow the OpenTelemetry → Prometheus compatibility rules (specification
 * `compatibility/prometheus_and_openmetrics.md`, "OTLP Metric points to Prometheus"): characters
 * outside `[a-zA-Z0-9_:]` become `_` (repeated `_` collapsed); the unit is appended as a word
 * unless the name already ends with it (`s` → `seconds`, `ms` → `milliseconds`, `By` → `bytes`;
 * `{…}` annotations and `1` add nothing); a monotonic counter gets `_total`; a histogram is
 * `_bucket{le}` / `_sum` / `_count`. One Sightline rule comes first: the `<metric_type>` segment of
 * `pipeline.<module>.<component>.<metric_type>.<metric_name>` is dropped (Prometheus carries the
 * type in `# TYPE`, and promtool rejects a type in the name), so
 * `pipeline.engine.node.histogram.state_duration` (unit `s`) is
 * `pipeline_engine_node_state_duration_seconds`. `promtool check metrics` passes on the output
 * (tested). Label names are sanitized the same way (`gen_ai.request.model` → `gen_ai_request_model`).
 *
 * @since 0.2.0
 */
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Layer, Metric, MetricKeyType, type MetricPair, MetricState, Option } from "effect"
import { Server } from "node:http"
import { unitOf } from "./internal/metricsRegistry.js"

/** The exposition format's content type. @since 0.2.0 */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/** @since 0.2.0 */
export interface Options {
  /** Only metrics whose name starts with one of these. Default `["pipeline.", "gen_ai."]`; `[""]` for all. */
  readonly prefixes?: ReadonlyArray<string>
}

const unitWords: Readonly<Record<string, string>> = {
  s: "seconds",
  ms: "milliseconds",
  us: "microseconds",
  ns: "nanoseconds",
  min: "minutes",
  h: "hours",
  d: "days",
  By: "bytes",
  KiBy: "kibibytes",
  MiBy: "mebibytes",
  m: "meters",
  Hz: "hertz",
  "%": "percent"
}

const sanitize = (s: string): string => s.replace(/[^a-zA-Z0-9_:]/g, "_").replace(/_+/g, "_")

/**
 * The Prometheus name of a metric (see the module comment); `counter` adds `_total`.
 *
 * @since 0.2.0
 */
export const prometheusName = (name: string, unit: string, counter: boolean): string => {
  const parts = name.split(".")
  const typed = parts.length === 5 && parts[0] === "pipeline" && /^(counter|gauge|histogram|summary|frequency)$/.test(parts[3] ?? "")
  let out = sanitize(typed ? [parts[0], parts[1], parts[2], parts[4]].join("_") : name)
  const word = unit.startsWith("{") || unit === "1" || unit === "" ? "" : (unitWords[unit] ?? sanitize(unit))
  if (word !== "" && !out.endsWith(`_${word}`)) out = `${out}_${word}`
  if (counter && !out.endsWith("_total")) out = `${out}_total`
  return out
}

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')
const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

const number = (n: number | bigint): string =>
  typeof n === "bigint" ? n.toString() : Number.isNaN(n) ? "NaN" : n === Infinity ? "+Inf" : n === -Infinity ? "-Inf" : String(n)

const labelText = (labels: ReadonlyArray<readonly [string, string]>): string =>
  labels.length === 0 ? "" : `{${labels.map(([k, v]) => `${sanitize(k)}="${escapeLabel(v)}"`).join(",")}}`

interface Family {
  readonly type: "counter" | "gauge" | "histogram" | "summary"
  readonly help: string
  readonly lines: Array<string>
}

/** The sample lines of one metric pair, under its family's name. */
const samples = (name: string, pair: MetricPair.MetricPair.Untyped, state: unknown): Array<string> => {
  const labels = pair.metricKey.tags.map((t) => [t.key, t.value] as const)
  if (MetricState.isCounterState(state)) return [`${name}${labelText(labels)} ${number(state.count)}`]
  if (MetricState.isGaugeState(state)) return [`${name}${labelText(labels)} ${number(state.value)}`]
  if (MetricState.isFrequencyState(state)) {
    return [...state.occurrences].map(([key, n]) => `${name}${labelText([...labels, ["key", key]])} ${n}`)
  }
  if (MetricState.isHistogramState(state)) {
    const out: Array<string> = []
    for (const [bound, cumulative] of state.buckets) {
      if (Number.isFinite(bound)) out.push(`${name}_bucket${labelText([...labels, ["le", number(bound)]])} ${cumulative}`)
    }
    out.push(`${name}_bucket${labelText([...labels, ["le", "+Inf"]])} ${state.count}`)
    out.push(`${name}_sum${labelText(labels)} ${number(state.sum)}`, `${name}_count${labelText(labels)} ${state.count}`)
    return out
  }
  if (MetricState.isSummaryState(state)) {
    const out: Array<string> = []
    for (const [q, v] of state.quantiles) {
      if (Option.isSome(v)) out.push(`${name}${labelText([...labels, ["quantile", number(q)]])} ${number(v.value)}`)
    }
    out.push(`${name}_sum${labelText(labels)} ${number(state.sum)}`, `${name}_count${labelText(labels)} ${state.count}`)
    return out
  }
  return []
}

const typeOf = (pair: MetricPair.MetricPair.Untyped): Family["type"] | undefined => {
  const key = pair.metricKey.keyType
  if (MetricKeyType.isCounterKey(key)) return key.incremental ? "counter" : "gauge"
  if (MetricKeyType.isFrequencyKey(key)) return "counter"
  if (MetricKeyType.isGaugeKey(key)) return "gauge"
  if (MetricKeyType.isHistogramKey(key)) return "histogram"
  if (MetricKeyType.isSummaryKey(key)) return "summary"
  return undefined
}

/**
 * The exposition text of a snapshot of Effect's metric registry.
 *
 * @since 0.2.0
 */
export const formatSnapshot = (snapshot: ReadonlyArray<MetricPair.MetricPair.Untyped>, options: Options = {}): string => {
  const prefixes = options.prefixes ?? ["pipeline.", "gen_ai."]
  const families = new Map<string, Family>()
  for (const pair of snapshot) {
    const raw = pair.metricKey.name
    if (!prefixes.some((p) => raw.startsWith(p))) continue
    const type = typeOf(pair)
    if (type === undefined) continue
    const name = prometheusName(raw, unitOf(raw), type === "counter")
    let family = families.get(name)
    if (family === undefined) {
      family = { type, help: Option.getOrElse(pair.metricKey.description, () => raw), lines: [] }
      families.set(name, family)
    }
    family.lines.push(...samples(name, pair, pair.metricState))
  }
  let out = ""
  for (const [name, f] of [...families].sort(([a], [b]) => a.localeCompare(b))) {
    out += `# HELP ${name} ${escapeHelp(f.help)}\n# TYPE ${name} ${f.type}\n${f.lines.join("\n")}\n`
  }
  return out
}

/**
 * The exposition text of Effect's metric registry now.
 *
 * @since 0.2.0
 */
export const format = (options: Options = {}): Effect.Effect<string> => Effect.sync(() => formatSnapshot(Metric.unsafeSnapshot(), options))

/**
 * A route serving `GET <path>` (default `/metrics`), to add to an existing `HttpRouter`.
 *
 * @since 0.2.0
 */
export const route = (options: Options & { readonly path?: `/${string}` } = {}) =>
  HttpRouter.get(options.path ?? "/metrics", Effect.map(format(options), (body) => HttpServerResponse.text(body, { contentType })))

/**
 * A Node HTTP server whose `close` also ends the connections still open. The platform's layer
 * closes its server when the layer's scope closes, and Node's `close` waits for every open
 * connection: a scraper on a kept-alive connection (Node's default agent, Prometheus itself) that
 * keeps asking held the main job open after its run had ended (seen in `test/otlp/mainJob.test.ts`,
 * one run in three). Metrics scraped after the end add nothing: the run's are final.
 */
class ScrapeServer extends Server {
  override close(callback?: (error?: Error) => void): this {
    super.close(callback)
    this.closeAllConnections()
    return this
  }
}

/**
 * An HTTP server on `host:port` (default host `127.0.0.1`) serving `/metrics`, for the layer's
 * lifetime; closing the layer ends open scrape connections too. For the main job:
 * `SIGHTLINE_PROMETHEUS_PORT`. Scrapes make no spans.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: Options & { readonly port: number; readonly host?: string; readonly path?: `/${string}` }) =>
  HttpServer.serve(HttpRouter.empty.pipe(route(options))).pipe(
    HttpMiddleware.withTracerDisabledWhen(() => true),
    Layer.provide(NodeHttpServer.layer(() => new ScrapeServer(), { port: options.port, host: options.host ?? "127.0.0.1" }))
  )
