/**
 * `npm run bench -- engine`: the engine's throughput against the storage it writes to.
 *
 * - `raw-sqlite`: the anchor, the identity pipeline's audit written by hand with better-sqlite3
 *   (`bench/_raw-sqlite.ts`).
 * - `engine`: the identity pipeline (3 pass-through transforms, 1 gate, 2 file sinks) through
 *   `Orchestrator.run` with the full audit on SQLite and telemetry at `rows` to a JSON Lines file.
 * - `engine-disabled`: the same with `Telemetry.layerDisabled`.
 *
 * BENCH_ROWS rows (default 100,000), BENCH_ROUNDS rounds (default 3), configurations alternating
 * within each round; the median of the rounds counts.
 */
import { Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { JsonLinesExporter, Landscape, LandscapeSqlite, Orchestrator, Telemetry } from "../src/index.js"
import { identityPipeline } from "./_identity.js"
import { rawSqlite } from "./_raw-sqlite.js"

const n = Number(process.env.BENCH_ROWS ?? 100_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const fmt = (x: number) => Math.round(x).toLocaleString("en-US")

/** An empty, migrated Landscape file in a fresh folder. */
const freshLandscape = () =>
  Effect.gen(function* () {
    const dir = mkdtempSync(join(tmpdir(), "sightline-bench-engine-"))
    const db = join(dir, "landscape.db")
    yield* Effect.provide(Landscape.listRuns(), LandscapeSqlite.layer({ filename: db }))
    return { dir, db }
  })

const raw = Effect.gen(function* () {
  const { db, dir } = yield* freshLandscape()
  const rate = rawSqlite(db, n)
  rmSync(dir, { recursive: true, force: true })
  return rate
})

const engine = (telemetry: "rows" | "disabled") =>
  Effect.gen(function* () {
    const { db, dir } = yield* freshLandscape()
    const TelemetryLive = telemetry === "disabled"
      ? Telemetry.layerDisabled
      : Telemetry.layer({
        granularity: "rows",
        exporters: [JsonLinesExporter.make({ path: join(dir, "events.jsonl"), append: false })],
        exporterQueue: { strategy: "block" }
      })
    const t0 = performance.now()
    const summary = yield* Orchestrator.run(identityPipeline(dir, n)).pipe(
      Effect.provide(Layer.merge(TelemetryLive, LandscapeSqlite.layer({ filename: db })))
    )
    // Includes closing the layers: draining telemetry is part of the cost.
    const seconds = (performance.now() - t0) / 1000
    rmSync(dir, { recursive: true, force: true })
    if (summary.rowsRead !== n) throw new Error(`engine read ${summary.rowsRead} rows, expected ${n}`)
    return n / seconds
  })

const program = Effect.gen(function* () {
  const results = { raw: [] as Array<number>, engine: [] as Array<number>, disabled: [] as Array<number> }
  for (let i = 0; i < rounds; i++) {
    results.raw.push(yield* raw)
    results.engine.push(yield* engine("rows"))
    results.disabled.push(yield* engine("disabled"))
    console.log(`round ${i + 1}: raw-sqlite ${fmt(results.raw[i]!)}  engine ${fmt(results.engine[i]!)}  engine-disabled ${fmt(results.disabled[i]!)} rows/s`)
  }
  const m = { raw: median(results.raw), engine: median(results.engine), disabled: median(results.disabled) }
  console.log(`raw-sqlite       ${fmt(m.raw)} rows/s (median of ${rounds}, ${fmt(n)} rows)`)
  console.log(`engine           ${fmt(m.engine)} rows/s (telemetry rows -> JSON Lines)`)
  console.log(`engine-disabled  ${fmt(m.disabled)} rows/s (Telemetry.layerDisabled)`)
  console.log(`ratio engine/raw-sqlite ${(m.engine / m.raw).toFixed(2)}`)
  console.log(`ratio engine-telemetry-rows/engine-telemetry-disabled ${(m.engine / m.disabled).toFixed(2)}`)
})

await Effect.runPromise(program)
