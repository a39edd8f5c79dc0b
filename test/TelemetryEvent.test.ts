/**
 * The event catalogue's JSON codec: every event round-trips, and what is outside an event's closed
 * field set is refused when read back.
 */
import { describe, expect, it } from "@effect/vitest"
import { TelemetryEvent } from "../src/index.js"
import { call, catalogue as samples, row } from "./hub/_helpers.js"

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
