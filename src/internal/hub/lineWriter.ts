/**
 * The JSON Lines exporter's writer thread: encodes batches of events to JSON lines and appends
 * them to the exporter's file, in a `worker_threads` worker, so neither the encoding nor the
 * UTF-8 conversion runs on the event loop's thread.
 *
 * Why: with telemetry `rows` the engine emits ~6 events per row, and on the event loop's thread
 * `fast-json-stringify` plus the string-to-bytes copy of the append were the largest part of
 * telemetry's cost per event (`bench/engine.ts`, profiled with `node --cpu-prof`). Handing a
 * batch to the worker costs its structured clone (`postMessage`) instead. Measured on the identity
 * pipeline of `bench/engine.ts` (10,000 rows, main thread's user CPU from
 * `/proc/self/task/<pid>/stat`, medians of 4 alternated runs on the 2-core project machine):
 * telemetry added ~40 µs per row on the main thread with the encoding there, ~20 µs with it here.
 *
 * The worker compiles the same serializers as the main thread (`fast-json-stringify` from each
 * event type's JSON Schema, `JSON.stringify` where that fails), so its lines are byte for byte
 * those of `JsonLinesExporter.toLines`. It writes to the file descriptor the main thread opened
 * (descriptors belong to the process) with one `fs.writeSync` loop per batch, and answers each
 * batch once it is written or failed. The file is flushed and closed by the main thread, after
 * the worker has stopped.
 *
 * @internal
 */
import { Effect, type Scope } from "effect"
import * as Worker from "../worker.js"
import type { TelemetryEvent } from "../../TelemetryEvent.js"

/** The worker, as CommonJS source (no file to resolve, in `src/` under tsx as in `dist/`). */
const source = `
const { parentPort, workerData } = require("node:worker_threads")
const { writeSync } = require("node:fs")
const fastJson = require(workerData.fastJson)
const serializers = new Map(workerData.schemas.map(([tag, schema]) => {
  try { return [tag, fastJson(schema)] } catch { return [tag, JSON.stringify] }
}))
const encode = (events) => {
  let out = ""
  for (let i = 0; i < events.length; i++) out += (serializers.get(events[i]._tag) || JSON.stringify)(events[i]) + "\\n"
  return Buffer.from(out, "utf8")
}
parentPort.postMessage("ready")
parentPort.on("message", (m) => {
  if (m === "stop") return parentPort.close()
  try {
    const bytes = encode(m.events)
    let at = 0
    while (at < bytes.length) at += writeSync(workerData.fd, bytes, at, bytes.length - at)
    parentPort.postMessage({ id: m.id })
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String((e && e.message) || e) })
  }
})
`

/** A JSON Schema per event type, as `[tag, schema]` (plain data: it crosses to the worker). */
export type Schemas = ReadonlyArray<readonly [string, object]>

export interface LineWriter {
  /**
   * Encodes and appends `events`; fails with the worker's message when the write failed, with
   * `"unavailable"` when the worker has stopped or the batch cannot be cloned (a value
   * `postMessage` refuses, such as a function in an external call's attributes): the caller then
   * writes the batch on its own thread.
   */
  readonly write: (events: ReadonlyArray<TelemetryEvent>) => Effect.Effect<void, string>
}

/** Sentinel failure of {@link LineWriter.write}: the worker did not take the batch. */
export const unavailable = "unavailable"

/**
 * Starts the writer thread for the open descriptor `fd` in the current scope; closing the scope
 * stops it (after the batch in flight, if any). The descriptor stays the caller's to flush and close.
 */
export const start = (fd: number, schemas: Schemas): Effect.Effect<LineWriter, never, Scope.Scope> =>
  Effect.gen(function* () {
    const worker = yield* Worker.start(source, { fd, schemas, fastJson: Worker.resolvePackage("fast-json-stringify") })
    const pending = new Map<number, (error: string | undefined) => void>()
    let alive = true
    let next = 0
    // Set by the worker's "ready" (or its end); `ready` resumes at once if that came first.
    let isReady = false
    let onReady: (() => void) | undefined
    const setReady = () => {
      isReady = true
      onReady?.()
    }
    const ready = Effect.async<void>((resume) => {
      if (isReady) return resume(Effect.void)
      onReady = () => resume(Effect.void)
    })
    const stop = (message: string) => {
      alive = false
      setReady()
      for (const resume of pending.values()) resume(message)
      pending.clear()
    }
    worker.on("message", (m: "ready" | { readonly id: number; readonly error?: string }) => {
      if (m === "ready") return setReady()
      const resume = pending.get(m.id)
      pending.delete(m.id)
      resume?.(m.error)
    })
    worker.on("error", (e) => stop(`writer thread failed: ${e.message}`))
    worker.on("exit", () => stop(unavailable))
    // Waits for the serializers to be compiled, so the first batch does not wait for them: a
    // \`drop\` queue would count that start-up against the exporter (up to ~100 ms measured under
    // load). A worker that never gets ready is left to the fallback (\`unavailable\`).
    yield* Effect.timeout(ready, "10 seconds").pipe(Effect.ignore)
    const write = (events: ReadonlyArray<TelemetryEvent>): Effect.Effect<void, string> =>
      Effect.async<void, string>((resume) => {
        if (!alive) return resume(Effect.fail(unavailable))
        const id = next++
        try {
          worker.postMessage({ id, events })
        } catch {
          return resume(Effect.fail(unavailable))
        }
        pending.set(id, (error) => resume(error === undefined ? Effect.void : Effect.fail(error)))
      })
    return { write }
  })
