/**
 * Compile-time test (checked by `npm run typecheck`): an event's fields are a closed set. Events are
 * object literals, so TypeScript refuses a field the catalogue does not have, a missing field and
 * an unknown event type wherever an event is emitted.
 */
import { Effect } from "effect"
import { Telemetry, type TelemetryEvent } from "../../src/index.js"

const base = { timestamp: 0, runId: "run-1" }

export const closed = Effect.gen(function* () {
  const t = yield* Telemetry.Telemetry
  yield* t.emit({ _tag: "PhaseChanged", ...base, phase: "processing" })
  // @ts-expect-error `password` is not a field of PhaseChanged
  yield* t.emit({ _tag: "PhaseChanged", ...base, phase: "processing", password: "hunter2" })
  // @ts-expect-error `phase` is missing
  yield* t.emit({ _tag: "PhaseChanged", ...base })
  // @ts-expect-error "paused" is not a phase
  yield* t.emit({ _tag: "PhaseChanged", ...base, phase: "paused" })
  // @ts-expect-error RowDeleted is not in the catalogue
  yield* t.emit({ _tag: "RowDeleted", ...base })
})

export const free: TelemetryEvent.ExternalCallCompleted = {
  _tag: "ExternalCallCompleted",
  ...base,
  callId: "c",
  nodeId: "n",
  stateId: "s",
  callType: "http",
  status: "success",
  latencyMs: 1,
  // Plugin-supplied attributes are the one open map; the hub caps them (count and string length).
  attributes: { "http.request.method": "GET", "custom.anything": 1 }
}
