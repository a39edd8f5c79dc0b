/**
 * Sources: where a pipeline's rows come from. A source is a stream of raw records and a decoder;
 * a record that cannot be parsed or decoded is not an error of the run: it reaches the engine with
 * its reason and goes to quarantine (recorded in the Landscape), never dropped. A `SourceError` is
 * for the source as a whole (a missing file, a file that is not JSON at all, a CSV header that
 * names a column twice) and fails the run.
 *
 * @since 0.1.0
 */
import { Chunk, Effect, Either, Option, Predicate, Schema, Stream } from "effect"
import { open, readFile } from "node:fs/promises"
import { createReadStream } from "node:fs"
import { type CsvItem, csvRecords } from "./internal/csvRecords.js"
import * as RowFailure from "./internal/rowFailure.js"

/**
 * The source could not be read. Fatal for the run (the rows read before it are recorded).
 *
 * @since 0.1.0
 * @category errors
 */
export class SourceError extends Schema.TaggedError<SourceError>()("SourceError", {
  source: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * One record as a source read it: `raw` is JSON-compatible (it is stored in the Landscape and
 * hashed); `error` is set when the record could not even be parsed (a malformed CSV line, a line
 * of JSON Lines that is not JSON), and the row then goes to quarantine with that reason.
 *
 * @since 0.1.0
 */
export interface SourceRecord {
  readonly raw: unknown
  readonly error?: string
  /**
   * Where the source stands once this record is read (JSON-compatible, e.g. a byte offset), set by
   * a source that can continue from there ({@link Source.recordsAfter}). The engine checkpoints the
   * cursor of the last committed record, so `Orchestrator.resume` reads on from it instead of
   * reading the source again from its start.
   */
  readonly cursor?: unknown
}

/**
 * Why a record could not be decoded: `reason` is one short line (field path and message, e.g.
 * `amount: Unable to decode "abc" into a number`), `detail` the full JSON-compatible detail
 * (every schema issue), stored in `node_states.error_json`.
 *
 * @since 0.1.0
 */
export interface DecodeFailure {
  readonly reason: string
  readonly detail: unknown
}

/**
 * A source of rows of type `A` that needs `R` to read.
 *
 * @since 0.1.0
 */
export interface Source<out A, out R = never> {
  readonly _tag: "Source"
  /** Node name in the Landscape. */
  readonly name: string
  /** Describes the source in the Landscape (`nodes.config_json`), e.g. `{ format, path }`. */
  readonly config: unknown
  /** Operation kind recorded for reading it, e.g. `file.read`. */
  readonly operation: string
  readonly records: Stream.Stream<SourceRecord, SourceError, R>
  /**
   * The records after the one whose `cursor` this is, for a resumed run. Optional: without it (or
   * for a checkpoint without a cursor) a resume reads `records` from the start and skips the
   * records before its checkpoint by their index. Fails with `SourceError` when the source no
   * longer matches the cursor (a file changed since the run).
   */
  readonly recordsAfter?: (cursor: unknown) => Stream.Stream<SourceRecord, SourceError, R>
  /** Decodes one raw record. */
  readonly decode: (raw: unknown) => Either.Either<A, DecodeFailure>
}

/** Decodes with `schema`; a failure is one short line plus every issue (`ParseResult.ArrayFormatter`). */
export const decoder = <A, I>(schema: Schema.Schema<A, I, never>): (raw: unknown) => Either.Either<A, DecodeFailure> => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "ignore" })
  return (raw) => Either.mapLeft(decode(raw), RowFailure.fromParseError)
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 */
export interface MakeOptions<A, I, R> {
  readonly records: Stream.Stream<SourceRecord, SourceError, R>
  /** Decodes each raw record. */
  readonly schema: Schema.Schema<A, I, never>
  /** Node name in the Landscape. Default `"source"`. */
  readonly name?: string
  /** Describes the source in the Landscape. Default `{}`. */
  readonly config?: unknown
  /** Operation kind recorded for reading it. Default `"source.read"`. */
  readonly operation?: string
  /** See {@link Source.recordsAfter}. */
  readonly recordsAfter?: (cursor: unknown) => Stream.Stream<SourceRecord, SourceError, R>
}

/**
 * A source from any stream of raw records, decoded with `schema`. `HttpSource` and the file
 * sources below are built with it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I, R>(options: MakeOptions<A, I, R>): Source<A, R> => ({
  _tag: "Source",
  name: options.name ?? "source",
  config: options.config ?? {},
  operation: options.operation ?? "source.read",
  records: options.records,
  ...(options.recordsAfter === undefined ? {} : { recordsAfter: options.recordsAfter }),
  decode: decoder(options.schema)
})

/** @since 0.1.0 */
export interface FileOptions<A, I> {
  readonly path: string
  /** Decodes each record (for CSV: an object of strings keyed by the header). */
  readonly schema: Schema.Schema<A, I, never>
  /** Node name in the Landscape. Default `"source"`. */
  readonly name?: string
}

/**
 * A CSV file (RFC 4180, parsed by `csv-parse`); the first line is the header. A header that names
 * a column twice fails the run with `SourceError` naming it (one of the two columns would be lost).
 * A line with the wrong number of fields, or one `csv-parse` rejects (e.g. an unclosed quote), is
 * quarantined with the reason, its line number and its whole raw text (`{ line }`).
 *
 * Each record carries its cursor (the byte offset after it), so a resumed run reads on from its
 * checkpoint (`recordsAfter`) rather than from the first line; it fails with `SourceError` when the
 * file no longer holds, just before that offset, the record the checkpoint followed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const csv = <A, I>(options: FileOptions<A, I> & { readonly delimiter?: string }): Source<A> => {
  const name = options.name ?? "source"
  const delimiter = options.delimiter ?? ","
  const sourceError = fileError(name, options.path)
  /** The records of the file from `from` on; `known` is the header when reading on after a cursor. */
  const read = (from: { readonly bytes: number; readonly line: number }, known: ReadonlyArray<string> | undefined) =>
    Stream.suspend(() => {
      let header = known
      const toRecords = (items: Chunk.Chunk<CsvItem>) =>
        Effect.suspend(() => {
          const out: Array<SourceRecord> = []
          for (const item of items) {
            if (item._tag === "Record" && header === undefined) {
              const duplicate = item.fields.find((column, i) => item.fields.indexOf(column) !== i)
              if (duplicate !== undefined) return Effect.fail(sourceError(`the header names the column "${duplicate}" twice`))
              header = item.fields
              continue
            }
            out.push(toRecord(item, header!))
          }
          return Effect.succeed(Chunk.unsafeFromArray(out))
        })
      return csvRecords(options.path, delimiter, (cause) => sourceError("cannot read the CSV file", cause), from).pipe(
        Stream.mapChunksEffect(toRecords)
      )
    })
  const toRecord = (item: CsvItem, columns: ReadonlyArray<string>): SourceRecord => {
    // A rejected record whose end is not known gives no cursor: a checkpoint after it falls back to skipping by index.
    const cursor: CsvCursor | undefined = item.end === undefined ? undefined : { bytes: item.end, line: item.endLine, header: columns, last: item.raw }
    if (item._tag === "Rejected") return { raw: { line: item.raw }, error: `line ${item.line}: ${item.reason}`, ...(cursor === undefined ? {} : { cursor }) }
    if (item.fields.length !== columns.length) {
      return { raw: { line: item.raw }, error: `line ${item.line}: ${item.fields.length} fields, the header has ${columns.length}`, cursor }
    }
    const row: Record<string, string> = {}
    for (let i = 0; i < columns.length; i++) row[columns[i]!] = item.fields[i]!
    return { raw: row, cursor }
  }
  const recordsAfter = (cursor: unknown) =>
    Stream.unwrap(Effect.gen(function* () {
      if (!isCsvCursor(cursor)) return yield* sourceError(`cannot continue after ${JSON.stringify(cursor)}: not a cursor of a CSV source`)
      return read(yield* checkCursor(options.path, cursor, sourceError), cursor.header)
    }))
  return make({
    name,
    config: { format: "csv", path: options.path, delimiter },
    operation: "file.read",
    records: read({ bytes: 0, line: 0 }, undefined),
    recordsAfter,
    schema: options.schema
  })
}

/** The `SourceError` of the file source `name` reading `path`: `<path>: <message>`. */
const fileError = (name: string, path: string) => (message: string, cause?: unknown): SourceError =>
  new SourceError({ source: name, message: `${path}: ${message}`, ...(cause === undefined ? {} : { cause }) })

/** Where a file source stands after a record: the file offset after it, its last line, and its text (to check the file is unchanged). */
interface LineCursor {
  readonly bytes: number
  readonly line: number
  readonly last: string
}

/** A CSV source's cursor: a line cursor and the header. */
interface CsvCursor extends LineCursor {
  readonly header: ReadonlyArray<string>
}

const isLineCursor = (u: unknown): u is LineCursor =>
  Predicate.isRecord(u) && typeof u.bytes === "number" && typeof u.line === "number" && typeof u.last === "string"

const isCsvCursor = (u: unknown): u is CsvCursor =>
  isLineCursor(u) && Predicate.hasProperty(u, "header") && Array.isArray(u.header) && u.header.every((c) => typeof c === "string")

/**
 * Where to read on from after `cursor`, once the file is checked to still hold, just before the
 * cursor's offset, the record the cursor follows (else it changed since the run: `SourceError`).
 */
const checkCursor = (path: string, cursor: unknown, sourceError: (message: string, cause?: unknown) => SourceError) =>
  Effect.gen(function* () {
    if (!isLineCursor(cursor)) return yield* sourceError(`cannot continue after ${JSON.stringify(cursor)}: not a cursor of this source`)
    const before = Buffer.byteLength(cursor.last) + 2
    const text = yield* Effect.tryPromise({
      try: () => readRange(path, Math.max(0, cursor.bytes - before), cursor.bytes),
      catch: (cause) => sourceError("cannot read the file", cause)
    })
    if (!text.replace(/\r?\n$/, "").endsWith(cursor.last)) {
      return yield* sourceError(`the file changed since the run's checkpoint: line ${cursor.line} no longer ends at byte ${cursor.bytes}`)
    }
    return { bytes: cursor.bytes, line: cursor.line }
  })

/** The text of bytes [from, to) of a file. */
const readRange = async (path: string, from: number, to: number): Promise<string> => {
  const handle = await open(path, "r")
  try {
    const buffer = Buffer.alloc(to - from)
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, from)
    return buffer.subarray(0, bytesRead).toString("utf8")
  } finally {
    await handle.close()
  }
}

/**
 * A JSON file holding one array of records. A file that is not a JSON array fails the run with
 * `SourceError` (there are no rows to quarantine); an element the schema rejects is quarantined.
 *
 * @since 0.1.0
 * @category constructors
 */
export const json = <A, I>(options: FileOptions<A, I>): Source<A> => {
  const name = options.name ?? "source"
  const records = Stream.unwrap(
    Effect.tryPromise({
      try: () => readFile(options.path, "utf8"),
      catch: (cause) => new SourceError({ source: name, message: `cannot read ${options.path}`, cause })
    }).pipe(
      Effect.flatMap((text) =>
        Effect.try({
          try: () => JSON.parse(text) as unknown,
          catch: (cause) => new SourceError({ source: name, message: `${options.path} is not valid JSON`, cause })
        })
      ),
      Effect.filterOrFail(
        (data): data is ReadonlyArray<unknown> => Array.isArray(data),
        () => new SourceError({ source: name, message: `${options.path} does not hold a JSON array` })
      ),
      Effect.map((data) => Stream.fromIterable(data).pipe(Stream.map((raw): SourceRecord => ({ raw }))))
    )
  )
  return make({ name, config: { format: "json", path: options.path }, operation: "file.read", records, schema: options.schema })
}

/**
 * A JSON Lines file (https://jsonlines.org): one JSON value per line, read as a stream. Blank
 * lines are skipped; a line that is not JSON is quarantined with the parse error and the line.
 * Lines end with `\n` (a `\r` before it is dropped).
 *
 * Each record carries its cursor (the byte offset after its line), so a resumed run reads on from
 * its checkpoint (`recordsAfter`); it fails with `SourceError` when the file no longer holds, just
 * before that offset, the line the checkpoint followed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const jsonLines = <A, I>(options: FileOptions<A, I>): Source<A> => {
  const name = options.name ?? "source"
  const sourceError = fileError(name, options.path)
  const toRecord = (line: string, number: number, bytes: number): Option.Option<SourceRecord> => {
    if (line.trim().length === 0) return Option.none()
    const cursor: LineCursor = { bytes, line: number, last: line }
    try {
      return Option.some({ raw: JSON.parse(line) as unknown, cursor })
    } catch (e) {
      return Option.some({ raw: { line }, error: `line ${number}: not JSON: ${(e as Error).message}`, cursor })
    }
  }
  /** The records from byte `from.bytes` (the start of a line, `from.line` lines before it) on. */
  const read = (from: { readonly bytes: number; readonly line: number }) =>
    Stream.suspend(() => {
      const input = createReadStream(options.path, { start: from.bytes })
      let rest: Buffer = Buffer.alloc(0)
      let offset = from.bytes
      let number = from.line
      /** The complete lines of `chunk` (with what was left of the one before); the last, unfinished, is kept. */
      const lines = (chunk: Buffer): Array<SourceRecord> => {
        const buffer = rest.length === 0 ? chunk : Buffer.concat([rest, chunk])
        const out: Array<SourceRecord> = []
        let start = 0
        for (let end = buffer.indexOf(10); end !== -1; end = buffer.indexOf(10, start)) {
          offset += end + 1 - start
          number += 1
          const record = toRecord(buffer.toString("utf8", start, end).replace(/\r$/, ""), number, offset)
          if (Option.isSome(record)) out.push(record.value)
          start = end + 1
        }
        rest = buffer.subarray(start)
        return out
      }
      const last = Stream.suspend(() => {
        if (rest.length === 0) return Stream.empty
        offset += rest.length
        number += 1
        return Stream.fromIterable(Option.toArray(toRecord(rest.toString("utf8").replace(/\r$/, ""), number, offset)))
      })
      return Stream.fromAsyncIterable(input as AsyncIterable<Buffer>, (cause) => sourceError("cannot read the file", cause)).pipe(
        Stream.mapConcat(lines),
        Stream.concat(last),
        Stream.ensuring(Effect.sync(() => input.destroy()))
      )
    })
  const recordsAfter = (cursor: unknown) =>
    Stream.unwrap(Effect.map(checkCursor(options.path, cursor, sourceError), (at) => read(at)))
  return make({ name, config: { format: "jsonl", path: options.path }, operation: "file.read", records: read({ bytes: 0, line: 0 }), recordsAfter, schema: options.schema })
}

/**
 * Records held in memory (JSON-compatible values), decoded with `schema`. Useful in tests and for
 * small reference data. Any iterable works, including a generator (read lazily, once per run).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromIterable = <A, I>(options: {
  readonly records: Iterable<unknown>
  readonly schema: Schema.Schema<A, I, never>
  readonly name?: string
}): Source<A> =>
  make({
    name: options.name ?? "source",
    config: { format: "memory" },
    operation: "memory.read",
    records: Stream.fromIterable(options.records).pipe(Stream.map((raw): SourceRecord => ({ raw }))),
    schema: options.schema
  })
