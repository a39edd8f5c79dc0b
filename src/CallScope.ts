/**
 * Where an external call happens: inside a node state (a transform or gate working on one token;
 * carries `stateId`) or inside an operation (a source or sink; carries `operationId`). The engine
 * provides the scope; audited clients require it, so a call outside either does not compile, and
 * the two ids can never be confused: each has its own field in the event and in the `calls` table.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Option } from "effect"
import { hashCanonical } from "./internal/hashing.js"
import { newId } from "./internal/ids.js"
import { CallRecorder } from "./internal/run/recorder.js"
import { type CallRecord, Landscape } from "./Landscape.js"
import { Telemetry } from "./Telemetry.js"
import type { AttributeValue, CallStatus, CallType, ExternalCallCompleted } from "./TelemetryEvent.js"
import { currentIds } from "./TraceContext.js"

/** A transform or gate working on one token. @since 0.1.0 */
export interface StateScope {
  readonly _tag: "StateScope"
  readonly runId: string
  readonly nodeId: string
  readonly rowId: string
  readonly tokenId: string
  readonly stateId: string
}

/** A source being read or a sink being written. @since 0.1.0 */
export interface OperationScope {
  readonly _tag: "OperationScope"
  readonly runId: string
  readonly nodeId: string
  readonly operationId: string
}

/**
 * @since 0.1.0
 * @category tags
 */
export class CallScope extends Context.Tag("sightline/CallScope")<CallScope, StateScope | OperationScope>() {}

/**
 * One external call as an audited client reports it. `request` and `response` must already be
 * redacted; they are stored with their SHA-256 hashes (RFC 8785 canonical JSON).
 *
 * @since 0.1.0
 */
export interface CallReport {
  readonly callType: CallType
  readonly status: CallStatus
  readonly request?: unknown
  readonly response?: unknown
  /** OpenTelemetry semantic-convention attributes (`http.request.method`, `gen_ai.request.model`, ...). */
  readonly attributes: Readonly<Record<string, AttributeValue>>
  readonly error?: string
  /** Wall time of the call, milliseconds. */
  readonly latencyMs: number
}

/**
 * Records a call in the Landscape, then emits `ExternalCallCompleted` (DESIGN.md invariant 4:
 * Landscape first). In a transform, the row's records journaled so far are written with it (the
 * call refers to its node state), and the event is emitted with the row's other events once the
 * row is committed. Returns the call id.
 *
 * A Landscape failure is reported to the run first and then dies here with the `LandscapeError`:
 * the run fails with it even if the caller swallows the defect (`catchAllCause`, `ignore`, a daemon
 * fiber) — DESIGN.md invariant 3. Outside a run (a `CallScope` provided by hand) the call is
 * written directly and a failure is only the defect.
 *
 * @since 0.1.0
 */
export const recordCall = (report: CallReport): Effect.Effect<string, never, CallScope | Landscape | Telemetry> =>
  Effect.gen(function* () {
    const scope = yield* CallScope
    const now = yield* Clock.currentTimeMillis
    const callId = newId()
    const ids = scope._tag === "StateScope" ? { stateId: scope.stateId } as const : { operationId: scope.operationId } as const
    const record: CallRecord = {
      callId,
      runId: scope.runId,
      nodeId: scope.nodeId,
      ...ids,
      callType: report.callType,
      status: report.status,
      ...(report.request === undefined ? {} : { request: report.request, requestHash: hashCanonical(report.request) }),
      ...(report.response === undefined ? {} : { response: report.response, responseHash: hashCanonical(report.response) }),
      attributes: report.attributes,
      ...(report.error === undefined ? {} : { error: report.error }),
      latencyMs: report.latencyMs,
      createdAt: now
    }
    const event: ExternalCallCompleted = {
      _tag: "ExternalCallCompleted",
      timestamp: now,
      runId: scope.runId,
      ...(yield* currentIds),
      callId,
      nodeId: scope.nodeId,
      ...(scope._tag === "StateScope" ? { rowId: scope.rowId, tokenId: scope.tokenId } : {}),
      ...ids,
      callType: report.callType,
      status: report.status,
      latencyMs: report.latencyMs,
      attributes: { ...report.attributes }
    }
    const recorder = yield* Effect.serviceOption(CallRecorder)
    if (Option.isSome(recorder)) {
      yield* Effect.orDie(recorder.value.record(record, event))
    } else {
      yield* Effect.orDie(Effect.flatMap(Landscape, (l) => l.recordCall(record)))
      yield* Effect.flatMap(Telemetry, (t) => t.emit(event))
    }
    return callId
  })
