/**
 * OTLP logs against the official protos: every event of the catalogue, in both encodings (and
 * gzip), decoded by protobufjs from opentelemetry-proto v1.7.0 (strict ProtoJSON for JSON).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { OtlpExporter, Telemetry, TelemetryStats } from "../../src/index.js"
import fc from "fast-check"
import { msToNanos } from "../../src/internal/otlp/common.js"
import * as Logs from "../../src/internal/otlp/logs.js"
import { eventNames } from "../../src/internal/otlp/logs.js"
import { catalogue } from "../hub/_helpers.js"
import { decodeJson, decodeProtobuf, hex } from "./_proto.js"
import { startReceiver } from "./_receiver.js"
import { quiet, runWith } from "./_run.js"

type KV = { key: string; value: Record<string, unknown> }
const attrs = (record: Record<string, unknown>) =>
  Object.fromEntries((record["attributes"] as Array<KV>).map((kv) => [kv.key, Object.values(kv.value)[0]]))

const withTrace = catalogue.map((e, i) =>
  i % 2 === 0 ? { ...e, traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: `00f067aa0ba902${String(i).padStart(2, "0")}` } : e)

for (const [protocol, compression] of [["http/protobuf", "none"], ["http/json", "none"], ["http/protobuf", "gzip"]] as const) {
  describe(`OTLP logs, ${protocol}, compression ${compression}`, () => {
    it.live("every event is one log record with its event name, severity, ids and attributes", () =>
      Effect.gen(function* () {
        const receiver = yield* Effect.promise(() => startReceiver())
        const { stats } = yield* runWith(
          Telemetry.layer({
            exporters: [OtlpExporter.logs({ url: receiver.url, protocol, compression, serviceName: "flights" })],
            granularity: "full",
            lastResort: quiet
          }),
          (t) => Effect.zipRight(t.emitAll(withTrace), t.flush)
        )
        yield* Effect.promise(() => receiver.close())
        expect(receiver.received).toHaveLength(1)
        const request = receiver.received[0]!
        expect(request.path).toBe("/v1/logs")
        expect(request.headers["content-type"]).toBe(protocol === "http/json" ? "application/json" : "application/x-protobuf")
        expect(request.headers["content-encoding"]).toBe(compression === "gzip" ? "gzip" : undefined)
        const decoded = protocol === "http/json" ? decodeJson("logs", request.body.toString("utf8")) : decodeProtobuf("logs", request.body)
        const resourceLogs = decoded["resourceLogs"] as Array<Record<string, unknown>>
        expect(attrs(resourceLogs[0]!["resource"] as Record<string, unknown>)["service.name"]).toBe("flights")
        const scopeLogs = resourceLogs[0]!["scopeLogs"] as Array<Record<string, unknown>>
        expect(scopeLogs[0]!["scope"]).toEqual({ name: "sightline", version: "0.2.0" })
        const records = scopeLogs[0]!["logRecords"] as Array<Record<string, unknown>>
        expect(records.map((r) => r["eventName"])).toEqual(withTrace.map((e) => eventNames[e._tag]))
        records.forEach((r, i) => {
          const e = withTrace[i]!
          expect(r["timeUnixNano"] ?? "0").toBe(String(BigInt(e.timestamp) * 1_000_000n))
          expect(Number(r["observedTimeUnixNano"])).toBeGreaterThan(0)
          const a = attrs(r)
          expect(a["sightline.run.id"]).toBe(e.runId)
          expect(a["event.name"]).toBeUndefined()
          if (e.traceId !== undefined) {
            expect(hex(r["traceId"])).toBe(e.traceId)
            if (e.spanId !== undefined) expect(hex(r["spanId"])).toBe(e.spanId)
            expect(r["flags"]).toBe(1)
          } else expect(r["traceId"]).toBeUndefined()
        })
        const byName = Object.fromEntries(records.map((r) => [r["eventName"], r]))
        expect(byName["sightline.run.finished"]!["severityNumber"]).toBe(17) // failed run: ERROR
        expect(attrs(byName["sightline.run.finished"]!)["error.type"]).toBe("failed")
        expect(byName["sightline.telemetry.events_dropped"]!["severityNumber"]).toBe(13)
        expect(byName["sightline.row.created"]!["severityNumber"]).toBe(9)
        const call = attrs(byName["sightline.external_call.completed"]!)
        expect(call["http.request.method"]).toBe("GET")
        expect(String(call["http.response.status_code"])).toBe("200")
        expect(call["sightline.state.id"]).toBe("s-1")
        expect(call["sightline.operation.id"]).toBeUndefined()
        expect(attrs(byName["sightline.transform.completed"]!)["sightline.state.status"]).toBe("completed")
        expect(stats.exporters["otlp-logs"]?.exported).toBe(catalogue.length)
        expect(TelemetryStats.unaccounted(stats, "otlp-logs")).toBe(0)
      }))
  })
}

describe("OTLP log encoding", () => {
  it("writes each timestamp's exact nanoseconds (no BigInt on the hot path)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.integer({ min: 0, max: 999_999 }), (whole, micro) => {
        const ms = whole + micro / 1e6
        const bytes = OtlpExporterInternals.encode([{ ...catalogue[2]!, timestamp: ms }])
        const record = ((decodeProtobuf("logs", bytes)["resourceLogs"] as Array<Record<string, unknown>>)[0]!["scopeLogs"] as Array<
          Record<string, unknown>
        >)[0]!["logRecords"] as Array<Record<string, unknown>>
        expect(record[0]!["timeUnixNano"] ?? "0").toBe(msToNanos(ms).toString())
      }),
      { numRuns: 300 }
    )
  })

  it("a non-ASCII attribute and a long batch (nested lengths over 127 bytes) decode intact", () => {
    const events = Array.from({ length: 300 }, (_, i) => ({ ...catalogue[3]!, rowId: `ligne-é-${"x".repeat(i)}` }))
    const bytes = OtlpExporterInternals.encode(events)
    const decoded = decodeProtobuf("logs", bytes)
    const records = ((decoded["resourceLogs"] as Array<Record<string, unknown>>)[0]!["scopeLogs"] as Array<Record<string, unknown>>)[0]![
      "logRecords"
    ] as Array<Record<string, unknown>>
    expect(records.map((r) => attrs(r)["sightline.row.id"])).toEqual(events.map((e) => e.rowId))
  })
})

describe("OTLP protobuf strings", () => {
  it("any string, short or long (either side of the JavaScript/native switch and of 128 bytes), ASCII or not, decodes to its UTF-8", () =>
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), fc.nat(3), (text, pad) => {
        const rowId = "r".repeat(pad * 20) + text
        const event = { ...catalogue[3]!, rowId }
        const bytes = OtlpExporterInternals.encode([event])
        const records = ((decodeProtobuf("logs", bytes)["resourceLogs"] as Array<Record<string, unknown>>)[0]!["scopeLogs"] as Array<
          Record<string, unknown>
        >)[0]!["logRecords"] as Array<Record<string, unknown>>
        // UTF-8 of the string, lone surrogates as U+FFFD (what TextEncoder writes).
        expect(attrs(records[0]!)["sightline.row.id"]).toBe(new TextDecoder().decode(new TextEncoder().encode(rowId)))
      }),
      { numRuns: 500 }
    ))
})

const OtlpExporterInternals = {
  encode: (events: Parameters<typeof Logs.encodeProtobuf>[0]) =>
    Logs.encodeProtobuf(events, { resource: [["service.name", "t"]], scope: { name: "sightline", version: "0.2.0" } }, 1n)
}
