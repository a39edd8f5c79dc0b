import { HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Layer, Logger, LogLevel, pipe, Stream } from "effect"
import { join } from "node:path"
import { AuditedHttpClient, Exporter, Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Telemetry, TelemetryEvent, TestExporter } from "../src/index.js"
import { auditLayers, databaseBytes, readCalls, refusedUrl, runPipeline, testServer, tmpDir } from "./support/server-helpers.js"

/** The audited client over undici, whose dispatcher lives as long as the test's scope. */
const client = (options: AuditedHttpClient.Options = {}) =>
  Effect.flatMap(Layer.build(NodeHttpClient.layerUndici), (ctx) => Effect.provide(AuditedHttpClient.make(options), ctx))

const json = (text: string | null): Record<string, unknown> => JSON.parse(text ?? "null") as Record<string, unknown>

describe("AuditedHttpClient", () => {
  it.scopedLive("records each call in a transform (state scope) then emits, with OTel HTTP attributes and trace context", () =>
    Effect.gen(function* () {
      const { baseUrl, seen } = yield* testServer()
      const dir = tmpDir("http-ok")
      const http = yield* client()
      const rows = [1, 2, 3].map((id) => ({ id, path: `/ok?id=${id}` }))
      const outcome = yield* Effect.gen(function* () {
        const summary = yield* runPipeline(rows, (row) =>
          http.execute(HttpClientRequest.get(`${baseUrl}${row.path}`, { headers: { tracestate: "vendor=abc" } })).pipe(
            Effect.flatMap((r) => Effect.map(r.json, (body) => ({ id: row.id, status: r.status, body })))
          ), dir)
        const events = yield* Effect.flatMap(TestExporter.TestExporter, (t) => t.eventsOf("ExternalCallCompleted"))
        return { summary, events }
      }).pipe(Effect.provide(auditLayers(dir)))

      expect(outcome.summary.rowsPerSink).toEqual({ out: 3 })
      expect(outcome.summary.quarantined).toBe(0)
      const calls = yield* readCalls(dir)
      expect(calls).toHaveLength(3)
      for (const call of calls) {
        expect(call.state_id).not.toBeNull()
        expect(call.operation_id).toBeNull()
        expect(call.status).toBe("success")
        expect(call.request_hash).toMatch(/^[0-9a-f]{64}$/)
        expect(call.response_hash).toMatch(/^[0-9a-f]{64}$/)
        expect(call.latency_ms).toBeGreaterThan(0)
        const attributes = json(call.attributes_json)
        expect(attributes["http.request.method"]).toBe("GET")
        expect(attributes["http.response.status_code"]).toBe(200)
        expect(attributes["server.address"]).toBe("127.0.0.1")
        expect(attributes["url.full"]).toMatch(new RegExp(`^${baseUrl}/ok\\?id=\\d$`))
        expect((json(call.response_json)["body"] as Record<string, unknown>)["json"]).toEqual({ ok: true, n: 1 })
      }
      // Landscape first: every emitted event names a call already in the table, same ids.
      expect(outcome.events).toHaveLength(3)
      for (const event of outcome.events) {
        const call = calls.find((c) => c.call_id === event.callId)
        expect(call).toBeDefined()
        expect(event.stateId).toBe(call!.state_id)
        expect(event.operationId).toBeUndefined()
        expect(event.rowId).toBeDefined()
        expect(event.attributes["http.response.status_code"]).toBe(200)
        // traceparent sent for the client span the event was emitted in
        const received = seen.find((s) => s.path === new URL(String(event.attributes["url.full"])).pathname + new URL(String(event.attributes["url.full"])).search)
        expect(received?.headers["traceparent"]).toBe(`00-${event.traceId}-${event.spanId}-03`) // sampled, random trace id (W3C Level 2)
        expect(received?.headers["tracestate"]).toBe("vendor=abc")
      }
    }))

  it.scopedLive("4xx and 5xx: the response reaches the caller unchanged, the call is recorded as an error", () =>
    Effect.gen(function* () {
      const { baseUrl } = yield* testServer()
      const dir = tmpDir("http-status")
      const http = yield* client()
      const rows = [{ id: 1, path: "/missing" }, { id: 2, path: "/boom" }]
      const summary = yield* runPipeline(rows, (row) =>
        http.get(`${baseUrl}${row.path}`).pipe(Effect.flatMap((r) => Effect.map(r.text, (text) => ({ status: r.status, text })))), dir).pipe(
        Effect.provide(auditLayers(dir))
      )
      expect(summary.rowsPerSink).toEqual({ out: 2 })
      const calls = yield* readCalls(dir)
      expect(calls.map((c) => [c.status, c.error, json(c.attributes_json)["http.response.status_code"], json(c.attributes_json)["error.type"]])).toEqual([
        ["error", "HTTP 404", 404, "404"],
        ["error", "HTTP 500", 500, "500"]
      ])
      expect((json(calls[1]!.response_json)["body"] as Record<string, unknown>)["text"]).toBe("internal error")
    }))

  it.scopedLive("time-out and connection refused reach the caller as typed RequestError and are recorded", () =>
    Effect.gen(function* () {
      const { baseUrl } = yield* testServer()
      const refused = yield* refusedUrl
      const dir = tmpDir("http-fail")
      const http = yield* client({ timeout: "200 millis" })
      const rows = [{ id: 1, path: `${baseUrl}/slow` }, { id: 2, path: `${refused}/nothing` }]
      const started = Date.now()
      const summary = yield* runPipeline(rows, (row) =>
        http.get(row.path).pipe(
          Effect.as("ok"),
          // the caller sees the typed error
          Effect.catchTag("RequestError", (e) => Effect.succeed(`${e._tag}/${e.reason}`))
        ).pipe(Effect.map((result) => ({ id: row.id, result }))), dir).pipe(Effect.provide(auditLayers(dir)))
      expect(Date.now() - started).toBeLessThan(4000)
      expect(summary.rowsPerSink).toEqual({ out: 2 })
      const calls = yield* readCalls(dir)
      expect(calls.map((c) => c.status)).toEqual(["error", "error"])
      expect(calls[0]!.error).toContain("timed out after 200 ms")
      expect(json(calls[0]!.attributes_json)["error.type"]).toBe("RequestError.Transport")
      expect(calls[0]!.latency_ms).toBeGreaterThanOrEqual(190)
      expect(calls[1]!.error).toMatch(/RequestError \(Transport\)/)
      expect(calls[1]!.response_json).toBeNull()
      const { readFileSync } = yield* Effect.promise(() => import("node:fs"))
      const out = readFileSync(join(dir, "out.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as unknown)
      expect(out).toEqual([{ id: 1, result: "RequestError/Transport" }, { id: 2, result: "RequestError/Transport" }])
    }))

  it.scopedLive("oversized body: stored capped with truncated flag, full size and hash; the caller gets every byte", () =>
    Effect.gen(function* () {
      const { baseUrl } = yield* testServer({ bigBytes: 200_000 })
      const dir = tmpDir("http-big")
      const http = yield* client({ maxBodyBytes: 1024 })
      const summary = yield* runPipeline([{ id: 1, path: "/big" }], (row) =>
        http.get(`${baseUrl}${row.path}`).pipe(Effect.flatMap((r) => r.text), Effect.map((t) => ({ length: t.length }))), dir).pipe(
        Effect.provide(auditLayers(dir))
      )
      expect(summary.rowsPerSink).toEqual({ out: 1 })
      const { readFileSync } = yield* Effect.promise(() => import("node:fs"))
      expect(JSON.parse(readFileSync(join(dir, "out.jsonl"), "utf8"))).toEqual({ length: 200_000 })
      const [call] = yield* readCalls(dir)
      const body = json(call!.response_json)["body"] as Record<string, unknown>
      expect(body["truncated"]).toBe(true)
      expect(body["bytes"]).toBe(200_000)
      expect(String(body["text"])).toHaveLength(1024)
      expect(body["sha256"]).toMatch(/^[0-9a-f]{64}$/)
      expect(json(call!.attributes_json)["sightline.http.response.body.truncated"]).toBe(true)
      expect(call!.response_json!.length).toBeLessThan(4096)
    }))

  it.scopedLive("planted secrets in headers, query and body reach the server but no stored byte, event or log line", () =>
    Effect.gen(function* () {
      const { baseUrl, seen } = yield* testServer()
      const dir = tmpDir("http-secrets")
      const secrets = {
        header: "HDR-SECRET-a81f0c",
        apiKeyHeader: "APIKEY-SECRET-77e1",
        cookie: "COOKIE-SECRET-5d2e",
        query: "QUERY-SECRET-c3d4",
        queryCustom: "CUSTOM-QUERY-SECRET-e5f6",
        body: "BODY-SECRET-0b9a",
        nested: "NESTED-SECRET-1c2d",
        custom: "CUSTOMFIELD-SECRET-3e4f"
      }
      const logs: Array<string> = []
      const logger = Logger.make(({ message }) => void logs.push(JSON.stringify(message)))
      const http = yield* client({ redaction: { queryParams: ["session"], bodyFields: ["ssn"] } })
      const request = HttpClientRequest.post(`${baseUrl}/echo?api_key=${secrets.query}&session=${secrets.queryCustom}&page=2`).pipe(
        HttpClientRequest.setHeaders({
          authorization: `Bearer ${secrets.header}`,
          "x-api-key": secrets.apiKeyHeader,
          cookie: `sid=${secrets.cookie}`
        }),
        HttpClientRequest.bodyUnsafeJson({
          user: "ada",
          password: secrets.body,
          nested: { client_secret: secrets.nested, list: [{ ssn: secrets.custom }] }
        })
      )
      const exported = yield* Effect.gen(function* () {
        yield* runPipeline([{ id: 1, path: "/echo" }], () =>
          http.execute(request).pipe(
            Effect.flatMap((r) => r.json),
            Effect.tap((body) => Effect.logInfo("got", body === null ? "" : "response")),
            Effect.map(() => ({ ok: true }))
          ), dir)
        const events = yield* Effect.flatMap(TestExporter.TestExporter, (t) => t.events)
        return events.map(TelemetryEvent.encodeJson)
      }).pipe(Effect.provide(Layer.merge(auditLayers(dir), Logger.replace(Logger.defaultLogger, logger))))

      // The server really received every secret: redaction touches only what is recorded.
      const received = JSON.stringify(seen)
      for (const secret of Object.values(secrets)) expect(received).toContain(secret)
      // ...and none of them is anywhere in the database files, the exported events or the logs.
      const stored = databaseBytes(dir)
      const everything = [stored, ...exported, ...logs].join("\n")
      expect(exported.some((e) => e.includes("ExternalCallCompleted"))).toBe(true)
      for (const secret of [...Object.values(secrets), "SECRET-SET-COOKIE-9f2c"]) {
        expect(everything).not.toContain(secret)
        expect(everything).not.toContain(encodeURIComponent(secret))
      }
      const [call] = yield* readCalls(dir)
      const req = json(call!.request_json)
      expect(req["url"]).toBe(`${baseUrl}/echo?api_key=[REDACTED]&session=[REDACTED]&page=2`)
      expect(req["headers"]).toMatchObject({ authorization: "[REDACTED]", "x-api-key": "[REDACTED]", cookie: "[REDACTED]" })
      expect((req["body"] as Record<string, unknown>)["json"]).toEqual({
        user: "ada",
        password: "[REDACTED]",
        nested: { client_secret: "[REDACTED]", list: [{ ssn: "[REDACTED]" }] }
      })
      const res = json(call!.response_json)
      expect((res["headers"] as Record<string, unknown>)["set-cookie"]).toBe("[REDACTED]")
    }))

  it.scopedLive("calls from a source are recorded under its operation (operationId, never stateId)", () =>
    Effect.gen(function* () {
      const { baseUrl } = yield* testServer()
      const dir = tmpDir("http-source")
      const http = yield* client()
      const source = {
        _tag: "Source" as const,
        name: "remote",
        config: { url: baseUrl },
        operation: "http.read",
        records: Stream.fromEffect(
          http.get(`${baseUrl}/ok`).pipe(Effect.flatMap((r) => r.json), Effect.map((raw) => ({ raw })), Effect.orDie)
        ),
        decode: (raw: unknown) => Either.right(raw)
      }
      const pipeline = pipe(
        Pipeline.make({ name: "source-calls", source }),
        Pipeline.toSinks({ sinks: { out: Sink.jsonLines<unknown>({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
      )
      const events = yield* Effect.gen(function* () {
        yield* Orchestrator.run(pipeline)
        return yield* Effect.flatMap(TestExporter.TestExporter, (t) => t.eventsOf("ExternalCallCompleted"))
      }).pipe(Effect.provide(auditLayers(dir)))
      const [call] = yield* readCalls(dir)
      expect(call!.state_id).toBeNull()
      expect(call!.operation_id).not.toBeNull()
      expect(events[0]!.operationId).toBe(call!.operation_id)
      expect(events[0]!.stateId).toBeUndefined()
    }))

  it.scopedLive("a Landscape failure while recording fails the run even if the transform catches everything", () =>
    Effect.gen(function* () {
      const { baseUrl } = yield* testServer()
      const dir = tmpDir("http-landscape-fail")
      const http = yield* client()
      const broken = Layer.effect(
        Landscape.Landscape,
        Effect.map(Landscape.Landscape, (real): Landscape.LandscapeService => ({
          ...real,
          // A call in a transform is written with its row's journal (recordBatch); elsewhere with recordCall.
          recordBatch: (batch) =>
            batch.calls.length > 0
              ? Effect.fail(new Landscape.LandscapeError({ operation: "recordCall", message: "disk full" }))
              : real.recordBatch(batch),
          recordCall: () => Effect.fail(new Landscape.LandscapeError({ operation: "recordCall", message: "disk full" }))
        }))
      ).pipe(Layer.provide(LandscapeSqlite.layer({ filename: join(dir, "landscape.db") })))
      const exit = yield* runPipeline([{ id: 1, path: "/ok" }], () =>
        http.get(`${baseUrl}/ok`).pipe(Effect.as({ ok: true }), Effect.catchAll(() => Effect.succeed({ ok: false }))), dir).pipe(
        Effect.provide(Layer.merge(TestExporter.layer(), broken)),
        Effect.exit
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(Exit.isFailure(exit) ? exit.cause : "")).toContain("disk full")
    }))

  it.scopedLive("a failing telemetry exporter never changes the call's result", () =>
    Effect.gen(function* () {
      const { baseUrl } = yield* testServer()
      const dir = tmpDir("http-telemetry-fail")
      const http = yield* client()
      const failing = Exporter.make({
        name: "broken",
        export: () => Effect.fail(new Exporter.ExportError({ exporter: "broken", message: "down" }))
      })
      const telemetry = Layer.scoped(
        Telemetry.Telemetry,
        Telemetry.make({ granularity: "full", exporters: [Effect.succeed(failing)], exportInterval: "1 millis" })
      )
      const summary = yield* runPipeline([{ id: 1, path: "/ok" }], () =>
        http.get(`${baseUrl}/ok`).pipe(Effect.flatMap((r) => r.json), Effect.map((body) => ({ body }))), dir).pipe(
        Effect.provide(Layer.merge(telemetry, LandscapeSqlite.layer({ filename: join(dir, "landscape.db") }))),
        Logger.withMinimumLogLevel(LogLevel.None)
      )
      expect(summary.rowsPerSink).toEqual({ out: 1 })
      const [call] = yield* readCalls(dir)
      expect(call!.status).toBe("success")
    }))
})
