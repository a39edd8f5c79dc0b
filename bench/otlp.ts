/**
 * `npm run bench -- otlp`: OTLP log records encoded per second (protobuf), Sightline's encoder
 * against `@opentelemetry/otlp-transformer`'s `ProtobufLogsSerializer` (0.223.x, the OpenTelemetry
 * JS SDK's own), in the same process.
 *
 * Both encode the same 20,000 row events in batches of 512 (the hub's batch), as one
 * `ExportLogsServiceRequest` each, with the same resource, scope, event name, severity, trace and
 * span ids and 7 attributes. Sightline's input is its events (the mapping to a log record is part of
 * what it measures); the serializer's input is `ReadableLogRecord`s built up front (its SDK builds
 * them when the log is emitted), so the anchor is favoured. Rounds alternate between the two, and
 * each figure is the median of its rounds: the machine is shared and noisy.
 *
 * Second figure: the main job (the flights pipeline of `npm start`, telemetry `rows`) sending
 * every event, span and metric over OTLP/HTTP protobuf to a local receiver (a Node HTTP server on
 * 127.0.0.1, in a child process as a collector would be, that reads each request and answers 200),
 * against the same job writing its events to a JSON Lines file. Both exporters' queues `block`, so
 * neither run drops events (the losses of both are counted and printed). MAIN_ROUNDS rounds
 * (default 3), each running both, the first of the pair alternating by round; medians. Target:
 * OTLP at most 5 % slower. Requests go through `NodeHttpClient.layerUndici`, as in `Telemetry.layerConfig`:
 * with `FetchHttpClient` the same job took 425–429 µs of CPU per row (`process.cpuUsage`, second
 * run in the process, 2 runs) against 394–398 with undici's own client, 2,864–2,877 against
 * 3,044 rows/s.
 */
import { resourceFromAttributes } from "@opentelemetry/resources"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { ProtobufLogsSerializer } from "@opentelemetry/otlp-transformer"
import { attributesOf, encodeProtobuf, eventNames, severityOf } from "../src/internal/otlp/logs.js"
import type { RowCreated } from "../src/TelemetryEvent.js"
import { rowEvent } from "./_events.js"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { spawn } from "node:child_process"
import { once } from "node:events"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makePipeline } from "../examples/flights/pipeline.js"
import { JsonLinesExporter, Landscape, LandscapeSqlite, Orchestrator, OtlpExporter, Telemetry, TelemetryStats } from "../src/index.js"

const N = Number(process.env.OTLP_BENCH_EVENTS ?? 20_480)
const BATCH = 512
const ROUNDS = Number(process.env.OTLP_BENCH_ROUNDS ?? 7)

const events: Array<RowCreated> = Array.from({ length: N }, (_, i) => rowEvent(i))
const batches: Array<Array<RowCreated>> = []
for (let i = 0; i < N; i += BATCH) batches.push(events.slice(i, i + BATCH))

const origin = { resource: [["service.name", "bench"]] as const, scope: { name: "sightline", version: "0.2.0" } }
const resource = resourceFromAttributes({ "service.name": "bench" })
const scope = { name: "sightline", version: "0.2.0" }
const records: Array<Array<ReadableLogRecord>> = batches.map((batch) =>
  batch.map((e): ReadableLogRecord => {
    const seconds = Math.floor(e.timestamp / 1000)
    return {
      hrTime: [seconds, (e.timestamp - seconds * 1000) * 1e6],
      hrTimeObserved: [seconds, 0],
      spanContext: { traceId: e.traceId!, spanId: e.spanId!, traceFlags: 1 },
      severityNumber: severityOf(e),
      eventName: eventNames[e._tag],
      resource,
      instrumentationScope: scope,
      attributes: Object.fromEntries(attributesOf(e)) as ReadableLogRecord["attributes"],
      droppedAttributesCount: 0
    }
  })
)

const time = (f: () => number): { readonly perSecond: number; readonly bytes: number } => {
  const start = process.hrtime.bigint()
  const bytes = f()
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  return { perSecond: N / seconds, bytes }
}

const ours = () => time(() => batches.reduce((n, b) => n + encodeProtobuf(b, origin, 1n).length, 0))
const theirs = () => time(() => records.reduce((n, r) => n + (ProtobufLogsSerializer.serializeRequest(r)?.length ?? 0), 0))

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const fmt = (n: number) => Math.round(n).toLocaleString("en-US")

ours()
theirs() // warm-up
const a: Array<number> = []
const b: Array<number> = []
let bytes = { ours: 0, theirs: 0 }
for (let r = 0; r < ROUNDS; r++) {
  const x = ours()
  const y = theirs()
  a.push(x.perSecond)
  b.push(y.perSecond)
  bytes = { ours: x.bytes, theirs: y.bytes }
}
console.log(`otlp benchmark: ${fmt(N)} log records in batches of ${BATCH}, ${ROUNDS} alternated rounds, node ${process.version}`)
console.log(`sightline          ${fmt(median(a)).padStart(10)} records/s (rounds ${a.map(fmt).join(", ")}; ${fmt(bytes.ours)} bytes)`)
console.log(`otlp-transformer   ${fmt(median(b)).padStart(10)} records/s (rounds ${b.map(fmt).join(", ")}; ${fmt(bytes.theirs)} bytes)`)
console.log(`ratio sightline-otlp-logs-protobuf/otlp-transformer ${(median(a) / median(b)).toFixed(2)}`)

// ---- the main job: OTLP to a local receiver against JSON Lines

const MAIN_ROUNDS = Number(process.env.MAIN_ROUNDS ?? 3)
// The receiver runs in a process of its own, as a collector does: in this process its reading of
// every request would be counted against the exporter.
const receiverSource = `
const server = require("node:http").createServer((req, res) => {
  req.resume()
  req.on("end", () => res.writeHead(200, { "content-type": "application/x-protobuf" }).end())
})
server.listen(0, "127.0.0.1", () => console.log(server.address().port))
`
const receiver = spawn(process.execPath, ["-e", receiverSource], { stdio: ["ignore", "pipe", "inherit"] })
const [port] = (await once(receiver.stdout, "data")) as [Buffer]
const url = `http://127.0.0.1:${port.toString().trim()}`

/** Both exporters lossless (`block`), so each run delivers every event and neither saves work by dropping. */
const telemetryOptions = { granularity: "rows", exporterQueue: { strategy: "block" } } as const

const mainJob = (sink: "otlp" | "jsonl") =>
  Effect.gen(function* () {
    const dir = mkdtempSync(join(tmpdir(), "sightline-bench-otlp-"))
    const db = join(dir, "landscape.db")
    yield* Effect.provide(Landscape.listRuns(), LandscapeSqlite.layer({ filename: db }))
    const TelemetryLive = sink === "otlp"
      ? OtlpExporter.layer({ url, serviceName: "flights" }, telemetryOptions).pipe(Layer.provide(NodeHttpClient.layerUndici))
      : Telemetry.layer({ ...telemetryOptions, exporters: [JsonLinesExporter.make({ path: join(dir, "events.jsonl"), append: false })] })
    const t0 = performance.now()
    const { summary, lost } = yield* Effect.gen(function* () {
      const summary = yield* Orchestrator.run(makePipeline({ outDir: dir }))
      const stats = yield* Telemetry.stats
      // One event exporter per job (otlp-logs, jsonl): its losses include the hub's own.
      const lost = Object.keys(stats.exporters).reduce((n, name) => n + TelemetryStats.droppedFor(stats, name), 0)
      return { summary, lost }
    }).pipe(Effect.provide(Layer.merge(TelemetryLive, LandscapeSqlite.layer({ filename: db }))))
    const rate = summary.rowsRead / ((performance.now() - t0) / 1000)
    rmSync(dir, { recursive: true, force: true })
    return { rate, lost }
  })

// The two run in turn, and which goes first alternates by round, so neither always inherits the
// other's garbage in the heap.
const otlpRates: Array<number> = []
const jsonlRates: Array<number> = []
let lost = 0
for (let r = 0; r < MAIN_ROUNDS; r++) {
  for (const sink of r % 2 === 0 ? ["jsonl", "otlp"] as const : ["otlp", "jsonl"] as const) {
    const run = await Effect.runPromise(mainJob(sink))
    ;(sink === "otlp" ? otlpRates : jsonlRates).push(run.rate)
    lost += run.lost
  }
  console.log(`round ${r + 1} (${r % 2 === 0 ? "jsonl" : "otlp"} first): otlp ${fmt(otlpRates[r]!)}, jsonl ${fmt(jsonlRates[r]!)} rows/s`)
}
receiver.kill()
console.log(`main-job otlp      ${fmt(median(otlpRates)).padStart(10)} rows/s (rounds ${otlpRates.map(fmt).join(", ")}; events, spans and metrics over OTLP/HTTP protobuf)`)
console.log(`main-job jsonl     ${fmt(median(jsonlRates)).padStart(10)} rows/s (rounds ${jsonlRates.map(fmt).join(", ")}; events to a JSON Lines file)`)
console.log(`events lost by either (every reason, TelemetryStats.droppedFor): ${lost}`)
console.log(`ratio main-job-otlp/main-job-jsonl ${(median(otlpRates) / median(jsonlRates)).toFixed(2)}`)
