/**
 * `npm run bench -- telemetry-floor`: what telemetry `rows` can cost the engine at best, and whether
 * a worker thread would lower it. The identity pipeline of `bench/engine.ts` (BENCH_ROWS rows,
 * default 40,000; full audit on SQLite; rates from `identityRate`, as `bench/engine.ts`'s) with
 * `Telemetry.layerDisabled` (the anchor) and four exporters, every queue `block` so no run drops an
 * event:
 *
 * - `noop`: an exporter that does nothing: the cost of building, filtering and queueing the events;
 * - `thread-post`: each batch handed to a worker thread (`postMessage`, its structured clone) that
 *   discards it: the cost of the hand-over alone;
 * - `thread-encode`: the same, the worker writing each event as a JSON line to a file (what a
 *   threaded JSON Lines exporter would do);
 * - `jsonl`: `JsonLinesExporter` (encoding on the event loop's thread).
 *
 * BENCH_ROUNDS rounds (default 4), the order reversed every other round; medians. Issue 9's target
 * is telemetry `rows` at most 5 % slower than disabled (`ratio … ≥ 0.95`).
 */
import { Effect } from "effect"
import { join } from "node:path"
import { Worker } from "node:worker_threads"
import { Exporter, JsonLinesExporter, Telemetry } from "../src/index.js"
import { identityRate } from "./_identity.js"

const n = Number(process.env.BENCH_ROWS ?? 40_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 4)

/** The worker: answers "flush" once every batch before it is handled; with a path, writes each event as a JSON line. */
const workerSource = `
const { parentPort, workerData } = require("node:worker_threads")
const fs = require("node:fs")
const fd = workerData.path === "" ? -1 : fs.openSync(workerData.path, "w")
parentPort.on("message", (m) => {
  if (m === "flush") return parentPort.postMessage("flushed")
  if (fd === -1) return
  let text = ""
  for (let i = 0; i < m.length; i++) text += JSON.stringify(m[i]) + "\\n"
  fs.writeSync(fd, text)
})`

/** An exporter handing each batch to a worker; `path` "" discards, else the worker writes JSON lines there. */
const threadExporter = (name: string, path: string) =>
  Effect.acquireRelease(
    Effect.sync(() => new Worker(workerSource, { eval: true, workerData: { path } })),
    (worker) => Effect.promise(() => worker.terminate())
  ).pipe(Effect.map((worker) =>
    Exporter.make({
      name,
      export: (batch) => Effect.sync(() => worker.postMessage(batch)),
      shutdown: Effect.async<void>((resume) => {
        worker.once("message", () => resume(Effect.void))
        worker.postMessage("flush")
      })
    })
  ))

const modes = ["disabled", "noop", "thread-post", "thread-encode", "jsonl"] as const
type Mode = typeof modes[number]

const telemetryLayer = (mode: Mode, dir: string) => {
  const options = { granularity: "rows", exporterQueue: { strategy: "block" } } as const
  switch (mode) {
    case "disabled":
      return Telemetry.layerDisabled
    case "noop":
      return Telemetry.layer({ ...options, exporters: [Effect.succeed(Exporter.make({ name: "noop", export: () => Effect.void }))] })
    case "thread-post":
      return Telemetry.layer({ ...options, exporters: [threadExporter("thread-post", "")] })
    case "thread-encode":
      return Telemetry.layer({ ...options, exporters: [threadExporter("thread-encode", join(dir, "thread.jsonl"))] })
    case "jsonl":
      return Telemetry.layer({ ...options, exporters: [JsonLinesExporter.make({ path: join(dir, "events.jsonl"), append: false })] })
  }
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const fmt = (x: number) => Math.round(x).toLocaleString("en-US")

const program = Effect.gen(function* () {
  const rates = new Map<Mode, Array<number>>(modes.map((m) => [m, []]))
  for (let r = 0; r < rounds; r++) {
    for (const mode of r % 2 === 0 ? modes : [...modes].reverse()) rates.get(mode)!.push(yield* identityRate(n, (dir) => telemetryLayer(mode, dir)))
    console.log(`round ${r + 1}: ${modes.map((m) => `${m} ${fmt(rates.get(m)![r]!)}`).join("  ")} rows/s`)
  }
  const anchor = median(rates.get("disabled")!)
  for (const m of modes) console.log(`${m.padEnd(14)} ${fmt(median(rates.get(m)!)).padStart(7)} rows/s (median of ${rounds}, ${fmt(n)} rows)`)
  for (const m of modes.slice(1)) console.log(`ratio ${m}/disabled ${(median(rates.get(m)!) / anchor).toFixed(3)}`)
})

await Effect.runPromise(program)
