/**
 * One memory scenario of `bench/hub.ts`, run by it in a fresh Node process (`--expose-gc`) so no
 * earlier run's heap inflates the figures. Prints one JSON line.
 *
 * `node --expose-gc --import tsx bench/_hub-rss.ts <sightline|otel-sdk> <normalSeconds> <overloadSeconds>`
 *
 * The exporter accepts 20,000 events/s (it sleeps batch/20,000 s per batch). Phase 1, normal load:
 * the producer emits 20,000 events/s. Phase 2, 10× overload: 200,000 events/s, in slices every
 * 10 ms. RSS is sampled every 100 ms; after each phase a full GC gives the heap still retained.
 */
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import { Effect, Exit, Layer, Scope } from "effect"
import * as Exporter from "../src/Exporter.js"
import * as Telemetry from "../src/Telemetry.js"
import * as TelemetryStats from "../src/TelemetryStats.js"
import { attrs, rowEvent } from "./_events.js"

const [system = "sightline", normalS = "15", overloadS = "30"] = process.argv.slice(2)
const CAPACITY = 20_000
const mb = (bytes: number) => bytes / 1e6
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("bench/_hub-rss.ts needs node --expose-gc")

let delivered = 0
let peak = 0
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100)
const retained = () => {
  gc()
  return mb(process.memoryUsage().heapUsed)
}

interface Phase {
  readonly peakRssMb: number
  readonly retainedHeapMb: number
  readonly emitted: number
}

/** Runs `seconds` of load at `perSecond`: every 10 ms, `slice(first, count)` emits `count` events. */
const phase = async (seconds: number, perSecond: number, slice: (first: number, count: number) => Promise<void> | void): Promise<Phase> => {
  peak = process.memoryUsage().rss
  const end = Date.now() + seconds * 1000
  const perSlice = perSecond / 100
  let i = 0
  while (Date.now() < end) {
    const sliceEnd = Date.now() + 10
    await slice(i, perSlice)
    i += perSlice
    const wait = sliceEnd - Date.now()
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)))
  }
  return { peakRssMb: mb(peak), retainedHeapMb: retained(), emitted: i }
}

const sightline = async () => {
  const slow = Exporter.make({
    name: "slow",
    export: (batch) =>
      Effect.zipRight(Effect.sleep(`${(batch.length / CAPACITY) * 1000} millis`), Effect.sync(() => void (delivered += batch.length)))
  })
  const scope = Effect.runSync(Scope.make())
  const ctx = await Effect.runPromise(Layer.buildWithScope(
    Telemetry.layer({
      exporters: [Effect.succeed(slow)],
      queue: { strategy: "drop" },
      exporterQueue: { strategy: "drop" },
      exportInterval: "100 millis",
      shutdownTimeout: "1 second",
      lastResort: { write: () => {} }
    }),
    scope
  ))
  const t = ctx.unsafeMap.get(Telemetry.Telemetry.key) as Telemetry.TelemetryService
  return {
    slice: (first: number, count: number) =>
      Effect.runPromise(Effect.gen(function*() {
        for (let i = first; i < first + count; i++) yield* t.emit(rowEvent(i))
      })),
    close: async () => {
      const s = await Effect.runPromise(t.stats)
      await Effect.runPromise(Scope.close(scope, Exit.void))
      return TelemetryStats.droppedFor(s, "slow") // hub-level drops (ingress overflow) included
    }
  }
}

const otel = async () => {
  class SlowExporter implements SpanExporter {
    export(spans: Array<ReadableSpan>, done: (result: { code: number }) => void) {
      setTimeout(() => {
        delivered += spans.length
        done({ code: 0 })
      }, (spans.length / CAPACITY) * 1000)
    }
    shutdown() {
      return Promise.resolve()
    }
  }
  const processor = new BatchSpanProcessor(new SlowExporter(), { scheduledDelayMillis: 100 })
  const provider = new BasicTracerProvider({ spanProcessors: [processor] })
  const tracer = provider.getTracer("bench")
  return {
    slice: (first: number, count: number) => {
      for (let i = first; i < first + count; i++) tracer.startSpan("RowCreated", { attributes: attrs(i) }).end()
    },
    close: async () => {
      await provider.shutdown()
      return -1
    }
  }
}

const main = async () => {
  const startRssMb = mb(process.memoryUsage().rss)
  const startHeapMb = retained()
  const sys = system === "otel-sdk" ? await otel() : await sightline()
  const normal = await phase(Number(normalS), CAPACITY, sys.slice)
  const deliveredNormal = delivered
  const overload = await phase(Number(overloadS), CAPACITY * 10, sys.slice)
  const dropped = await sys.close()
  clearInterval(sampler)
  console.log(JSON.stringify({
    system,
    startRssMb,
    startHeapMb,
    normal,
    overload,
    deliveredNormal,
    deliveredOverload: delivered - deliveredNormal,
    dropped
  }))
}

await main()
