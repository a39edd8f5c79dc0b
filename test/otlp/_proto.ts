/**
 * The official OTLP protos (opentelemetry-proto v1.7.0, as vendored in the npm package
 * dd-trace@5.132.0: see test/otlp/proto/README.md), loaded with protobufjs: binary payloads are
 * decoded with `Type.decode`, JSON payloads parsed by protobufjs's strict ProtoJSON parser (unknown
 * fields refused) after the one OTLP/JSON difference, hex ids, is turned into base64.
 */
import { join } from "node:path"
import protobuf from "protobufjs"
import * as protojson from "protobufjs/ext/protojson.js"

const dir = join(import.meta.dirname, "proto")
const root = new protobuf.Root()
root.resolvePath = (_origin, target) => join(dir, target.replace(/^.*\//, ""))
root.loadSync(["logs_service.proto", "trace_service.proto", "metrics_service.proto"].map((f) => join(dir, f)))

export type Signal = "logs" | "traces" | "metrics"

const request: Record<Signal, protobuf.Type> = {
  logs: root.lookupType("opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest"),
  traces: root.lookupType("opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest"),
  metrics: root.lookupType("opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest")
}
const response: Record<Signal, protobuf.Type> = {
  logs: root.lookupType("opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse"),
  traces: root.lookupType("opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse"),
  metrics: root.lookupType("opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse")
}

const toObject = (type: protobuf.Type, message: protobuf.Message) =>
  type.toObject(message, { longs: String, bytes: String, defaults: false, enums: Number }) as Record<string, unknown>

/** Decodes a protobuf request; ids come back base64. */
export const decodeProtobuf = (signal: Signal, bytes: Uint8Array) => toObject(request[signal], request[signal].decode(bytes))

const ID_KEYS = new Set(["traceId", "spanId", "parentSpanId"])

const hexToBase64 = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(hexToBase64)
  if (typeof value !== "object" || value === null) return value
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, ID_KEYS.has(k) && typeof v === "string" ? Buffer.from(v, "hex").toString("base64") : hexToBase64(v)])
  )
}

/** Parses an OTLP/JSON request strictly (throws on unknown fields or wrong types); ids come back base64. */
export const decodeJson = (signal: Signal, text: string) =>
  toObject(request[signal], protojson.fromJson(request[signal], hexToBase64(JSON.parse(text))))

/** An encoded `Export*ServiceResponse` with a partial success. */
export const partialSuccess = (signal: Signal, rejected: number, message: string): Uint8Array => {
  const field = signal === "logs" ? "rejectedLogRecords" : signal === "traces" ? "rejectedSpans" : "rejectedDataPoints"
  return response[signal].encode(response[signal].fromObject({ partialSuccess: { [field]: rejected, errorMessage: message } })).finish()
}

export const hex = (base64: unknown) => Buffer.from(String(base64), "base64").toString("hex")
