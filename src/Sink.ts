/**
 * File sinks. Each truncates its file when the run opens it (unless `append`), receives rows in
 * source order, writes each batch with one append, and closes with the run's scope. A write
 * failure is a `SinkError`, fatal for the run: a row never silently misses its sink.
 *
 * @since 0.1.0
 */
import { stringify } from "csv-stringify/sync"
import { Effect } from "effect"
import { mkdir, open } from "node:fs/promises"
import { dirname } from "node:path"
import { type Sink, SinkError, type SinkWriter } from "./Pipeline.js"

/** @since 0.1.0 */
export interface FileOptions {
  readonly path: string
  /** Append to an existing file instead of replacing it. Default `false`. */
  readonly append?: boolean
}

const openFile = (path: string, append: boolean, onFirstWrite: (rows: ReadonlyArray<unknown>) => string, encode: (rows: ReadonlyArray<unknown>) => string) =>
  Effect.gen(function* () {
    const fail = (message: string) => (cause: unknown) => new SinkError({ sink: path, message, cause })
    const handle = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          await mkdir(dirname(path), { recursive: true })
          return open(path, append ? "a" : "w")
        },
        catch: fail(`cannot open ${path}`)
      }),
      (h) => Effect.promise(() => h.close())
    )
    let bytes = 0
    let first = true
    const writer: SinkWriter<unknown> = {
      write: (rows) => {
        if (rows.length === 0) return Effect.void
        const text = (first ? onFirstWrite(rows) : "") + encode(rows)
        first = false
        bytes += Buffer.byteLength(text)
        return Effect.tryPromise({ try: () => handle.appendFile(text), catch: fail(`cannot write ${path}`) })
      },
      bytesWritten: () => bytes
    }
    return writer
  })

/**
 * A JSON Lines file: one `JSON.stringify`d row per line.
 *
 * @since 0.1.0
 * @category constructors
 */
export const jsonLines = <A = unknown>(options: FileOptions): Sink<A> => ({
  _tag: "Sink",
  config: { format: "jsonl", path: options.path },
  operation: "file.write",
  open: openFile(options.path, options.append ?? false, () => "", (rows) => rows.map((r) => JSON.stringify(r) + "\n").join(""))
})

/**
 * A CSV file (RFC 4180, written by `csv-stringify`) with a header line. `columns` fixes the columns
 * and their order; by default they are the keys of the first row. Dates are written as ISO 8601.
 *
 * @since 0.1.0
 * @category constructors
 */
export const csv = <A extends object = Record<string, unknown>>(
  options: FileOptions & { readonly columns?: ReadonlyArray<keyof A & string> }
): Sink<A> => {
  let columns: Array<string> | undefined = options.columns?.slice()
  const cast = { date: (d: Date) => d.toISOString(), boolean: (b: boolean) => String(b) }
  return {
    _tag: "Sink",
    config: { format: "csv", path: options.path, columns: options.columns ?? "first row" },
    operation: "file.write",
    open: Effect.suspend(() => {
      columns = options.columns?.slice()
      const header = (rows: ReadonlyArray<unknown>) => {
        columns ??= Object.keys(rows[0] as object)
        return options.append ? "" : stringify([columns])
      }
      return openFile(options.path, options.append ?? false, header, (rows) =>
        stringify(rows as Array<Record<string, unknown>>, { columns: columns!, cast }))
    })
  }
}
