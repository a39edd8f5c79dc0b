/**
 * OTLP/HTTP transport (specification `protocol/otlp.md`, "OTLP/HTTP"; `protocol/exporter.md`):
 * one POST per batch over `@effect/platform`'s `HttpClient`, and the classification of its outcome
 * into what the hub counts.
 *
 * - 2xx: success; the body is an `Export*ServiceResponse` whose `partial_success` rejections are
 *   returned as an `ExportResult` (counted as dropped with the receiver's message).
 * - 429, 502, 503, 504 and transport errors (refused, reset, time-out): a retryable `ExportError`,
 *   with `retryAfterMillis` from `Retry-After` (delta-seconds or an HTTP-date, RFC 9110 §10.2.3).
 * - any other status (400, 401, 413, …): not retryable; the batch is dropped and counted.
 *
 * Requests are sent with tracing off (`Effect.withTracerEnabled(false)`, no `traceparent`), so
 * exporting spans makes no spans. The time-out of one request (`OTEL_EXPORTER_OTLP_TIMEOUT`) is
 * the exporter's `timeout`, which the hub applies to each attempt; the transport adds none of its
 * own.
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Effect } from "effect"
import { promisify } from "node:util"
import { gzip } from "node:zlib"
import { ExportError, type ExportResult } from "../../Exporter.js"
import { readPartialSuccess, readStatusMessage } from "./protobuf.js"

const gzipAsync = promisify(gzip)

export type Protocol = "http/protobuf" | "http/json"

export interface TransportOptions {
  readonly name: string
  readonly url: string
  readonly protocol: Protocol
  readonly headers: Readonly<Record<string, string>>
  readonly compression: "gzip" | "none"
}

/** Retryable statuses (specification `protocol/otlp.md`, "Retryable Response Codes"). */
const retryableStatus = new Set([429, 502, 503, 504])

/** `Retry-After` in milliseconds: delta-seconds, or an HTTP-date relative to `now`; `undefined` when absent or invalid. */
export const parseRetryAfter = (value: string | undefined, now: number): number | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

const decoder = new TextDecoder()
const encoder = new TextEncoder()

/** The rejections a 2xx response reports, if any. */
const partialSuccess = (protocol: Protocol, body: Uint8Array): ExportResult | undefined => {
  if (body.length === 0) return undefined
  if (protocol === "http/protobuf") {
    const p = readPartialSuccess(body)
    return p.rejected > 0 ? { rejected: p.rejected, reason: p.message } : undefined
  }
  const json: unknown = JSON.parse(decoder.decode(body))
  const partial = typeof json === "object" && json !== null ? (json as { partialSuccess?: Record<string, unknown> }).partialSuccess : undefined
  if (partial === undefined) return undefined
  const rejected = Number(partial["rejectedLogRecords"] ?? partial["rejectedSpans"] ?? partial["rejectedDataPoints"] ?? 0)
  const reason = typeof partial["errorMessage"] === "string" ? partial["errorMessage"] : ""
  return rejected > 0 ? { rejected, reason } : undefined
}

const statusMessage = (protocol: Protocol, body: Uint8Array): string => {
  try {
    if (protocol === "http/protobuf") return readStatusMessage(body) ?? ""
    const json: unknown = JSON.parse(decoder.decode(body))
    return typeof json === "object" && json !== null && typeof (json as { message?: unknown }).message === "string"
      ? (json as { message: string }).message
      : ""
  } catch {
    return ""
  }
}

/**
 * Sends one encoded request; see the module comment for the outcomes.
 *
 * The request is built once and only its body changes per call, and tracing is switched off by
 * `Effect.withTracerEnabled(false)` alone (with it off, `HttpClient` neither makes a span nor
 * sends `traceparent`). CPU per request, 235 POSTs of 170 KB to a receiver on 127.0.0.1 through
 * `NodeHttpClient.layerUndici`, median of 7 rounds: about 1.2 ms for the former chain
 * (`Effect.gen`, a client wrapped by `withTracerPropagation` and `withTracerDisabledWhen`, headers
 * set per request, a time-out of its own), 0.75 ms for `HttpClient.execute` alone, 0.25 ms for
 * undici's `Agent.request`. The main job sends 81 requests per 20,000 rows (2048 records each at
 * most, `OtlpExporter.Options.maxBatchSize`).
 */
export const makeSend = (client: HttpClient.HttpClient, options: TransportOptions) => {
  const contentType = options.protocol === "http/protobuf" ? "application/x-protobuf" : "application/json"
  const template = HttpClientRequest.post(options.url).pipe(
    HttpClientRequest.setHeaders(options.compression === "gzip" ? { ...options.headers, "content-encoding": "gzip" } : options.headers)
  )
  const fail = (message: string, extra: { retryable: boolean; retryAfterMillis?: number; cause?: unknown }) =>
    new ExportError({ exporter: options.name, message, ...extra })

  const outcome = (status: number, headers: Readonly<Record<string, string>>, bytes: Uint8Array): Effect.Effect<ExportResult | void, ExportError> => {
    if (status >= 200 && status < 300) {
      return Effect.try({
        try: () => partialSuccess(options.protocol, bytes),
        catch: (cause) => fail("unreadable response body", { retryable: false, cause })
      })
    }
    const detail = statusMessage(options.protocol, bytes)
    const message = `HTTP ${status}${detail === "" ? "" : `: ${detail}`}`
    if (!retryableStatus.has(status)) return Effect.fail(fail(message, { retryable: false }))
    const after = parseRetryAfter(headers["retry-after"], Date.now())
    return Effect.fail(fail(message, { retryable: true, ...(after === undefined ? {} : { retryAfterMillis: after }) }))
  }

  const exchange = (body: Uint8Array): Effect.Effect<ExportResult | void, ExportError> =>
    client.execute(HttpClientRequest.bodyUint8Array(template, body, contentType)).pipe(
      Effect.flatMap((r) => Effect.flatMap(r.arrayBuffer, (buffer) => outcome(r.status, r.headers, new Uint8Array(buffer)))),
      Effect.catchTag("RequestError", "ResponseError", (e) => Effect.fail(fail(`transport error: ${e.message}`, { retryable: true, cause: e }))),
      Effect.withTracerEnabled(false)
    )

  return (payload: Uint8Array | string): Effect.Effect<ExportResult | void, ExportError> => {
    const raw = typeof payload === "string" ? encoder.encode(payload) : payload
    return options.compression === "gzip"
      ? Effect.flatMap(
        Effect.promise(() => gzipAsync(raw)),
        (b) => exchange(new Uint8Array(b.buffer, b.byteOffset, b.byteLength))
      )
      : exchange(raw)
  }
}
