/**
 * The telemetry event catalogue (DESIGN.md, "Event catalogue").
 *
 * Every event is a plain immutable object tagged by `_tag`, described by a `Schema.TaggedStruct` of
 * the same name with a closed set of fields: the correlation fields of
 * DESIGN.md invariant 7 (`runId`, and where they apply `rowId`, `tokenId`, `nodeId`, and either
 * `stateId` in a transform context or `operationId` in a source/sink context, never one in the
 * other's field) plus the W3C `traceId` (32 hex) / `spanId` (16 hex) of the Effect span that was
 * current when the event was built. Times are epoch milliseconds; durations are milliseconds.
 *
 * Build an event as an object literal, `{ _tag: "RowCreated", timestamp, runId, ... }`: TypeScript
 * rejects a missing or unknown field, and the literal costs ~0.1 µs where a `Schema.TaggedClass`
 * constructor costs ~1.2–1.8 µs even with validation off (a `RowCreated`, Node 20), which
 * is more than the hub spends delivering the event. `RunStarted.make(fields)` builds one with
 * runtime validation, for values that come from outside the type system. Exporters receive the
 * same objects; `encodeJson` / `decodeJson` are the JSON codec.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * How much the hub lets through, from least to most: `lifecycle` (run and phase events), `rows`
 * (also per-row engine events), `full` (also external-call events from audited clients).
 *
 * @since 0.1.0
 */
export const Granularity = Schema.Literal("lifecycle", "rows", "full")
/** @since 0.1.0 */
export type Granularity = typeof Granularity.Type

const granularityRank: Record<Granularity, number> = { lifecycle: 0, rows: 1, full: 2 }

/**
 * `true` when an event of granularity `event` passes a hub configured at `configured`.
 *
 * @since 0.1.0
 */
export const passesGranularity = (event: Granularity, configured: Granularity): boolean =>
  granularityRank[event] <= granularityRank[configured]

/** W3C trace-context ids of the span current at emit time, when there is one. */
const TraceFields = {
  /** W3C trace id, 32 lowercase hex characters. */
  traceId: Schema.optional(Schema.String),
  /** W3C span id, 16 lowercase hex characters. */
  spanId: Schema.optional(Schema.String)
}

const Base = {
  /** Wall-clock time the event was built, epoch milliseconds. */
  timestamp: Schema.Number,
  runId: Schema.String,
  ...TraceFields
}

/**
 * A run is `running` until it ends `completed`, `failed` (an error stopped it) or `interrupted` (a
 * signal or an interruption stopped it, or its process died and a later Landscape open found it).
 *
 * @since 0.1.0
 */
export const RunStatus = Schema.Literal("running", "completed", "failed", "interrupted")
/** @since 0.1.0 */
export type RunStatus = typeof RunStatus.Type

/**
 * A run began. Emitted after the run is recorded in the Landscape.
 *
 * @since 0.1.0
 */
export const RunStarted = Schema.TaggedStruct("RunStarted", {
  ...Base,
  pipeline: Schema.String,
  /** SHA-256 (hex) of the pipeline's canonical configuration (RFC 8785 JSON). */
  configHash: Schema.String
})
/** @since 0.1.0 */
export interface RunStarted extends Schema.Schema.Type<typeof RunStarted> {}

/**
 * A run ended, successfully or not. The last event of every run.
 *
 * @since 0.1.0
 */
export const RunFinished = Schema.TaggedStruct("RunFinished", {
  ...Base,
  status: RunStatus,
  durationMs: Schema.Number,
  rowsRead: Schema.Number,
  rowsQuarantined: Schema.Number,
  /** Why the run did not complete: the failure when `status` is `failed`, the signal or reason when `interrupted`. */
  error: Schema.optional(Schema.String)
})
/** @since 0.1.0 */
export interface RunFinished extends Schema.Schema.Type<typeof RunFinished> {}

/** @since 0.1.0 */
export const Phase = Schema.Literal("registering", "processing", "finalizing")
/** @since 0.1.0 */
export type Phase = typeof Phase.Type

/**
 * The orchestrator moved to another phase of the run.
 *
 * @since 0.1.0
 */
export const PhaseChanged = Schema.TaggedStruct("PhaseChanged", {
  ...Base,
  phase: Phase
})
/** @since 0.1.0 */
export interface PhaseChanged extends Schema.Schema.Type<typeof PhaseChanged> {}

/**
 * A source produced a row (valid or not) and a token was created for it.
 *
 * @since 0.1.0
 */
export const RowCreated = Schema.TaggedStruct("RowCreated", {
  ...Base,
  rowId: Schema.String,
  tokenId: Schema.String,
  /** The source node. */
  nodeId: Schema.String,
  /** Zero-based position of the row in its source. */
  rowIndex: Schema.Number,
  /** SHA-256 (hex) of the row's source data as canonical JSON (RFC 8785). */
  contentHash: Schema.String
})
/** @since 0.1.0 */
export interface RowCreated extends Schema.Schema.Type<typeof RowCreated> {}

/** @since 0.1.0 */
export const NodeStateStatus = Schema.Literal("running", "completed", "failed")
/** @since 0.1.0 */
export type NodeStateStatus = typeof NodeStateStatus.Type

/**
 * A transform finished for one token (its node state is `completed` or `failed`).
 *
 * @since 0.1.0
 */
export const TransformCompleted = Schema.TaggedStruct("TransformCompleted", {
  ...Base,
  rowId: Schema.String,
  tokenId: Schema.String,
  nodeId: Schema.String,
  stateId: Schema.String,
  status: NodeStateStatus,
  durationMs: Schema.Number,
  inputHash: Schema.String,
  outputHash: Schema.optional(Schema.String),
  error: Schema.optional(Schema.String),
  /** Which attempt at the row this was, from 2 on (a step with `Pipeline.retry`); absent for the first. */
  attempt: Schema.optional(Schema.Number)
})
/** @since 0.1.0 */
export interface TransformCompleted extends Schema.Schema.Type<typeof TransformCompleted> {}

/**
 * A gate decided where a token goes: a named sink, or on to the next step (`continue`).
 *
 * @since 0.1.0
 */
export const GateEvaluated = Schema.TaggedStruct("GateEvaluated", {
  ...Base,
  rowId: Schema.String,
  tokenId: Schema.String,
  nodeId: Schema.String,
  stateId: Schema.String,
  destination: Schema.String
})
/** @since 0.1.0 */
export interface GateEvaluated extends Schema.Schema.Type<typeof GateEvaluated> {}

/** How a token ended: written to a sink (`routed`, `quarantined`), or split into child tokens by an expansion (`expanded`) or a fork (`forked`). @since 0.1.0 */
export const TokenOutcome = Schema.Literal("routed", "quarantined", "expanded", "forked")
/** @since 0.1.0 */
export type TokenOutcome = typeof TokenOutcome.Type

/**
 * A token reached its terminal outcome: written to its sink, or (`expanded`, `forked`) split into child tokens.
 *
 * @since 0.1.0
 */
export const TokenCompleted = Schema.TaggedStruct("TokenCompleted", {
  ...Base,
  rowId: Schema.String,
  tokenId: Schema.String,
  /** The node where the token ended: the sink it was written to, or the step that split it. */
  nodeId: Schema.String,
  /** That node's name. */
  sink: Schema.String,
  outcome: TokenOutcome
})
/** @since 0.1.0 */
export interface TokenCompleted extends Schema.Schema.Type<typeof TokenCompleted> {}

/** @since 0.1.0 */
export const CallType = Schema.Literal("http", "llm", "sql", "filesystem")
/** @since 0.1.0 */
export type CallType = typeof CallType.Type

/** @since 0.1.0 */
export const CallStatus = Schema.Literal("success", "error")
/** @since 0.1.0 */
export type CallStatus = typeof CallStatus.Type

/**
 * An attribute value: OpenTelemetry allows strings, booleans and numbers (and arrays of them).
 *
 * @since 0.1.0
 */
export const AttributeValue = Schema.Union(Schema.String, Schema.Number, Schema.Boolean)
/** @since 0.1.0 */
export type AttributeValue = typeof AttributeValue.Type

/**
 * An external call completed and was recorded in the Landscape first (invariant 4). Made inside a
 * transform it carries `stateId`; inside a source or sink it carries `operationId`; never both.
 * `attributes` use OpenTelemetry semantic-convention names (`http.request.method`,
 * `gen_ai.request.model`, ...).
 *
 * @since 0.1.0
 */
export const ExternalCallCompleted = Schema.TaggedStruct("ExternalCallCompleted", {
  ...Base,
  callId: Schema.String,
  nodeId: Schema.String,
  rowId: Schema.optional(Schema.String),
  tokenId: Schema.optional(Schema.String),
  stateId: Schema.optional(Schema.String),
  operationId: Schema.optional(Schema.String),
  callType: CallType,
  status: CallStatus,
  latencyMs: Schema.Number,
  attributes: Schema.Record({ key: Schema.String, value: AttributeValue })
}).pipe(
  Schema.filter((e) =>
    (e.stateId === undefined) !== (e.operationId === undefined)
      ? undefined
      : "an external call carries exactly one of stateId (transform) or operationId (source/sink)"
  )
)
/** @since 0.1.0 */
export interface ExternalCallCompleted extends Schema.Schema.Type<typeof ExternalCallCompleted> {}

/**
 * Where and why the hub lost events: hub level (`ingressOverflow`, `shutdown`) or one exporter's
 * (`queueOverflow`, `exportFailed`, `circuitOpen`, `shutdown`). Same names as `TelemetryStats`.
 *
 * @since 0.1.0
 */
export const DropReason = Schema.Literal("ingressOverflow", "queueOverflow", "exportFailed", "circuitOpen", "shutdown")
/** @since 0.1.0 */
export type DropReason = typeof DropReason.Type

/**
 * Fields of the hub's own health events. They are not tied to one run: `runId` is the run of the
 * most recent event the hub accepted (`""` before any).
 */
const HealthBase = Base

/**
 * The hub lost events since its previous report (at most one report per place and reason per
 * `healthInterval`). Health events are always delivered: no granularity, filter or sampling
 * applies to them, and they also go to the last-resort sink.
 *
 * @since 0.1.0
 */
export const EventsDropped = Schema.TaggedStruct("EventsDropped", {
  ...HealthBase,
  /** The exporter that lost them; absent for hub-level drops (they affect every exporter). */
  exporter: Schema.optional(Schema.String),
  reason: DropReason,
  /** Events lost since the previous report for this place and reason. */
  count: Schema.Number,
  /** Events lost for this place and reason since the hub started. */
  total: Schema.Number
})
/** @since 0.1.0 */
export interface EventsDropped extends Schema.Schema.Type<typeof EventsDropped> {}

/**
 * An exporter's circuit opened after consecutive failed batches: its events are counted as
 * dropped (`circuitOpen`) until a periodic probe succeeds.
 *
 * @since 0.1.0
 */
export const ExporterFailed = Schema.TaggedStruct("ExporterFailed", {
  ...HealthBase,
  exporter: Schema.String,
  /** Message of the last failure. */
  error: Schema.String,
  consecutiveFailures: Schema.Number
})
/** @since 0.1.0 */
export interface ExporterFailed extends Schema.Schema.Type<typeof ExporterFailed> {}

/**
 * A probe batch succeeded: the exporter's circuit closed again.
 *
 * @since 0.1.0
 */
export const ExporterRecovered = Schema.TaggedStruct("ExporterRecovered", {
  ...HealthBase,
  exporter: Schema.String,
  /** Time the circuit was open, milliseconds. */
  downtimeMs: Schema.Number
})
/** @since 0.1.0 */
export interface ExporterRecovered extends Schema.Schema.Type<typeof ExporterRecovered> {}

/**
 * Telemetry was switched off at run time (`Telemetry.control`); events emitted from now on are
 * counted as filtered until it is switched on again.
 *
 * @since 0.1.0
 */
export const TelemetryDisabled = Schema.TaggedStruct("TelemetryDisabled", {
  ...HealthBase,
  reason: Schema.String
})
/** @since 0.1.0 */
export interface TelemetryDisabled extends Schema.Schema.Type<typeof TelemetryDisabled> {}

/**
 * Every engine and client event.
 *
 * @since 0.1.0
 */
export const TelemetryEvent = Schema.Union(
  RunStarted,
  RunFinished,
  PhaseChanged,
  RowCreated,
  TransformCompleted,
  GateEvaluated,
  TokenCompleted,
  ExternalCallCompleted,
  EventsDropped,
  ExporterFailed,
  ExporterRecovered,
  TelemetryDisabled
)
/** @since 0.1.0 */
export type TelemetryEvent = typeof TelemetryEvent.Type

/** @since 0.1.0 */
export type EventTag = TelemetryEvent["_tag"]

/** The granularity each event belongs to (DESIGN.md event catalogue); health events are delivered at any. */
const granularities: Record<EventTag, Granularity> = {
  RunStarted: "lifecycle",
  RunFinished: "lifecycle",
  PhaseChanged: "lifecycle",
  RowCreated: "rows",
  TransformCompleted: "rows",
  GateEvaluated: "rows",
  TokenCompleted: "rows",
  ExternalCallCompleted: "full",
  EventsDropped: "lifecycle",
  ExporterFailed: "lifecycle",
  ExporterRecovered: "lifecycle",
  TelemetryDisabled: "lifecycle"
}

/**
 * The hub's own health events: always delivered, whatever the granularity, filters, sampling or
 * on/off switch say (DESIGN.md event catalogue: "always, to a last-resort sink too").
 *
 * @since 0.1.0
 */
export const healthEventTags: ReadonlySet<EventTag> = new Set<EventTag>([
  "EventsDropped",
  "ExporterFailed",
  "ExporterRecovered",
  "TelemetryDisabled"
])

/**
 * Every event tag, in catalogue order.
 *
 * @since 0.1.0
 */
export const eventTags: ReadonlyArray<EventTag> = Object.keys(granularities) as Array<EventTag>

/**
 * `true` for the hub's health events, which bypass granularity, filters and sampling.
 *
 * @since 0.1.0
 */
export const isAlwaysDelivered = (tag: EventTag): boolean => healthEventTags.has(tag)

/**
 * The granularity an event belongs to (DESIGN.md event catalogue).
 *
 * @since 0.1.0
 */
export const granularityOf = (event: TelemetryEvent): Granularity => granularities[event._tag]

/**
 * JSON codec schema: one event ⇄ one line of JSON.
 *
 * @since 0.1.0
 */
export const TelemetryEventJson = Schema.parseJson(TelemetryEvent)

/**
 * One line of JSON (no trailing newline) for `event`. Only the event's catalogue fields are
 * written. Throws a `ParseError` when a field has the wrong type (an event built outside the type
 * system).
 *
 * @since 0.1.0
 */
export const encodeJson: (event: TelemetryEvent) => string = Schema.encodeSync(TelemetryEventJson)

/**
 * Parses and validates one line back into a plain event object. Throws a `ParseError` on invalid
 * JSON, an unknown `_tag`, a missing or mistyped field, or a field outside the event's closed set.
 *
 * @since 0.1.0
 */
export const decodeJson: (line: string) => TelemetryEvent = Schema.decodeUnknownSync(TelemetryEventJson, {
  onExcessProperty: "error"
})
