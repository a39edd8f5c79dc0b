/**
 * Ended Effect spans as OTLP spans (`opentelemetry/proto/trace/v1/trace.proto`, collector
 * `ExportTraceServiceRequest`), in protobuf and JSON, with their parent links, events and links.
 * Status: `STATUS_CODE_ERROR` (2) with the squashed cause's message when the span's Effect failed;
 * unset otherwise (specification `trace/api.md`, "Set Status": instrumentation leaves it unset on
 * success).
 *
 * @internal
 */
import type { SpanData } from "../../Exporter.js"
import { jsonAttributes, jsonResource, jsonScope, type Origin, writeAttributes, writeResource, writeScope } from "./common.js"
import { Writer } from "./protobuf.js"

/** `Span.SpanKind` numbers. */
export const kinds: Readonly<Record<SpanData["kind"], number>> = {
  internal: 1,
  server: 2,
  client: 3,
  producer: 4,
  consumer: 5
}

const STATUS_ERROR = 2
/** Span flags: bit 0x100 = "has is_remote", 0x200 = the parent is remote (trace.proto `SpanFlags`); 0x01 sampled. */
const SAMPLED = 0x01

export const encodeProtobuf = (spans: ReadonlyArray<SpanData>, origin: Origin): Uint8Array => {
  const w = new Writer(spans.length * 300 + 256)
  const resourceSpans = w.begin(1)
  writeResource(w, 1, origin)
  const scopeSpans = w.begin(2)
  writeScope(w, origin)
  for (const s of spans) {
    const span = w.begin(2)
    w.hex(1, s.traceId)
    w.hex(2, s.spanId)
    if (s.parentSpanId !== undefined) w.hex(4, s.parentSpanId)
    w.string(5, s.name)
    w.int(6, kinds[s.kind])
    w.fixed64(7, s.startTimeUnixNano)
    w.fixed64(8, s.endTimeUnixNano)
    writeAttributes(w, 9, s.attributes)
    for (const e of s.events) {
      const event = w.begin(11)
      w.fixed64(1, e.timeUnixNano)
      w.string(2, e.name)
      writeAttributes(w, 3, e.attributes)
      w.end(event)
    }
    for (const l of s.links) {
      const link = w.begin(13)
      w.hex(1, l.traceId)
      w.hex(2, l.spanId)
      writeAttributes(w, 4, l.attributes)
      w.end(link)
    }
    if (s.status.code === "error") {
      const status = w.begin(15)
      if (s.status.message !== undefined) w.string(2, s.status.message)
      w.int(3, STATUS_ERROR)
      w.end(status)
    }
    w.fixed32(16, SAMPLED)
    w.end(span)
  }
  w.end(scopeSpans)
  w.end(resourceSpans)
  return w.finish()
}

export const encodeJson = (spans: ReadonlyArray<SpanData>, origin: Origin): string =>
  JSON.stringify({
    resourceSpans: [{
      resource: jsonResource(origin),
      scopeSpans: [{
        scope: jsonScope(origin),
        spans: spans.map((s) => ({
          traceId: s.traceId,
          spanId: s.spanId,
          ...(s.parentSpanId === undefined ? {} : { parentSpanId: s.parentSpanId }),
          name: s.name,
          kind: kinds[s.kind],
          startTimeUnixNano: s.startTimeUnixNano.toString(),
          endTimeUnixNano: s.endTimeUnixNano.toString(),
          attributes: jsonAttributes(s.attributes),
          events: s.events.map((e) => ({ timeUnixNano: e.timeUnixNano.toString(), name: e.name, attributes: jsonAttributes(e.attributes) })),
          links: s.links.map((l) => ({ traceId: l.traceId, spanId: l.spanId, attributes: jsonAttributes(l.attributes) })),
          status: s.status.code === "error"
            ? { code: STATUS_ERROR, ...(s.status.message === undefined ? {} : { message: s.status.message }) }
            : {},
          flags: SAMPLED
        }))
      }]
    }]
  })
