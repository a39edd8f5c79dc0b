/**
 * The airport-stats example: `npm run example:airport-stats`. Runs examples/airport-stats on the
 * 20,000 flights of the main job (fork-join of two enrichments, an aggregation every 500 flights,
 * an expansion) and writes, under SIGHTLINE_OUT (default `out/airport-stats`):
 *
 *   landscape.db          the Landscape (SQLite), one run per invocation
 *   events.jsonl          this run's telemetry
 *   airport_windows.csv   per origin airport, per window of 500 departures: flights, mean and p90
 *                         delay (min), share delayed ≥ 15 min (%), mean great-circle miles
 *   quarantine.jsonl      flights that failed validation or a lookup, with the reason
 *
 * Then it checks the run with `Landscape.verify` and prints where one flight went (`trace`).
 * Environment: SIGHTLINE_OUT, FLIGHTS_FILE (default flights-20k.json), SIGHTLINE_RESUME (continue
 * an interrupted run of this example).
 */
import { Config, Effect, Layer, Option } from "effect"
import { join } from "node:path"
import { JsonLinesExporter, Landscape, LandscapeSqlite, Orchestrator, Telemetry } from "../../src/index.js"
import { makePipeline, windowSize } from "./pipeline.js"

const settings = Config.all({
  outDir: Config.string("SIGHTLINE_OUT").pipe(Config.withDefault(join("out", "airport-stats"))),
  flights: Config.string("FLIGHTS_FILE").pipe(Config.withDefault("flights-20k.json")),
  resume: Config.option(Config.nonEmptyString("SIGHTLINE_RESUME"))
})

const fmt = (n: number) => Math.round(n).toLocaleString("en-US")

/** How many tokens ended each way, in the order first seen: `forked 1, coalesced 2, …`. */
const outcomes = (tokens: Landscape.Trace["tokens"]) => {
  const counts = new Map<string, number>()
  for (const t of tokens) counts.set(t.outcome.outcome ?? "open", (counts.get(t.outcome.outcome ?? "open") ?? 0) + 1)
  return [...counts].map(([outcome, n]) => `${outcome} ${n}`).join(", ")
}

const main = Effect.gen(function* () {
  const s = yield* settings
  const pipeline = makePipeline({ outDir: s.outDir, flights: s.flights })
  const summary = yield* Option.match(s.resume, { onNone: () => Orchestrator.run(pipeline), onSome: (runId) => Orchestrator.resume(pipeline, runId) })
  const report = yield* Landscape.verify(summary.runId)
  // Where the first flight went: forked into both lookups, joined, consumed by its window; the
  // window's output (a token of the window's first flight) expanded into one routed row per airport.
  const first = yield* Landscape.explain({ runId: summary.runId, rowIndex: 0 })
  const trace = Option.isSome(first) ? yield* Landscape.trace({ runId: summary.runId, rowId: first.value.row.rowId }) : Option.none()
  console.log([
    `Run ${summary.runId} of pipeline "${summary.pipeline}": ${summary.status}${summary.attempt > 1 ? ` (resumed, attempt ${summary.attempt})` : ""}`,
    `  flights read       ${fmt(summary.rowsRead)} in ${fmt(summary.durationMs)} ms`,
    `  airport windows    ${fmt(summary.rowsPerSink["airport_windows"] ?? 0)} rows (windows of ${windowSize} flights)`,
    `  quarantined        ${fmt(summary.quarantined)}`,
    `  verify             ${report.ok ? `ok (${fmt(report.counts.links)} chain links, ${fmt(report.counts.tokens)} tokens)` : `${report.problemCount} problems`}`,
    ...Option.match(trace, { onNone: () => [], onSome: (t) => [`  flight 0 tokens    ${outcomes(t.tokens)}`] }),
    `Wrote ${join(s.outDir, "airport_windows.csv")}, quarantine.jsonl, events.jsonl, landscape.db`
  ].join("\n"))
  if (!report.ok) return yield* Effect.fail(new Error(`verify found ${report.problemCount} problems in run ${summary.runId}`))
})

const Live = Layer.unwrapEffect(Effect.map(settings, (s) =>
  Layer.merge(
    LandscapeSqlite.layer({ filename: join(s.outDir, "landscape.db") }),
    Telemetry.layer({ exporters: [JsonLinesExporter.make({ path: join(s.outDir, "events.jsonl"), append: Option.isSome(s.resume) })] })
  )))

Orchestrator.runMain(main.pipe(Effect.provide(Live)))
