/**
 * W3C Trace Context (`traceparent`, `tracestate`; https://www.w3.org/TR/trace-context-2/) and
 * W3C Baggage (https://www.w3.org/TR/baggage/), carried beside Effect's span.
 *
 * - Parsing is strict, by the grammar of the specification's section "Trace Context HTTP Headers
 *   Format": lowercase hex, all-zero ids invalid, version `ff` invalid, version `00` exactly 55
 *   characters, a higher version parsed by its first 55 characters when a `-` follows them,
 *   surrounding spaces and tabs ignored. An invalid `traceparent` is discarded with its
 *   `tracestate` (a new trace starts). A `tracestate` is the comma-joined list of all its headers,
 *   at most 32 members, each `key=value` by the grammar (key ≤ 256 characters of `a-z 0-9 _ - * / @`,
 *   starting with a letter or digit; value ≤ 256 printable ASCII characters but `,` and `=`, not
 *   ending in a space); one bad member discards the whole header.
 * - Effect's `Span` has no trace state and no flags but `sampled`, so this module keeps them in
 *   {@link CurrentTraceContext} (a `Context.Reference`), beside the span: the inbound middleware
 *   sets it; {@link headers} reads it with the current span to build the outbound headers.
 *   Flags re-emitted: sampled (0x01) and random trace id (0x02, Level 2); a trace started here has
 *   both (Effect's trace ids are random).
 * - Baggage is opt-in: {@link headers} adds `baggage` only when asked to, and drops members whose
 *   key names a secret (the redaction rules of the audited clients, DESIGN.md invariant 8).
 *
 * The official suite (w3c/trace-context `test/`, 41 tests) passes at `STRICT_LEVEL=2 SPEC_LEVEL=2`
 * against `npm run w3c:service` (`test/w3c/service.ts`).
 *
 * @since 0.2.0
 */
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpApp from "@effect/platform/HttpApp"
import { Context, Effect, type Layer, Option, type Scope, Tracer } from "effect"
import * as Redaction from "./internal/redaction.js"

/** @since 0.2.0 */
export interface TraceParent {
  readonly traceId: string
  /** The caller's span id. */
  readonly parentId: string
  /** Trace flags; bit 0x01 sampled, 0x02 random trace id. */
  readonly flags: number
}

/** Ordered `key=value` members, first = most recent. @since 0.2.0 */
export type TraceState = ReadonlyArray<readonly [key: string, value: string]>

/** `[key, value]` members of W3C Baggage, values decoded. @since 0.2.0 */
export type Baggage = ReadonlyArray<readonly [key: string, value: string]>

const HEX32 = /^[0-9a-f]{32}$/
const HEX16 = /^[0-9a-f]{16}$/
const HEX2 = /^[0-9a-f]{2}$/
const ZERO32 = "0".repeat(32)
const ZERO16 = "0".repeat(16)
const OWS = /^[ \t]+|[ \t]+$/g

/** Header values as one list (a field given several times keeps each value). */
type HeaderInput = string | ReadonlyArray<string> | undefined

const values = (input: HeaderInput): ReadonlyArray<string> => (input === undefined ? [] : typeof input === "string" ? [input] : input)

/**
 * Parses a `traceparent`; `None` when it is absent, repeated, or invalid.
 *
 * @since 0.2.0
 */
export const parseTraceparent = (input: HeaderInput): Option.Option<TraceParent> => {
  const all = values(input)
  if (all.length !== 1) return Option.none()
  const header = (all[0] as string).replace(OWS, "")
  const version = header.slice(0, 2)
  if (!HEX2.test(version) || version === "ff") return Option.none()
  if (version === "00" ? header.length !== 55 : header.length < 55 || (header.length > 55 && header[55] !== "-")) {
    return Option.none()
  }
  const [, traceId = "", parentId = "", flags = ""] = header.slice(0, 55).split("-")
  if (header[2] !== "-" || header[35] !== "-" || header[52] !== "-") return Option.none()
  if (!HEX32.test(traceId) || traceId === ZERO32 || !HEX16.test(parentId) || parentId === ZERO16 || !HEX2.test(flags)) {
    return Option.none()
  }
  return Option.some({ traceId, parentId, flags: Number.parseInt(flags, 16) })
}

/**
 * `00-<traceId>-<spanId>-<flags>`, keeping only the flags this version defines (sampled, random).
 *
 * @since 0.2.0
 */
export const formatTraceparent = (traceId: string, spanId: string, flags: number): string =>
  `00-${traceId}-${spanId}-${(flags & 0x03).toString(16).padStart(2, "0")}`

const KEY = /^[a-z0-9][a-z0-9_\-*/@]{0,255}$/
const VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/

/**
 * Parses every `tracestate` header of a request, joined in order; `None` when there is none, when
 * all are empty, or when any member breaks the grammar or there are more than 32 (the whole state
 * is discarded, as the specification says). A repeated key keeps its first value.
 *
 * @since 0.2.0
 */
export const parseTracestate = (input: HeaderInput): Option.Option<TraceState> => {
  const members: Array<readonly [string, string]> = []
  const seen = new Set<string>()
  for (const header of values(input)) {
    for (const raw of header.split(",")) {
      const member = raw.replace(OWS, "")
      if (member === "") continue
      const eq = member.indexOf("=")
      if (eq < 0) return Option.none()
      const key = member.slice(0, eq)
      const value = member.slice(eq + 1)
      if (!KEY.test(key) || !VALUE.test(value)) return Option.none()
      if (seen.has(key)) continue
      seen.add(key)
      members.push([key, value])
    }
  }
  if (members.length === 0 || members.length > 32) return Option.none()
  return Option.some(members)
}

/** @since 0.2.0 */
export const formatTracestate = (state: TraceState): string => state.map(([k, v]) => `${k}=${v}`).join(",")

const BAGGAGE_KEY = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/**
 * Parses `baggage` headers (W3C Baggage: `key=value` members, values percent-encoded, properties
 * after `;` ignored); `None` when absent or malformed.
 *
 * @since 0.2.0
 */
export const parseBaggage = (input: HeaderInput): Option.Option<Baggage> => {
  const members: Array<readonly [string, string]> = []
  for (const header of values(input)) {
    for (const raw of header.split(",")) {
      const member = (raw.split(";")[0] ?? "").replace(OWS, "")
      if (member === "") continue
      const eq = member.indexOf("=")
      if (eq < 1) return Option.none()
      const key = member.slice(0, eq).replace(OWS, "")
      if (!BAGGAGE_KEY.test(key)) return Option.none()
      try {
        members.push([key, decodeURIComponent(member.slice(eq + 1).replace(OWS, ""))])
      } catch {
        return Option.none()
      }
    }
  }
  return members.length === 0 ? Option.none() : Option.some(members)
}

/** @since 0.2.0 */
export const formatBaggage = (baggage: Baggage): string => baggage.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join(",")

/**
 * What travels beside Effect's span: the trace state, the random-trace-id flag and the baggage of
 * the trace the current fiber belongs to.
 *
 * @since 0.2.0
 */
export interface TraceContextValue {
  readonly tracestate: TraceState
  /**
   * The caller's sampled flag. Effect's native spans are always `sampled`, so the caller's "not
   * sampled" is kept here and re-emitted as received (Trace Context §3.2.2.5: propagate the flag
   * when no new decision was made).
   */
  readonly sampled: boolean
  readonly random: boolean
  readonly baggage: Baggage
}

/**
 * @since 0.2.0
 * @category references
 */
export class CurrentTraceContext extends Context.Reference<CurrentTraceContext>()("sightline/TraceContext", {
  defaultValue: (): TraceContextValue => ({ tracestate: [], sampled: true, random: true, baggage: [] })
}) {}

/** @since 0.2.0 */
export interface Incoming {
  /** The caller's span, to continue (`Effect.withParentSpan`), when its `traceparent` is valid. */
  readonly parent: Option.Option<Tracer.ExternalSpan>
  readonly context: TraceContextValue
}

/**
 * Reads the trace context of incoming request headers (lower-case names; repeated fields as
 * arrays, or comma-joined as Node joins them).
 *
 * @since 0.2.0
 */
export const fromHeaders = (get: (name: string) => HeaderInput): Incoming => {
  const parent = parseTraceparent(get("traceparent"))
  if (Option.isNone(parent)) return { parent: Option.none(), context: { tracestate: [], sampled: true, random: true, baggage: [] } }
  const p = parent.value
  return {
    parent: Option.some(Tracer.externalSpan({ traceId: p.traceId, spanId: p.parentId, sampled: (p.flags & 0x01) === 1 })),
    context: {
      tracestate: Option.getOrElse(parseTracestate(get("tracestate")), () => []),
      sampled: (p.flags & 0x01) === 1,
      random: (p.flags & 0x02) === 2,
      baggage: Option.getOrElse(parseBaggage(get("baggage")), () => [])
    }
  }
}

/** @since 0.2.0 */
export interface HeaderOptions {
  /** Send `baggage` too. Default `false`: baggage is opt-in. */
  readonly baggage?: boolean
  /** Redaction for baggage members: a member whose key names a secret is not sent. */
  readonly redaction?: Redaction.RedactionOptions
}

/**
 * The outbound headers for `span` (a client span, usually) and the current trace context:
 * `traceparent`, `tracestate` when there is one, `baggage` when asked.
 *
 * @since 0.2.0
 */
export const headersFor = (span: Tracer.AnySpan, options: HeaderOptions = {}): Effect.Effect<Record<string, string>> =>
  Effect.map(CurrentTraceContext, (ctx) => {
    const flags = (span.sampled && ctx.sampled ? 0x01 : 0) | (ctx.random ? 0x02 : 0)
    const out: Record<string, string> = { traceparent: formatTraceparent(span.traceId, span.spanId, flags) }
    if (ctx.tracestate.length > 0) out["tracestate"] = formatTracestate(ctx.tracestate)
    if (options.baggage === true && ctx.baggage.length > 0) {
      const redactor = Redaction.make(options.redaction)
      const placeholder = redactor.placeholder
      const redacted = redactor.json(Object.fromEntries(ctx.baggage), new Set())
      const kept = ctx.baggage.filter(([k]) => (redacted as Record<string, unknown>)[k] !== placeholder)
      if (kept.length > 0) out["baggage"] = formatBaggage(kept)
    }
    return out
  })

/**
 * {@link headersFor} the current span (`traceparent` omitted outside any span).
 *
 * @since 0.2.0
 */
export const headers = (options: HeaderOptions = {}): Effect.Effect<Record<string, string>> =>
  Effect.flatMap(Effect.option(Effect.currentSpan), (span) => (Option.isSome(span) ? headersFor(span.value, options) : Effect.succeed({})))

/**
 * Inbound middleware for `@effect/platform`'s HTTP server: the request runs in a `server` span
 * (`http.server <METHOD>`) that continues the caller's trace when its `traceparent` is valid (a
 * new trace otherwise), with the caller's `tracestate`, random flag and baggage in
 * {@link CurrentTraceContext}. Use it with {@link serve}, which turns off the platform's own
 * server tracer (its parser accepts what the specification rejects).
 *
 * @since 0.2.0
 */
export const middleware = HttpMiddleware.make((app) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const incoming = fromHeaders((name) => request.headers[name])
    return app.pipe(
      Effect.withSpan(`http.server ${request.method}`, {
        kind: "server",
        ...(Option.isSome(incoming.parent) ? { parent: incoming.parent.value } : { root: true }),
        captureStackTrace: false
      }),
      Effect.provideService(CurrentTraceContext, incoming.context)
    )
  })
)

/**
 * `HttpServer.serve` with {@link middleware}, and the platform's own server tracer off.
 *
 * @since 0.2.0
 */
export const serve = <E, R>(app: HttpApp.Default<E, R>): Layer.Layer<never, never, HttpServer.HttpServer | Exclude<R, HttpServerRequest.HttpServerRequest | Scope.Scope>> =>
  HttpServer.serve(middleware(app)).pipe(HttpMiddleware.withTracerDisabledWhen(() => true))

/**
 * Correlation ids of the current Effect span, for stamping events: `{ traceId, spanId }`, or `{}`
 * outside any span. Never fails.
 *
 * @since 0.2.0
 */
export const currentIds: Effect.Effect<{ readonly traceId?: string; readonly spanId?: string }> = Effect.map(
  Effect.option(Effect.currentSpan),
  Option.match({
    onNone: () => ({}),
    onSome: (span) => ({ traceId: span.traceId, spanId: span.spanId })
  })
)
