/**
 * The live part of `npm run bench -- dashboard` (issue 14: live updates within 1 s of a commit).
 *
 * A pipeline runs in this process over a fresh Landscape file: BENCH_LIVE_ROWS rows (default
 * 3,000), 2 ms each, so a 256-row batch commits about every 0.6 s. Beside it:
 *
 * - the anchor: a reader of the same file polls the run's checkpoint every 5 ms, noting when each
 *   commit became visible to any reader;
 * - a dashboard over the file opened read-only (as `sightline serve` opens it) is polled the way
 *   its page's script polls it (every `followIntervalMs` after the last answer), noting when the
 *   page first shows each commit's row count. A commit's latency is the page's time less the anchor's;
 * - the dashboard also runs in the run's process (`Dashboard.liveExporter`): each Server-Sent Event's
 *   latency is its arrival less its `timestamp` (when the engine emitted it).
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { Context, Effect, Fiber, Layer, Option, Schema } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { followIntervalMs } from "../src/internal/dashboard/html.js"
import { Dashboard, Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, Telemetry } from "../src/index.js"

const rows = Number(process.env.BENCH_LIVE_ROWS ?? 3_000)

const Item = Schema.Struct({ id: Schema.Number })

const pipeline = (dir: string) =>
  Pipeline.make({ name: "live", source: Source.fromIterable({ records: Array.from({ length: rows }, (_, id) => ({ id })), schema: Item, name: "items" }) }).pipe(
    Pipeline.transform(Pipeline.makeTransform("slow", (i: typeof Item.Type) => Effect.as(Effect.sleep("2 millis"), i))),
    Pipeline.toSinks({ sinks: { out: Sink.jsonLines({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
  )

/** Rows shown on a run page (`… 1,234 rows (…`), or `undefined`. */
const rowsOn = (page: string): number | undefined => {
  const m = /([\d,]+) rows \(/.exec(page)
  return m === null ? undefined : Number(m[1]!.replace(/,/g, ""))
}

/** Each commit's latency to the page, ms (and how many commits the anchor saw); each event's latency, ms. */
export const liveLatency = Effect.scoped(Effect.gen(function* () {
  const dir = mkdtempSync(join(tmpdir(), "sightline-bench-live-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  const db = join(dir, "landscape.db")
  const writer = yield* Layer.build(LandscapeSqlite.layer({ filename: db }))
  const telemetry = yield* Layer.build(Telemetry.layer({ exporters: [Dashboard.liveExporter] }).pipe(Layer.provideMerge(Dashboard.layerLiveEvents)))
  const reader = yield* Layer.build(LandscapeSqlite.layer({ filename: db, readonly: true }))
  const served = yield* Layer.build(Dashboard.layer({ port: 0 }).pipe(Layer.provide(Layer.succeedContext(reader)), Layer.provide(Layer.succeedContext(telemetry))))
  const base = HttpServer.formatAddress(Context.get(served, HttpServer.HttpServer).address)
  const landscape = Context.get(reader, Landscape.Landscape)

  const run = yield* Effect.fork(Orchestrator.run(pipeline(dir)).pipe(Effect.provide(Context.merge(writer, telemetry))))
  let runId: string | undefined
  while (runId === undefined) {
    runId = (yield* landscape.runs({ status: "running", limit: 1 }))[0]?.runId
    if (runId === undefined) yield* Effect.sleep("5 millis")
  }
  const id = runId
  const anchor = new Map<number, number>()
  const seen: Array<{ readonly at: number; readonly rows: number }> = []
  const events: Array<number> = []
  const finished = () => run.unsafePoll() !== null

  const watchCheckpoint = Effect.gen(function* () {
    while (!finished()) {
      const point = yield* landscape.checkpoints.read(id)
      const n = Option.getOrUndefined(point)?.checkpoint?.rowsRead
      if (n !== undefined && !anchor.has(n)) anchor.set(n, Date.now())
      yield* Effect.sleep("5 millis")
    }
  })
  const followPage = Effect.gen(function* () {
    while (!finished()) {
      const page = yield* Effect.promise(() => fetch(`${base}/runs/${id}`).then((r) => r.text()))
      const n = rowsOn(page)
      if (n !== undefined) seen.push({ at: Date.now(), rows: n })
      yield* Effect.sleep(`${followIntervalMs} millis`)
    }
  })
  const readEvents = Effect.promise(async (signal) => {
    const response = await fetch(`${base}/runs/${id}/events`, { signal })
    const decoder = new TextDecoder()
    let buffer = ""
    const body = response.body!.getReader()
    while (true) {
      const { done, value } = await body.read()
      if (done) return
      buffer += decoder.decode(value, { stream: true })
      let end: number
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const message = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        if (!message.startsWith("event: telemetry")) continue
        const event = JSON.parse(message.slice(message.indexOf("data: ") + 6)) as { readonly timestamp: number; readonly _tag: string }
        events.push(Date.now() - event.timestamp)
        if (event._tag === "RunFinished") return
      }
    }
  })
  const sse = yield* Effect.fork(readEvents)
  yield* Effect.all([watchCheckpoint, followPage], { concurrency: 2, discard: true })
  yield* Fiber.join(run)
  yield* Fiber.interrupt(sse)
  // A commit is on the page once the page shows its rows or more (two commits between polls show as the later).
  // The last commits may end the run before the poller sees them: those are left out.
  const commits = [...anchor].flatMap(([n, t]) => {
    const first = seen.find((s) => s.rows >= n)
    return n === 0 || first === undefined ? [] : [first.at - t]
  })
  return { commits, committed: anchor.size, events }
}))
