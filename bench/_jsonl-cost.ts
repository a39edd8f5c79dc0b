/**
 * One cost figure of `bench/hub.ts`, in a fresh process: ns per event from `emitAll` to the bytes
 * handed to a JSON Lines file, in the engine's pattern (a committed batch of 256 rows × 6 events at
 * a time), against pino writing the same events' data to a file (the fast-JSON-logger anchor).
 * Prints one JSON line.
 *
 * The producer here does nothing but emit, far faster than any file can take lines, so under the
 * default `drop` exporter queue it would lose events and the figure would leave out their cost:
 * the exporter queue is `block` here, so every event is written and counted. (The engine does
 * ~20 µs of its own work per event, so a file exporter keeps up with it under the defaults.)
 *
 * `node --import tsx bench/_jsonl-cost.ts <events> <rounds>`
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Layer, Scope } from "effect"
import pino from "pino"
import * as JsonLinesExporter from "../src/JsonLinesExporter.js"
import * as Telemetry from "../src/Telemetry.js"
import * as TelemetryStats from "../src/TelemetryStats.js"
import type { TelemetryEvent } from "../src/TelemetryEvent.js"
import { attrs, rowEvent } from "./_events.js"

const N = Number(process.argv[2] ?? 300_000)
const ROUNDS = Number(process.argv[3] ?? 5)
const BATCH = 256 * 6
const dir = mkdtempSync(join(tmpdir(), "sightline-bench-"))

const batches: Array<Array<TelemetryEvent>> = []
for (let i = 0; i < N; i += BATCH) batches.push(Array.from({ length: Math.min(BATCH, N - i) }, (_, j) => rowEvent(i + j)))

const sightline = (round: number) =>
  Effect.runPromise(Effect.gen(function* () {
    const path = join(dir, `sightline-${round}.jsonl`)
    const scope = yield* Scope.make()
    const ctx = yield* Layer.buildWithScope(
      Telemetry.layer({
        exporters: [JsonLinesExporter.make({ path, append: false })],
        exporterQueue: { strategy: "block" },
        lastResort: { write: () => {} }
      }),
      scope
    )
    const t = ctx.unsafeMap.get(Telemetry.Telemetry.key) as Telemetry.TelemetryService
    const start = process.hrtime.bigint()
    for (const batch of batches) {
      yield* t.emitAll(batch)
      yield* Effect.yieldNow()
    }
    yield* t.flush
    const ns = Number(process.hrtime.bigint() - start) / N
    const s = yield* t.stats
    yield* Scope.close(scope, Exit.void)
    rmSync(path)
    return { ns, dropped: TelemetryStats.droppedFor(s, "jsonl") }
  }))

const pinoRun = async (round: number) => {
  const path = join(dir, `pino-${round}.jsonl`)
  const dest = pino.destination({ dest: path, sync: false })
  const logger = pino(dest)
  const data = batches.map((b) => b.map((_, j) => attrs(j)))
  const start = process.hrtime.bigint()
  for (const batch of data) {
    for (const a of batch) logger.info(a, "RowCreated")
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
  await new Promise<void>((resolve) => {
    dest.on("close", () => resolve())
    dest.end()
  })
  const ns = Number(process.hrtime.bigint() - start) / N
  rmSync(path, { force: true })
  return { ns }
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

await sightline(-1) // warm-up
await pinoRun(-1)
const ours: Array<number> = []
const theirs: Array<number> = []
let dropped = 0
for (let r = 0; r < ROUNDS; r++) {
  const s = await sightline(r)
  ours.push(s.ns)
  dropped += s.dropped
  theirs.push((await pinoRun(r)).ns)
}
rmSync(dir, { recursive: true, force: true })
console.log(JSON.stringify({ sightlineNs: median(ours), pinoNs: median(theirs), rounds: { sightline: ours, pino: theirs }, dropped }))
