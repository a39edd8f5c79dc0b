/**
 * The main job's settings and layers, from the environment (see main.ts for the variables): shared
 * by `npm start` (main.ts) and its job (job.ts, for `sightline resume`).
 */
import { Config, Effect, Layer, Option, Redacted, type Scope } from "effect"
import { join } from "node:path"
import { Dashboard, type Exporter, JsonLinesExporter, LandscapePg, LandscapeSqlite, PrometheusExporter, Telemetry } from "../../src/index.js"

export const settings = Config.all({
  outDir: Config.string("SIGHTLINE_OUT").pipe(Config.withDefault("out")),
  telemetry: Config.literal("on", "off")("SIGHTLINE_TELEMETRY").pipe(Config.withDefault("on")),
  granularity: Config.literal("lifecycle", "rows", "full")("SIGHTLINE_GRANULARITY").pipe(Config.withDefault("rows")),
  prometheusPort: Config.option(Config.port("SIGHTLINE_PROMETHEUS_PORT")),
  concurrency: Config.integer("SIGHTLINE_CONCURRENCY").pipe(Config.withDefault(4)),
  flights: Config.string("FLIGHTS_FILE").pipe(Config.withDefault("flights-20k.json")),
  landscape: Config.option(Config.redacted("SIGHTLINE_LANDSCAPE")),
  resume: Config.option(Config.nonEmptyString("SIGHTLINE_RESUME")),
  dashboardPort: Config.option(Config.port("SIGHTLINE_DASHBOARD_PORT"))
})

/** Where the Landscape is: `SIGHTLINE_LANDSCAPE`, else `landscape.db` in the output folder; printed without a password. */
export const landscapeOf = (s: Config.Config.Success<typeof settings>) =>
  Option.match(s.landscape, {
    onNone: () => ({ layer: LandscapeSqlite.layer({ filename: join(s.outDir, "landscape.db") }), where: join(s.outDir, "landscape.db") }),
    onSome: (target) =>
      LandscapePg.isUrl(Redacted.value(target))
        ? { layer: LandscapePg.layer({ url: target }), where: LandscapePg.describe(target) }
        : { layer: LandscapeSqlite.layer({ filename: Redacted.value(target) }), where: Redacted.value(target) }
  })

type Settings = Config.Config.Success<typeof settings>

/**
 * Telemetry from the environment (`Telemetry.layerConfig`: OTEL_SDK_DISABLED, OTEL_SERVICE_NAME,
 * OTEL_EXPORTER_OTLP_ENDPOINT, …, SIGHTLINE_GRANULARITY), always with the JSON Lines file (appended
 * to with `append`, so a resume adds its events), the dashboard's live events when
 * SIGHTLINE_DASHBOARD_PORT is set, and `/metrics` for Prometheus while the job runs when
 * SIGHTLINE_PROMETHEUS_PORT is set.
 */
const telemetryOf = (s: Settings, append: boolean): Layer.Layer<Telemetry.Telemetry, unknown, Dashboard.LiveEvents> => {
  if (s.telemetry === "off") return Telemetry.layerDisabled
  // One file per run (a resume adds to it); `block` so that a slow disk slows the run rather than losing events.
  const exporters: Array<Effect.Effect<Exporter.Exporter, unknown, Scope.Scope | Dashboard.LiveEvents>> = [
    JsonLinesExporter.make({ path: join(s.outDir, "events.jsonl"), append })
  ]
  if (Option.isSome(s.dashboardPort)) exporters.push(Dashboard.liveExporter)
  const telemetry = Telemetry.layerConfig({ exporters, exporterQueue: { strategy: "block" } })
  return Option.match(s.prometheusPort, {
    onNone: () => telemetry,
    onSome: (port) => Layer.merge(telemetry, PrometheusExporter.layer({ port }))
  })
}

/**
 * Everything the main job runs with: its telemetry, its Landscape, and with
 * SIGHTLINE_DASHBOARD_PORT the audit browser on 127.0.0.1 while it runs (with the run's events
 * live). `append` (default: when SIGHTLINE_RESUME is set) appends to the events file.
 */
export const layer = (options: { readonly append?: boolean } = {}) =>
  Layer.unwrapEffect(Effect.map(settings, (s) => {
    const base = Layer.merge(
      telemetryOf(s, options.append ?? Option.isSome(s.resume)).pipe(Layer.provideMerge(Dashboard.layerLiveEvents)),
      landscapeOf(s).layer
    )
    return Option.match(s.dashboardPort, {
      onNone: () => base,
      onSome: (port) => Layer.merge(base, Dashboard.layer({ port }).pipe(Layer.provide(base)))
    })
  }))
