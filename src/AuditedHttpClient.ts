/**
 * An `@effect/platform` `HttpClient` whose every request is recorded in the Landscape, then emitted
 * as `ExternalCallCompleted` (DESIGN.md invariant 4), through {@link recordCall}.
 *
 * The client's requirements are `CallScope | Landscape | Telemetry`: using it outside a transform,
 * gate, source or sink does not compile (invariant 1); the engine provides the scope, so each call
 * carries the `stateId` of its node state or the `operationId` of its source/sink operation.
 *
 * Per request the `calls` row holds (all redacted before anything is stored, exported or logged,
 * invariant 8):
 * - `request`: `{ method, url, headers, body? }`; `response`: `{ status, headers, body? }`; each
 *   body is `{ contentType, bytes, truncated, sha256, json | text }` where `bytes` is the full size
 *   in bytes, the stored text is capped at `maxBodyBytes`, `sha256` is the hash of the whole
 *   redacted body text; binary bodies are stored as `{ contentType, bytes, omitted: "binary" }`.
 * - `requestHash` / `responseHash`: SHA-256 (RFC 8785 canonical JSON) of the stored objects.
 * - `attributes` with OpenTelemetry HTTP names (semantic conventions, `http` registry):
 *   `http.request.method`, `url.full` (redacted), `server.address`, `server.port`,
 *   `http.response.status_code`, `error.type`, plus `sightline.http.*` body sizes and flags.
 * - `latencyMs`: from sending the request to the end of the response body, milliseconds; also
 *   recorded in `pipeline.client.call.histogram.duration` (seconds; labels `call_type` `http`,
 *   `provider` the server's host, `status`).
 *
 * Failure semantics: the request's own error (`HttpClientError`, including the time-out, reported
 * as a `RequestError` with reason `Transport`) reaches the caller unchanged after it is recorded. A
 * status ≥ 400 is returned as a response, as by the plain client, and recorded with status
 * `error`. A Landscape failure while recording is a defect (see `CallScope.recordCall`); telemetry
 * never fails (invariant 2), so it never changes the result.
 *
 * Trace context: the client opens one `http.client <METHOD>` span (kind client) with redacted
 * attributes and sends `traceparent` (W3C Trace Context, `TraceContext.headersFor`) for it, with the
 * `tracestate` of the trace it belongs to (`TraceContext.CurrentTraceContext`, set by the inbound
 * middleware); a `tracestate` header the caller sets is sent as is instead. W3C `baggage` is sent
 * only with `propagateBaggage: true`, without members whose key names a secret. The platform's own
 * client span is disabled because it would export the query string unredacted.
 *
 * The response body is read in full (to record it) and handed back to the caller as a new response
 * over the same bytes, so `text`, `json`, `arrayBuffer` and `stream` all still work.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as UrlParams from "@effect/platform/UrlParams"
import { Context, Duration, Effect, Either, Exit, Layer } from "effect"
import type * as RateLimiter from "effect/RateLimiter"
import { type CallScope, recordCall } from "./CallScope.js"
import * as ClientMetrics from "./internal/clientMetrics.js"
import * as RateLimit from "./internal/rateLimit.js"
import { hashBytes } from "./internal/hashing.js"
import * as Redaction from "./internal/redaction.js"
import type { Landscape } from "./Landscape.js"
import type { Telemetry } from "./Telemetry.js"
import type { AttributeValue } from "./TelemetryEvent.js"
import * as TraceContext from "./TraceContext.js"

/**
 * Options of {@link make}, {@link layer} and {@link wrap}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** What to redact. Default: see `RedactionOptions` (authorization, cookie, API-key headers; common secret query parameters and body fields). */
  readonly redaction?: Redaction.RedactionOptions
  /** Largest body text stored per request or response, bytes (UTF-8). Default 65 536 (64 KiB). */
  readonly maxBodyBytes?: number
  /** Time-out of one request including its response body. Default 30 seconds. */
  readonly timeout?: Duration.DurationInput
  /** Send W3C `baggage` from `TraceContext.CurrentTraceContext` (redacted). Default `false`. */
  readonly propagateBaggage?: boolean
  /**
   * The service's rate limit: each request first takes a permit of this Effect `RateLimiter`
   * (`RateLimiter.make({ limit, interval })`; share one between every client of one service), and
   * the wait is recorded on the call (`sightline.rate_limit.wait_ms`, milliseconds; not part of
   * `latencyMs`). Default: none.
   */
  readonly rateLimit?: RateLimiter.RateLimiter
}

/** Redaction options (re-exported): header names, query parameters, JSON body fields. @since 0.1.0 */
export type RedactionOptions = Redaction.RedactionOptions

/**
 * The audited client: a plain `HttpClient` whose requests need `CallScope`, `Landscape` and `Telemetry`.
 *
 * @since 0.1.0
 */
export type Client = HttpClient.HttpClient.With<HttpClientError.HttpClientError, CallScope | Landscape | Telemetry>

/**
 * @since 0.1.0
 * @category tags
 */
export class AuditedHttpClient extends Context.Tag("sightline/AuditedHttpClient")<AuditedHttpClient, Client>() {}

const textual = /json|^text\/|xml|x-www-form-urlencoded|javascript|graphql|yaml|csv/i

const noBodyStatus = new Set([101, 204, 205, 304])

interface BodyRecord {
  readonly [key: string]: unknown
}

const bodyRecord = (
  redactor: Redaction.Redactor,
  bytes: Uint8Array | string,
  contentType: string | undefined,
  maxBytes: number,
  found: Set<string>
): BodyRecord | undefined => {
  const size = typeof bytes === "string" ? Buffer.byteLength(bytes) : bytes.byteLength
  if (size === 0) return undefined
  const type = contentType ?? ""
  if (typeof bytes !== "string" && type !== "" && !textual.test(type)) {
    return { contentType: type, bytes: size, omitted: "binary" }
  }
  const raw = typeof bytes === "string" ? bytes : Buffer.from(bytes).toString("utf8")
  const redacted = redactor.text(raw, type, found)
  const capped = Redaction.cap(redacted, maxBytes)
  const base = { contentType: type, bytes: size, truncated: capped.truncated, sha256: hashBytes(redacted) }
  if (!capped.truncated && /json/i.test(type)) {
    try {
      return { ...base, json: JSON.parse(redacted) as unknown }
    } catch {
      // stored as text below
    }
  }
  return { ...base, text: capped.text }
}

const requestBody = (request: HttpClientRequest.HttpClientRequest): Uint8Array | string | undefined => {
  const body = request.body
  switch (body._tag) {
    case "Empty":
      return undefined
    case "Uint8Array":
      return body.body
    case "Raw":
      return typeof body.body === "string" ? body.body : body.body instanceof Uint8Array ? body.body : "[raw body]"
    case "FormData":
      return "[multipart form data]"
    case "Stream":
      return "[stream]"
  }
}

const describeError = (error: HttpClientError.HttpClientError): string => {
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : ""
  return `${error._tag} (${error.reason}) ${error.message}${cause}`
}

/**
 * Wraps `client` so each request is audited. Pure: no service is needed until a request runs.
 *
 * @since 0.1.0
 * @category constructors
 */
export const wrap = (client: HttpClient.HttpClient, options: Options = {}): Client => {
  const redactor = Redaction.make(options.redaction)
  const maxBodyBytes = options.maxBodyBytes ?? 65_536
  const timeout = Duration.decode(options.timeout ?? "30 seconds")
  const timeoutMs = Duration.toMillis(timeout)
  const inner = client.pipe(HttpClient.withTracerDisabledWhen(() => true))

  const execute = (request: HttpClientRequest.HttpClientRequest) =>
    Effect.useSpan(`http.client ${request.method}`, { kind: "client", captureStackTrace: false }, (span) =>
      Effect.gen(function* () {
        const found = new Set<string>()
        const url = UrlParams.makeUrl(request.url, request.urlParams, request.hash)
        const fullUrl = Either.isRight(url) ? url.right.toString() : request.url
        const redactedUrl = redactor.url(fullUrl, found)
        const requestHeaders = redactor.headers(request.headers, found)
        const reqBytes = requestBody(request)
        const reqContentType = request.body._tag === "Uint8Array" || request.body._tag === "Raw"
          ? request.body.contentType
          : request.headers["content-type"]
        const reqBody = reqBytes === undefined ? undefined : bodyRecord(redactor, reqBytes, reqContentType, maxBodyBytes, found)

        const attributes: Record<string, AttributeValue> = {
          "http.request.method": request.method,
          "url.full": redactedUrl
        }
        if (Either.isRight(url)) {
          attributes["server.address"] = url.right.hostname
          const port = url.right.port !== "" ? Number(url.right.port) : url.right.protocol === "https:" ? 443 : 80
          attributes["server.port"] = port
        }
        if (reqBody !== undefined) {
          attributes["sightline.http.request.body.size"] = reqBody["bytes"] as number
          attributes["sightline.http.request.body.truncated"] = reqBody["truncated"] === true
        }
        for (const [k, v] of Object.entries(attributes)) span.attribute(k, v)

        const propagated = yield* TraceContext.headersFor(span, {
          baggage: options.propagateBaggage === true,
          ...(options.redaction === undefined ? {} : { redaction: options.redaction })
        })
        if (request.headers["tracestate"] !== undefined) delete propagated["tracestate"]
        const sent = HttpClientRequest.setHeaders(request, propagated)
        const waitedMs = yield* RateLimit.acquire(options.rateLimit)
        if (waitedMs !== undefined) {
          attributes[RateLimit.waitAttribute] = waitedMs
          span.attribute(RateLimit.waitAttribute, waitedMs)
        }
        const start = performance.now()
        const storedRequest = {
          method: request.method,
          url: redactedUrl,
          headers: requestHeaders,
          ...(reqBody === undefined ? {} : { body: reqBody })
        }

        const recordFailure = (error: string, errorType: string) =>
          recordCall({
            callType: "http",
            status: "error",
            request: storedRequest,
            attributes: { ...attributes, "error.type": errorType },
            error: redactor.scrub(error, found),
            latencyMs: performance.now() - start
          })

        const exit = yield* inner.execute(sent).pipe(
          Effect.flatMap((response) =>
            Effect.map(response.arrayBuffer, (buffer) => ({ response, bytes: new Uint8Array(buffer) }))
          ),
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () =>
              new HttpClientError.RequestError({
                request,
                reason: "Transport",
                description: `timed out after ${timeoutMs} ms`
              })
          }),
          Effect.onInterrupt(() => recordFailure("interrupted", "interrupted")),
          Effect.exit
        )
        const latencyMs = performance.now() - start
        const host = Either.isRight(url) ? url.right.hostname : "unknown"
        const failed = Exit.isFailure(exit) || exit.value.response.status >= 400
        yield* ClientMetrics.recordCall("http", host, failed ? "error" : "success", latencyMs)

        if (Exit.isFailure(exit)) {
          const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
          const message = failure === undefined ? "defect" : describeError(failure)
          span.attribute("error.type", failure === undefined ? "defect" : failure._tag)
          yield* recordCall({
            callType: "http",
            status: "error",
            request: storedRequest,
            attributes: { ...attributes, "error.type": failure === undefined ? "defect" : `${failure._tag}.${failure.reason}` },
            error: redactor.scrub(message, found),
            latencyMs
          })
          return yield* Effect.failCause(exit.cause)
        }

        const { bytes, response } = exit.value
        const responseHeaders = redactor.headers(response.headers, found)
        const resBody = bodyRecord(redactor, bytes, response.headers["content-type"], maxBodyBytes, found)
        const status = response.status
        const responseAttributes: Record<string, AttributeValue> = {
          ...attributes,
          "http.response.status_code": status,
          "sightline.http.response.body.size": bytes.byteLength,
          "sightline.http.response.body.truncated": resBody?.["truncated"] === true
        }
        if (status >= 400) responseAttributes["error.type"] = String(status)
        span.attribute("http.response.status_code", status)
        yield* recordCall({
          callType: "http",
          status: status >= 400 ? "error" : "success",
          request: storedRequest,
          response: { status, headers: responseHeaders, ...(resBody === undefined ? {} : { body: resBody }) },
          attributes: responseAttributes,
          ...(status >= 400 ? { error: `HTTP ${status}` } : {}),
          latencyMs
        })
        const web = new Response(noBodyStatus.has(status) ? null : bytes, {
          status,
          headers: Object.entries(response.headers) as Array<[string, string]>
        })
        return HttpClientResponse.fromWeb(request, web)
      }).pipe(Effect.withParentSpan(span))
    )

  return HttpClient.makeWith(
    (effect: Effect.Effect<HttpClientRequest.HttpClientRequest>) => Effect.flatMap(effect, execute),
    Effect.succeed
  )
}

/**
 * Builds an audited client over the `HttpClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Client, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => wrap(client, options))

/**
 * The {@link AuditedHttpClient} service over the `HttpClient` in context (e.g.
 * `NodeHttpClient.layerUndici` or `FetchHttpClient.layer`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<AuditedHttpClient, never, HttpClient.HttpClient> =>
  Layer.effect(AuditedHttpClient, make(options))

/** Header names redacted by default (lower case). @since 0.1.0 */
export const defaultRedactedHeaders: ReadonlyArray<string> = Redaction.defaultHeaders
