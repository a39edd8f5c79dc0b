/**
 * The W3C Trace Context test service (`npm run w3c:service`): listens on 127.0.0.1, port `PORT`
 * (default 5000), endpoint `POST /test`. The official harness (w3c/trace-context `test/`) posts a
 * JSON array `[{ url, arguments }]` with `traceparent` / `tracestate` headers; for each element the
 * service posts `arguments` (JSON) to `url`, each from its own client span, with the headers
 * Sightline propagates (`TraceContext.headers`). Inbound context is read by `TraceContext.serve`.
 *
 * Run the suite: `cd <w3c/trace-context>/test && STRICT_LEVEL=2 SPEC_LEVEL=2 /usr/bin/python3 test.py http://127.0.0.1:5000/test`.
 */
import { HttpClient, HttpClientRequest, HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"
import { createServer } from "node:http"
import * as TraceContext from "../../src/TraceContext.js"

interface Call {
  readonly url: string
  readonly arguments: ReadonlyArray<Call>
}
const Call: Schema.Schema<Call> = Schema.Struct({
  url: Schema.String,
  arguments: Schema.Array(Schema.suspend((): Schema.Schema<Call> => Call))
})

const callback = (client: HttpClient.HttpClient, call: Call) =>
  Effect.gen(function* () {
    const headers = yield* TraceContext.headers()
    yield* client.execute(HttpClientRequest.post(call.url).pipe(HttpClientRequest.setHeaders(headers), HttpClientRequest.bodyUnsafeJson(call.arguments)))
  }).pipe(Effect.withSpan("w3c.callback", { kind: "client" }), Effect.scoped, Effect.ignore)

const router = HttpRouter.empty.pipe(
  HttpRouter.post(
    "/test",
    Effect.gen(function* () {
      const calls = yield* HttpServerRequest.schemaBodyJson(Schema.Array(Call))
      const client = (yield* HttpClient.HttpClient).pipe(HttpClient.withTracerPropagation(false), HttpClient.withTracerDisabledWhen(() => true))
      for (const call of calls) yield* callback(client, call)
      return HttpServerResponse.empty({ status: 200 })
    }).pipe(Effect.catchAll(() => Effect.succeed(HttpServerResponse.empty({ status: 400 }))))
  )
)

const port = Number(process.env.PORT ?? 5000)

const ServiceLive = TraceContext.serve(router).pipe(
  Layer.provide(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" })),
  Layer.provide(NodeHttpClient.layerUndici)
)

NodeRuntime.runMain(Effect.zipRight(Effect.logInfo(`W3C trace-context test service on http://127.0.0.1:${port}/test`), Layer.launch(ServiceLive)))
