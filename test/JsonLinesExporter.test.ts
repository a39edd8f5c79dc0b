/**
 * The JSON Lines exporter (issue 9): lines written with plain `JSON.stringify` decode back to the
 * same events, and a local file exporter that keeps up loses nothing under the hub's defaults,
 * even when each batch costs it more synchronous time than `dropPatience`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Scope } from "effect"
import { execFileSync } from "node:child_process"
import { closeSync, openSync } from "node:fs"
import { appendFile, mkdtemp, open, readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Exporter from "../src/Exporter.js"
import { JsonLinesExporter, Telemetry, TelemetryEvent, TelemetryStats } from "../src/index.js"
import { catalogue, row, transform } from "./hub/_helpers.js"

const tmp = () => Effect.promise(() => mkdtemp(join(tmpdir(), "sightline-jsonl-")))
const quiet = { write: () => {} }

/** Builds the layer in its own scope, runs `body`, closes the scope, returns the stats after it. */
const withTelemetry = <A>(options: Telemetry.Options<Exporter.ExportError, Scope.Scope>, body: (t: Telemetry.TelemetryService) => Effect.Effect<A>) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const ctx = yield* Layer.buildWithScope(Telemetry.layer(options), scope)
    const t = ctx.unsafeMap.get(Telemetry.Telemetry.key) as Telemetry.TelemetryService
    const result = yield* body(t)
    yield* Scope.close(scope, Exit.void)
    return { result, stats: yield* t.stats }
  })

/** Holds the thread for `ms` milliseconds, as the engine's synchronous batch work does. */
const busy = (ms: number) => {
  const end = performance.now() + ms
  while (performance.now() < end) {
    // spin
  }
}

describe("JsonLinesExporter", () => {
  it("writes one JSON line per event (compiled serializers), and every line decodes back to the same event, whatever its strings hold", () => {
    const awkward: TelemetryEvent.TelemetryEvent = {
      _tag: "TransformCompleted", timestamp: 1, runId: "r", rowId: "a", tokenId: "t", nodeId: "n", stateId: "s", status: "failed", durationMs: 0.5,
      inputHash: "h", error: "a \"quote\", a \\ backslash, a\nnewline, a tab\t, é, 😀, a lone \ud800 surrogate, </script>"
    }
    const text = JsonLinesExporter.toLines([...catalogue, awkward])
    expect(TelemetryEvent.decodeJson(text.trim().split("\n").at(-1)!)).toStrictEqual(awkward)
    const lines = text.split("\n")
    expect(lines.at(-1)).toBe("")
    expect(lines.slice(0, -2).map((l) => TelemetryEvent.decodeJson(l))).toStrictEqual(catalogue)
    expect(lines.slice(0, -2).map((l) => JSON.parse(l) as unknown)).toEqual(catalogue.map((e) => JSON.parse(TelemetryEvent.encodeJson(e)) as unknown))
  })

  it.live("the file written through the hub decodes back, line by line, to the events emitted", () =>
    Effect.gen(function* () {
      const path = join(yield* tmp(), "events.jsonl")
      const events = Array.from({ length: 3000 }, (_, i) => (i % 2 === 0 ? row(i) : transform(i)))
      yield* withTelemetry({ exporters: [JsonLinesExporter.make({ path, append: false })], granularity: "full", lastResort: quiet }, (t) =>
        Effect.gen(function* () {
          yield* t.emitAll(events)
          yield* t.emitAll(catalogue)
        }))
      const lines = (yield* Effect.promise(() => readFile(path, "utf8"))).split("\n").slice(0, -1)
      expect(lines.map((l) => TelemetryEvent.decodeJson(l))).toStrictEqual([...events, ...catalogue])
    }))

  it.live("writes the bytes of toLines through its reused buffer, in batches larger than the buffer and after a smaller one, and counts every event exported", () =>
    Effect.gen(function* () {
      const path = join(yield* tmp(), "events.jsonl")
      const awkward: TelemetryEvent.TelemetryEvent = {
        _tag: "TransformCompleted", timestamp: 2, runId: "r", rowId: "a", tokenId: "t", nodeId: "n", stateId: "s", status: "failed", durationMs: 0.5,
        inputHash: "h", error: "a \"quote\", a\nnewline, é, 😀, a lone \ud800 surrogate, " + "ü".repeat(100_000)
      }
      // A first batch of 4,000 events (more than 1 MiB, the buffer's first size), then one of 33
      // (a chunk of 32 and one more: the buffer's stale tail must not be written), then the rest.
      const big = [...Array.from({ length: 3998 }, (_, i) => (i % 2 === 0 ? row(i) : transform(i))), awkward, row(9_999)]
      const small = Array.from({ length: 33 }, (_, i) => transform(10_000 + i))
      const events = [...big, ...small, ...catalogue]
      const { stats } = yield* withTelemetry(
        { exporters: [JsonLinesExporter.make({ path, append: false })], granularity: "full", maxBatchSize: 4000, exporterQueue: { capacity: 4096, strategy: "block" }, lastResort: quiet },
        (t) =>
          Effect.gen(function* () {
            yield* t.emitAll(big)
            yield* t.flush
            yield* t.emitAll(small)
            yield* t.flush
            yield* t.emitAll(catalogue)
          })
      )
      const text = yield* Effect.promise(() => readFile(path, "utf8"))
      expect(text).toBe(JsonLinesExporter.toLines(events))
      expect(stats.exporters["jsonl"]?.exported).toBe(events.length)
      expect(TelemetryStats.droppedFor(stats, "jsonl")).toBe(0)
      expect(TelemetryStats.unaccounted(stats, "jsonl")).toBe(0)
    }))

  it.live("a batch exported while an earlier write still holds the reused buffer gets bytes of its own, and neither batch is corrupted", () =>
    Effect.gen(function* () {
      // Every thread of libuv's pool is held by an \`open\` of a FIFO that no writer has opened yet,
      // so the first export's write waits, its bytes still in the exporter's buffer, as a write the
      // hub gave up on (its time-out) may still be running; the second batch is exported meanwhile.
      // Then the pool is let go, and each append lands whole (O_APPEND).
      const dir = yield* tmp()
      const path = join(dir, "events.jsonl")
      const gate = join(dir, "gate.fifo")
      execFileSync("mkfifo", [gate])
      const first = Array.from({ length: 3000 }, (_, i) => (i % 2 === 0 ? row(i) : transform(i)))
      const second = [row(50_001), transform(50_002)]
      yield* Effect.scoped(Effect.gen(function* () {
        const exporter = yield* JsonLinesExporter.make({ path, append: false })
        const poolSize = Number(process.env.UV_THREADPOOL_SIZE ?? 4)
        const held = Array.from({ length: poolSize }, () => open(gate, "r"))
        yield* Effect.sleep("50 millis")
        const big = yield* Effect.fork(exporter.export(first))
        yield* Effect.sleep("50 millis")
        const small = yield* Effect.fork(exporter.export(second))
        yield* Effect.sleep("50 millis")
        const writer = openSync(gate, "w")
        for (const handle of yield* Effect.promise(() => Promise.all(held))) yield* Effect.promise(() => handle.close())
        closeSync(writer)
        yield* Fiber.join(big)
        yield* Fiber.join(small)
      }))
      const text = yield* Effect.promise(() => readFile(path, "utf8"))
      const [a, b] = [JsonLinesExporter.toLines(first), JsonLinesExporter.toLines(second)]
      expect([a + b, b + a]).toContain(text)
    }), 30_000)

  it.live("under the defaults, a local file exporter that keeps up never drops, though each batch holds the thread longer than dropPatience", () =>
    Effect.gen(function* () {
      const path = join(yield* tmp(), "events.jsonl")
      let written = 0
      // 512 events cost 15 ms of synchronous work (the Schema encoder's cost), then an append:
      // ~34,000 events/s, against a producer emitting bursts of 1,536 every ~50 ms (~30,000/s).
      const slowEncoder = Exporter.make({
        name: "jsonl",
        export: (batch) =>
          Effect.promise(() => {
            busy(15 * batch.length / 512)
            written += batch.length
            return appendFile(path, JsonLinesExporter.toLines(batch))
          })
      })
      const bursts = 40
      const { stats } = yield* withTelemetry({ exporters: [Effect.succeed(slowEncoder)], lastResort: quiet }, (t) =>
        Effect.gen(function* () {
          for (let b = 0; b < bursts; b++) {
            yield* t.emitAll(Array.from({ length: 1536 }, (_, i) => row(b * 1536 + i)))
            busy(35)
            yield* Effect.yieldNow()
          }
        }))
      expect(TelemetryStats.droppedFor(stats, "jsonl")).toBe(0)
      expect(stats.exporters.jsonl?.exported).toBe(bursts * 1536)
      expect(written).toBe(bursts * 1536)
      expect(TelemetryStats.unaccounted(stats, "jsonl")).toBe(0)
    }), 60_000)

  it.live("under the defaults, a file exporter on a slow disk that keeps up never drops, though each write takes longer than dropPatience", () =>
    Effect.gen(function* () {
      // Each batch waits 40 ms for its write (a loaded machine's disk): ~12,800 events/s, against
      // bursts of 3,072 (two engine batches, more than the 2,048-event queue) every 400 ms
      // (~7,700/s). The producer's wait for the write in flight is what used to count as a stall.
      // A first small burst gives the lane a history (a consumer with no successful export yet
      // gets only dropPatience: it may be hung).
      const slowDisk = Exporter.make({ name: "jsonl", export: () => Effect.sleep("40 millis") })
      const fast = Exporter.make({ name: "memory", export: () => Effect.void })
      const bursts = 8
      const { stats } = yield* withTelemetry({ exporters: [Effect.succeed(slowDisk), Effect.succeed(fast)], lastResort: quiet }, (t) =>
        Effect.gen(function* () {
          yield* t.emitAll([row(-1)])
          yield* t.flush
          for (let b = 0; b < bursts; b++) {
            yield* t.emitAll(Array.from({ length: 3072 }, (_, i) => row(b * 3072 + i)))
            yield* Effect.sleep("400 millis")
          }
        }))
      for (const name of ["jsonl", "memory"]) {
        expect(TelemetryStats.droppedFor(stats, name)).toBe(0)
        expect(stats.exporters[name]?.exported).toBe(bursts * 3072 + 1)
      }
    }), 60_000)

  it.live("an exporter that does not keep up still drops only its own events, and does not hold the others", () =>
    Effect.gen(function* () {
      const slow = Exporter.make({ name: "slow", export: () => Effect.sleep("100 millis") })
      let fastGot = 0
      const fast = Exporter.make({ name: "fast", export: (batch) => Effect.sync(() => void (fastGot += batch.length)) })
      // A generous shutdown time-out: on a loaded machine the default 5 s could run out before the
      // last drop report reaches the fast exporter, which this test also checks.
      const { stats } = yield* withTelemetry({ exporters: [Effect.succeed(slow), Effect.succeed(fast)], lastResort: quiet, shutdownTimeout: "30 seconds" }, (t) =>
        Effect.gen(function* () {
          for (let b = 0; b < 40; b++) {
            yield* t.emitAll(Array.from({ length: 1536 }, (_, i) => row(b * 1536 + i)))
            yield* Effect.sleep("5 millis")
          }
        }))
      expect(TelemetryStats.droppedFor(stats, "fast")).toBe(0)
      expect(fastGot).toBe(stats.exporters.fast?.exported) // every event, plus the slow lane's drop reports
      expect(fastGot).toBeGreaterThan(40 * 1536)
      expect(stats.exporters.slow?.dropped.queueOverflow).toBeGreaterThan(0)
      expect(TelemetryStats.unaccounted(stats, "slow")).toBe(0)
    }), 60_000)
})
