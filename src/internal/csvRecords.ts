/**
 * CSV records as a stream, each with its whole raw text, through `csv-parse`.
 *
 * `csv-parse` with `skip_records_with_error` reports a rejected record with its text cut at the
 * error (`2,be"ta and much more` comes back as `2,be"`). To store the whole line, this module keeps
 * the input bytes since the end of the last good record and, once the next good record (or the end
 * of the file) shows where the rejected one ended, slices its full text from them. Only the bytes
 * after the last good record are kept, so memory stays bounded by one record.
 *
 * @internal
 */
import { parse as parseCsv } from "csv-parse"
import { Effect, Stream } from "effect"
import { createReadStream } from "node:fs"
import { Transform } from "node:stream"

/**
 * One item in file order: a record with its fields, or a line `csv-parse` rejected. `end` is the
 * file offset just after it (newline included) and `endLine` its last line, where reading can go on
 * (`csvRecords`' `from`); `end` is `undefined` for a rejected record whose end is not known (one of
 * several rejected in a row whose lines could not be told apart).
 */
export type CsvItem =
  | { readonly _tag: "Record"; readonly fields: ReadonlyArray<string>; readonly raw: string; readonly line: number; readonly end: number; readonly endLine: number }
  | { readonly _tag: "Rejected"; readonly reason: string; readonly raw: string; readonly line: number; readonly end: number | undefined; readonly endLine: number }

interface Parsed {
  readonly record: ReadonlyArray<string>
  readonly raw: string
  readonly info: { readonly bytes: number; readonly lines: number }
}
interface Skipped {
  readonly skipped: { readonly reason: string; readonly raw: string; readonly line: number }
}
const END = { end: true } as const

/** The input bytes from some offset on, appended as they stream by. */
class Tail {
  private chunks: Array<Buffer> = []
  private length = 0
  /** `start`: file offset of the first byte of `chunks[0]`. */
  constructor(private start: number) {}
  append(chunk: Buffer): void {
    this.chunks.push(chunk)
    this.length += chunk.length
  }
  /** Text of the bytes [from, to) (`to` undefined: up to the end seen so far). */
  slice(from: number, to?: number): string {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks)
    this.chunks = [all]
    return all.subarray(Math.max(0, from - this.start), to === undefined ? undefined : Math.max(0, to - this.start)).toString("utf8")
  }
  /** Forgets the bytes before `offset`. */
  dropBefore(offset: number): void {
    while (this.chunks.length > 0 && this.start + this.chunks[0]!.length <= offset) {
      this.start += this.chunks[0]!.length
      this.length -= this.chunks[0]!.length
      this.chunks.shift()
    }
  }
}

/**
 * The records of `path` from byte `from.bytes` on (the start of a record; `from.line` lines before
 * it), in file order; read from the start, the header is the first `Record`. Fails with `onError`
 * when the file cannot be read.
 */
export const csvRecords = <E>(
  path: string,
  delimiter: string,
  onError: (cause: unknown) => E,
  from: { readonly bytes: number; readonly line: number } = { bytes: 0, line: 0 }
): Stream.Stream<CsvItem, E> =>
  Stream.suspend(() => {
    const tail = new Tail(from.bytes)
    const parser = parseCsv({
      delimiter,
      bom: true,
      info: true,
      raw: true,
      relax_column_count: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      // Pushed into the parser's own output so a rejected line keeps its place among the records.
      on_skip: (error, raw) => {
        const line = typeof error?.["lines"] === "number" ? error["lines"] : 0
        parser.push({ skipped: { reason: error?.message ?? "unparseable CSV record", raw: raw ?? "", line } } satisfies Skipped)
        return undefined
      }
    })
    const input = createReadStream(path, { start: from.bytes })
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        tail.append(chunk)
        done(null, chunk)
      }
    })
    input.on("error", (e) => parser.destroy(e))
    input.pipe(tap).pipe(parser)

    /** Offset of the end of the last good record (in the file's bytes) and the BOM shift of csv-parse's counts. */
    let lastEnd = from.bytes
    // Read from an offset, csv-parse counts bytes and lines from there, and there is no BOM to strip.
    let shift: number | undefined = from.bytes > 0 ? from.bytes : undefined
    const pending: Array<Skipped["skipped"]> = []
    /** Settles the rejected records between `lastEnd` and `until` (the next good record, or the end). */
    const settle = (until: number | undefined): Array<CsvItem> => {
      if (pending.length === 0) return []
      const text = tail.slice(lastEnd, until)
      const lines = text.replace(/\r?\n$/, "").split(/\r?\n/)
      const whole = pending.length === 1 ? [text.replace(/\r?\n$/, "")] : lines.length === pending.length ? lines : undefined
      const groupEnd = lastEnd + Buffer.byteLength(text)
      // Where each one ends: known when the rejected records are one line each (or only one).
      const ends: Array<number | undefined> = pending.map(() => undefined)
      ends[ends.length - 1] = groupEnd
      if (whole !== undefined && pending.length > 1) {
        let at = lastEnd
        for (const [i, piece] of text.split(/(?<=\n)/).entries()) if (i < ends.length) ends[i] = at += Buffer.byteLength(piece)
      }
      const items = pending.map((s, i): CsvItem => ({
        _tag: "Rejected",
        // csv-parse counts lines from where it began reading: its message says the file's line.
        reason: from.line === 0 ? s.reason : s.reason.replace(/\bat line (\d+)\b/, (_, n: string) => `at line ${Number(n) + from.line}`),
        raw: whole?.[i] ?? (i === 0 ? text.replace(/\r?\n$/, "") : s.raw),
        line: from.line + s.line,
        end: ends[i],
        endLine: from.line + s.line
      }))
      pending.length = 0
      return items
    }
    return Stream.fromAsyncIterable(parser as AsyncIterable<Parsed | Skipped>, onError).pipe(
      Stream.concat(Stream.succeed(END)),
      Stream.mapConcat((item): Array<CsvItem> => {
        if ("end" in item) return settle(undefined)
        if ("skipped" in item) {
          pending.push(item.skipped)
          return []
        }
        const size = Buffer.byteLength(item.raw)
        shift ??= item.info.bytes - size === 0 && tail.slice(0, 3) === "\ufeff" ? 3 : 0
        const end = item.info.bytes + shift
        const out = settle(end - size)
        lastEnd = end
        tail.dropBefore(lastEnd)
        const line = from.line + item.info.lines
        out.push({ _tag: "Record", fields: item.record, raw: item.raw.replace(/\r?\n$/, ""), line, end, endLine: line })
        return out
      }),
      // An interrupted read (a run stopped by a signal) closes the file at once.
      Stream.ensuring(Effect.sync(() => {
        input.destroy()
        parser.destroy()
      }))
    )
  })
