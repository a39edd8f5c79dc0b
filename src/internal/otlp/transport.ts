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
 * exporting spans makes no spans.
 *
 * @internal
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Duration, Effect } from "effect"
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
  /** Time-out of one request, response body included. */
  readonly timeout: Duration.Duration
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

/** Sends one encoded request; see the module comment for the outcomes. */
export const makeSend = (client: HttpClient.HttpClient, options: TransportOptions) => {
  const plain = client.pipe(HttpClient.withTracerPropagation(false), HttpClient.withTracerDisabledWhen(() => true))
  const contentType = options.protocol === "http/protobuf" ? "application/x-protobuf" : "application/json"
  const fail = (message: string, extra: { retryable: boolean; retryAfterMillis?: number; cause?: unknown }) =>
    new ExportError({ exporter: options.name, message, ...extra })

  return (payload: Uint8Array | string): Effect.Effect<ExportResult | void, ExportError> =>
    Effect.gen(function* () {
      const raw = typeof payload === "string" ? new TextEncoder().encode(payload) : payload
      const body = options.compression === "gzip"
        ? yield* Effect.promise(() => gzipAsync(raw)).pipe(Effect.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)))
        : raw
      const request = HttpClientRequest.post(options.url).pipe(
        HttpClientRequest.setHeaders(options.headers),
        HttpClientRequest.setHeaders(options.compression === "gzip" ? { "content-encoding": "gzip" } : {}),
        HttpClientRequest.bodyUint8Array(body, contentType)
      )
      const response = yield* plain.execute(request).pipe(
        Effect.flatMap((r) => Effect.map(r.arrayBuffer, (buffer) => ({ status: r.status, headers: r.headers, bytes: new Uint8Array(buffer) }))),
        Effect.timeoutFail({
          duration: options.timeout,
          onTimeout: () => fail(`no response within ${Duration.format(options.timeout)}`, { retryable: true })
        }),
        Effect.catchTag("RequestError", "ResponseError", (e) => Effect.fail(fail(`transport error: ${e.message}`, { retryable: true, cause: e })))
      )
      if (response.status >= 200 && response.status < 300) {
        return yield* Effect.try({
          try: () => partialSuccess(options.protocol, response.bytes),
          catch: (cause) => fail("unreadable response body", { retryable: false, cause })
        })
      }
      const detail = statusMessage(options.protocol, response.bytes)
      const message = `HTTP ${response.status}${detail === "" ? "" : `: ${detail}`}`
      if (!retryableStatus.has(response.status)) return yield* Effect.fail(fail(message, { retryable: false }))
      const after = parseRetryAfter(response.headers["retry-after"], Date.now())
      return yield* Effect.fail(fail(message, { retryable: true, ...(after === undefined ? {} : { retryAfterMillis: after }) }))
    }).pipe(Effect.withTracerEnabled(false))
}
