import { HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, pipe, Schema } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { HttpSource, Orchestrator, Pipeline, Sink, TestExporter } from "../src/index.js"
import { auditLayers, readCalls, serve, tmpDir } from "./support/server-helpers.js"

const Item = Schema.Struct({ id: Schema.Number })

/** /linked?page=n (3 pages of 2 items, `next` relative link); /cursor?cursor=c (cursor `next_cursor`); /broken (page 2 is a 500). */
const pagedServer = Effect.gen(function* () {
  const page = (n: number) => [{ id: n * 10 + 1 }, { id: n * 10 + 2 }]
  const router = HttpRouter.empty.pipe(
    HttpRouter.get("/linked", Effect.gen(function* () {
      const { page: p } = yield* HttpServerRequest.schemaSearchParams(Schema.Struct({ page: Schema.optional(Schema.NumberFromString) }))
      const n = p ?? 1
      return HttpServerResponse.unsafeJson({ data: [...page(n), ...(n === 2 ? [{ id: "bad" }] : [])], next: n < 3 ? `/linked?page=${n + 1}&token=SRC-SECRET-77` : null })
    }).pipe(Effect.orDie)),
    HttpRouter.get("/cursor", Effect.gen(function* () {
      const { cursor } = yield* HttpServerRequest.schemaSearchParams(Schema.Struct({ cursor: Schema.optional(Schema.String) }))
      const n = cursor === undefined ? 1 : Number(cursor.slice(1))
      return HttpServerResponse.unsafeJson({ items: page(n), next_cursor: n < 2 ? `c${n + 1}` : null })
    }).pipe(Effect.orDie)),
    HttpRouter.get("/broken", Effect.gen(function* () {
      const { page: p } = yield* HttpServerRequest.schemaSearchParams(Schema.Struct({ page: Schema.optional(Schema.String) }))
      return p === undefined ? HttpServerResponse.unsafeJson({ data: page(1), next: "/broken?page=2" }) : HttpServerResponse.text("down", { status: 500 })
    }).pipe(Effect.orDie))
  )
  return yield* serve(router)
})

const run = (source: ReturnType<typeof HttpSource.make<{ readonly id: number }, { readonly id: number }>>, dir: string) =>
  Effect.gen(function* () {
    const client = yield* Layer.build(NodeHttpClient.layerUndici)
    const pipeline = pipe(
      Pipeline.make({ name: "http-source", source }),
      Pipeline.toSinks({ sinks: { out: Sink.jsonLines<{ readonly id: number }>({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
    )
    return yield* Effect.gen(function* () {
      const exit = yield* Effect.exit(Orchestrator.run(pipeline))
      const events = yield* Effect.flatMap(TestExporter.TestExporter, (t) => t.eventsOf("ExternalCallCompleted"))
      return { exit, events }
    }).pipe(Effect.provide(auditLayers(dir)), Effect.provide(client))
  })

const lines = (path: string) => readFileSync(path, "utf8").trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as unknown)

describe("HttpSource", () => {
  it.scopedLive("follows next links; each page is an operation-scoped call; bad records are quarantined", () =>
    Effect.gen(function* () {
      const base = yield* pagedServer
      const dir = tmpDir("http-source-next")
      const { events, exit } = yield* run(HttpSource.make({ url: `${base}/linked`, schema: Item, name: "api" }), dir)
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(lines(join(dir, "out.jsonl"))).toEqual([{ id: 11 }, { id: 12 }, { id: 21 }, { id: 22 }, { id: 31 }, { id: 32 }])
      expect(lines(join(dir, "q.jsonl"))).toHaveLength(1)
      const calls = yield* readCalls(dir)
      expect(calls).toHaveLength(3)
      expect(calls.every((c) => c.state_id === null && c.operation_id !== null && c.status === "success")).toBe(true)
      expect(new Set(calls.map((c) => c.operation_id)).size).toBe(1)
      expect(events.map((e) => e.operationId)).toEqual(calls.map((c) => c.operation_id))
      expect(calls.map((c) => c.request_json).join("\n")).not.toContain("SRC-SECRET-77")
    }))

  it.scopedLive("follows a cursor", () =>
    Effect.gen(function* () {
      const base = yield* pagedServer
      const dir = tmpDir("http-source-cursor")
      const { exit } = yield* run(HttpSource.make({ url: `${base}/cursor`, schema: Item, paging: HttpSource.cursor() }), dir)
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(lines(join(dir, "out.jsonl"))).toEqual([{ id: 11 }, { id: 12 }, { id: 21 }, { id: 22 }])
      expect((yield* readCalls(dir)).map((c) => JSON.parse(c.request_json!).url as string)).toEqual([`${base}/cursor`, `${base}/cursor?cursor=c2`])
    }))

  it.scopedLive("a page answering 500 fails the run with SourceError, after the call is recorded", () =>
    Effect.gen(function* () {
      const base = yield* pagedServer
      const dir = tmpDir("http-source-broken")
      const { exit } = yield* run(HttpSource.make({ url: `${base}/broken`, schema: Item }), dir)
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(Exit.isFailure(exit) ? exit.cause : "")).toContain("SourceError")
      const calls = yield* readCalls(dir)
      expect(calls.map((c) => [c.status, c.error])).toEqual([["success", null], ["error", "HTTP 500"]])
    }))
})
