/**
 * The main job: `npm start`. Runs the flights pipeline on 20,000 real rows and writes
 *
 *   out/landscape.db      the Landscape (SQLite; or PostgreSQL, see SIGHTLINE_LANDSCAPE): one run per
 *                         invocation, kept across invocations
 *   out/events.jsonl      this run's telemetry, one JSON event per line (RunStarted … RunFinished)
 *   out/on_time.csv       flights that arrived less than 15 minutes late
 *   out/delayed.jsonl     flights 15 minutes late or more
 *   out/quarantine.jsonl  rows that failed validation or enrichment, with the reason
 *
 * Environment: SIGHTLINE_OUT (default `out`), SIGHTLINE_LANDSCAPE (a SQLite file, or a PostgreSQL URL
 * `postgres://user@host:port/database`; default `<SIGHTLINE_OUT>/landscape.db`),
 * SIGHTLINE_TELEMETRY=off (use Telemetry.layerDisabled), SIGHTLINE_GRANULARITY (lifecycle | rows | full,
 * default rows), SIGHTLINE_CONCURRENCY (default 4),
 * FLIGHTS_FILE (a file of vega-datasets' data folder, default flights-20k.json),
 * SIGHTLINE_PROMETHEUS_PORT (serve /metrics while the job runs), SIGHTLINE_RESUME (the id of an
 * interrupted run of this job to continue from its last checkpoint, instead of starting a new run;
 * its events are appended to events.jsonl), and the OpenTelemetry variables
 * (OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 sends events, spans and metrics over OTLP).
 */
import { Config, Effect, Layer, Option, Redacted } from "effect"
import { join } from "node:path"
import { JsonLinesExporter, Landscape, LandscapePg, LandscapeSqlite, Orchestrator, PrometheusExporter, Telemetry } from "../../src/index.js"
import { makePipeline } from "./pipeline.js"

const settings = Config.all({
  outDir: Config.string("SIGHTLINE_OUT").pipe(Config.withDefault("out")),
  telemetry: Config.literal("on", "off")("SIGHTLINE_TELEMETRY").pipe(Config.withDefault("on")),
  granularity: Config.literal("lifecycle", "rows", "full")("SIGHTLINE_GRANULARITY").pipe(Config.withDefault("rows")),
  prometheusPort: Config.option(Config.port("SIGHTLINE_PROMETHEUS_PORT")),
  concurrency: Config.integer("SIGHTLINE_CONCURRENCY").pipe(Config.withDefault(4)),
  flights: Config.string("FLIGHTS_FILE").pipe(Config.withDefault("flights-20k.json")),
  landscape: Config.option(Config.redacted("SIGHTLINE_LANDSCAPE")),
  resume: Config.option(Config.nonEmptyString("SIGHTLINE_RESUME"))
})

/** Where the Landscape is: `SIGHTLINE_LANDSCAPE`, else `landscape.db` in the output folder; printed without a password. */
const landscapeOf = (s: Config.Config.Success<typeof settings>) =>
  Option.match(s.landscape, {
    onNone: () => ({ layer: LandscapeSqlite.layer({ filename: join(s.outDir, "landscape.db") }), where: join(s.outDir, "landscape.db") }),
    onSome: (target) =>
      LandscapePg.isUrl(Redacted.value(target))
        ? { layer: LandscapePg.layer({ url: target }), where: LandscapePg.describe(target) }
        : { layer: LandscapeSqlite.layer({ filename: Redacted.value(target) }), where: Redacted.value(target) }
  })

const fmt = (n: number) => Math.round(n).toLocaleString("en-US")

/** A live status line on a terminal; nothing when stdout is a pipe or a file. */
const progressLine = () => {
  if (!process.stdout.isTTY) return undefined
  let last = 0
  return (p: Orchestrator.Progress) =>
    Effect.sync(() => {
      if (p.elapsedMs - last < 100) return
      last = p.elapsedMs
      const rate = p.rowsDone / (p.elapsedMs / 1000)
      process.stdout.write(`\r\x1b[2K  ${fmt(p.rowsDone)} rows  ${fmt(rate)} rows/s  ${fmt(p.quarantined)} quarantined`)
    })
}

const main = Effect.gen(function* () {
  const s = yield* settings
  const onProgress = progressLine()
  const pipeline = makePipeline({ outDir: s.outDir, flights: s.flights })
  const options = { concurrency: s.concurrency, ...(onProgress ? { onProgress } : {}) }
  const summary = yield* Option.match(s.resume, {
    onNone: () => Orchestrator.run(pipeline, options),
    onSome: (runId) => Orchestrator.resume(pipeline, runId, options)
  })
  if (process.stdout.isTTY) process.stdout.write("\r\x1b[2K")
  const stats = yield* Telemetry.stats
  const runs = yield* Landscape.listRuns({ limit: 1000 })
  const rate = summary.rowsRead / (summary.durationMs / 1000)
  console.log(
    [
      `Run ${summary.runId} of pipeline "${summary.pipeline}": ${summary.status}${summary.attempt > 1 ? ` (resumed, attempt ${summary.attempt})` : ""}`,
      `  rows read      ${fmt(summary.rowsRead)} in ${fmt(summary.durationMs)} ms (${fmt(rate)} rows/s)`,
      ...Object.entries(summary.rowsPerSink).map(([sink, n]) => `  ${sink.padEnd(14)} ${fmt(n)}`),
      `  quarantined    ${fmt(summary.quarantined)}`,
      `  telemetry      ${summary.telemetryEnabled ? `${fmt(stats.emitted)} events emitted (${s.granularity})` : "off"}`,
      `Wrote ${landscapeOf(s).where} (${runs.length} run${runs.length === 1 ? "" : "s"} so far), ` +
      `${join(s.outDir, "events.jsonl")}, on_time.csv, delayed.jsonl, quarantine.jsonl`
    ].join("\n")
  )
})

/**
 * Telemetry from the environment (`Telemetry.layerConfig`: OTEL_SDK_DISABLED, OTEL_SERVICE_NAME,
 * OTEL_EXPORTER_OTLP_ENDPOINT, …, SIGHTLINE_GRANULARITY), always with the JSON Lines file; and
 * `/metrics` for Prometheus while the job runs when SIGHTLINE_PROMETHEUS_PORT is set.
 */
const TelemetryLive = Layer.unwrapEffect(
  Effect.map(settings, (s): Layer.Layer<Telemetry.Telemetry, unknown> => {
    if (s.telemetry === "off") return Telemetry.layerDisabled
    const telemetry = Telemetry.layerConfig({
      // One file per run (a resume adds to it); `block` so that a slow disk slows the run rather than losing events.
      exporters: [JsonLinesExporter.make({ path: join(s.outDir, "events.jsonl"), append: Option.isSome(s.resume) })],
      exporterQueue: { strategy: "block" }
    })
    return Option.match(s.prometheusPort, {
      onNone: () => telemetry,
      onSome: (port) => Layer.merge(telemetry, PrometheusExporter.layer({ port }))
    })
  })
)

const LandscapeLive = Layer.unwrapEffect(Effect.map(settings, (s) => landscapeOf(s).layer))

/** On Ctrl-C (or SIGTERM): say where the interrupted run is recorded and where its partial output is. */
const reportInterruption = Effect.gen(function* () {
  if (process.stdout.isTTY) process.stdout.write("\r\x1b[2K")
  const s = yield* settings
  const [run] = yield* Landscape.listRuns({ limit: 1 })
  if (run === undefined) return
  console.error(
    `Run ${run.runId} of pipeline "${run.pipeline}": ${run.status} after ${(run.rowsRead ?? 0).toLocaleString("en-US")} rows; ` +
    `recorded in ${landscapeOf(s).where}, partial sink output in ${s.outDir}/*.partial-${run.runId}*; ` +
    `continue it with SIGHTLINE_RESUME=${run.runId} npm start`
  )
}).pipe(Effect.ignore)

// SIGINT / SIGTERM interrupt the run, which is recorded `interrupted`; the process exits 130 / 143.
Orchestrator.runMain(main.pipe(Effect.onInterrupt(() => reportInterruption), Effect.provide(Layer.mergeAll(TelemetryLive, LandscapeLive))))
