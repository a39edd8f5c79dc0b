/**
 * The audit browser: `sightline serve`. Pages rendered on the server from a Landscape, read-only:
 *
 * - `/`: the runs, most recent first (status, pipeline, start, duration, rows, rows/s, quarantined,
 *   telemetry, LLM tokens and cost), filtered by `?status=` and `?pipeline=`;
 * - `/runs/<runId>`: the pipeline graph (SVG, from the run's recorded configuration: a fork-join's
 *   branches in lanes) with per node counts, per node states, error rates
 *   and duration percentiles, outcomes, sinks, quarantine reasons with an example row each, external
 *   calls by type, service and status, LLM usage per node, and its integrity: the hash chain's end
 *   and, served by {@link layer}, `verify` on demand (`POST /runs/<runId>/verify` runs it in the
 *   background, one run at a time; the page follows it and shows its outcome and first problems);
 * - `/runs/<runId>/nodes/<name>`: the node's first 100 node states and calls, each
 *   linked to its row;
 * - `/runs/<runId>/rows/<rowId>`: `explain` as a timeline (source record, each step's hashes,
 *   duration, routing, calls with their redacted payloads, outcome) and forward `trace`;
 * - `/healthz` (`{"status":"ok"}` once the Landscape answers) and `/metrics` (Prometheus text
 *   format 0.0.4 of this process's Effect metrics).
 *
 * A page with a `running` run on it keeps itself current: a small inline script fetches it again
 * every half second (without script, it reloads every second); where the run runs in this process, its page also
 * lists its events as they are emitted (`/runs/<runId>/events`, Server-Sent Events from
 * {@link LiveEvents}) and its exporters' health. Nothing is fetched from elsewhere, and every value
 * from the Landscape is escaped (`&<>"'` and backquote) before it reaches the page; the script
 * writes events as text.
 *
 * @since 0.5.0
 */
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Context, Effect, Layer, Option, PubSub, Redacted, Schedule, Schema, Stream } from "effect"
import { createServer } from "node:http"
import { timingSafeEqual } from "node:crypto"
import { html as htmlOf, page, path } from "./internal/dashboard/html.js"
import * as Pages from "./internal/dashboard/pages.js"
import * as Verifier from "./internal/dashboard/verifier.js"
import { Landscape } from "./Landscape.js"
import * as Exporter from "./Exporter.js"
import * as PrometheusExporter from "./PrometheusExporter.js"
import { Telemetry } from "./Telemetry.js"
import type { TelemetryEvent } from "./TelemetryEvent.js"

/**
 * The dashboard cannot be served as asked: a host other than the loopback interface without a
 * token (the Landscape holds source rows and call payloads).
 *
 * @since 0.5.0
 * @category errors
 */
export class DashboardError extends Schema.TaggedError<DashboardError>()("DashboardError", {
  message: Schema.String
}) {}

/**
 * @since 0.5.0
 * @category models
 */
export interface Options {
  /** TCP port; 0 picks a free one. Default 8080. */
  readonly port?: number
  /** Interface to bind. Default `127.0.0.1`; any other requires `token`. */
  readonly host?: string
  /**
   * Required of every request but `/healthz`: `Authorization: Bearer <token>`, or `?token=<token>`
   * once (which sets an HttpOnly, SameSite=Strict cookie and redirects to the same page without it).
   */
  readonly token?: Redacted.Redacted<string>
}

const loopback = (host: string) => host === "127.0.0.1" || host === "::1" || host === "localhost"

const html = (body: string) => HttpServerResponse.text(body, { contentType: "text/html; charset=utf-8" })
const notFound = (what: string) =>
  HttpServerResponse.text(page("Not found", htmlOf`<h1>Not found</h1><p>${what} is not in this Landscape. <a href="/">Runs</a></p>`), {
    status: 404,
    contentType: "text/html; charset=utf-8"
  })

const param = (name: string) => Effect.map(HttpRouter.params, (p) => p[name] ?? "")
const search = (name: string) => Effect.map(HttpServerRequest.ParsedSearchParams, (p) => { const v = p[name]; return typeof v === "string" ? v : undefined })

/**
 * Events of the runs in this process, for the dashboard's live pages: a sliding `PubSub` (it keeps
 * the last {@link liveCapacity} events; a slow page loses the oldest, and the hub never waits).
 * Provide {@link layerLiveEvents} and add {@link liveExporter} to the `Telemetry` layer's exporters.
 *
 * @since 0.5.0
 * @category services
 */
export class LiveEvents extends Context.Tag("sightline/Dashboard/LiveEvents")<LiveEvents, PubSub.PubSub<TelemetryEvent>>() {}

/** Events a live page may fall behind by before it loses the oldest. @since 0.5.0 */
export const liveCapacity = 4096

/**
 * The process's {@link LiveEvents}, shut down with the layer's scope (its subscribers' streams end).
 *
 * @since 0.5.0
 * @category layers
 */
export const layerLiveEvents: Layer.Layer<LiveEvents> = Layer.scoped(LiveEvents, Effect.acquireRelease(PubSub.sliding<TelemetryEvent>(liveCapacity), PubSub.shutdown))

/**
 * The exporter that publishes every event to {@link LiveEvents}: `Telemetry.layer({ exporters:
 * [Dashboard.liveExporter, …] })`. Publishing to a sliding `PubSub` never waits.
 *
 * @since 0.5.0
 * @category exporters
 */
export const liveExporter: Effect.Effect<Exporter.Exporter, never, LiveEvents> = Effect.map(LiveEvents, (pubsub) =>
  Exporter.make({ name: "dashboard", export: (batch) => Effect.asVoid(PubSub.publishAll(pubsub, batch)) }))

const encoder = new TextEncoder()
const sse = (event: string, data: unknown) => encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)

/**
 * `/runs/<runId>/events`: Server-Sent Events of the run (`event: telemetry`, the event as JSON) as
 * they are emitted in this process, and every second `event: health` (`Telemetry.health`: each
 * exporter's state). 404 where the process has no {@link LiveEvents}.
 */
const liveRoute = HttpRouter.get("/runs/:runId/events", Effect.gen(function* () {
  const runId = yield* param("runId")
  const live = yield* Effect.serviceOption(LiveEvents)
  if (Option.isNone(live)) return HttpServerResponse.text("live events are served by a dashboard in the run's process (Dashboard.layerLiveEvents and Dashboard.liveExporter)\n", { status: 404 })
  const telemetry = yield* Effect.serviceOption(Telemetry)
  const events = Stream.fromPubSub(live.value).pipe(
    Stream.filter((e) => "runId" in e && e.runId === runId),
    Stream.map((e) => sse("telemetry", e))
  )
  const health = Option.match(telemetry, {
    onNone: () => Stream.empty,
    onSome: (t) => Stream.repeatEffectWithSchedule(Effect.map(t.health, (h) => sse("health", h)), Schedule.spaced("1 second"))
  })
  return HttpServerResponse.stream(Stream.merge(events, health), {
    contentType: "text/event-stream",
    headers: { "cache-control": "no-cache" }
  })
}))

/**
 * The dashboard's routes over the `Landscape` in context (read only: its pages call the read API
 * alone), to serve or to mount in an app of your own.
 *
 * @since 0.5.0
 * @category routes
 */
export const router = HttpRouter.empty.pipe(
  HttpRouter.get("/", Effect.gen(function* () {
    const status = yield* search("status")
    const pipeline = yield* search("pipeline")
    return html(yield* Pages.runs({ ...(status === undefined ? {} : { status }), ...(pipeline === undefined ? {} : { pipeline }) }))
  })),
  HttpRouter.get("/runs/:runId", Effect.gen(function* () {
    const runId = yield* param("runId")
    const live = Option.isSome(yield* Effect.serviceOption(LiveEvents))
    return Option.match(yield* Pages.run(runId, live), { onNone: () => notFound(`run ${runId}`), onSome: html })
  })),
  HttpRouter.get("/runs/:runId/nodes/:node", Effect.gen(function* () {
    return html(yield* Pages.node(yield* param("runId"), yield* param("node")))
  })),
  HttpRouter.get("/runs/:runId/rows/:rowId", Effect.gen(function* () {
    const runId = yield* param("runId")
    const rowId = yield* param("rowId")
    return Option.match(yield* Pages.row(runId, rowId), { onNone: () => notFound(`row ${rowId} of run ${runId}`), onSome: html })
  })),
  HttpRouter.post("/runs/:runId/verify", Effect.gen(function* () {
    const runId = yield* param("runId")
    const verifier = yield* Effect.serviceOption(Verifier.Verifier)
    if (Option.isNone(verifier)) return HttpServerResponse.text("verify is served by Dashboard.layer (sightline verify verifies from the command line)\n", { status: 404 })
    if (Option.isNone(yield* Effect.flatMap(Landscape, (l) => l.getRun(runId)))) return notFound(`run ${runId}`)
    yield* verifier.value.start(runId)
    return HttpServerResponse.redirect(`${path("runs", runId)}#integrity`, { status: 303 })
  })),
  liveRoute,
  HttpRouter.get("/healthz", Effect.as(Effect.flatMap(Landscape, (l) => l.listRuns({ limit: 1 })), HttpServerResponse.unsafeJson({ status: "ok" }))),
  PrometheusExporter.route()
)

const cookieName = "sightline_token"

const matches = (given: string | undefined, token: string) => {
  if (given === undefined) return false
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** Requires the token of every request but `/healthz` (see {@link Options.token}). */
const requireToken = (token: Redacted.Redacted<string>) =>
  HttpMiddleware.make((app) =>
    Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const url = new URL(request.url, "http://dashboard")
      if (url.pathname === "/healthz") return yield* app
      const secret = Redacted.value(token)
      const bearer = /^Bearer (.+)$/.exec(request.headers["authorization"] ?? "")?.[1]
      if (matches(bearer, secret) || matches(request.cookies[cookieName], secret)) return yield* app
      if (matches(url.searchParams.get("token") ?? undefined, secret)) {
        url.searchParams.delete("token")
        return yield* HttpServerResponse.redirect(url.pathname + url.search, { status: 303 }).pipe(
          HttpServerResponse.setCookie(cookieName, secret, { httpOnly: true, sameSite: "strict", path: "/" })
        )
      }
      return HttpServerResponse.text("a token is required: Authorization: Bearer <token>, or ?token=<token>\n", { status: 401 })
    })
  )

/**
 * An HTTP server on `host:port` serving {@link router} for the layer's lifetime, over the
 * `Landscape` it is given (open it `readonly`: `sightline serve` does); its `HttpServer` says the
 * address it bound (port 0 picks one). Fails with {@link DashboardError} for a host other than the
 * loopback interface without a token, and with `ServeError` when the port cannot be bound.
 *
 * @since 0.5.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<HttpServer.HttpServer, DashboardError | ServeError, Landscape> => {
  const host = options.host ?? "127.0.0.1"
  if (!loopback(host) && options.token === undefined) {
    return Layer.fail(new DashboardError({ message: `serving on ${host} needs a token (--token, or SIGHTLINE_DASHBOARD_TOKEN): the Landscape holds source rows and call payloads` }))
  }
  const app = options.token === undefined ? router : requireToken(options.token)(router)
  return HttpServer.serve(app).pipe(
    HttpMiddleware.withTracerDisabledWhen(() => true),
    Layer.provide(Verifier.layer),
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: options.port ?? 8080, host }))
  )
}
