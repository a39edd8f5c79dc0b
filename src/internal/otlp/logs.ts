/**
 * Sightline events as OTLP log records (`opentelemetry/proto/logs/v1/logs.proto`, collector
 * `ExportLogsServiceRequest`), in protobuf and JSON.
 *
 * Each event is an OpenTelemetry *Event* (specification `logs/data-model.md`, "Field: EventName":
 * a log record with a non-empty event name): `event_name` `sightline.<thing>.<what>` (field 12;
 * semconv `general/events.md`: no dynamic values; the deprecated `event.name` attribute is not
 * set), `time_unix_nano` = the event's timestamp, `observed_time_unix_nano` = export time, the
 * event's trace and span ids (flags 01 when it has them), a default severity (INFO 9, WARN 13 for
 * losses, failed steps and calls, and interrupted runs, ERROR 17 for failed runs; no severity text,
 * as semconv says), no body, and its fields as attributes: correlation ids under `sightline.*`,
 * an external call's own attributes (already OpenTelemetry semantic-convention names: `http.*`,
 * `gen_ai.*`, `db.system.name`) as they are, and `error.type` on failures.
 *
 * @internal
 */
import { SchemaAST } from "effect"
import { type EventTag, TelemetryEvent as EventSchema, type TelemetryEvent } from "../../TelemetryEvent.js"
import { type Attributes, jsonAttributes, jsonResource, jsonScope, msToNanos, type Origin, writeAttribute, writeKeyValue, writeResource, writeScope } from "./common.js"
import { Writer } from "./protobuf.js"

/** The OTLP event name of each Sightline event. */
export const eventNames: Readonly<Record<EventTag, string>> = {
  RunStarted: "sightline.run.started",
  RunFinished: "sightline.run.finished",
  PhaseChanged: "sightline.phase.changed",
  RowCreated: "sightline.row.created",
  TransformCompleted: "sightline.transform.completed",
  GateEvaluated: "sightline.gate.evaluated",
  TokenCompleted: "sightline.token.completed",
  ExternalCallCompleted: "sightline.external_call.completed",
  EventsDropped: "sightline.telemetry.events_dropped",
  ExporterFailed: "sightline.telemetry.exporter_failed",
  ExporterRecovered: "sightline.telemetry.exporter_recovered",
  TelemetryDisabled: "sightline.telemetry.disabled"
}

/** Attribute names of fields every event type shares the meaning of. */
const common: Readonly<Record<string, string>> = {
  runId: "sightline.run.id",
  rowId: "sightline.row.id",
  tokenId: "sightline.token.id",
  nodeId: "sightline.node.id",
  stateId: "sightline.state.id",
  operationId: "sightline.operation.id",
  callId: "sightline.call.id",
  pipeline: "sightline.pipeline",
  configHash: "sightline.run.config_hash",
  rowsRead: "sightline.run.rows_read",
  rowsQuarantined: "sightline.run.rows_quarantined",
  phase: "sightline.run.phase",
  rowIndex: "sightline.row.index",
  contentHash: "sightline.row.content_hash",
  inputHash: "sightline.state.input_hash",
  outputHash: "sightline.state.output_hash",
  destination: "sightline.gate.destination",
  sink: "sightline.token.sink",
  outcome: "sightline.token.outcome",
  callType: "sightline.call.type",
  latencyMs: "sightline.call.latency_ms",
  exporter: "sightline.telemetry.exporter",
  count: "sightline.telemetry.dropped",
  total: "sightline.telemetry.dropped_total",
  consecutiveFailures: "sightline.telemetry.consecutive_failures",
  downtimeMs: "sightline.telemetry.downtime_ms",
  error: "sightline.error"
}

/** Fields whose attribute name depends on the event. */
const byTag: Partial<Record<EventTag, Readonly<Record<string, string>>>> = {
  RunFinished: { status: "sightline.run.status", durationMs: "sightline.run.duration_ms" },
  TransformCompleted: { status: "sightline.state.status", durationMs: "sightline.state.duration_ms", attempt: "sightline.state.attempt" },
  ExternalCallCompleted: { status: "sightline.call.status" },
  EventsDropped: { reason: "sightline.telemetry.drop_reason" },
  TelemetryDisabled: { reason: "sightline.telemetry.disabled_reason" }
}

const skipped = new Set(["_tag", "timestamp", "traceId", "spanId", "attributes"])

/** The attribute name of `field` on an event of type `tag`. */
export const attributeName = (tag: EventTag, field: string): string =>
  byTag[tag]?.[field] ?? common[field] ?? `sightline.${field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`

const SEVERITY = { info: 9, warn: 13, error: 17 } as const

/** The default severity number of an event (logs data model: INFO 9, WARN 13, ERROR 17). */
export const severityOf = (e: TelemetryEvent): number => {
  switch (e._tag) {
    case "RunFinished":
      return e.status === "failed" ? SEVERITY.error : e.status === "interrupted" ? SEVERITY.warn : SEVERITY.info
    case "TransformCompleted":
      return e.status === "failed" ? SEVERITY.warn : SEVERITY.info
    case "ExternalCallCompleted":
      return e.status === "error" ? SEVERITY.warn : SEVERITY.info
    case "EventsDropped":
    case "ExporterFailed":
    case "TelemetryDisabled":
      return SEVERITY.warn
    default:
      return SEVERITY.info
  }
}

/** `error.type` (semconv: set on failures) for an event that reports one. */
const errorType = (e: TelemetryEvent): string | undefined => {
  switch (e._tag) {
    case "RunFinished":
      return e.status === "completed" ? undefined : e.status
    case "TransformCompleted":
      return e.status === "failed" ? "failed" : undefined
    case "ExternalCallCompleted":
      return e.status === "error" && e.attributes["error.type"] === undefined ? "error" : undefined
    default:
      return undefined
  }
}

/** A field of an event type written as an attribute: its name on the event, its attribute name, and its `KeyValue.key` encoded once. */
interface Planned {
  readonly field: string
  readonly name: string
  readonly key: Uint8Array
}

const encodedKey = (name: string): Uint8Array => {
  const w = new Writer(name.length * 3 + 8)
  w.string(1, name)
  return w.finish()
}

/**
 * Each event type's attribute fields, in its schema's order: the encoder reads them by name
 * instead of enumerating every event's keys and looking up each attribute name, which took about
 * a fifth of its time per record (5.8 → 4.5 µs on the main job's events, same bytes).
 */
const plans: ReadonlyMap<string, ReadonlyArray<Planned>> = new Map(EventSchema.members.map((member) => {
  const signatures = SchemaAST.getPropertySignatures(member.ast)
  const tagType = signatures.find((p) => p.name === "_tag")?.type
  const tag = (tagType !== undefined && SchemaAST.isLiteral(tagType) ? String(tagType.literal) : "") as EventTag
  const fields = signatures.map((p) => String(p.name)).filter((field) => !skipped.has(field))
  return [tag, fields.map((field) => {
    const name = attributeName(tag, field)
    return { field, name, key: encodedKey(name) }
  })]
}))

/** The attributes that follow an event's own fields: an external call's own, and `error.type`. */
const eachExtra = (e: TelemetryEvent, f: (key: string, value: unknown) => void): void => {
  if (e._tag === "ExternalCallCompleted") for (const key in e.attributes) f(key, e.attributes[key])
  const type = errorType(e)
  if (type !== undefined) f("error.type", type)
}

/** Calls `f` with each attribute of one event's log record, in field order (no allocation per attribute). */
const eachAttribute = (e: TelemetryEvent, f: (key: string, value: unknown) => void): void => {
  const fields: Readonly<Record<string, unknown>> = e
  const plan = plans.get(e._tag)
  if (plan === undefined) {
    for (const field in fields) {
      const v = fields[field]
      if (v !== undefined && !skipped.has(field)) f(attributeName(e._tag, field), v)
    }
  } else {
    for (let i = 0; i < plan.length; i++) {
      const v = fields[plan[i]!.field]
      if (v !== undefined) f(plan[i]!.name, v)
    }
  }
  eachExtra(e, f)
}

/** Writes one event's attributes as `KeyValue`s in field 6 of its `LogRecord`, the planned ones with their encoded keys. */
const writeAttributesOf = (w: Writer, e: TelemetryEvent, attribute: (key: string, value: unknown) => void): void => {
  const plan = plans.get(e._tag)
  if (plan === undefined) return eachAttribute(e, attribute)
  const fields: Readonly<Record<string, unknown>> = e
  for (let i = 0; i < plan.length; i++) writeKeyValue(w, 6, plan[i]!.key, fields[plan[i]!.field])
  eachExtra(e, attribute)
}

/** The attributes of one event's log record, in field order. */
export const attributesOf = (e: TelemetryEvent): Attributes => {
  const out: Array<readonly [string, unknown]> = []
  eachAttribute(e, (key, value) => out.push([key, value]))
  return out
}

/**
 * Bytes reserved per event before encoding: a row event's `LogRecord` takes 500–560 bytes (the
 * main job sent 131.5 MB for 240,000 of them). With 400, every payload's buffer was grown once,
 * and the copies took about 0.6 µs per row of the main job (`--cpu-prof`).
 */
const bytesPerEvent = 640

/** `ExportLogsServiceRequest` in protobuf: one `ResourceLogs`, one `ScopeLogs`, a `LogRecord` per event. */
export const encodeProtobuf = (events: ReadonlyArray<TelemetryEvent>, origin: Origin, observedNanos: bigint): Uint8Array => {
  const w = new Writer(events.length * bytesPerEvent + 256)
  const resourceLogs = w.begin(1)
  writeResource(w, 1, origin)
  const scopeLogs = w.begin(2)
  writeScope(w, origin)
  const attribute = (key: string, value: unknown) => writeAttribute(w, 6, key, value)
  for (const e of events) {
    const record = w.begin(2)
    w.millisAsNanos(1, e.timestamp)
    w.int(2, severityOf(e))
    writeAttributesOf(w, e, attribute)
    if (e.traceId !== undefined) {
      w.fixed32(8, 1)
      w.hex(9, e.traceId)
    }
    if (e.spanId !== undefined) w.hex(10, e.spanId)
    w.fixed64(11, observedNanos)
    w.string(12, eventNames[e._tag])
    w.end(record)
  }
  w.end(scopeLogs)
  w.end(resourceLogs)
  return w.finish()
}

/** The same request as OTLP/JSON. */
export const encodeJson = (events: ReadonlyArray<TelemetryEvent>, origin: Origin, observedNanos: bigint): string =>
  JSON.stringify({
    resourceLogs: [{
      resource: jsonResource(origin),
      scopeLogs: [{
        scope: jsonScope(origin),
        logRecords: events.map((e) => ({
          timeUnixNano: msToNanos(e.timestamp).toString(),
          observedTimeUnixNano: observedNanos.toString(),
          severityNumber: severityOf(e),
          attributes: jsonAttributes(attributesOf(e)),
          ...(e.traceId === undefined ? {} : { flags: 1, traceId: e.traceId }),
          ...(e.spanId === undefined ? {} : { spanId: e.spanId }),
          eventName: eventNames[e._tag]
        }))
      }]
    }]
  })
