/**
 * File and in-memory sources. Each decodes rows with a user `Schema`; a record that cannot be
 * parsed or decoded is not an error of the run: it reaches the engine with its reason and goes to
 * quarantine (recorded in the Landscape), never dropped.
 *
 * @since 0.1.0
 */
import { parse as parseCsv } from "csv-parse"
import { Effect, Either, Option, ParseResult, Schema, Stream } from "effect"
import { createReadStream } from "node:fs"
import { readFile } from "node:fs/promises"
import { createInterface } from "node:readline"
import { type Source, SourceError, type SourceRecord } from "./Pipeline.js"

const decoderFor = <A, I>(schema: Schema.Schema<A, I, never>) => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "ignore" })
  return (raw: unknown): Either.Either<A, string> =>
    Either.mapLeft(decode(raw), (error) => ParseResult.TreeFormatter.formatErrorSync(error))
}

/** @since 0.1.0 */
export interface FileOptions<A, I> {
  readonly path: string
  /** Decodes each record (for CSV: an object of strings keyed by the header). */
  readonly schema: Schema.Schema<A, I, never>
  /** Node name in the Landscape. Default `"source"`. */
  readonly name?: string
}

/**
 * A CSV file (RFC 4180, parsed by `csv-parse`); the first line is the header. A line with the
 * wrong number of fields, or one `csv-parse` rejects (e.g. an unclosed quote), is quarantined with
 * the reason and its raw text.
 *
 * @since 0.1.0
 * @category constructors
 */
export const csv = <A, I>(options: FileOptions<A, I> & { readonly delimiter?: string }): Source<A> => {
  const name = options.name ?? "source"
  const fail = (message: string) => (cause: unknown) => new SourceError({ source: name, message, cause })
  const records = Stream.suspend(() => {
    let header: ReadonlyArray<string> | undefined
    const parser = parseCsv({
      delimiter: options.delimiter ?? ",",
      bom: true,
      info: true,
      raw: true,
      relax_column_count: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      // Pushed into the parser's own output so a rejected line keeps its place among the rows.
      on_skip: (error, raw) => {
        parser.push({ skipped: { reason: error?.message ?? "unparseable CSV record", raw: raw ?? "" } })
        return undefined
      }
    })
    const input = createReadStream(options.path)
    input.on("error", (e) => parser.destroy(e))
    input.pipe(parser)
    type Parsed =
      | { readonly record: ReadonlyArray<string>; readonly raw: string; readonly info: { readonly lines: number } }
      | { readonly skipped: { readonly reason: string; readonly raw: string } }
    return Stream.fromAsyncIterable(parser as AsyncIterable<Parsed>, fail(`cannot read CSV ${options.path}`)).pipe(
      Stream.filterMap((item): Option.Option<SourceRecord> => {
        if ("skipped" in item) return Option.some({ raw: { line: item.skipped.raw }, error: item.skipped.reason })
        if (header === undefined) {
          header = item.record
          return Option.none()
        }
        if (item.record.length !== header.length) {
          return Option.some({
            raw: { line: item.raw.replace(/\r?\n$/, "") },
            error: `line ${item.info.lines}: ${item.record.length} fields, the header has ${header.length}`
          })
        }
        const row: Record<string, string> = {}
        header.forEach((column, i) => (row[column] = item.record[i] ?? ""))
        return Option.some({ raw: row })
      })
    )
  })
  return {
    _tag: "Source",
    name,
    config: { format: "csv", path: options.path, delimiter: options.delimiter ?? "," },
    operation: "file.read",
    records,
    decode: decoderFor(options.schema)
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
  return {
    _tag: "Source",
    name,
    config: { format: "json", path: options.path },
    operation: "file.read",
    records,
    decode: decoderFor(options.schema)
  }
}

/**
 * A JSON Lines file (https://jsonlines.org): one JSON value per line, read as a stream. Blank
 * lines are skipped; a line that is not JSON is quarantined with the parse error.
 *
 * @since 0.1.0
 * @category constructors
 */
export const jsonLines = <A, I>(options: FileOptions<A, I>): Source<A> => {
  const name = options.name ?? "source"
  const records = Stream.suspend(() => {
    const input = createReadStream(options.path, { encoding: "utf8" })
    const lines = createInterface({ input, crlfDelay: Infinity })
    input.on("error", (e) => lines.emit("error", e))
    return Stream.fromAsyncIterable(
      lines,
      (cause) => new SourceError({ source: name, message: `cannot read ${options.path}`, cause })
    ).pipe(
      Stream.filter((line) => line.trim().length > 0),
      Stream.map((line): SourceRecord => {
        try {
          return { raw: JSON.parse(line) as unknown }
        } catch (e) {
          return { raw: { line }, error: `not JSON: ${(e as Error).message}` }
        }
      })
    )
  })
  return {
    _tag: "Source",
    name,
    config: { format: "jsonl", path: options.path },
    operation: "file.read",
    records,
    decode: decoderFor(options.schema)
  }
}

/**
 * Records held in memory (JSON-compatible values), decoded with `schema`. Useful in tests and for
 * small reference data.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromIterable = <A, I>(options: {
  readonly records: Iterable<unknown>
  readonly schema: Schema.Schema<A, I, never>
  readonly name?: string
}): Source<A> => ({
  _tag: "Source",
  name: options.name ?? "source",
  config: { format: "memory" },
  operation: "memory.read",
  records: Stream.fromIterable(options.records).pipe(Stream.map((raw): SourceRecord => ({ raw }))),
  decode: decoderFor(options.schema)
})
