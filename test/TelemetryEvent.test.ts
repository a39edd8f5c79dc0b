/**
 * The event catalogue's JSON codec: every event round-trips, and what is outside an event's closed
 * field set is refused when read back.
 */
import { describe, expect, it } from "@effect/vitest"
import { TelemetryEvent } from "../src/index.js"
import { call, row, runStarted, transform } from "./hub/_helpers.js"

const base = { timestamp: 1_700_000_000_000, runId: "run-1" }
const samples: ReadonlyArray<TelemetryEvent.TelemetryEvent> = [
  runStarted(),
  { _tag: "RunFinished", ...base, status: "failed", durationMs: 12.5, rowsRead: 3, rowsQuarantined: 1, error: "boom" },
  { _tag: "PhaseChanged", ...base, phase: "processing" },
  row(7),
  transform(7),
  { _tag: "GateEvaluated", ...base, rowId: "r", tokenId: "t", nodeId: "n", stateId: "s", destination: "late" },
  { _tag: "TokenCompleted", ...base, rowId: "r", tokenId: "t", nodeId: "n", sink: "late", outcome: "routed" },
  call(1, { "http.request.method": "GET", "http.response.status_code": 200, "error.handled": false }),
  { _tag: "EventsDropped", ...base, exporter: "otlp", reason: "queueOverflow", count: 3, total: 9 },
  { _tag: "ExporterFailed", ...base, exporter: "otlp", error: "ECONNREFUSED", consecutiveFailures: 3 },
  { _tag: "ExporterRecovered", ...base, exporter: "otlp", downtimeMs: 1500 },
  { _tag: "TelemetryDisabled", ...base, reason: "maintenance" }
]

describe("TelemetryEvent JSON codec", () => {
  it("covers the whole catalogue", () => {
    expect(samples.map((e) => e._tag).sort()).toEqual([...TelemetryEvent.eventTags].sort())
  })

  it("round-trips every event type to an equal plain object", () => {
    for (const event of samples) {
      const line = TelemetryEvent.encodeJson(event)
      expect(line).not.toContain("\n")
      expect(TelemetryEvent.decodeJson(line)).toStrictEqual(event)
    }
  })

  it("refuses a field outside the event's closed set", () => {
    const line = JSON.stringify({ ...row(1), password: "hunter2" })
    expect(() => TelemetryEvent.decodeJson(line)).toThrow(/password/)
  })

  it("refuses an unknown event type and a mistyped field", () => {
    expect(() => TelemetryEvent.decodeJson(JSON.stringify({ ...row(1), _tag: "RowDeleted" }))).toThrow(/RowDeleted/)
    expect(() => TelemetryEvent.decodeJson(JSON.stringify({ ...row(1), rowIndex: "7" }))).toThrow(/rowIndex/)
  })

  it("refuses an external call carrying both stateId and operationId, or neither", () => {
    const both = { ...call(1, {}), operationId: "op-1" }
    expect(() => TelemetryEvent.decodeJson(JSON.stringify(both))).toThrow(/exactly one of stateId/)
    const { stateId: _, ...neither } = call(1, {})
    expect(() => TelemetryEvent.decodeJson(JSON.stringify(neither))).toThrow(/exactly one of stateId/)
  })
})
