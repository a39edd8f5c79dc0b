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
 * SIGHTLINE_PROMETHEUS_PORT (serve /metrics while the job runs), SIGHTLINE_DASHBOARD_PORT (serve
 * the audit browser on 127.0.0.1 while the job runs, its run's events live), SIGHTLINE_RESUME (the id of an
 * interrupted run of this job to continue from its last checkpoint, instead of starting a new run;
 * its events are appended to events.jsonl), and the OpenTelemetry variables
 * (OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 sends events, spans and metrics over OTLP).
 */
import { Effect, Option } from "effect"
import { join } from "node:path"
import { Landscape, Orchestrator, Telemetry } from "../../src/index.js"
import * as Live from "./live.js"
import { landscapeOf, settings } from "./live.js"
import { makePipeline } from "./pipeline.js"

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

/** On Ctrl-C (or SIGTERM): say where the interrupted run is recorded and where its partial output is. */
const reportInterruption = Effect.gen(function* () {
  if (process.stdout.isTTY) process.stdout.write("\r\x1b[2K")
  const s = yield* settings
  const [run] = yield* Landscape.listRuns({ limit: 1 })
  if (run === undefined) return
  console.error(
    `Run ${run.runId} of pipeline "${run.pipeline}": ${run.status} after ${(run.rowsRead ?? 0).toLocaleString("en-US")} rows; ` +
    `recorded in ${landscapeOf(s).where}, partial sink output in ${s.outDir}/*.partial-${run.runId}*; ` +
    `continue it with SIGHTLINE_RESUME=${run.runId} npm start, or npx sightline resume ${run.runId} --job examples/flights/job.ts`
  )
}).pipe(Effect.ignore)

// SIGINT / SIGTERM interrupt the run, which is recorded `interrupted`; the process exits 130 / 143.
Orchestrator.runMain(main.pipe(Effect.onInterrupt(() => reportInterruption), Effect.provide(Live.layer())))
