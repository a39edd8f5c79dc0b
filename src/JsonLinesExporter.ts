/**
 * An exporter that appends one JSON object per line (JSON Lines, https://jsonlines.org) to a file.
 * Each batch is one append, so a reader never sees half a batch from a completed export.
 *
 * Events are closed, already-valid plain objects (their fields are checked by the compiler where
 * they are built), so `TelemetryEvent.encodeJson`'s Schema pass would only re-check them, at
 * 55–80 µs per event (issue 9, measured on the main job). Each event type is written by a
 * serializer that `fast-json-stringify` compiles once from the type's JSON Schema (derived from its
 * `effect/Schema` with `JSONSchema.make`): 2.2 µs against 3.8 µs for `JSON.stringify` on a
 * `TransformCompleted` on the project machine. A type it cannot compile falls back to
 * `JSON.stringify`. Every line decodes back with `TelemetryEvent.decodeJson` (tested).
 *
 * @since 0.1.0
 */
import { Effect, JSONSchema, type Schema, type Scope } from "effect"
import fastJson from "fast-json-stringify"
import { mkdir, open } from "node:fs/promises"
import { dirname } from "node:path"
import * as Exporter from "./Exporter.js"
import * as LineWriter from "./internal/hub/lineWriter.js"
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
   * `true` (default): batches are encoded and written in a worker thread of the exporter's own,
   * so the event loop's thread only hands each batch over (its structured clone: about half the
   * main thread's cost of encoding and appending it, measured on `bench/engine.ts`'s pipeline).
   * `false`: encoded and appended on the calling thread. Either way a batch is one
   * write, and `export` succeeds once it is written. A batch the worker cannot take (it stopped,
   * or a value in the batch cannot be cloned) is written on the calling thread instead.
   *
   * @since 0.2.0
   */
  readonly thread?: boolean
}

type Serialize = (event: TelemetryEvent.TelemetryEvent) => string

/** Each event type's JSON Schema, by `_tag` (also handed to the writer thread, which compiles its own). */
const schemaOf = (member: Schema.Schema.AnyNoContext): readonly [string, object] => {
  const jsonSchema = JSONSchema.make(member)
  const tag = (jsonSchema as { readonly properties?: { readonly _tag?: { readonly enum?: ReadonlyArray<string> } } }).properties?._tag?.enum?.[0] ?? ""
  return [tag, jsonSchema]
}
const schemas: LineWriter.Schemas = TelemetryEvent.TelemetryEvent.members.map(schemaOf)

/** One compiled serializer per event type (by `_tag`), built when the module loads. */
const serializerOf = ([tag, jsonSchema]: readonly [string, object]): readonly [string, Serialize] => {
  try {
    return [tag, fastJson(jsonSchema as Parameters<typeof fastJson>[0])]
  } catch {
    return [tag, JSON.stringify]
  }
}
const serializers: ReadonlyMap<string, Serialize> = new Map(schemas.map(serializerOf))

/**
 * The bytes of one batch: one JSON line per event, each ending with `\n`.
 *
 * @since 0.2.0
 */
export const toLines = (batch: ReadonlyArray<TelemetryEvent.TelemetryEvent>): string => {
  let out = ""
  for (let i = 0; i < batch.length; i++) {
    const event = batch[i]!
    out += (serializers.get(event._tag) ?? JSON.stringify)(event) + "\n"
  }
  return out
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
    const here = (batch: ReadonlyArray<TelemetryEvent.TelemetryEvent>) =>
      Effect.tryPromise({ try: () => handle.appendFile(toLines(batch)), catch: cannotWrite })
    // Started after the handle is acquired, so it is stopped before the handle is closed.
    const writer = options.thread === false ? undefined : yield* LineWriter.start(handle.fd, schemas)
    return Exporter.make({
      name,
      export: writer === undefined ? here : (batch) =>
        writer.write(batch).pipe(
          Effect.catchAll((error) => (error === LineWriter.unavailable ? here(batch) : Effect.fail(cannotWrite(new Error(error)))))
        ),
      shutdown: Effect.promise(() => handle.datasync()).pipe(Effect.ignore)
    })
  })
}
