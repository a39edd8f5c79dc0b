/** Shared helpers of the hub tests: event factories and exporters with scripted faults. */
import { Effect } from "effect"
import * as Exporter from "../../src/Exporter.js"
import {
  type ExternalCallCompleted,
  type RowCreated,
  type RunStarted,
  type TelemetryEvent,
  type TransformCompleted
} from "../../src/TelemetryEvent.js"

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0").slice(-width)

export const traceId = (i: number) => hex(i * 2654435761, 24) + hex(Math.imul(i + 1, 2246822519) >>> 0, 8)

export const row = (i: number, trace = traceId(i)): RowCreated => ({
  _tag: "RowCreated",
  timestamp: i,
  runId: "run-1",
  traceId: trace,
  rowId: `row-${i}`,
  tokenId: `tok-${i}`,
  nodeId: "source",
  rowIndex: i,
  contentHash: "00"
})

export const runStarted = (i = 0): RunStarted => ({
  _tag: "RunStarted",
  timestamp: i,
  runId: "run-1",
  pipeline: "p",
  configHash: "00",
  traceId: traceId(i)
})

export const transform = (i: number, trace = traceId(i)): TransformCompleted => ({
  _tag: "TransformCompleted",
  timestamp: i,
  runId: "run-1",
  traceId: trace,
  rowId: `row-${i}`,
  tokenId: `tok-${i}`,
  nodeId: "t",
  stateId: `s-${i}`,
  status: "completed",
  durationMs: 1,
  inputHash: "00"
})

export const call = (i: number, attributes: Record<string, string | number | boolean>): ExternalCallCompleted => ({
  _tag: "ExternalCallCompleted",
  timestamp: i,
  runId: "run-1",
  callId: `c-${i}`,
  nodeId: "t",
  stateId: `s-${i}`,
  callType: "http",
  status: "success",
  latencyMs: 1,
  attributes
})

/** An exporter that records what it got, with a scripted behaviour per call (0-based call index). */
export const scripted = (
  name: string,
  behaviour: (call: number, batch: ReadonlyArray<TelemetryEvent>) => Effect.Effect<void, Exporter.ExportError>
) => {
  const received: Array<TelemetryEvent> = []
  let calls = 0
  const exporter = Exporter.make({
    name,
    export: (batch) =>
      Effect.suspend(() => behaviour(calls++, batch)).pipe(Effect.tap(() => Effect.sync(() => void received.push(...batch))))
  })
  return { exporter, received, calls: () => calls }
}

export const fail = (name: string) => Effect.fail(new Exporter.ExportError({ exporter: name, message: "rejected" }))

/** The fault modes of the matrix. */
export type Fault = "throws" | "hangs" | "slow" | "rejectsHalf" | "healthy"

export const faulty = (name: string, fault: Fault, slowMs = 50) =>
  scripted(name, (_i, batch) => {
    switch (fault) {
      case "throws":
        return Effect.sync(() => {
          throw new Error("boom")
        })
      case "hangs":
        return Effect.never
      case "slow":
        return Effect.sleep(`${slowMs} millis`)
      case "rejectsHalf":
        // About half the batches, the same ones on every retry: by the first event's time / 64.
        return Math.floor((batch[0]?.timestamp ?? 0) / 64) % 2 === 0 ? fail(name) : Effect.void
      case "healthy":
        return Effect.void
    }
  })

const base = { timestamp: 1_700_000_000_000, runId: "run-1" }
/** One event of every type in the catalogue. */
export const catalogue: ReadonlyArray<TelemetryEvent> = [
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

