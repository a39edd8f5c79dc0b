/**
 * Sinks: where a pipeline's rows go. The engine opens each sink once per run, inside its Landscape
 * operation, writes batches of rows in source order, and at the end either commits it (the run
 * completed) or aborts it (the run failed or was interrupted).
 *
 * File sinks never destroy the previous output before a run has completed: a run writes
 * `<name>.partial-<runId><ext>` beside the target and renames it into place when the run completes
 * (see `commit`); a failed or interrupted run leaves the previous file untouched and its own partial
 * output beside it, recorded in the sink's operation (`details.partialPath`).
 *
 * In a distributed run (`DistributedRun`) each partition has its own output, `<name>.part-<index><ext>`,
 * written the same way; a worker that takes a partition over continues the partial output up to
 * the last committed batch (what the sink's `checkpoint` recorded), so the file holds exactly the
 * rows the Landscape says were routed there.
 *
 * @since 0.1.0
 */
import { stringify } from "csv-stringify/sync"
import { Effect, Predicate, Schema, SchemaAST, type Scope } from "effect"
import { isResume, openOutput, type OutputFileError } from "./internal/outputFile.js"

/**
 * A sink could not be opened, written or committed. Fatal for the run: rows would be lost otherwise.
 *
 * @since 0.1.0
 * @category errors
 */
export class SinkError extends Schema.TaggedError<SinkError>()("SinkError", {
  sink: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * What the engine tells a sink when it opens it: the run and the sink's node name.
 *
 * @since 0.1.0
 */
export interface SinkContext {
  readonly runId: string
  /** The sink's name in the pipeline (its node name). */
  readonly name: string
  /**
   * In a distributed run (`DistributedRun`): the partition this writer writes, and the claim's
   * attempt (1 for the first worker to claim it, more after a takeover). A resumable sink writes
   * a partition's rows apart from the others' (file sinks: `<name>.part-<index><ext>`).
   */
  readonly partition?: { readonly index: number; readonly count: number; readonly attempt: number }
  /** Continue from this checkpoint (what `SinkWriter.checkpoint` returned at the partition's last committed batch). */
  readonly resume?: SinkDetails
}

/** Details recorded in the sink's Landscape operation (`operations.details_json`): paths, bytes, … @since 0.1.0 */
export type SinkDetails = Readonly<Record<string, unknown>>

/**
 * An open sink.
 *
 * @since 0.1.0
 */
export interface SinkWriter<in A> {
  /** Writes one batch of rows, in source order. */
  readonly write: (rows: ReadonlyArray<A>) => Effect.Effect<void, SinkError>
  /**
   * Why this sink cannot take `row` (one line), or `undefined`. Checked for every row routed here,
   * in source order, before its batch is written: a rejected row is quarantined with the reason
   * instead of being lost or failing the run (e.g. a CSV row with a field that is not a column).
   */
  readonly reject?: (row: A) => string | undefined
  /** The run completed: make the output final. Called once, after the last `write`. Default: nothing to do. */
  readonly commit?: Effect.Effect<SinkDetails, SinkError>
  /** The run failed or was interrupted: set the partial output aside. Never fails. Default: nothing to do. */
  readonly abort?: (reason: string) => Effect.Effect<SinkDetails>
  /**
   * What another worker needs to continue this output from here (JSON-compatible), read after each
   * batch is written and committed with it. Required of a resumable sink (`Sink.resumable`).
   */
  readonly checkpoint?: () => SinkDetails
}

/**
 * A sink of rows of type `A` that needs `R` to open.
 *
 * @since 0.1.0
 */
export interface Sink<in A, out R = never> {
  readonly _tag: "Sink"
  /** Describes the sink in the Landscape, e.g. `{ format, path }`. */
  readonly config: unknown
  /** Operation kind recorded for writing it, e.g. `file.write`. */
  readonly operation: string
  /** Opens the sink in the run's scope; closing the scope closes it. */
  readonly open: (context: SinkContext) => Effect.Effect<SinkWriter<A>, SinkError, R | Scope.Scope>
  /**
   * `true` when the sink can take part in a distributed run (`DistributedRun`): it writes each
   * partition apart, its writer has `checkpoint`, and it continues from `SinkContext.resume` what a
   * worker that died had written up to its last committed batch, cutting off anything after.
   */
  readonly resumable?: boolean
}

/**
 * `true` for a sink (any row type, any requirements).
 *
 * @since 0.1.0
 * @category refinements
 */
export const isSink = (u: unknown): u is Sink<never, unknown> => Predicate.hasProperty(u, "_tag") && u._tag === "Sink"

/**
 * A sink from its parts: how it is described and how it opens.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, R>(options: {
  readonly open: (context: SinkContext) => Effect.Effect<SinkWriter<A>, SinkError, R | Scope.Scope>
  /** Default `{}`. */
  readonly config?: unknown
  /** Default `"sink.write"`. */
  readonly operation?: string
  /** See {@link Sink.resumable}. Default `false`. */
  readonly resumable?: boolean
}): Sink<A, R> => ({
  _tag: "Sink",
  config: options.config ?? {},
  operation: options.operation ?? "sink.write",
  open: options.open,
  ...(options.resumable === true ? { resumable: true } : {})
})

/** @since 0.1.0 */
export interface FileOptions {
  readonly path: string
  /**
   * Add this run's rows to the end of the existing file instead of replacing it. Default `false`.
   * Either way the file changes only when the run completes.
   */
  readonly append?: boolean
}

const fromFileError = (path: string) => (e: OutputFileError) => new SinkError({ sink: path, message: e.message, cause: e.cause })

/** A file sink: rows encoded to text, written to the run's partial file, committed or set aside at the end. */
const fileSink = <A>(
  options: FileOptions,
  config: unknown,
  writerOf: (context: { readonly appendingToExisting: boolean }) => {
    readonly header?: string
    readonly encode: (rows: ReadonlyArray<A>) => string
    readonly reject?: (row: A) => string | undefined
  }
): Sink<A> =>
  make<A, never>({
    config,
    operation: "file.write",
    resumable: true,
    open: (context) =>
      Effect.gen(function* () {
        let format: ReturnType<typeof writerOf> | undefined
        if (context.resume !== undefined && !isResume(context.resume)) {
          return yield* new SinkError({ sink: options.path, message: `cannot continue ${options.path}: its checkpoint is not one a file sink wrote (${JSON.stringify(context.resume)})` })
        }
        const file = yield* openOutput(options.path, {
          runId: context.runId,
          append: options.append ?? false,
          ...(context.partition === undefined ? {} : { partition: context.partition }),
          ...(context.resume === undefined ? {} : { resume: context.resume }),
          header: (appendingToExisting) => {
            format = writerOf({ appendingToExisting })
            return format.header ?? ""
          }
        }).pipe(Effect.mapError(fromFileError(options.path)))
        const { encode, reject } = format!
        const writer: SinkWriter<A> = {
          write: (rows) => (rows.length === 0 ? Effect.void : Effect.mapError(file.append(encode(rows)), fromFileError(options.path))),
          commit: Effect.map(Effect.mapError(file.commit, fromFileError(options.path)), (details) => ({ ...details, bytes: file.bytes() })),
          abort: () => file.abort,
          checkpoint: () => ({ ...file.checkpoint() }),
          ...(reject === undefined ? {} : { reject })
        }
        return writer
      })
  })

/**
 * A JSON Lines file: one `JSON.stringify`d row per line.
 *
 * @since 0.1.0
 * @category constructors
 */
export const jsonLines = <A = unknown>(options: FileOptions): Sink<A> =>
  fileSink<A>(options, { format: "jsonl", path: options.path, append: options.append ?? false }, () => ({
    encode: (rows) => {
      let text = ""
      for (const row of rows) text += JSON.stringify(row) + "\n"
      return text
    }
  }))

/** The property names of a struct-like schema (its type side), in declaration order. */
const columnsOfSchema = (schema: Schema.Schema.Any): ReadonlyArray<string> =>
  SchemaAST.getPropertySignatures(SchemaAST.typeAST(schema.ast)).map((p) => String(p.name))

/**
 * A CSV file (RFC 4180, written by `csv-stringify`) with a header line.
 *
 * Columns, in order: `columns` if given, else the fields of `schema` (a struct schema of the rows),
 * else the fields of the first row written. A row with a field outside the columns is rejected and
 * quarantined with the reason (rather than written without it); a missing field is an empty cell.
 * With `columns` or `schema`, a run that writes no rows still writes the header. Dates are written
 * as ISO 8601, booleans as `true`/`false`, objects as JSON.
 *
 * @since 0.1.0
 * @category constructors
 */
export const csv = <A extends object = Record<string, unknown>, I = A>(
  options: FileOptions & {
    readonly columns?: ReadonlyArray<keyof A & string>
    readonly schema?: Schema.Schema<A, I, never>
  }
): Sink<A> => {
  const declared = options.columns?.slice() ?? (options.schema === undefined ? undefined : columnsOfSchema(options.schema))
  const cast = { date: (d: Date) => d.toISOString(), boolean: (b: boolean) => String(b) }
  return fileSink<A>(
    options,
    { format: "csv", path: options.path, columns: declared ?? "first row", append: options.append ?? false },
    ({ appendingToExisting }) => {
      let columns: ReadonlyArray<string> | undefined = declared
      let known = new Set(columns)
      let headerDue = !appendingToExisting
      const header = columns !== undefined && headerDue ? stringify([columns]) : ""
      if (header !== "") headerDue = false
      return {
        header,
        reject: (row) => {
          if (columns === undefined) {
            columns = Object.keys(row)
            known = new Set(columns)
          }
          for (const key in row) {
            if (!known.has(key) && (row as Record<string, unknown>)[key] !== undefined) {
              return `field "${key}" is not a column of ${options.path} (columns: ${columns.join(", ")})`
            }
          }
          return undefined
        },
        encode: (rows) => {
          columns ??= Object.keys(rows[0]!)
          const head = headerDue ? stringify([columns]) : ""
          headerDue = false
          return head + stringify(rows as Array<Record<string, unknown>>, { columns: columns.slice(), cast })
        }
      }
    }
  )
}
