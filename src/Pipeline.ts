/**
 * A pipeline: one source, a line of steps, named sinks, and a quarantine sink. Data flows one
 * way: source → rows → tokens → steps → sinks (DESIGN.md, Shape). The steps make it a DAG:
 * transforms, gates (one route), forks (several routes at once), expansions (1 → N rows),
 * fork-joins (branches of steps joined by a coalesce) and aggregations (rows in batches); a row's
 * token splits into child tokens where the graph does (`token_parents` in the Landscape).
 *
 * The compiler checks what it can: each step accepts the rows before it, every gate route names a
 * sink, every sink accepts the rows that reach it, and node names given as literals are unique and
 * not reserved (`quarantine` is the quarantine sink, `source` the default source name). The rest
 * (names computed at run time, a custom source's name) is checked by `Orchestrator.run` before
 * anything is recorded, failing with {@link PipelineDefinitionError}.
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
import { Cause, Duration, Effect, Option, Pipeable, Predicate, Schedule, Schema } from "effect"
import { isSink, type Sink } from "./Sink.js"
import type { Source } from "./Source.js"

/**
 * The pipeline's definition is inconsistent: two nodes share a name, a name is reserved, a gate
 * routes to a sink that does not exist, the default sink is not a sink, or a configuration has no
 * JSON form. Raised by `Orchestrator.run` before anything is written to the Landscape or a sink.
 *
 * @since 0.1.0
 * @category errors
 */
export class PipelineDefinitionError extends Schema.TaggedError<PipelineDefinitionError>()("PipelineDefinitionError", {
  pipeline: Schema.String,
  message: Schema.String
}) {}

/**
 * Node names the engine gives meaning to: `quarantine` is the quarantine sink's node, `source` the
 * default name of the source.
 *
 * @since 0.1.0
 */
export const reservedNames: ReadonlyArray<string> = ["quarantine", "source"]

/**
 * A step that turns one row into another. A failure (typed error or defect) sends the row to
 * quarantine with its reason (after its retries, when it has a {@link Retry}); a `LandscapeError`
 * is never treated as a row failure.
 *
 * A step that returns `Effect.succeed` / `Effect.fail` (an `Exit`) is resolved at once, without a
 * fiber; any other Effect runs in a fiber of its own, up to `concurrency` at a time.
 *
 * @since 0.1.0
 */
export interface Transform<in In, out Out, out E = never, out R = never, out Name extends string = string> {
  readonly _tag: "Transform"
  readonly name: Name
  readonly config: unknown
  readonly apply: (input: In) => Effect.Effect<Out, E, R>
  /** How a failed attempt is retried; none when `undefined` (the row is quarantined at its first failure). */
  readonly retry?: Retry | undefined
}

/**
 * How a step retries a row that failed: `retryable` says whether a failure is worth another
 * attempt, `schedule` (fed the failure) when to make it and when to stop. Every attempt is its own
 * node state (`node_states.attempt` 1, 2, …, same step) and its own `TransformCompleted` (`attempt`
 * from 2 on), so the audit shows each one; the row is quarantined with the last failure's reason
 * when the schedule stops or a failure is not retryable. A defect or a `LandscapeError` is never
 * retried. While a row waits for its next attempt its batch waits too (sinks get rows in source
 * order); other rows go on, up to the run's `concurrency`.
 *
 * @since 0.4.0
 */
export interface Retry {
  readonly schedule: Schedule.Schedule<unknown, unknown>
  readonly retryable: (error: unknown) => boolean
}

/**
 * The default retry schedule: 3 attempts in all, waiting 1 s then 2 s (exponential from 1 s,
 * doubling), each wait jittered (×0.8–1.2, `Schedule.jittered`) and capped at 60 s: the
 * "exponential backoff and jitter" of AWS's architecture guidance, with the defaults issue 12 asks for.
 *
 * @since 0.4.0
 */
export const defaultRetrySchedule: Schedule.Schedule<unknown, unknown> = Schedule.exponential(Duration.seconds(1)).pipe(
  Schedule.jittered,
  Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.seconds(60))),
  Schedule.intersect(Schedule.recurs(2))
)

/** HTTP statuses worth another attempt: 408 Request Timeout, 429 Too Many Requests, 500, 502, 503, 504 (RFC 9110 §15; what OTLP and most clients retry). */
const transientStatuses: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504])

/**
 * `true` for a failure another attempt may cure: an Effect `TimeoutException`; an `@effect/platform`
 * `RequestError` (the request could not be sent: connection refused or reset, DNS); a
 * `ResponseError` with status 408, 429, 500, 502, 503 or 504. Anything else (a validation failure,
 * a 4xx the request itself caused) fails the same way every time. The default of {@link retry}.
 *
 * @since 0.4.0
 */
export const isTransient = (error: unknown): boolean => {
  if (Cause.isTimeoutException(error)) return true
  if (Predicate.isTagged(error, "RequestError")) return true
  if (Predicate.isTagged(error, "ResponseError") && Predicate.hasProperty(error, "response") && Predicate.hasProperty(error.response, "status")) {
    return typeof error.response.status === "number" && transientStatuses.has(error.response.status)
  }
  return false
}

/**
 * A retry policy for a step (`makeTransform(name, f, { retry: Pipeline.retry() })`): by default
 * {@link defaultRetrySchedule} and {@link isTransient}.
 *
 * @since 0.4.0
 */
export const retry = (options: { readonly schedule?: Schedule.Schedule<unknown, unknown>; readonly retryable?: (error: unknown) => boolean } = {}): Retry => ({
  schedule: options.schedule ?? defaultRetrySchedule,
  retryable: options.retryable ?? isTransient
})

/**
 * A step that turns one row into any number of rows (explode a JSON array, split a document into
 * chunks): the row's token ends `expanded`, and each row returned continues through the steps
 * after it as a child token of its own (`token_parents`, in order), reaching its own sink. An
 * empty array ends the token `expanded` with no children. A failure quarantines the row as a
 * transform's does.
 *
 * @since 0.4.0
 */
export interface Expand<in In, out Out, out E = never, out R = never, out Name extends string = string> {
  readonly _tag: "Expand"
  readonly name: Name
  readonly config: unknown
  readonly apply: (input: In) => Effect.Effect<ReadonlyArray<Out>, E, R>
  /** How a failed attempt is retried (see {@link Retry}); none when `undefined`. */
  readonly retry?: Retry | undefined
}

/** The route a gate returns to let a row go on to the next step. @since 0.1.0 */
export const Continue = "continue" as const

/**
 * A step that routes a row to a named sink, or lets it go on (`Continue`).
 *
 * @since 0.1.0
 */
export interface Gate<in A, out Route extends string, out E = never, out R = never, out Name extends string = string> {
  readonly _tag: "Gate"
  readonly name: Name
  readonly config: unknown
  readonly routes: ReadonlyArray<Route>
  readonly evaluate: (row: A) => Effect.Effect<Route | typeof Continue, E, R>
  /** How a failed evaluation is retried (see {@link Retry}); none when `undefined`. */
  readonly retry?: Retry | undefined
}

/**
 * A step that sends a row several ways at once: `evaluate` returns the routes to take (sink names
 * of `routes`, and `Continue` to let a copy go on to the next step). The row's token ends
 * `forked`, and each route gets a child token of its own (`token_parents`, in the order returned,
 * a route named twice taken once) with its routing decision recorded; an empty list quarantines the
 * row, as a route that is not a sink does.
 *
 * @since 0.4.0
 */
export interface Fork<in A, out Route extends string, out E = never, out R = never, out Name extends string = string> {
  readonly _tag: "Fork"
  readonly name: Name
  readonly config: unknown
  readonly routes: ReadonlyArray<Route>
  readonly evaluate: (row: A) => Effect.Effect<ReadonlyArray<Route | typeof Continue>, E, R>
  /** How a failed evaluation is retried (see {@link Retry}); none when `undefined`. */
  readonly retry?: Retry | undefined
}

/**
 * When an aggregation flushes its open batch. Each trigger given is watched; the first to fire
 * wins and its name is recorded with the batch (`batches.trigger_reason`, a {@link TriggerReason}).
 * The end of the source always flushes what is left (`end_of_source`), so an aggregation with no
 * trigger batches the whole source.
 *
 * @since 0.4.0
 */
export interface Trigger<in A> {
  /** Flush once the batch holds this many rows (an integer ≥ 1). */
  readonly count?: number
  /**
   * Flush this long after the batch's first row was buffered, whether or not another row arrives:
   * a timer on the engine's `Clock` (the seed system checks its time-out only when the next row
   * comes, so a quiet source held a batch forever).
   */
  readonly timeout?: Duration.DurationInput
  /** Flush when this returns `true` for the batch so far (checked after each row is added; a throw fails the batch). */
  readonly condition?: (batch: ReadonlyArray<A>) => boolean
}

/** Why a batch was flushed, as recorded. @since 0.4.0 */
export type TriggerReason = "count" | "timeout" | "condition" | "end_of_source"

/**
 * A step that takes rows in batches (see {@link Trigger}) and applies `apply` to each batch at once:
 * per-hour statistics, one LLM request for many rows. Rows wait in the engine's buffer (their
 * tokens are members of an open batch, `batch_members`, with no outcome yet: `buffered`) and go
 * into the run's checkpoint with it, so a resumed run still flushes them. The flush is one node
 * state (on the batch's first member's token: the calls `apply` makes hang off it, so every member
 * is attributable to them through its batch) and one `TransformCompleted`, its input hash the hash
 * of the members' hashes in order. Each member ends `consumed_in_batch`, and:
 *
 * - `output: "single"` ({@link makeAggregate}): `apply` returns one row, which continues through
 *   the steps after as a new token whose parents are the members (it belongs to the first member's row);
 * - `output: "passthrough"` ({@link makeBatched}): `apply` returns one row per member, in order,
 *   and each continues as a child token of its member.
 *
 * A failure (after the step's {@link Retry}) quarantines every member with its reason. Batches
 * are filled in source order, and flushed once the source rows that fill them are committed, so a
 * count-triggered batch holds the same rows in every run (a timeout depends on timing, by nature).
 * Not supported by `DistributedRun`: each worker would batch only its own partition.
 *
 * @since 0.4.0
 */
export interface Aggregate<in In, out Out, out E = never, out R = never, out Name extends string = string> {
  readonly _tag: "Aggregate"
  readonly name: Name
  readonly config: unknown
  readonly trigger: Trigger<In>
  readonly output: "single" | "passthrough"
  /** The batch's rows in source order, to its output rows (one for `single`, one per member for `passthrough`). */
  readonly apply: (batch: ReadonlyArray<In>) => Effect.Effect<ReadonlyArray<Out>, E, R>
  /** How a failed flush is retried (see {@link Retry}); none when `undefined`. */
  readonly retry?: Retry | undefined
}

/**
 * When a coalesce merges the branches of one row (see {@link Branches}). A branch arrives when its
 * token passes its last step; it does not when it is quarantined, routed to a sink by a gate of
 * its own, or (`bestEffort`) still running at the time-out.
 *
 * - `requireAll`: every branch must arrive;
 * - `quorum(n)`: at least `n` must;
 * - `bestEffort(timeout)`: whatever arrived within `timeout` of the fork (at least one); a branch
 *   still running then is interrupted and its token quarantined with the reason;
 * - `first`: the first branch to arrive (by completion) is merged; the others still end
 *   `coalesced`, as parents of nothing.
 *
 * When the policy is not met, the branches that did arrive are quarantined with its reason.
 *
 * @since 0.4.0
 */
export type CoalescePolicy =
  | { readonly _tag: "RequireAll" }
  | { readonly _tag: "Quorum"; readonly n: number }
  | { readonly _tag: "BestEffort"; readonly timeout: Duration.DurationInput }
  | { readonly _tag: "First" }

/** Every branch must arrive. @since 0.4.0 */
export const requireAll: { readonly _tag: "RequireAll" } = { _tag: "RequireAll" }
/** At least `n` branches must arrive. @since 0.4.0 */
export const quorum = (n: number): { readonly _tag: "Quorum"; readonly n: number } => ({ _tag: "Quorum", n })
/** The branches that arrive within `timeout` of the fork, at least one. @since 0.4.0 */
export const bestEffort = (timeout: Duration.DurationInput): { readonly _tag: "BestEffort"; readonly timeout: Duration.DurationInput } => ({ _tag: "BestEffort", timeout })
/** The first branch to arrive. @since 0.4.0 */
export const first: { readonly _tag: "First" } = { _tag: "First" }

/**
 * How a coalesce merges the rows of the branches that arrived: `"union"` (their fields in one
 * object, a later branch's field winning over an earlier one's, in the order the branches are
 * declared), `"nested"` (`{ [branch]: row }`), or `{ select: branch }` (that branch's row; the
 * policy fails when it did not arrive).
 *
 * @since 0.4.0
 */
export type Merge<Branch extends string = string> = "union" | "nested" | { readonly select: Branch }

/**
 * A fork into named branches, each a line of its own steps, joined again by a coalesce: the row's
 * token ends `forked` (the fork's routing decision names the branches), each branch runs on a
 * child token from the same row (branches that wait run at once), and the coalesce makes one
 * token of the branches that arrived (its parents; they end `coalesced`), which continues with the
 * steps after. The coalesce's node state holds the hash of `{ branch: hash }` as input and the
 * merged row's as output, with a `TransformCompleted`. A branch holds transforms and gates
 * (a gate may route a branch's token to a sink: that branch does not arrive).
 *
 * @since 0.4.0
 */
export interface Branches<out Name extends string = string> {
  readonly _tag: "Branches"
  readonly name: Name
  readonly config: unknown
  readonly branches: ReadonlyArray<{ readonly name: string; readonly steps: ReadonlyArray<Step> }>
  readonly coalesce: { readonly name: string; readonly policy: CoalescePolicy; readonly merge: Merge }
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
  /** The node where it failed: the source (parse or decode), a step, or the sink that rejected it. */
  readonly node: string
  /** One line: what was wrong (the full detail is in the Landscape, `node_states.error_json`). */
  readonly reason: string
  /** The row as the source read it (a value with no JSON form is replaced by `{ $nonCanonical, json }`). */
  readonly data: unknown
}

/** Any step, as the engine holds it. @internal */
export type Step =
  | Transform<never, unknown, unknown, unknown>
  | Expand<never, unknown, unknown, unknown>
  | Gate<never, string, unknown, unknown>
  | Fork<never, string, unknown, unknown>
  | Aggregate<never, unknown, unknown, unknown>
  | Branches

/**
 * What a combinator asks of the builder when the node it adds has a name that is already taken (or
 * reserved): no builder has this property, so the compiler refuses the combinator and names the node.
 *
 * @since 0.1.0
 */
export interface DuplicateNodeName<Name extends string> {
  readonly "node names must be unique and not reserved (quarantine, source)": Name
}

/** `unknown` (no constraint), or `DuplicateNodeName` when the literal `Name` is among `Names` or reserved. */
type NewName<Name extends string, Names extends string> = string extends Name ? unknown
  : string extends Names ? unknown
  : [Name] extends [Names | "quarantine" | "source"] ? DuplicateNodeName<Name>
  : unknown

/**
 * A pipeline under construction: rows of type `A` so far, gate routes `Routes`, requirements `R`,
 * node names `Names` (literal names; used to reject duplicates at compile time).
 *
 * @since 0.1.0
 */
export class Builder<in out A, out Routes extends string, out R, out Names extends string> implements Pipeable.Pipeable {
  declare readonly pipe: Pipeable.Pipeable["pipe"]
  declare readonly variance: {
    readonly _A: (_: A) => A
    readonly _Routes: (_: never) => Routes
    readonly _R: (_: never) => R
    readonly _Names: (_: never) => Names
  }
  constructor(
    readonly name: string,
    readonly source: Source<unknown, unknown>,
    readonly steps: ReadonlyArray<Step>
  ) {}
}
// `pipe` is typed by the `declare` above and implemented once, on the prototype.
Object.defineProperty(Builder.prototype, "pipe", {
  value(this: unknown) {
    // eslint-disable-next-line prefer-rest-params
    return Pipeable.pipeArguments(this, arguments)
  }
})

/**
 * A complete pipeline, ready for `Orchestrator.run`. `R` is everything its source, steps and
 * sinks require (the engine adds `Landscape` and `Telemetry`).
 *
 * @since 0.1.0
 */
export class Pipeline<out R> {
  declare readonly variance: { readonly _R: (_: never) => R }
  constructor(
    readonly name: string,
    readonly source: Source<unknown, unknown>,
    readonly steps: ReadonlyArray<Step>,
    readonly sinks: Readonly<Record<string, Sink<never, unknown>>>,
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
export const make = <A, R>(options: { readonly name: string; readonly source: Source<A, R> }): Builder<A, never, R, never> =>
  new Builder(options.name, options.source, [])

/**
 * Appends a transform. Its name must be new in the pipeline.
 *
 * @since 0.1.0
 * @category combinators
 */
export const transform = <A, B, E, R2, N extends string>(step: Transform<A, B, E, R2, N>) =>
<Routes extends string, R, Names extends string>(
  self: Builder<A, Routes, R, Names> & NewName<N, Names>
): Builder<B, Routes, R | R2, Names | N> => new Builder(self.name, self.source, [...self.steps, step])

/**
 * Appends an expansion (see {@link Expand}): the steps after it receive each row it returns. Its
 * name must be new in the pipeline.
 *
 * @since 0.4.0
 * @category combinators
 */
export const expand = <A, B, E, R2, N extends string>(step: Expand<A, B, E, R2, N>) =>
<Routes extends string, R, Names extends string>(
  self: Builder<A, Routes, R, Names> & NewName<N, Names>
): Builder<B, Routes, R | R2, Names | N> => new Builder(self.name, self.source, [...self.steps, step])

/**
 * Appends a gate; its routes become sink names the pipeline must provide. Its name must be new in
 * the pipeline.
 *
 * @since 0.1.0
 * @category combinators
 */
export const gate = <A, Route extends string, E, R2, N extends string>(step: Gate<A, Route, E, R2, N>) =>
<Routes extends string, R, Names extends string>(
  self: Builder<A, Routes, R, Names> & NewName<N, Names>
): Builder<A, Routes | Route, R | R2, Names | N> => new Builder(self.name, self.source, [...self.steps, step])

/**
 * Appends an aggregation (see {@link Aggregate}): the steps after it receive its output rows. Its
 * name must be new in the pipeline.
 *
 * @since 0.4.0
 * @category combinators
 */
export const aggregate = <A, B, E, R2, N extends string>(step: Aggregate<A, B, E, R2, N>) =>
<Routes extends string, R, Names extends string>(
  self: Builder<A, Routes, R, Names> & NewName<N, Names>
): Builder<B, Routes, R | R2, Names | N> => new Builder(self.name, self.source, [...self.steps, step])

/** A branch of {@link forkJoin}: the steps it adds to a builder that starts from the forked row. */
type BranchOf<A> = (start: Builder<A, never, never, never>) => Builder<any, any, any, any> // eslint-disable-line @typescript-eslint/no-explicit-any -- any builder a branch makes; its types are read back below
type BranchOut<F> = F extends (start: never) => Builder<infer B, infer _Routes, infer _R, infer _Names> ? B : never
type BranchRoutes<F> = F extends (start: never) => Builder<infer _B, infer Routes, infer _R, infer _Names> ? Routes : never
type BranchRequirements<F> = F extends (start: never) => Builder<infer _B, infer _Routes, infer R, infer _Names> ? R : never
type BranchNames<F> = F extends (start: never) => Builder<infer _B, infer _Routes, infer _R, infer Names> ? Names : never
type Intersect<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never

/**
 * The row a coalesce makes: with `requireAll` every branch's row is there (the union of their
 * fields, or each under its name); with another policy a branch may be missing (`Partial`).
 */
export type Merged<Bs extends Record<string, unknown>, P extends CoalescePolicy, M extends Merge<keyof Bs & string>> = M extends { readonly select: infer K extends keyof Bs } ? BranchOut<Bs[K]>
  : M extends "nested" ? ([P] extends [{ readonly _tag: "RequireAll" }] ? { readonly [K in keyof Bs]: BranchOut<Bs[K]> } : { readonly [K in keyof Bs]?: BranchOut<Bs[K]> })
  : [P] extends [{ readonly _tag: "RequireAll" }] ? Intersect<{ [K in keyof Bs]: BranchOut<Bs[K]> }[keyof Bs]>
  : Partial<Intersect<{ [K in keyof Bs]: BranchOut<Bs[K]> }[keyof Bs]>>

/**
 * Appends a fork into named branches joined by a coalesce (see {@link Branches}, {@link CoalescePolicy},
 * {@link Merge}): each branch is a function adding steps to a builder that starts from the row.
 * The row type after it is the merge's ({@link Merged}); the branches' gate routes become sink
 * names the pipeline must provide; names must be new (the fork's, the coalesce's, and every step's).
 *
 * @example
 * Pipeline.forkJoin({
 *   name: "enrich",
 *   branches: {
 *     weather: (b) => b.pipe(Pipeline.transform(addWeather)),
 *     airport: (b) => b.pipe(Pipeline.transform(addAirport))
 *   },
 *   coalesce: { name: "joined", policy: Pipeline.requireAll, merge: "union" }
 * })
 *
 * @since 0.4.0
 * @category combinators
 */
export const forkJoin = <
  A,
  const Bs extends Readonly<Record<string, BranchOf<A>>>,
  const P extends CoalescePolicy,
  const M extends Merge<keyof Bs & string>,
  const N extends string,
  const C extends string
>(options: {
  readonly name: N
  readonly branches: Bs
  readonly coalesce: { readonly name: C; readonly policy: P; readonly merge: M; readonly config?: Readonly<Record<string, unknown>> }
}) =>
<Routes extends string, R, Names extends string>(
  self: Builder<A, Routes, R, Names> & NewName<N, Names> & NewName<C, Names>
): Builder<
  Merged<Bs, P, M>,
  Routes | BranchRoutes<Bs[keyof Bs]>,
  R | BranchRequirements<Bs[keyof Bs]>,
  Names | N | C | BranchNames<Bs[keyof Bs]>
> => {
  const start = new Builder<A, never, never, never>(self.name, self.source, [])
  const branches = Object.entries(options.branches).map(([name, build]) => ({ name, steps: build(start).steps }))
  const { merge, policy } = options.coalesce
  const step: Branches = {
    _tag: "Branches",
    name: options.name,
    config: {
      branches: branches.map((b) => b.name),
      coalesce: {
        name: options.coalesce.name,
        policy: policy._tag === "BestEffort" ? { _tag: policy._tag, timeoutMs: durationMs(policy.timeout) } : policy,
        merge,
        ...options.coalesce.config
      }
    },
    branches,
    coalesce: { name: options.coalesce.name, policy, merge }
  }
  return new Builder(self.name, self.source, [...self.steps, step])
}

/** Milliseconds of a duration, or its text when it is not one (named by `Orchestrator.run`, not thrown here). */
const durationMs = (d: Duration.DurationInput): number | string =>
  Option.getOrElse(Option.map(Duration.decodeUnknown(d), Duration.toMillis), () => String(d))

/** Any sink, whatever its row type: a constraint that does not steer the inference of `A` (`Sink.jsonLines()` stays `Sink<unknown>`). */
interface AnySink {
  readonly _tag: "Sink"
}
type SinkRequirements<S> = S extends Sink<never, infer R> ? R : never
type SinkInput<S> = S extends Sink<infer A, unknown> ? (input: A) => void : never
/** The row type every sink of `S` accepts (the intersection of their inputs). */
type SinksInput<S> = [SinkInput<S>] extends [(input: infer A) => void] ? A : never

/** `unknown`, or `DuplicateNodeName` for the sink names already taken by a step or reserved. */
type NewSinkNames<SinkNames extends string, Names extends string> = string extends Names ? unknown
  : [SinkNames & (Names | "quarantine" | "source")] extends [never] ? unknown
  : DuplicateNodeName<SinkNames & (Names | "quarantine" | "source")>

/**
 * Appends a fork (see {@link Fork}); its routes become sink names the pipeline must provide. Its
 * name must be new in the pipeline.
 *
 * @since 0.4.0
 * @category combinators
 */
export const fork = <A, Route extends string, E, R2, N extends string>(step: Fork<A, Route, E, R2, N>) =>
<Routes extends string, R, Names extends string>(
  self: Builder<A, Routes, R, Names> & NewName<N, Names>
): Builder<A, Routes | Route, R | R2, Names | N> => new Builder(self.name, self.source, [...self.steps, step])

/**
 * Finishes the pipeline. `sinks` must name a sink for every gate route, and each sink must accept
 * the pipeline's rows; rows that pass every gate go to `default` (required when the steps can let
 * a row through). Rows that cannot be processed go to `quarantine`. Sink names are node names:
 * unique, and neither `quarantine` nor `source`.
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
<A extends SinksInput<S[keyof S]>, Routes extends keyof S & string, R, Names extends string>(
  self: Builder<A, Routes, R, Names> & NewSinkNames<keyof S & string, Names>
): Pipeline<R | SinkRequirements<S[keyof S]> | SinkRequirements<Q>> => {
  const sinks: Record<string, Sink<never, unknown>> = {}
  for (const [name, sink] of Object.entries(options.sinks)) if (isSink(sink)) sinks[name] = sink
  return new Pipeline(self.name, self.source, self.steps, sinks, options.default, options.quarantine)
}

/**
 * Builds a transform from a function returning an `Effect`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeTransform = <In, Out, E = never, R = never, const N extends string = string>(
  name: N,
  apply: (input: In) => Effect.Effect<Out, E, R>,
  options: { readonly config?: unknown; readonly retry?: Retry } = {}
): Transform<In, Out, E, R, N> => ({ _tag: "Transform", name, config: options.config ?? {}, apply, retry: options.retry })

/**
 * Builds an expansion from a function returning an `Effect` of rows.
 *
 * @since 0.4.0
 * @category constructors
 */
export const makeExpand = <In, Out, E = never, R = never, const N extends string = string>(
  name: N,
  apply: (input: In) => Effect.Effect<ReadonlyArray<Out>, E, R>,
  options: { readonly config?: unknown; readonly retry?: Retry } = {}
): Expand<In, Out, E, R, N> => ({ _tag: "Expand", name, config: options.config ?? {}, apply, retry: options.retry })

/**
 * Builds a gate. `routes` lists every sink name `evaluate` may return besides `Continue`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeGate = <A, const Route extends string, E = never, R = never, const N extends string = string>(
  name: N,
  routes: ReadonlyArray<Route>,
  evaluate: (row: A) => Effect.Effect<Route | typeof Continue, E, R>,
  options: { readonly config?: unknown; readonly retry?: Retry } = {}
): Gate<A, Route, E, R, N> => ({ _tag: "Gate", name, config: options.config ?? { routes }, routes, evaluate, retry: options.retry })

/**
 * Builds a fork. `routes` lists every sink name `evaluate` may return besides `Continue`.
 *
 * @since 0.4.0
 * @category constructors
 */
export const makeFork = <A, const Route extends string, E = never, R = never, const N extends string = string>(
  name: N,
  routes: ReadonlyArray<Route>,
  evaluate: (row: A) => Effect.Effect<ReadonlyArray<Route | typeof Continue>, E, R>,
  options: { readonly config?: unknown; readonly retry?: Retry } = {}
): Fork<A, Route, E, R, N> => ({ _tag: "Fork", name, config: options.config ?? { routes }, routes, evaluate, retry: options.retry })

/** The trigger as recorded in the run's configuration: a function enters as `true` (its code has no JSON form). */
const triggerConfig = (trigger: Trigger<never>) => ({
  ...(trigger.count === undefined ? {} : { count: trigger.count }),
  ...(trigger.timeout === undefined ? {} : { timeoutMs: durationMs(trigger.timeout) }),
  ...(trigger.condition === undefined ? {} : { condition: true })
})

/**
 * Builds an aggregation that makes one row of each batch (`output: "single"`, see {@link Aggregate}).
 * The recorded configuration is `{ trigger, output, ...config }` (a trigger's timeout in ms).
 *
 * @since 0.4.0
 * @category constructors
 */
export const makeAggregate = <In, Out, E = never, R = never, const N extends string = string>(
  name: N,
  options: AggregateOptions<In>,
  apply: (batch: ReadonlyArray<In>) => Effect.Effect<Out, E, R>
): Aggregate<In, Out, E, R, N> => aggregateOf(name, options, "single", (batch) => Effect.map(apply(batch), (row) => [row]))

/**
 * Builds an aggregation that passes its members through (`output: "passthrough"`, see
 * {@link Aggregate}): `apply` returns one row per member, in order (any other length fails the
 * batch). For work that is cheaper in bulk but whose result is per row: one LLM request
 * classifying many rows, one HTTP call looking many up.
 *
 * @since 0.4.0
 * @category constructors
 */
export const makeBatched = <In, Out, E = never, R = never, const N extends string = string>(
  name: N,
  options: AggregateOptions<In>,
  apply: (batch: ReadonlyArray<In>) => Effect.Effect<ReadonlyArray<Out>, E, R>
): Aggregate<In, Out, E, R, N> => aggregateOf(name, options, "passthrough", apply)

/** Options of {@link makeAggregate} and {@link makeBatched}: the trigger, configuration recorded beside it, a retry policy. @since 0.4.0 */
export interface AggregateOptions<In> {
  readonly trigger: Trigger<In>
  readonly config?: Readonly<Record<string, unknown>>
  readonly retry?: Retry
}

const aggregateOf = <In, Out, E, R, N extends string>(
  name: N,
  options: AggregateOptions<In>,
  output: "single" | "passthrough",
  apply: (batch: ReadonlyArray<In>) => Effect.Effect<ReadonlyArray<Out>, E, R>
): Aggregate<In, Out, E, R, N> => ({
  _tag: "Aggregate",
  name,
  config: { trigger: triggerConfig(options.trigger), output, ...options.config },
  trigger: options.trigger,
  output,
  apply,
  retry: options.retry
})
