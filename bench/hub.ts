/**
 * `npm run bench -- hub`: the telemetry hub against the OpenTelemetry JS SDK and pino, in one process.
 *
 * 1. Throughput, emit → in-memory exporter, N events each built at the call (same 7 attributes
 *    everywhere): Sightline with `drop` and with `block` queues; OTel `BatchSpanProcessor` +
 *    `InMemorySpanExporter` (span started, attributes set, ended); pino to /dev/null. Every
 *    producer hands control back every 512 events (Effect.yieldNow / setImmediate), so each
 *    system's consumer gets its turns; the rate is events *delivered* per second, and the drops are
 *    printed next to it.
 *    `hub-only-*` reuse 1024 events built up front, to show the hub's own cost.
 * 2. ns per `emit` of an event the granularity filters out (raw, and net of an empty Effect loop).
 * 3. Peak RSS growth during `HUB_BENCH_OVERLOAD_SECONDS` (default 30) of 10× overload: the producer
 *    emits 10× what a rate-limited exporter accepts, `drop` strategy.
 */
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter } from "@opentelemetry/sdk-trace-base"
import { Effect, Exit, Layer, Scope } from "effect"
import pino from "pino"
import * as Exporter from "../src/Exporter.js"
import * as Telemetry from "../src/Telemetry.js"
import { type RowCreated } from "../src/TelemetryEvent.js"

const N = Number(process.env.HUB_BENCH_EVENTS ?? 1_000_000)
const OVERLOAD_S = Number(process.env.HUB_BENCH_OVERLOAD_SECONDS ?? 30)
const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
const SPAN = "00f067aa0ba902b7"

/** Built the way the engine builds its own events: an object literal, its fields checked by the compiler. */
const rowEvent = (i: number): RowCreated => ({
  _tag: "RowCreated",
  timestamp: 1_700_000_000_000 + i,
  runId: "run-1",
  traceId: TRACE,
  spanId: SPAN,
  rowId: "row-" + i,
  tokenId: "tok-" + i,
  nodeId: "source",
  rowIndex: i,
  contentHash: "e3b0c44298fc1c149afbfc8996fb92427ae41e4649b934ca495991b7852b855"
})

const attrs = (i: number) => ({
  "run.id": "run-1",
  "row.id": "row-" + i,
  "token.id": "tok-" + i,
  "node.id": "source",
  "row.index": i,
  "content.hash": "e3b0c44298fc1c149afbfc8996fb92427ae41e4649b934ca495991b7852b855",
  timestamp: 1_700_000_000_000 + i
})

const tick = () => new Promise<void>((resolve) => setImmediate(resolve))
const fmt = (n: number) => Math.round(n).toLocaleString("en-US")

interface Result {
  readonly rate: number
  readonly delivered: number
  readonly dropped: number
  readonly seconds: number
}

const build = (options: Telemetry.Options<never, never>) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const ctx = yield* Layer.buildWithScope(Telemetry.layer(options), scope)
    return { scope, t: ctx.unsafeMap.get(Telemetry.Telemetry.key) as Telemetry.TelemetryService }
  })

/** 1024 events built up front: measures the hub alone, without building the event (an object literal, ~0.1 µs). */
const pool = Array.from({ length: 1024 }, (_, i) => rowEvent(i))

const sightline = (strategy: "drop" | "block", prebuilt = false): Promise<Result> => {
  let delivered = 0
  const sink = Exporter.make({ name: "memory", export: (batch) => Effect.sync(() => void (delivered += batch.length)) })
  return Effect.runPromise(
    Effect.gen(function* () {
      const { scope, t } = yield* build({
        exporters: [Effect.succeed(sink)],
        queue: { strategy },
        exporterQueue: { strategy },
        lastResort: { write: () => {} }
      })
      const start = performance.now()
      for (let i = 0; i < N; i++) {
        yield* t.emit(prebuilt ? pool[i & 1023]! : rowEvent(i))
        if ((i & 511) === 511) yield* Effect.yieldNow()
      }
      yield* t.flush
      const seconds = (performance.now() - start) / 1000
      const s = yield* t.stats
      yield* Scope.close(scope, Exit.void)
      const dropped = Telemetry.droppedFor(s, "memory")
      return { rate: delivered / seconds, delivered, dropped, seconds }
    })
  )
}

const otel = async (): Promise<Result> => {
  const exporter = new InMemorySpanExporter()
  const processor = new BatchSpanProcessor(exporter) // defaults: queue 2048, batch 512, 5 s
  const provider = new BasicTracerProvider({ spanProcessors: [processor] })
  const tracer = provider.getTracer("bench")
  const start = performance.now()
  for (let i = 0; i < N; i++) {
    const span = tracer.startSpan("RowCreated", { attributes: attrs(i) })
    span.end()
    if ((i & 511) === 511) await tick()
  }
  await processor.forceFlush()
  const seconds = (performance.now() - start) / 1000
  const delivered = exporter.getFinishedSpans().length
  await provider.shutdown()
  return { rate: delivered / seconds, delivered, dropped: N - delivered, seconds }
}

const pinoRun = async (): Promise<Result> => {
  const dest = pino.destination({ dest: "/dev/null", sync: false })
  const logger = pino(dest)
  const start = performance.now()
  for (let i = 0; i < N; i++) {
    logger.info(attrs(i), "RowCreated")
    if ((i & 511) === 511) await tick()
  }
  await new Promise<void>((resolve) => dest.flush(() => resolve()))
  const seconds = (performance.now() - start) / 1000
  return { rate: N / seconds, delivered: N, dropped: 0, seconds }
}

/** ns per emit of a filtered-out event: the event is built once, as the engine would not rebuild it. */
const filteredEmit = (): Promise<{ raw: number; net: number; call: number }> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const { scope, t } = yield* build({ exporters: [], granularity: "lifecycle", lastResort: { write: () => {} } })
      const event = rowEvent(1)
      const M = 5_000_000
      const loop = (body: () => Effect.Effect<void>) =>
        Effect.gen(function* () {
          const start = process.hrtime.bigint()
          for (let i = 0; i < M; i++) yield* body()
          return Number(process.hrtime.bigint() - start) / M
        })
      yield* loop(() => t.emit(event)) // warm-up
      const raw = yield* loop(() => t.emit(event))
      const empty = yield* loop(() => Effect.void)
      // The decision alone (what `emit(event)` does before anything is run).
      let sink: unknown
      const start = process.hrtime.bigint()
      for (let i = 0; i < M; i++) sink = t.emit(event)
      const call = Number(process.hrtime.bigint() - start) / M
      void sink
      yield* Scope.close(scope, Exit.void)
      return { raw, net: raw - empty, call }
    })
  )

/** 10× overload: an exporter that takes at most `capacity` events/s; the producer offers 10× that. */
const overload = (): Promise<{ baseMb: number; peakMb: number; emitted: number; delivered: number; dropped: number }> => {
  const capacity = 20_000 // events/s the exporter accepts
  let delivered = 0
  const slow = Exporter.make({
    name: "slow",
    export: (batch) => Effect.zipRight(Effect.sleep(`${(batch.length / capacity) * 1000} millis`), Effect.sync(() => void (delivered += batch.length)))
  })
  return Effect.runPromise(
    Effect.gen(function* () {
      const baseMb = process.memoryUsage().rss / 1e6
      let peakMb = baseMb
      const sampler = setInterval(() => (peakMb = Math.max(peakMb, process.memoryUsage().rss / 1e6)), 100)
      const { scope, t } = yield* build({
        exporters: [Effect.succeed(slow)],
        queue: { strategy: "drop" },
        exporterQueue: { strategy: "drop" },
        exportInterval: "100 millis",
        shutdownTimeout: "1 second",
        lastResort: { write: () => {} }
      })
      const end = Date.now() + OVERLOAD_S * 1000
      let i = 0
      // 10× capacity: 200 000 events/s, in slices of 2 000 every 10 ms.
      while (Date.now() < end) {
        const sliceEnd = Date.now() + 10
        for (let k = 0; k < (capacity * 10) / 100; k++) yield* t.emit(rowEvent(i++))
        const wait = sliceEnd - Date.now()
        if (wait > 0) yield* Effect.promise(() => new Promise((r) => setTimeout(r, wait)))
      }
      const s = yield* t.stats
      yield* Scope.close(scope, Exit.void)
      clearInterval(sampler)
      return { baseMb, peakMb, emitted: i, delivered, dropped: Telemetry.droppedFor(s, "slow") + (i - s.emitted) }
    })
  )
}

const main = async () => {
  console.log(`hub benchmark: ${fmt(N)} events per system, node ${process.version}`)
  // Overload first, so its RSS baseline is not inflated by the heaps the throughput runs leave behind.
  const o = await overload()
  // Warm up the JIT on every path once with a smaller run.
  const results: Record<string, Result> = {}
  for (const [name, run] of [
    ["sightline-drop", () => sightline("drop")],
    ["sightline-block", () => sightline("block")],
    ["hub-only-drop", () => sightline("drop", true)],
    ["hub-only-block", () => sightline("block", true)],
    ["otel-sdk", otel],
    ["pino", pinoRun]
  ] as const) {
    await run()
    const best = [await run(), await run()].sort((a, b) => b.rate - a.rate)[0]!
    results[name] = best
    console.log(
      `${name.padEnd(16)} ${fmt(best.rate).padStart(12)} events/s delivered  (${fmt(best.delivered)} delivered, ${
        fmt(best.dropped)
      } dropped, ${best.seconds.toFixed(2)} s)`
    )
  }
  const f = await filteredEmit()
  console.log(
    `filtered-out emit: ${f.raw.toFixed(1)} ns per yield* emit (${f.net.toFixed(1)} ns net of an empty Effect loop; ${
      f.call.toFixed(1)
    } ns for the emit(event) decision)`
  )
  console.log(
    `overload ${OVERLOAD_S} s at 10x: rss ${o.baseMb.toFixed(1)} MB -> peak ${o.peakMb.toFixed(1)} MB (+${
      (o.peakMb - o.baseMb).toFixed(1)
    } MB); ${fmt(o.emitted)} emitted, ${fmt(o.delivered)} delivered, ${fmt(o.dropped)} dropped`
  )
  const r = (a: string, b: string) => (results[a]!.rate / results[b]!.rate).toFixed(2)
  console.log(`ratio sightline-drop/otel-sdk ${r("sightline-drop", "otel-sdk")}`)
  console.log(`ratio sightline-drop/pino ${r("sightline-drop", "pino")}`)
  console.log(`ratio sightline-block/otel-sdk ${r("sightline-block", "otel-sdk")}`)
  console.log(`ratio sightline-block/pino ${r("sightline-block", "pino")}`)
  console.log(`ratio hub-only-drop/otel-sdk ${r("hub-only-drop", "otel-sdk")}`)
  console.log(`ratio hub-only-drop/pino ${r("hub-only-drop", "pino")}`)
  console.log(`ratio filtered-emit-ns/target-100ns ${(f.net / 100).toFixed(2)}`)
  console.log(`ratio overload-rss-growth-mb/target-50mb ${((o.peakMb - o.baseMb) / 50).toFixed(2)}`)
}

await main()
