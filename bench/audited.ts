/**
 * Time added per audited HTTP call (`npm run bench -- audited`).
 *
 * One pipeline run through `Orchestrator.run` (real SQLite Landscape in a temp dir, telemetry at
 * granularity `full` to a JSON Lines exporter); its transform makes, for every row, one plain
 * `HttpClient` call and one `AuditedHttpClient` call to the same local 127.0.0.1 server (order
 * alternating by row), timing each from request to body read. The network and the server are the
 * same for both, so the difference is what auditing adds: redaction, hashing, the Landscape insert
 * and the emit. Prints absolute figures in µs, then `ratio audited/plain <value>`. Target: ≤ 1 ms
 * added per call.
 */
import { HttpClient, HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer, pipe, Schema } from "effect"
import { mkdtempSync } from "node:fs"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { AuditedHttpClient, JsonLinesExporter, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, Telemetry } from "../src/index.js"

const ROWS = Number(process.env["BENCH_ROWS"] ?? 3000)
const WARMUP = 300

const stats = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  return { mean: xs.reduce((a, b) => a + b, 0) / xs.length, p50: at(0.5), p95: at(0.95) }
}

const program = Effect.gen(function* () {
  const router = HttpRouter.empty.pipe(
    HttpRouter.get("/item", HttpServerResponse.unsafeJson({ id: 1, name: "widget", tags: ["a", "b"], price: 9.5 }))
  )
  const ctx = yield* Layer.build(
    HttpServer.serve(router, (app) => app).pipe(Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })))
  )
  const address = Context.get(ctx, HttpServer.HttpServer).address
  const url = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}/item?api_key=bench-secret` : ""
  const plain = yield* Effect.provide(HttpClient.HttpClient, yield* Layer.build(NodeHttpClient.layerUndici))
  const audited = AuditedHttpClient.wrap(plain)

  const plainUs: Array<number> = []
  const auditedUs: Array<number> = []
  const time = <A, E, R>(effect: Effect.Effect<A, E, R>, into: Array<number>, keep: boolean) =>
    Effect.gen(function* () {
      const t0 = performance.now()
      yield* effect
      if (keep) into.push((performance.now() - t0) * 1000)
    })
  const Row = Schema.Struct({ i: Schema.Number })
  const dir = mkdtempSync(join(tmpdir(), "sightline-bench-audited-"))
  const pipeline = pipe(
    Pipeline.make({ name: "bench-audited", source: Source.fromIterable({ records: Array.from({ length: ROWS }, (_, i) => ({ i })), schema: Row }) }),
    Pipeline.transform(Pipeline.makeTransform("calls", ({ i }: { i: number }) =>
      Effect.gen(function* () {
        const keep = i >= WARMUP
        const p = time(Effect.flatMap(plain.get(url), (r) => r.json), plainUs, keep)
        const a = time(Effect.flatMap(audited.get(url), (r) => r.json), auditedUs, keep)
        if (i % 2 === 0) yield* Effect.zipRight(p, a)
        else yield* Effect.zipRight(a, p)
        return { i }
      }))),
    Pipeline.toSinks({ sinks: { out: Sink.jsonLines<{ i: number }>({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
  )
  const summary = yield* Orchestrator.run(pipeline, { concurrency: 1 }).pipe(
    Effect.provide(Layer.merge(
      Telemetry.layer({ granularity: "full", exporters: [JsonLinesExporter.make({ path: join(dir, "telemetry.jsonl") })] }),
      LandscapeSqlite.layer({ filename: join(dir, "landscape.db") })
    ))
  )
  const p = stats(plainUs)
  const a = stats(auditedUs)
  const fmt = (v: number) => v.toFixed(1)
  console.log(`rows ${summary.rowsRead} (warm-up ${WARMUP} not counted), one plain and one audited GET per row, 127.0.0.1`)
  console.log(`plain    µs/call mean ${fmt(p.mean)} p50 ${fmt(p.p50)} p95 ${fmt(p.p95)}`)
  console.log(`audited  µs/call mean ${fmt(a.mean)} p50 ${fmt(a.p50)} p95 ${fmt(a.p95)}`)
  console.log(`added    µs/call mean ${fmt(a.mean - p.mean)} p50 ${fmt(a.p50 - p.p50)} (target ≤ 1000)`)
  console.log(`ratio audited/plain ${(a.mean / p.mean).toFixed(2)}`)
})

await Effect.runPromise(Effect.scoped(program))
