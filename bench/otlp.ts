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
 * The second figure of issue 11 §5 (the main job with OTLP against JSON Lines) needs the engine
 * wiring of issue 9 and is not measured here.
 */
import { resourceFromAttributes } from "@opentelemetry/resources"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { ProtobufLogsSerializer } from "@opentelemetry/otlp-transformer"
import { attributesOf, encodeProtobuf, eventNames, severityOf } from "../src/internal/otlp/logs.js"
import type { RowCreated } from "../src/TelemetryEvent.js"
import { rowEvent } from "./_events.js"

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
