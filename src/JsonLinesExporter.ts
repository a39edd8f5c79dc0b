/**
 * An exporter that appends one JSON object per line (JSON Lines, https://jsonlines.org) to a file.
 * Each batch is one append, so a reader never sees half a batch from a completed export.
 *
 * Events are closed, already-valid plain objects (their fields are checked by the compiler where
 * they are built), so `TelemetryEvent.encodeJson`'s Schema pass would only re-check them, at
 * 55–80 µs per event (issue 9, measured on the main job). Each event type is written by a
 * serializer that `fast-json-stringify` compiles once from the type's JSON Schema (derived from its
 * `effect/Schema` with `JSONSchema.make`). A type it cannot compile falls back to
 * `JSON.stringify`. Every line decodes back with `TelemetryEvent.decodeJson` (tested).
 *
 * Batches are encoded on the calling thread into one buffer the exporter reuses, and written with
 * the file handle's asynchronous `write` (the system call runs on libuv's thread pool). Until
 * 0.3.0 a worker thread encoded and wrote them; handing it a batch cost its structured clone
 * (about 2 µs per event on the calling thread, plus about 6 µs per event of decoding and encoding
 * on the worker), more than encoding it here (about 1.5 µs): `bench/engine.ts`'s identity
 * pipeline, 30,000 rows, 9 alternated rounds on the 2-core project machine, ran at 0.82 of
 * `Telemetry.layerDisabled` this way against 0.76 with the thread, with 140 against 173 µs of CPU
 * per row for the whole process.
 *
 * @since 0.1.0
 */
import { Effect, JSONSchema, type Schema, type Scope } from "effect"
import fastJson from "fast-json-stringify"
import { mkdir, open } from "node:fs/promises"
import { dirname } from "node:path"
import * as Exporter from "./Exporter.js"
import * as TelemetryEvent from "./TelemetryEvent.js"

/**
 * @since 0.1.0
 */
export interface Options {
  /** File to write; its directory is created if missing. */
  readonly path: string
  /** `true` (default) appends to an existing file; `false` truncates it first. */
  readonly append?: boolean
  /** Default `"jsonl"`. */
  readonly name?: string
  /**
   * No longer has any effect: batches are always encoded on the calling thread (see the module's
   * documentation for the measurement).
   *
   * @deprecated since 0.3.0
   * @since 0.2.0
   */
  readonly thread?: boolean
}

type Serialize = (event: TelemetryEvent.TelemetryEvent) => string

/** Each event type's JSON Schema, by `_tag`. */
const schemaOf = (member: Schema.Schema.AnyNoContext): readonly [string, object] => {
  const jsonSchema = JSONSchema.make(member)
  const tag = (jsonSchema as { readonly properties?: { readonly _tag?: { readonly enum?: ReadonlyArray<string> } } }).properties?._tag?.enum?.[0] ?? ""
  return [tag, jsonSchema]
}
const schemas: ReadonlyArray<readonly [string, object]> = TelemetryEvent.TelemetryEvent.members.map(schemaOf)

/** One compiled serializer per event type (by `_tag`), built when the module loads. */
const serializerOf = ([tag, jsonSchema]: readonly [string, object]): readonly [string, Serialize] => {
  try {
    return [tag, fastJson(jsonSchema as Parameters<typeof fastJson>[0])]
  } catch {
    return [tag, JSON.stringify]
  }
}
const serializers: ReadonlyMap<string, Serialize> = new Map(schemas.map(serializerOf))

/** One event's line, ending with `\n`. */
const lineOf = (event: TelemetryEvent.TelemetryEvent): string => (serializers.get(event._tag) ?? JSON.stringify)(event) + "\n"

/**
 * The bytes of one batch: one JSON line per event, each ending with `\n`.
 *
 * @since 0.2.0
 */
export const toLines = (batch: ReadonlyArray<TelemetryEvent.TelemetryEvent>): string => {
  let out = ""
  for (let i = 0; i < batch.length; i++) out += lineOf(batch[i]!)
  return out
}

/** Events serialized per string before it is copied into the bytes (see {@link makeEncoder}). */
const eventsPerChunk = 32

/**
 * An encoder of batches to UTF-8 JSON lines into one buffer it reuses (grown as needed): the bytes
 * of the last batch stay valid until the next call. Lines are those of {@link toLines} (`lineOf`);
 * they are copied into the buffer 32 at a time, since both one large concatenated string (V8
 * flattens the rope of thousands of parts) and one copy per line cost more: 1.5 µs per
 * `TransformCompleted` here against 3.6 µs for `toLines` with `Buffer.from` and 2.0 µs for the
 * structured clone alone that handing the batch to a thread costs (a batch of 1,536 events,
 * Node 20, the 2-core project machine).
 */
const makeEncoder = () => {
  let buffer = Buffer.allocUnsafe(1 << 20)
  let at = 0
  const put = (text: string) => {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    if (at + 3 * text.length > buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * buffer.length, at + 3 * text.length))
      buffer.copy(grown, 0, 0, at)
      buffer = grown
    }
    at += buffer.write(text, at)
  }
  return (batch: ReadonlyArray<TelemetryEvent.TelemetryEvent>): Buffer => {
    at = 0
    let text = ""
    for (let i = 0; i < batch.length; i++) {
      text += lineOf(batch[i]!)
      if (i % eventsPerChunk === eventsPerChunk - 1) {
        put(text)
        text = ""
      }
    }
    put(text)
    return buffer.subarray(0, at)
  }
}

/**
 * Opens the file in the current scope (closed with it) and returns the exporter. Fails with
 * `ExportError` when the file cannot be opened.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Exporter.Exporter, Exporter.ExportError, Scope.Scope> => {
  const name = options.name ?? "jsonl"
  const fail = (message: string) => (cause: unknown) => new Exporter.ExportError({ exporter: name, message, cause })
  return Effect.gen(function* () {
    const handle = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          await mkdir(dirname(options.path), { recursive: true })
          return open(options.path, options.append === false ? "w" : "a")
        },
        catch: fail(`cannot open ${options.path}`)
      }),
      (h) => Effect.promise(() => h.close())
    )
    const cannotWrite = fail(`cannot write ${options.path}`)
    const encode = makeEncoder()
    const writeAll = async (bytes: Buffer) => {
      for (let done = 0; done < bytes.length;) done += (await handle.write(bytes, done, bytes.length - done)).bytesWritten
    }
    // An export the hub gave up on (its time-out) may still be writing the encoder's buffer: a
    // batch exported meanwhile gets bytes of its own.
    let encoderBusy = false
    const exportBatch = async (batch: ReadonlyArray<TelemetryEvent.TelemetryEvent>) => {
      if (encoderBusy) return writeAll(Buffer.from(toLines(batch)))
      encoderBusy = true
      try {
        await writeAll(encode(batch))
      } finally {
        encoderBusy = false
      }
    }
    return Exporter.make({
      name,
      export: (batch) => Effect.tryPromise({ try: () => exportBatch(batch), catch: cannotWrite }),
      shutdown: Effect.promise(() => handle.datasync()).pipe(Effect.ignore)
    })
  })
}
