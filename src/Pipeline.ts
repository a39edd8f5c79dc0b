/**
 * A pipeline: one source, an ordered list of steps (transforms and gates), named sinks, and a
 * quarantine sink. Data flows one way: source → rows → tokens → steps → sinks (DESIGN.md, Shape).
 *
 * @example
 * const pipeline = Pipeline.make({ name: "flights", source }).pipe(
 *   Pipeline.transform(validate),
 *   Pipeline.gate(byDelay),                      // routes to "delayed" or continues
 *   Pipeline.toSinks({
 *     sinks: { on_time: onTimeCsv, delayed: delayedJsonl },
 *     default: "on_time",                        // where rows that pass every gate go
 *     quarantine: quarantineJsonl
 *   })
 * )
 *
 * @since 0.1.0
 */
import { type Effect, type Either, Pipeable, type Scope, Schema, type Stream } from "effect"

/**
 * The source could not be read (missing file, I/O error, a file that is not JSON at all). Single
 * malformed rows are not a `SourceError`: they are quarantined and the run goes on.
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
 * A sink could not be opened or written. Fatal for the run: rows would be lost otherwise.
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
 * One record as a source read it: `raw` is JSON-compatible (it is stored in the Landscape and
 * hashed); `error` is set when the record could not even be parsed (a malformed CSV line, a
 * line of JSON Lines that is not JSON), and the row then goes to quarantine.
 *
 * @since 0.1.0
 */
export interface SourceRecord {
  readonly raw: unknown
  readonly error?: string
}

/**
 * @since 0.1.0
 */
export interface Source<A, R = never> {
  readonly _tag: "Source"
  readonly name: string
  /** Describes the source in the Landscape (`nodes.config_json`), e.g. `{ format, path }`. */
  readonly config: unknown
  /** Operation kind recorded for reading it, e.g. `file.read`. */
  readonly operation: string
  readonly records: Stream.Stream<SourceRecord, SourceError, R>
  /** Decodes one raw record; `Left` holds a readable reason. */
  readonly decode: (raw: unknown) => Either.Either<A, string>
}

/**
 * A step that turns one row into another. A failure (typed error or defect) sends the row to
 * quarantine with its reason; a `LandscapeError` is never treated as a row failure.
 *
 * @since 0.1.0
 */
export interface Transform<In, Out, E = never, R = never> {
  readonly _tag: "Transform"
  readonly name: string
  readonly config: unknown
  readonly apply: (input: In) => Effect.Effect<Out, E, R>
}

/** The route a gate returns to let a row go on to the next step. @since 0.1.0 */
export const Continue = "continue" as const

/**
 * A step that routes a row to a named sink, or lets it go on (`Continue`).
 *
 * @since 0.1.0
 */
export interface Gate<A, Route extends string, E = never, R = never> {
  readonly _tag: "Gate"
  readonly name: string
  readonly config: unknown
  readonly routes: ReadonlyArray<Route>
  readonly evaluate: (row: A) => Effect.Effect<Route | typeof Continue, E, R>
}

/**
 * An open sink: `write` receives rows in source order, in batches.
 *
 * @since 0.1.0
 */
export interface SinkWriter<A> {
  readonly write: (rows: ReadonlyArray<A>) => Effect.Effect<void, SinkError>
  /** Bytes written so far (for the Landscape operation record). */
  readonly bytesWritten: () => number
}

/**
 * @since 0.1.0
 */
export interface Sink<A, R = never> {
  readonly _tag: "Sink"
  /** Describes the sink in the Landscape, e.g. `{ format, path }`. */
  readonly config: unknown
  /** Operation kind recorded for writing it, e.g. `file.write`. */
  readonly operation: string
  /** Opens the sink in the run's scope; closing the scope closes it. */
  readonly open: Effect.Effect<SinkWriter<A>, SinkError, R | Scope.Scope>
}

/**
 * What the quarantine sink receives for each row that could not be processed.
 *
 * @since 0.1.0
 */
export interface QuarantinedRow {
  readonly runId: string
  readonly rowId: string
  readonly tokenId: string
  readonly rowIndex: number
  /** The node where it failed: the source (parse or decode) or a step. */
  readonly node: string
  readonly reason: string
  /** The row as the source read it. */
  readonly data: unknown
}

/** @internal */
export type Step =
  | Transform<unknown, unknown, unknown, unknown>
  | Gate<unknown, string, unknown, unknown>

/**
 * A pipeline under construction: rows of type `A` so far, gate routes `Routes`, requirements `R`.
 *
 * @since 0.1.0
 */
export class Builder<A, Routes extends string, R> implements Pipeable.Pipeable {
  declare readonly pipe: Pipeable.Pipeable["pipe"]
  declare readonly _A: (_: never) => A
  declare readonly _Routes: (_: never) => Routes
  declare readonly _R: (_: never) => R
  constructor(
    readonly name: string,
    readonly source: Source<unknown, unknown>,
    readonly steps: ReadonlyArray<Step>
  ) {}
}
// `pipe` is typed by the `declare` above and implemented once, on the prototype.
;(Builder.prototype as { pipe: unknown }).pipe = function(this: unknown) {
  // eslint-disable-next-line prefer-rest-params
  return Pipeable.pipeArguments(this, arguments)
}

/**
 * A complete pipeline, ready for `Orchestrator.run`. `R` is everything its source, steps and
 * sinks require (the engine adds `Landscape` and `Telemetry`).
 *
 * @since 0.1.0
 */
export class Pipeline<R> {
  declare readonly _R: (_: never) => R
  constructor(
    readonly name: string,
    readonly source: Source<unknown, unknown>,
    readonly steps: ReadonlyArray<Step>,
    readonly sinks: Readonly<Record<string, Sink<unknown, unknown>>>,
    readonly defaultSink: string | undefined,
    readonly quarantine: Sink<QuarantinedRow, unknown>
  ) {}
}

/**
 * Starts a pipeline from its source.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, R>(options: { readonly name: string; readonly source: Source<A, R> }): Builder<A, never, R> =>
  new Builder(options.name, options.source as Source<unknown, unknown>, [])

/**
 * Appends a transform.
 *
 * @since 0.1.0
 * @category combinators
 */
export const transform = <A, B, E, R2>(step: Transform<A, B, E, R2>) =>
<Routes extends string, R>(self: Builder<A, Routes, R>): Builder<B, Routes, R | R2> =>
  new Builder(self.name, self.source, [...self.steps, step as Step])

/**
 * Appends a gate; its routes become sink names the pipeline must provide.
 *
 * @since 0.1.0
 * @category combinators
 */
export const gate = <A, Route extends string, E, R2>(step: Gate<A, Route, E, R2>) =>
<Routes extends string, R>(self: Builder<A, Routes, R>): Builder<A, Routes | Route, R | R2> =>
  new Builder(self.name, self.source, [...self.steps, step as unknown as Step])

/** Any sink, whatever its row type (a constraint that does not steer the inference of `A`). */
interface AnySink {
  readonly _tag: "Sink"
}
type SinkRequirements<S> = S extends Sink<never, infer R> ? R : never
type SinkInput<S> = S extends Sink<infer A, unknown> ? (input: A) => void : never
/** The row type every sink of `S` accepts (the intersection of their inputs). */
type SinksInput<S> = [SinkInput<S>] extends [(input: infer A) => void] ? A : never

/**
 * Finishes the pipeline. `sinks` must name a sink for every gate route, and each sink must accept
 * the pipeline's rows; rows that pass every gate go to `default` (required when the steps can let
 * a row through). Rows that cannot be processed go to `quarantine`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const toSinks = <
  S extends Readonly<Record<string, AnySink>>,
  Q extends Sink<QuarantinedRow, unknown>
>(options: {
  readonly sinks: S
  readonly default?: keyof S & string
  readonly quarantine: Q
}) =>
<A extends SinksInput<S[keyof S]>, Routes extends keyof S & string, R>(
  self: Builder<A, Routes, R>
): Pipeline<R | SinkRequirements<S[keyof S]> | SinkRequirements<Q>> =>
  new Pipeline(
    self.name,
    self.source,
    self.steps,
    options.sinks as unknown as Record<string, Sink<unknown, unknown>>,
    options.default,
    options.quarantine as Sink<QuarantinedRow, unknown>
  )

/**
 * Builds a transform from a function returning an `Effect`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeTransform = <In, Out, E = never, R = never>(
  name: string,
  apply: (input: In) => Effect.Effect<Out, E, R>,
  options: { readonly config?: unknown } = {}
): Transform<In, Out, E, R> => ({ _tag: "Transform", name, config: options.config ?? {}, apply })

/**
 * Builds a gate. `routes` lists every sink name `evaluate` may return besides `Continue`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeGate = <A, const Route extends string, E = never, R = never>(
  name: string,
  routes: ReadonlyArray<Route>,
  evaluate: (row: A) => Effect.Effect<Route | typeof Continue, E, R>,
  options: { readonly config?: unknown } = {}
): Gate<A, Route, E, R> => ({ _tag: "Gate", name, config: options.config ?? { routes }, routes, evaluate })
