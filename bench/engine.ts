/**
 * `npm run bench -- engine`: the engine's throughput against the storage it writes to, in one run.
 *
 * - `raw-sqlite` (the anchor): the identity pipeline's audit written by hand with better-sqlite3,
 *   prepared statements, 256 rows per transaction (`bench/_raw-sqlite.ts`).
 * - `engine`: the identity pipeline (3 pass-through transforms, 1 gate, 2 file sinks) over
 *   BENCH_ROWS in-memory rows (default 100,000) through `Orchestrator.run`, with the full audit on
 *   SQLite and telemetry `rows` to a JSON Lines file. Target ≥ 0.5× raw.
 * - `engine-disabled`: the same with `Telemetry.layerDisabled`. Target: telemetry ≤ 5 % slower.
 * - `main-job`: the flights pipeline of `npm start` (20,000 rows, JSON source, 3 transforms, a gate,
 *   CSV and JSON Lines sinks, telemetry `rows` to JSON Lines), with the event loop's delay measured
 *   by `perf_hooks.monitorEventLoopDelay` while it runs. Targets ≥ 0.4× raw; delay p99 ≤ 20 ms,
 *   max ≤ 100 ms.
 * - memory: the identity pipeline over 20,000 and 200,000 rows, each in a fresh process
 *   (`bench/_engine-rss.ts`), peak RSS compared. Target ≤ 1.2×.
 * - DAG (issue 12): over BENCH_DAG_ROWS rows (default 20,000), telemetry `rows`, the identity
 *   pipeline (`linear`, the anchor) against the same transforms with two of them in the branches of
 *   a fork-join (`fork-join`), and followed by a pass-through aggregation of 100 rows (`aggregate`),
 *   their order rotating by round. Cost per source row against the linear one's; target ≤ 1.3×.
 *
 * BENCH_PARTS=dag runs the DAG comparison alone.
 *
 * BENCH_ROUNDS rounds (default 3); within a round the configurations run in turn (`engine` and
 * `engine-disabled` swap places every other round); medians count.
 * Each rate includes opening and closing the layers (the telemetry drain is part of the cost).
 */
import { Effect, Layer } from "effect"
import { execFileSync } from "node:child_process"
import { rmSync } from "node:fs"
import { join } from "node:path"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { pathToFileURL } from "node:url"
import { makePipeline } from "../examples/flights/pipeline.js"
import { JsonLinesExporter, LandscapeSqlite, Orchestrator, Telemetry } from "../src/index.js"
import { freshLandscape, identityRate, type Shape, shapeRate } from "./_identity.js"
import { rawSqlite } from "./_raw-sqlite.js"

const n = Number(process.env.BENCH_ROWS ?? 100_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const dagRows = Number(process.env.BENCH_DAG_ROWS ?? 20_000)
const parts = process.env.BENCH_PARTS ?? "all"

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const fmt = (x: number, digits = 0) => x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })

const raw = Effect.gen(function* () {
  const { db, dir } = yield* freshLandscape
  const rate = rawSqlite(db, n)
  rmSync(dir, { recursive: true, force: true })
  return rate
})

const telemetryLayer = (mode: "rows" | "disabled", dir: string) =>
  mode === "disabled"
    ? Telemetry.layerDisabled
    : Telemetry.layer({
      granularity: "rows",
      exporters: [JsonLinesExporter.make({ path: join(dir, "events.jsonl"), append: false })],
      exporterQueue: { strategy: "block" }
    })

const engine = (telemetry: "rows" | "disabled") => identityRate(n, (dir) => telemetryLayer(telemetry, dir))

/** The main job in this process, with the event loop's delay sampled every 5 ms while it runs. */
const mainJob = Effect.gen(function* () {
  const { db, dir } = yield* freshLandscape
  const delay = monitorEventLoopDelay({ resolution: 5 })
  const t0 = performance.now()
  delay.enable()
  const summary = yield* Orchestrator.run(makePipeline({ outDir: dir })).pipe(
    Effect.provide(Layer.merge(telemetryLayer("rows", dir), LandscapeSqlite.layer({ filename: db })))
  )
  delay.disable()
  const seconds = (performance.now() - t0) / 1000
  rmSync(dir, { recursive: true, force: true })
  return { rate: summary.rowsRead / seconds, p99Ms: delay.percentile(99) / 1e6, maxMs: delay.max / 1e6 }
})

const child = join(import.meta.dirname, "_engine-rss.ts")
const tsx = pathToFileURL(join(import.meta.dirname, "..", "node_modules", "tsx", "dist", "loader.mjs")).href
const peakRss = (rows: number) =>
  Effect.sync(() => {
    const out = execFileSync(process.execPath, ["--import", tsx, child, String(rows)], { encoding: "utf8" })
    return (JSON.parse(out.trim().split("\n").at(-1)!) as { peakRssMb: number }).peakRssMb
  })

const program = Effect.gen(function* () {
  const r = { raw: [] as Array<number>, engine: [] as Array<number>, disabled: [] as Array<number>, main: [] as Array<number>, p99: [] as Array<number>, max: [] as Array<number> }
  const rss = { small: [] as Array<number>, large: [] as Array<number> }
  for (let i = 0; i < rounds; i++) {
    r.raw.push(yield* raw)
    // Which of the two goes first alternates by round, so neither always inherits the other's garbage.
    for (const mode of i % 2 === 0 ? ["rows", "disabled"] as const : ["disabled", "rows"] as const) {
      ;(mode === "rows" ? r.engine : r.disabled).push(yield* engine(mode))
    }
    const job = yield* mainJob
    r.main.push(job.rate)
    r.p99.push(job.p99Ms)
    r.max.push(job.maxMs)
    rss.small.push(yield* peakRss(20_000))
    rss.large.push(yield* peakRss(200_000))
    console.log(
      `round ${i + 1}: raw-sqlite ${fmt(r.raw[i]!)}  engine ${fmt(r.engine[i]!)}  engine-disabled ${fmt(r.disabled[i]!)}  ` +
      `main-job ${fmt(job.rate)} rows/s (loop delay p99 ${fmt(job.p99Ms, 1)} ms, max ${fmt(job.maxMs, 1)} ms)  ` +
      `peak RSS ${fmt(rss.small[i]!, 1)} MB at 20k, ${fmt(rss.large[i]!, 1)} MB at 200k rows`
    )
  }
  const m = {
    raw: median(r.raw), engine: median(r.engine), disabled: median(r.disabled), main: median(r.main),
    p99: median(r.p99), max: median(r.max), small: median(rss.small), large: median(rss.large)
  }
  console.log(`raw-sqlite       ${fmt(m.raw)} rows/s (median of ${rounds}, ${fmt(n)} rows)`)
  console.log(`engine           ${fmt(m.engine)} rows/s (telemetry rows -> JSON Lines)`)
  console.log(`engine-disabled  ${fmt(m.disabled)} rows/s (Telemetry.layerDisabled)`)
  console.log(`main-job         ${fmt(m.main)} rows/s (flights, 20,000 rows); event loop delay p99 ${fmt(m.p99, 1)} ms, max ${fmt(m.max, 1)} ms`)
  console.log(`memory           peak RSS ${fmt(m.small, 1)} MB at 20,000 rows, ${fmt(m.large, 1)} MB at 200,000 rows`)
  console.log(`ratio engine/raw-sqlite ${(m.engine / m.raw).toFixed(2)}`)
  console.log(`ratio main-job/raw-sqlite ${(m.main / m.raw).toFixed(2)}`)
  console.log(`ratio engine-telemetry-rows/engine-telemetry-disabled ${(m.engine / m.disabled).toFixed(2)}`)
  console.log(`ratio loop-delay-p99-ms/target-20ms ${(m.p99 / 20).toFixed(2)}`)
  console.log(`ratio loop-delay-max-ms/target-100ms ${(m.max / 100).toFixed(2)}`)
  console.log(`ratio rss-200k-rows/rss-20k-rows ${(m.large / m.small).toFixed(2)}`)
})

/** The DAG shapes against the linear pipeline, same rows, same run; rounds rotate their order. */
const dag = Effect.gen(function* () {
  const shapes: ReadonlyArray<Shape> = ["linear", "fork-join", "aggregate"]
  const r: Record<Shape, Array<number>> = { linear: [], "fork-join": [], aggregate: [] }
  for (let i = 0; i < rounds; i++) {
    for (const shape of [...shapes.slice(i % 3), ...shapes.slice(0, i % 3)]) r[shape].push(yield* shapeRate(dagRows, shape, (dir) => telemetryLayer("rows", dir)))
    console.log(`dag round ${i + 1}: ${shapes.map((s) => `${s} ${fmt(r[s][i]!)}`).join("  ")} rows/s`)
  }
  const m = { linear: median(r.linear), forkJoin: median(r["fork-join"]), aggregate: median(r.aggregate) }
  console.log(`dag              linear ${fmt(m.linear)}, fork-join ${fmt(m.forkJoin)}, aggregate ${fmt(m.aggregate)} rows/s (median of ${rounds}, ${fmt(dagRows)} rows)`)
  // Cost per source row is 1 / rate: the ratio of costs is linear's rate over the shape's.
  console.log(`ratio fork-join-cost-per-row/linear-cost-per-row ${(m.linear / m.forkJoin).toFixed(2)}`)
  console.log(`ratio aggregate-100-cost-per-row/linear-cost-per-row ${(m.linear / m.aggregate).toFixed(2)}`)
})

await Effect.runPromise(parts === "dag" ? dag : Effect.zipRight(program, dag))
