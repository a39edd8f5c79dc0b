/**
 * `npm run bench -- dashboard`: the audit browser's pages (`Dashboard.layer`, on 127.0.0.1, over
 * the read-only Landscape of `bench/landscape-read.ts`: 1,000,000 source rows written by the
 * engine, built once) requested with `fetch`, one at a time, against the Landscape reads each page
 * makes, timed in the same process (the anchor: what the page costs beyond its reads is rendering
 * and HTTP):
 *
 * - runs (`/`): `runs` + per run `llmUsage` and its checkpoint;
 * - run (`/runs/<id>`): `runSummary` (the run's statistics, migration 0011) + its checkpoint
 *   (BENCH_RUN_SAMPLES, default 50);
 * - node (`/runs/<id>/nodes/enrich`): `query` of its first 100 node states and calls;
 * - row (`/runs/<id>/rows/<rowId>`): `explain` + `trace` of BENCH_SAMPLES random rows (default 200).
 *
 * - live: a run in progress, its commits on its page and its events (`bench/_dashboard-live.ts`):
 *   target within 1 s.
 *
 * BENCH_PAGES (e.g. `runs,node,row,live`) times only those.
 *
 * Target (issue 14): every page ≤ 200 ms server time at p95. Page and anchor alternate by round
 * (BENCH_ROUNDS, default 3); each figure is the median of the rounds' p95.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { Effect, Layer, Option } from "effect"
import * as http from "node:http"
import { Dashboard, Landscape, LandscapeSqlite } from "../src/index.js"
import { liveLatency } from "./_dashboard-live.js"
import { landscapeOf } from "./_landscape-build.js"

const n = Number(process.env.BENCH_READ_ROWS ?? 1_000_000)
const samples = Number(process.env.BENCH_SAMPLES ?? 200)
const runSamples = Number(process.env.BENCH_RUN_SAMPLES ?? 50)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const only = process.env.BENCH_PAGES?.split(",")

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!
const p95 = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil(0.95 * xs.length) - 1)]!
const fmt = (ms: number) => ms.toFixed(ms < 10 ? 2 : 0)

const pageNames = ["runs", "run", "node", "row"]
const anyPage = only === undefined || only.some((p) => pageNames.includes(p))
const db = anyPage ? await Effect.runPromise(landscapeOf(n)) : ""
// The dashboard opens it read-only, which cannot migrate: a Landscape built by an older Sightline is migrated here first.
if (anyPage) {
  const t0 = performance.now()
  await Effect.runPromise(Landscape.listRuns({ limit: 1 }).pipe(Effect.provide(LandscapeSqlite.layer({ filename: db }))))
  const seconds = (performance.now() - t0) / 1000
  if (seconds > 1) console.log(`opened ${db} read-write first (migrations): ${seconds.toFixed(1)} s`)
}

const program = Effect.gen(function* () {
  const landscape = yield* Landscape.Landscape
  const server = yield* HttpServer.HttpServer
  const base = HttpServer.formatAddress(server.address)
  const [run] = yield* landscape.runs({ limit: 1 })
  if (run === undefined) return yield* Effect.dieMessage(`no run in ${db}`)
  const runId = run.runId
  // Random rows by index, found once (the page is asked by row id, as its links give it).
  const rowIds: Array<string> = []
  for (let i = 0; i < samples; i++) {
    const e = yield* landscape.explain({ runId, rowIndex: Math.floor(Math.random() * n) })
    if (Option.isSome(e)) rowIds.push(e.value.row.rowId)
  }

  const timed = (count: number, once: (i: number) => Effect.Effect<unknown, unknown>) =>
    Effect.gen(function* () {
      const out: Array<number> = []
      for (let i = 0; i < count; i++) {
        const t0 = performance.now()
        yield* once(i)
        out.push(performance.now() - t0)
      }
      return out
    })
  // A new connection per request (no keep-alive: a reused socket the server has just closed after a
  // long anchor round would fail the request, not measure it).
  const get = (path: string) =>
    Effect.async<string>((resume) => {
      const request = http.get(base + path, { agent: false }, (response) => {
        let body = ""
        response.setEncoding("utf8")
        response.on("data", (chunk: string) => (body += chunk))
        response.on("end", () => resume(response.statusCode === 200 ? Effect.succeed(body) : Effect.dieMessage(`${path}: HTTP ${response.statusCode}`)))
      })
      request.on("error", (e) => resume(Effect.die(e)))
    })
  const pages = {
    runs: { count: 20, page: () => get("/"), reads: () => Effect.flatMap(landscape.runs({ limit: 100 }), (list) => Effect.forEach(list, (r) => Effect.zip(landscape.llmUsage(r.runId), landscape.checkpoints.read(r.runId)))) },
    run: { count: runSamples, page: () => get(`/runs/${runId}`), reads: () => Effect.zip(landscape.runSummary(runId), landscape.checkpoints.read(runId)) },
    node: { count: 20, page: () => get(`/runs/${runId}/nodes/enrich`), reads: () => landscape.query({ runIds: [runId], nodes: ["enrich"], kinds: ["nodeState", "call"], limit: 100 }) },
    row: {
      count: rowIds.length,
      page: (i: number) => get(`/runs/${runId}/rows/${rowIds[i]}`),
      reads: (i: number) => Effect.zip(landscape.explain({ runId, rowId: rowIds[i]! }), landscape.trace({ runId, rowId: rowIds[i]! }))
    }
  } as const
  const results: Record<string, { page: Array<number>; reads: Array<number> }> = {}
  const chosen = Object.entries(pages).filter(([name]) => only === undefined || only.includes(name))
  for (let r = 0; r < rounds; r++) {
    for (const [name, p] of chosen) {
      const entry = (results[name] ??= { page: [], reads: [] })
      const measure = (which: "page" | "reads") =>
        Effect.map(timed(p.count, (i): Effect.Effect<unknown, unknown> => (which === "page" ? p.page(i) : p.reads(i))), (xs) => void entry[which].push(p95(xs)))
      yield* (r % 2 === 0 ? Effect.zipRight(measure("page"), measure("reads")) : Effect.zipRight(measure("reads"), measure("page")))
    }
    console.log(`round ${r + 1}: ${Object.entries(results).map(([name, x]) => `${name} ${fmt(x.page[r]!)} ms (reads ${fmt(x.reads[r]!)} ms)`).join(" · ")}`)
  }
  for (const [name, x] of Object.entries(results)) {
    const page = median(x.page)
    const reads = median(x.reads)
    console.log(`${name.padEnd(5)} page p95 ${fmt(page)} ms, its reads ${fmt(reads)} ms (median of ${rounds} rounds)`)
    console.log(`ratio ${name}-page-p95/landscape-reads-p95 ${(page / reads).toFixed(2)}`)
    console.log(`ratio ${name}-page-p95/target-200ms ${(page / 200).toFixed(2)}`)
  }
})

if (anyPage) await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
  const landscape = LandscapeSqlite.layer({ filename: db, readonly: true })
  yield* program.pipe(Effect.provide(yield* Layer.build(Dashboard.layer({ port: 0 }).pipe(Layer.provideMerge(landscape)))))
})))

if (only === undefined || only.includes("live")) {
  const commits: Array<number> = []
  const events: Array<number> = []
  for (let r = 0; r < rounds; r++) {
    const live = await Effect.runPromise(liveLatency)
    commits.push(...live.commits)
    events.push(...live.events)
    console.log(`live round ${r + 1}: ${live.commits.length} of ${live.committed} commits seen on the page, latency p50 ${fmt(median(live.commits))} ms, max ${fmt(Math.max(...live.commits))} ms; ${live.events.length} events, p95 ${fmt(p95(live.events))} ms`)
  }
  console.log(`live  commit → page p50 ${fmt(median(commits))} ms, p95 ${fmt(p95(commits))} ms, max ${fmt(Math.max(...commits))} ms (${commits.length} commits); event → Server-Sent Event p95 ${fmt(p95(events))} ms (${events.length} events)`)
  console.log(`ratio live-commit-to-page-max/target-1000ms ${(Math.max(...commits) / 1000).toFixed(2)}`)
  console.log(`ratio live-event-p95/target-1000ms ${(p95(events) / 1000).toFixed(2)}`)
}
