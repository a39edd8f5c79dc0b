/**
 * Where an external call happens: inside a node state (a transform or gate working on one token;
 * carries `stateId`) or inside an operation (a source or sink; carries `operationId`). The engine
 * provides the scope; audited clients require it, so a call outside either does not compile, and
 * the two ids can never be confused: each has its own field in the event and in the `calls` table.
 *
 * @since 0.1.0
 */
import { Context, Effect } from "effect"
import { hashCanonical } from "./internal/hashing.js"
import { newId } from "./internal/ids.js"
import { type CallRecord, Landscape, type LandscapeError } from "./Landscape.js"
import { Telemetry } from "./Telemetry.js"
import {
  type AttributeValue,
  type CallStatus,
  type CallType,
  currentTrace,
  type ExternalCallCompleted,
  type TelemetryEvent
} from "./TelemetryEvent.js"

/** @internal Lets a plugin-path Landscape failure reach the engine even if the plugin swallows the defect. */
export const FatalSink: unique symbol = Symbol.for("sightline/CallScope/FatalSink")
/** @internal Writes a call together with its row's journaled records (the call refers to its node state). */
export const RecordWithJournal: unique symbol = Symbol.for("sightline/CallScope/RecordWithJournal")
/** @internal Where a call's event waits until the row's earlier events have been emitted. */
export const EventJournal: unique symbol = Symbol.for("sightline/CallScope/EventJournal")

/** @since 0.1.0 */
export interface StateScope {
  readonly _tag: "StateScope"
  readonly runId: string
  readonly nodeId: string
  readonly rowId: string
  readonly tokenId: string
  readonly stateId: string
  /** @internal */
  readonly [FatalSink]: (error: LandscapeError) => void
  /** @internal */
  readonly [RecordWithJournal]: (call: CallRecord) => Effect.Effect<void, LandscapeError>
  /** @internal */
  readonly [EventJournal]: { readonly emit: (event: TelemetryEvent) => void }
}

/** @since 0.1.0 */
export interface OperationScope {
  readonly _tag: "OperationScope"
  readonly runId: string
  readonly nodeId: string
  readonly operationId: string
  /** @internal */
  readonly [FatalSink]: (error: LandscapeError) => void
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
 * Landscape first). In a transform, the row's records journaled so far are written first (the
 * call refers to its node state), and the event is emitted with the row's other events once the
 * row is committed. A Landscape failure is a defect here, so a `catchAll` in plugin code cannot
 * hide it, and it is also reported to the engine, which fails the run with the `LandscapeError`
 * even if the plugin swallows the defect. Returns the call id.
 *
 * @since 0.1.0
 */
export const recordCall = (report: CallReport): Effect.Effect<string, never, CallScope | Landscape | Telemetry> =>
  Effect.gen(function* () {
    const scope = yield* CallScope
    const landscape = yield* Landscape
    const telemetry = yield* Telemetry
    const callId = newId()
    const ids = scope._tag === "StateScope"
      ? { stateId: scope.stateId } as const
      : { operationId: scope.operationId } as const
    const fatal = (error: LandscapeError) => Effect.zipRight(Effect.sync(() => scope[FatalSink](error)), Effect.die(error))
    const record = {
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
      createdAt: Date.now()
    }
    yield* Effect.catchAll(
      scope._tag === "StateScope" ? scope[RecordWithJournal](record) : landscape.recordCall(record),
      fatal
    )
    const trace = yield* currentTrace
    const event: ExternalCallCompleted = {
      _tag: "ExternalCallCompleted",
      timestamp: Date.now(),
      runId: scope.runId,
      ...trace,
      callId,
      nodeId: scope.nodeId,
      ...(scope._tag === "StateScope" ? { rowId: scope.rowId, tokenId: scope.tokenId } : {}),
      ...ids,
      callType: report.callType,
      status: report.status,
      latencyMs: report.latencyMs,
      attributes: { ...report.attributes }
    }
    if (scope._tag === "StateScope") scope[EventJournal].emit(event)
    else yield* telemetry.emit(event)
    return callId
  })
