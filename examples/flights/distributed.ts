/**
 * The flights pipeline as one run over several worker processes (`DistributedRun`), on a shared
 * Landscape: PostgreSQL for workers on several machines, or a SQLite file for processes of one.
 *
 *   npx tsx examples/flights/distributed.ts run --workers 3 --partitions 12
 *       starts the run, then 3 worker processes (this script's `work`), and waits for the run's end
 *   npx tsx examples/flights/distributed.ts start --partitions 12      prints the new run's id
 *   npx tsx examples/flights/distributed.ts work <runId>               one worker (start as many as you like)
 *
 * Output: `<SIGHTLINE_OUT>/on_time.part-<k>.csv`, `delayed.part-<k>.jsonl`, `quarantine.part-<k>.jsonl`
 * (one file per partition and sink) and `events.worker-<pid>.jsonl` (each worker's telemetry).
 * Environment as the main job: SIGHTLINE_LANDSCAPE (a PostgreSQL URL or a SQLite file; default
 * `<SIGHTLINE_OUT>/landscape.db`), SIGHTLINE_OUT (default `out/distributed`), SIGHTLINE_TELEMETRY=off,
 * FLIGHTS_FILE, OTEL_* (Telemetry.layerConfig); SIGHTLINE_LEASE_MS (default 10000).
 */
import { Config, Duration, Effect, Layer, Option, Redacted } from "effect"
import { spawn } from "node:child_process"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { DistributedRun, JsonLinesExporter, LandscapePg, LandscapeSqlite, Orchestrator, Telemetry } from "../../src/index.js"
import { makePipeline } from "./pipeline.js"

const settings = Config.all({
  outDir: Config.string("SIGHTLINE_OUT").pipe(Config.withDefault(join("out", "distributed"))),
  telemetry: Config.literal("on", "off")("SIGHTLINE_TELEMETRY").pipe(Config.withDefault("on")),
  flights: Config.string("FLIGHTS_FILE").pipe(Config.withDefault("flights-20k.json")),
  landscape: Config.option(Config.redacted("SIGHTLINE_LANDSCAPE")),
  leaseMs: Config.integer("SIGHTLINE_LEASE_MS").pipe(Config.withDefault(10_000))
})

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { workers: { type: "string", default: "3" }, partitions: { type: "string", default: "12" } }
})
const [command = "run", runIdArg] = positionals

const LandscapeLive = Layer.unwrapEffect(Effect.map(settings, (s) =>
  Option.match(s.landscape, {
    onNone: () => LandscapeSqlite.layer({ filename: join(s.outDir, "landscape.db") }),
    onSome: (target) =>
      LandscapePg.isUrl(Redacted.value(target)) ? LandscapePg.layer({ url: target }) : LandscapeSqlite.layer({ filename: Redacted.value(target) })
  })))

const TelemetryLive = Layer.unwrapEffect(Effect.map(settings, (s) =>
  s.telemetry === "off"
    ? Telemetry.layerDisabled
    : Telemetry.layerConfig({
      exporters: [JsonLinesExporter.make({ path: join(s.outDir, `events.worker-${process.pid}.jsonl`), append: false })],
      exporterQueue: { strategy: "block" }
    })))

const pipelineOf = (s: Config.Config.Success<typeof settings>) => makePipeline({ outDir: s.outDir, flights: s.flights })

const start = Effect.gen(function* () {
  const s = yield* settings
  return yield* DistributedRun.start(pipelineOf(s), { partitions: Number(values.partitions) })
})

const work = (runId: string) =>
  Effect.gen(function* () {
    const s = yield* settings
    const summary = yield* DistributedRun.work(pipelineOf(s), {
      runId,
      lease: Duration.millis(s.leaseMs),
      onPartition: (p) => Effect.sync(() => console.log(`worker ${process.pid}: partition ${p.index} done (attempt ${p.attempt}, from source index ${p.resumedAt})`))
    })
    console.log(`worker ${process.pid}: ${summary.partitions.length} partitions, run ${summary.runStatus}${summary.finishedRun ? " (recorded its end)" : ""}`)
  })

/** Starts the run, then `--workers` processes of this script's `work`, and waits for the run's end. */
const runAll = Effect.gen(function* () {
  const started = yield* start
  const workers = Number(values.workers)
  console.log(`run ${started.runId}: ${started.partitions} partitions, ${workers} workers`)
  const exits = yield* Effect.forEach(Array.from({ length: workers }), () =>
    Effect.async<number>((resume) => {
      const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, "work", started.runId], { stdio: "inherit" })
      child.on("exit", (code, signal) => resume(Effect.succeed(code ?? (signal === null ? 1 : 128))))
      return Effect.sync(() => child.kill("SIGTERM"))
    }), { concurrency: "unbounded" })
  const run = yield* DistributedRun.awaitRun(started.runId, { pollInterval: "100 millis" })
  console.log(`run ${run.runId}: ${run.status}, ${run.rowsRead} rows read, ${run.rowsQuarantined} quarantined; workers exited ${exits.join(", ")}`)
  if (run.status !== "completed") return yield* Effect.fail(new Error(`run ${run.runId} ${run.status}: ${run.error}`))
})

const program = command === "start"
  ? Effect.map(start, (s) => console.log(s.runId))
  : command === "work"
  ? (runIdArg === undefined ? Effect.dieMessage("usage: distributed.ts work <runId>") : work(runIdArg))
  : runAll

Orchestrator.runMain(program.pipe(Effect.provide(Layer.mergeAll(LandscapeLive, TelemetryLive))))
