/**
 * `npm run bench -- flights`: the main job's throughput with telemetry at granularity `full`
 * (JSON Lines exporter, `block`, so nothing is dropped) against the same run with
 * `Telemetry.layerDisabled`, in one process. Both write a fresh SQLite Landscape and the sink files
 * to a temporary folder. Each configuration runs ROUNDS times (default 3, env BENCH_ROUNDS),
 * alternating, and the best run counts.
 */
import { Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { JsonLinesExporter, LandscapeSqlite, Orchestrator, Telemetry } from "../src/index.js"
import { makePipeline } from "../examples/flights/pipeline.js"

const rounds = Number(process.env.BENCH_ROUNDS ?? 3)

const once = (telemetry: "full" | "disabled") =>
  Effect.gen(function* () {
    const dir = mkdtempSync(join(tmpdir(), "sightline-bench-"))
    const TelemetryLive = telemetry === "disabled"
      ? Telemetry.layerDisabled
      : Telemetry.layer({
        granularity: "full",
        exporters: [JsonLinesExporter.make({ path: join(dir, "events.jsonl"), append: false })],
        exporterQueue: { strategy: "block" }
      })
    const t0 = performance.now()
    const summary = yield* Orchestrator.run(makePipeline({ outDir: dir })).pipe(
      Effect.provide(Layer.merge(TelemetryLive, LandscapeSqlite.layer({ filename: join(dir, "landscape.db") })))
    )
    // Includes closing the layers: the telemetry drain and flush are part of the cost.
    const seconds = (performance.now() - t0) / 1000
    rmSync(dir, { recursive: true, force: true })
    return summary.rowsRead / seconds
  })

const program = Effect.gen(function* () {
  const best = { full: 0, disabled: 0 }
  for (let i = 0; i < rounds; i++) {
    for (const mode of ["disabled", "full"] as const) {
      const rate = yield* once(mode)
      console.log(`round ${i + 1} ${mode.padEnd(8)} ${Math.round(rate)} rows/s`)
      best[mode] = Math.max(best[mode], rate)
    }
  }
  console.log(`flights rows/s telemetry=full     ${Math.round(best.full)}`)
  console.log(`flights rows/s telemetry=disabled ${Math.round(best.disabled)}`)
  console.log(`ratio flights-full/flights-disabled ${(best.full / best.disabled).toFixed(2)}`)
})

await Effect.runPromise(program)
