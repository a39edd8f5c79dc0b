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
 * 3. The engine's cost target (issue 9): ns per event from `emitAll` to the bytes handed to a JSON
 *    Lines file, under the defaults, in batches of 256 rows × 6 events, against pino writing the
 *    same data to a file; 5 rounds alternated, medians, in a fresh process (`bench/_jsonl-cost.ts`).
 * 4. Memory, Sightline (`drop`) and the OTel SDK each in a fresh process (`bench/_hub-rss.ts`): an
 *    exporter that accepts 20,000 events/s, `HUB_BENCH_NORMAL_SECONDS` (default 15) at that rate,
 *    then `HUB_BENCH_OVERLOAD_SECONDS` (default 30) at 10× it. Peak RSS against the RSS at start,
 *    and the heap still retained after a forced full GC (what the process keeps, as opposed to the
 *    garbage V8 lets accumulate before it collects).
 */
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter } from "@opentelemetry/sdk-trace-base"
import { Effect, Exit, Layer, Scope } from "effect"
import pino from "pino"
import * as Exporter from "../src/Exporter.js"
import * as Telemetry from "../src/Telemetry.js"
import * as TelemetryStats from "../src/TelemetryStats.js"
import { attrs, rowEvent } from "./_events.js"

const N = Number(process.env.HUB_BENCH_EVENTS ?? 1_000_000)
const OVERLOAD_S = Number(process.env.HUB_BENCH_OVERLOAD_SECONDS ?? 30)
const NORMAL_S = Number(process.env.HUB_BENCH_NORMAL_SECONDS ?? 15)

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
      const dropped = TelemetryStats.droppedFor(s, "memory")
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

/**
 * ns per emit of a filtered-out event: the event is built once, as the engine would not rebuild it.
 * Five rounds alternate the emit loop with an empty Effect loop, so a burst of load on the machine
 * hits both; each figure is the median of its rounds.
 */
const filteredEmit = (): Promise<{ raw: number; net: number; call: number; rounds: ReadonlyArray<number> }> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const { scope, t } = yield* build({ exporters: [], granularity: "lifecycle", lastResort: { write: () => {} } })
      const event = rowEvent(1)
      const M = 2_000_000
      const ROUNDS = 5
      const loop = (body: () => Effect.Effect<void>) =>
        Effect.gen(function* () {
          const start = process.hrtime.bigint()
          for (let i = 0; i < M; i++) yield* body()
          return Number(process.hrtime.bigint() - start) / M
        })
      yield* loop(() => t.emit(event)) // warm-up
      yield* loop(() => Effect.void)
      const raws: Array<number> = []
      const empties: Array<number> = []
      for (let round = 0; round < ROUNDS; round++) {
        raws.push(yield* loop(() => t.emit(event)))
        empties.push(yield* loop(() => Effect.void))
      }
      // The decision alone (what `emit(event)` does before anything is run).
      let sink: unknown
      const start = process.hrtime.bigint()
      for (let i = 0; i < M; i++) sink = t.emit(event)
      const call = Number(process.hrtime.bigint() - start) / M
      void sink
      yield* Scope.close(scope, Exit.void)
      const raw = median(raws)
      return { raw, net: raw - median(empties), call, rounds: raws.map((r, i) => r - (empties[i] as number)) }
    })
  )

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}

interface MemoryPhase {
  readonly peakRssMb: number
  readonly retainedHeapMb: number
  readonly emitted: number
}
interface MemoryRun {
  readonly system: string
  readonly startRssMb: number
  readonly startHeapMb: number
  readonly normal: MemoryPhase
  readonly overload: MemoryPhase
  readonly deliveredNormal: number
  readonly deliveredOverload: number
  readonly dropped: number
}

/** Runs one `bench/_hub-rss.ts` scenario in a fresh process, so no earlier run's heap counts. */
const memoryRun = (system: "sightline" | "otel-sdk"): MemoryRun => {
  const out = execFileSync(
    process.execPath,
    ["--expose-gc", "--import", "tsx", fileURLToPath(new URL("./_hub-rss.ts", import.meta.url)), system, String(NORMAL_S), String(OVERLOAD_S)],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }
  )
  return JSON.parse(out.trim().split("\n").at(-1)!) as MemoryRun
}

interface JsonlCost {
  readonly sightlineNs: number
  readonly pinoNs: number
  readonly rounds: { readonly sightline: ReadonlyArray<number>; readonly pino: ReadonlyArray<number> }
  readonly dropped: number
}

const jsonlCost = (): JsonlCost => {
  const out = execFileSync(
    process.execPath,
    ["--import", "tsx", fileURLToPath(new URL("./_jsonl-cost.ts", import.meta.url)), String(Math.min(N, 300_000)), "5"],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }
  )
  return JSON.parse(out.trim().split("\n").at(-1)!) as JsonlCost
}

const main = async () => {
  console.log(`hub benchmark: ${fmt(N)} events per system, node ${process.version}`)
  const cost = jsonlCost()
  const memory = { sightline: memoryRun("sightline"), otel: memoryRun("otel-sdk") }
  // First, on a fresh heap: after the throughput runs, GC of their leftovers lands in the loop.
  const f = await filteredEmit()
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
  console.log(
    `filtered-out emit: ${f.raw.toFixed(1)} ns per yield* emit (${f.net.toFixed(1)} ns net of an empty Effect loop, median of ${f.rounds.length} rounds: ${
      f.rounds.map((r) => r.toFixed(0)).join(", ")
    }; ${f.call.toFixed(1)} ns for the emit(event) decision)`
  )
  console.log(
    `emitAll -> JSON Lines file: ${cost.sightlineNs.toFixed(0)} ns/event (${cost.dropped} dropped); pino -> file ${
      cost.pinoNs.toFixed(0)
    } ns/event; medians of 5 alternated rounds (sightline ${cost.rounds.sightline.map((r) => r.toFixed(0)).join(", ")}; pino ${
      cost.rounds.pino.map((r) => r.toFixed(0)).join(", ")
    })`
  )
  for (const m of [memory.sightline, memory.otel]) {
    console.log(
      `${m.system.padEnd(10)} memory: rss ${m.startRssMb.toFixed(1)} MB at start; peak ${m.normal.peakRssMb.toFixed(1)} MB in ${NORMAL_S} s at 1x (${
        fmt(m.deliveredNormal)
      } delivered), peak ${m.overload.peakRssMb.toFixed(1)} MB in ${OVERLOAD_S} s at 10x (+${
        (m.overload.peakRssMb - m.startRssMb).toFixed(1)
      } MB; ${fmt(m.overload.emitted)} emitted, ${fmt(m.deliveredOverload)} delivered${m.dropped >= 0 ? `, ${fmt(m.dropped)} dropped` : ""}); heap retained after full GC ${
        m.startHeapMb.toFixed(1)
      } -> ${m.normal.retainedHeapMb.toFixed(1)} -> ${m.overload.retainedHeapMb.toFixed(1)} MB`
    )
  }
  const growth = (m: MemoryRun) => m.overload.peakRssMb - m.startRssMb
  const r = (a: string, b: string) => (results[a]!.rate / results[b]!.rate).toFixed(2)
  console.log(`ratio sightline-drop/otel-sdk ${r("sightline-drop", "otel-sdk")}`)
  console.log(`ratio sightline-drop/pino ${r("sightline-drop", "pino")}`)
  console.log(`ratio sightline-block/otel-sdk ${r("sightline-block", "otel-sdk")}`)
  console.log(`ratio sightline-block/pino ${r("sightline-block", "pino")}`)
  console.log(`ratio hub-only-drop/otel-sdk ${r("hub-only-drop", "otel-sdk")}`)
  console.log(`ratio hub-only-drop/pino ${r("hub-only-drop", "pino")}`)
  console.log(`ratio filtered-emit-ns/target-100ns ${(f.net / 100).toFixed(2)}`)
  console.log(`ratio emitall-jsonl-ns/target-1000ns ${(cost.sightlineNs / 1000).toFixed(2)}`)
  console.log(`ratio emitall-jsonl/pino-file ${(cost.sightlineNs / cost.pinoNs).toFixed(2)}`)
  console.log(`ratio overload-rss-growth-mb/target-50mb ${(growth(memory.sightline) / 50).toFixed(2)}`)
  console.log(`ratio overload-rss-growth/otel-sdk ${(growth(memory.sightline) / growth(memory.otel)).toFixed(2)}`)
  console.log(
    `ratio overload-retained-heap-growth-mb/target-50mb ${
      ((memory.sightline.overload.retainedHeapMb - memory.sightline.startHeapMb) / 50).toFixed(2)
    }`
  )
}

await main()
