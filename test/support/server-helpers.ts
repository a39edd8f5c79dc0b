/**
 * Real HTTP servers on 127.0.0.1 (port 0) for the audited-client tests, and a helper that runs a
 * one-transform pipeline through `Orchestrator.run` against a real SQLite file.
 */
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Context, Effect, Layer, pipe, Schema, type Scope } from "effect"
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { createServer } from "node:http"
import { createServer as createNetServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, TestExporter } from "../../src/index.js"

export interface Seen {
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/** Starts `router` on 127.0.0.1 with an OS-assigned port, for the current scope. */
export const serve = (router: HttpRouter.HttpRouter<never, never>): Effect.Effect<string, never, Scope.Scope> =>
  Effect.gen(function* () {
    const ctx = yield* Layer.build(
      HttpServer.serve(router, (app) => app).pipe(
        Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
      )
    ).pipe(Effect.orDie)
    const address = Context.get(ctx, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("not a TCP address")
    return `http://127.0.0.1:${address.port}`
  })

/** The test HTTP server: /ok, /echo, /missing (404), /boom (500), /slow (5 s), /big (size bytes). */
export const testServer = (options: { readonly bigBytes?: number } = {}) =>
  Effect.gen(function* () {
    const seen: Array<Seen> = []
    const remember = Effect.gen(function* () {
      const req = yield* HttpServerRequest.HttpServerRequest
      const body = yield* Effect.orElseSucceed(req.text, () => "")
      seen.push({ path: req.url, headers: { ...req.headers }, body })
    })
    const router = HttpRouter.empty.pipe(
      HttpRouter.get("/ok", Effect.zipRight(remember, HttpServerResponse.unsafeJson({ ok: true, n: 1 }))),
      HttpRouter.post(
        "/echo",
        Effect.gen(function* () {
          yield* remember
          const last = seen[seen.length - 1]!
          return HttpServerResponse.text(last.body, {
            contentType: "application/json",
            headers: { "set-cookie": "session=SECRET-SET-COOKIE-9f2c; HttpOnly", "x-request-id": "r-1" }
          })
        })
      ),
      HttpRouter.get("/missing", Effect.zipRight(remember, HttpServerResponse.unsafeJson({ error: "not found" }, { status: 404 }))),
      HttpRouter.get("/boom", Effect.zipRight(remember, HttpServerResponse.text("internal error", { status: 500 }))),
      HttpRouter.get("/slow", Effect.zipRight(remember, Effect.as(Effect.sleep("5 seconds"), HttpServerResponse.text("late")))),
      HttpRouter.get(
        "/big",
        Effect.zipRight(remember, Effect.sync(() => HttpServerResponse.text("x".repeat(options.bigBytes ?? 200_000))))
      )
    )
    const baseUrl = yield* serve(router)
    return { baseUrl, seen }
  })

/** A URL on 127.0.0.1 where nothing listens (a port bound, then released). */
export const refusedUrl: Effect.Effect<string> = Effect.promise(
  () =>
    new Promise<string>((resolve, reject) => {
      const server = createNetServer()
      server.once("error", reject)
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        server.close(() => resolve(`http://127.0.0.1:${port}`))
      })
    })
)

/** A fresh temporary directory. */
export const tmpDir = (prefix: string): string => mkdtempSync(join(tmpdir(), `sightline-${prefix}-`))

const Row = Schema.Struct({ id: Schema.Number, path: Schema.String })
export type Row = typeof Row.Type

/**
 * Runs a pipeline whose one transform is `apply` over `rows`, against a real SQLite Landscape in
 * `dir` and the in-memory test telemetry. Returns the summary.
 */
export const runPipeline = <B, E, R>(
  rows: ReadonlyArray<Row>,
  apply: (row: Row) => Effect.Effect<B, E, R>,
  dir: string
) => {
  // effect's `pipe`: `Builder#pipe` is declared without parameters in src/Pipeline.ts
  const pipeline = pipe(
    Pipeline.make({ name: "audited", source: Source.fromIterable({ records: rows, schema: Row }) }),
    Pipeline.transform(Pipeline.makeTransform("call", apply)),
    Pipeline.toSinks({
      sinks: { out: Sink.jsonLines<B>({ path: join(dir, "out.jsonl") }) },
      default: "out",
      quarantine: Sink.jsonLines({ path: join(dir, "quarantine.jsonl") })
    })
  )
  return Orchestrator.run(pipeline, { concurrency: 1 })
}

/** Landscape on a SQLite file in `dir` plus the test telemetry. */
export const auditLayers = (dir: string) =>
  Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: join(dir, "landscape.db") }))

export interface CallDbRow {
  readonly call_id: string
  readonly run_id: string
  readonly node_id: string
  readonly state_id: string | null
  readonly operation_id: string | null
  readonly call_type: string
  readonly status: string
  readonly request_json: string | null
  readonly request_hash: string | null
  readonly response_json: string | null
  readonly response_hash: string | null
  readonly attributes_json: string
  readonly error: string | null
  readonly latency_ms: number
}

/** Every row of the `calls` table of the SQLite file in `dir`, in insertion order. */
export const readCalls = (dir: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    // In source-row order, then step, then time: rows run concurrently, so storage order is completion order.
    return yield* sql<CallDbRow>`SELECT c.* FROM calls c
      LEFT JOIN node_states s ON s.state_id = c.state_id LEFT JOIN tokens t ON t.token_id = s.token_id LEFT JOIN rows r ON r.row_id = t.row_id
      ORDER BY r.row_index, s.step_index, c.created_at, c.rowid`
  }).pipe(Effect.provide(SqliteClient.layer({ filename: join(dir, "landscape.db"), readonly: true })), Effect.orDie)

/** All bytes of the SQLite database files in `dir` (main file, WAL and shared memory), as latin1 text. */
export const databaseBytes = (dir: string): string =>
  ["landscape.db", "landscape.db-wal", "landscape.db-shm"]
    .map((f) => join(dir, f))
    .filter((f) => existsSync(f))
    .map((f) => readFileSync(f).toString("latin1"))
    .join("\n")
