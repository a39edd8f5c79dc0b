/**
 * Child process of `bench/engine.ts`: runs the identity pipeline over N rows (argv[2]) with the
 * full audit and telemetry `rows` to a JSON Lines file, samples the resident set size every 50 ms,
 * and prints one JSON line `{ rows, peakRssMb, startRssMb, rowsPerSecond }`.
 */
import { Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { JsonLinesExporter, LandscapeSqlite, Orchestrator, Telemetry } from "../src/index.js"
import { identityPipeline } from "./_identity.js"

const rows = Number(process.argv[2] ?? 20_000)
const dir = mkdtempSync(join(tmpdir(), "sightline-bench-rss-"))
const mb = (bytes: number) => bytes / 1024 / 1024
const startRss = process.memoryUsage().rss
let peak = startRss
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50)

const t0 = performance.now()
await Effect.runPromise(
  Orchestrator.run(identityPipeline(dir, rows)).pipe(
    Effect.provide(Layer.merge(
      Telemetry.layer({ granularity: "rows", exporters: [JsonLinesExporter.make({ path: join(dir, "events.jsonl"), append: false })], exporterQueue: { strategy: "block" } }),
      LandscapeSqlite.layer({ filename: join(dir, "landscape.db") })
    ))
  )
)
const seconds = (performance.now() - t0) / 1000
clearInterval(sampler)
peak = Math.max(peak, process.memoryUsage().rss)
rmSync(dir, { recursive: true, force: true })
console.log(JSON.stringify({ rows, startRssMb: mb(startRss), peakRssMb: mb(peak), rowsPerSecond: rows / seconds }))
