/**
 * The row processor: takes one source record through decoding and every step, journaling each
 * record and event in the row's `RowJournal`; the commit writes them a batch at a time.
 *
 * It runs as a plain loop. A step whose Effect is already an `Exit` (`Effect.succeed`,
 * `Effect.fail`, `Effect.die`) is settled on the spot; the row only becomes an Effect (run in a
 * fiber by the flow, see `flow.ts`) from the first step that returns anything else. So a row of
 * synchronous steps costs no fiber, no `Deferred` and no span: the engine's cost per row was mostly
 * that (43 % of the main job's profile) before this design.
 *
 * Rows the telemetry samples for spans (`TelemetryService.sampleRowSpans`: deterministic on the
 * row id, 1 in 1000 by default) are traced: they run as an Effect inside a `sightline.row` span
 * with a span per step, and their events carry those spans' ids. Other rows' events carry the run
 * span's ids: a span per row would make a million-span trace of a million-row run.
 *
 * A row's token may split: an expansion's values and a fork's routes each become a child token
 * (`childOf`, linked to its parent), followed to its own end; the row is done when every token
 * is (`Processed.ends`: the first token's end, then its children's, in order). A step with a
 * `Retry` that fails is settled as an Effect, its next attempt after the schedule's wait.
 *
 * @internal
 */
import { Cause, Duration, Effect, Either, Exit, Option, Schedule } from "effect"
import type { StateScope } from "../../CallScope.js"
import { LandscapeError } from "../../Landscape.js"
import type { QuarantinedRow, Retry } from "../../Pipeline.js"
import type { SourceRecord } from "../../Source.js"
import { canonical, canonicalJson, isNonCanonical, nonCanonicalStandIn, sameJson, sha256 } from "../hashing.js"
import { newId } from "../ids.js"
import * as RowFailure from "../rowFailure.js"
import * as Coalesce from "./coalesce.js"
import { elapsedMs, type RunContext } from "./context.js"
import * as Events from "./events.js"
import type { Trace } from "./events.js"
import { RowJournal } from "./journal.js"
import type { Line, PlannedSink, PlannedStep } from "./plan.js"
import * as Recorder from "./recorder.js"

/**
 * Where one token of a processed row ended: a sink, quarantine, split into child tokens (an
 * expansion, a fork, a flushed batch's member), or buffered by an aggregation (no outcome yet:
 * the committer adds it to the aggregation's open batch, see `aggregation.ts`).
 */
export type Outcome =
  | { readonly _tag: "Routed"; readonly tokenId: string; readonly sink: PlannedSink; readonly value: unknown; readonly hash: string }
  | { readonly _tag: "Quarantined"; readonly tokenId: string; readonly row: QuarantinedRow }
  | { readonly _tag: "Split"; readonly tokenId: string; readonly outcome: "expanded" | "forked" | "consumed_in_batch" | "coalesced"; readonly node: NodeRef }
  | { readonly _tag: "Buffered"; readonly tokenId: string; readonly node: PlannedStep; readonly value: unknown; readonly hash: string }

/** The node a token ended at. */
export interface NodeRef {
  readonly nodeId: string
  readonly name: string
}

const refOf = (planned: PlannedStep): NodeRef => ({ nodeId: planned.nodeId, name: planned.step.name })

/** A branch's token that passed its branch's last step: it waits for the coalesce (see {@link forkJoin}). */
interface Arrived {
  readonly _tag: "Arrived"
  readonly tokenId: string
  readonly value: unknown
  readonly hash: string
  /** When it arrived (engine time, ms): `first` takes the earliest. */
  readonly at: number
}

export interface Processed {
  readonly _tag: "Processed"
  readonly journal: RowJournal
  /** The source record as stored (a stand-in when it has no canonical form). */
  readonly data: unknown
  /** Where each of the row's tokens ended: its first token's, then (after an expansion) its children's, in order. */
  readonly ends: Array<Outcome>
  /** `false` for the tokens of an aggregation's flush (`aggregation.ts`): no source row is read with them. */
  readonly sourceRow: boolean
}

/** A token of a row being processed: the row's first, or a child of an expansion. */
interface Row {
  readonly journal: RowJournal
  /** The source record as stored (a stand-in when it has no canonical form). */
  readonly data: unknown
  readonly traced: boolean
  readonly tokenId: string
}

/** Where a token went from one step: on, to its end, into children (an expansion), or a fatal Landscape failure. */
type Step =
  | { readonly _tag: "Next"; readonly value: unknown; readonly hash: string }
  | { readonly _tag: "Done"; readonly outcome: Outcome }
  | { readonly _tag: "Expanded"; readonly values: ReadonlyArray<unknown>; readonly hashes: ReadonlyArray<string> }
  | { readonly _tag: "Forked"; readonly destinations: ReadonlyArray<string>; readonly stateId: string; readonly at: number; readonly trace: Trace }
  | { readonly _tag: "Fatal"; readonly error: LandscapeError }

/** The ends of a token: settled, or still to come; on a branch's line, arrivals at its coalesce too. */
type End = Outcome | Arrived
type Ends = Array<End> | Effect.Effect<Array<End>, LandscapeError>

const done = (outcome: Outcome): Step => ({ _tag: "Done", outcome })

/** A `LandscapeError` anywhere in the cause (failure or defect): never a row failure. */
export const landscapeErrorIn = (cause: Cause.Cause<unknown>): Option.Option<LandscapeError> =>
  Cause.find(cause, (c) => {
    const error = c._tag === "Fail" ? c.error : c._tag === "Die" ? c.defect : undefined
    return error instanceof LandscapeError ? Option.some(error) : Option.none()
  })

export const quarantine = (ctx: RunContext, row: { readonly journal: RowJournal; readonly data: unknown }, tokenId: string, node: string, reason: string): Outcome => ({
  _tag: "Quarantined",
  tokenId,
  row: { runId: ctx.runId, rowId: row.journal.rowId, tokenId, rowIndex: row.journal.rowIndex, node, reason, data: row.data }
})

/** Hash of a gate's decision, `{ destination }`: the same few values for every row, computed once each. */
const decisionHashes = new Map<string, string>()
const decisionHash = (destination: string): string => {
  let hash = decisionHashes.get(destination)
  if (hash === undefined) {
    hash = sha256(canonicalJson({ destination }))
    if (decisionHashes.size < 1000) decisionHashes.set(destination, hash)
  }
  return hash
}

/** A fork-join's decision hash (`{ destinations }` of its branch names, as a fork's): the same for every row, computed once per plan. */
const forkHashes = new WeakMap<PlannedStep, string>()
const destinationsHash = (planned: PlannedStep, names: ReadonlyArray<string>): string => {
  let hash = forkHashes.get(planned)
  if (hash === undefined) forkHashes.set(planned, hash = names.length === 1 ? decisionHash(names[0]!) : sha256(canonicalJson({ destinations: names })))
  return hash
}

/** `true` for a row that settled without waiting (not an Effect still to run). */
export const isProcessed = (result: Processed | Effect.Effect<Processed, LandscapeError>): result is Processed => !Effect.isEffect(result)

const isSettled = (ends: Ends): ends is Array<End> => !Effect.isEffect(ends)

/** The row failed at the source (it could not be parsed, decoded, or has no canonical form). */
const sourceFailure = (ctx: RunContext, row: Row, failure: RowFailure.RowFailure): Processed => {
  const { journal } = row
  const now = ctx.clock.unsafeCurrentTimeMillis()
  ctx.metrics.state(ctx.plan.source.nodeId, "failed", 0)
  journal.state({
    stateId: newId(),
    runId: ctx.runId,
    tokenId: row.tokenId,
    nodeId: ctx.plan.source.nodeId,
    stepIndex: 0,
    inputHash: journal.row!.dataHash,
    startedAt: now,
    status: "failed",
    error: failure.detail,
    completedAt: now,
    durationMs: 0
  })
  return { _tag: "Processed", journal, data: row.data, ends: [quarantine(ctx, row, row.tokenId, ctx.plan.source.name, failure.reason)], sourceRow: true }
}

/** How one step's node state is closed: in one record (sync) or as the end of a begun state (async). */
interface StateClose {
  readonly stateId: string
  readonly startedAt: number
  readonly startNanos: bigint
  readonly open: boolean
  /** 1, or the retry's attempt (a step with `Pipeline.retry`; only asynchronous states have more). */
  readonly attempt: number
}

/** Settles one step from its `Exit`: records its node state and event, and says where the row goes. */
const settle = (
  ctx: RunContext,
  row: Row,
  planned: PlannedStep,
  state: StateClose,
  input: unknown,
  inputHash: string,
  exit: Exit.Exit<unknown, unknown>,
  trace: Trace
): Step => {
  const { journal } = row
  const step = planned.step
  const completedAt = ctx.clock.unsafeCurrentTimeMillis()
  const durationMs = elapsedMs(state.startNanos, ctx.clock.unsafeCurrentTimeNanos())
  const ids: Events.StateIds = { runId: ctx.runId, rowId: journal.rowId, tokenId: row.tokenId, nodeId: planned.nodeId, stateId: state.stateId }
  /** Records the node state, in one record (sync) or as the end of the begun state (async); object literals only (see events.ts). */
  const close = (end: { readonly status: "completed"; readonly outputHash: string } | { readonly status: "failed"; readonly error: unknown }) => {
    ctx.metrics.state(planned.nodeId, end.status, durationMs)
    const stateId = state.stateId
    if (state.open) {
      journal.endState(end.status === "completed"
        ? { stateId, status: "completed", outputHash: end.outputHash, completedAt, durationMs }
        : { stateId, status: "failed", error: end.error, completedAt, durationMs })
      return
    }
    const { runId } = ctx
    const { tokenId } = row
    const { nodeId, stepIndex } = planned
    const { startedAt } = state
    journal.state(end.status === "completed"
      ? { stateId, runId, tokenId, nodeId, stepIndex, inputHash, startedAt, status: "completed", outputHash: end.outputHash, completedAt, durationMs }
      : { stateId, runId, tokenId, nodeId, stepIndex, inputHash, startedAt, status: "failed", error: end.error, completedAt, durationMs })
  }
  const fail = (failure: RowFailure.RowFailure): Step => {
    close({ status: "failed", error: failure.detail })
    if (step._tag === "Transform" || step._tag === "Expand") {
      journal.events?.push(Events.asAttempt(Events.transformCompleted(trace, completedAt, ids, durationMs, inputHash, { error: failure.reason }), state.attempt))
    }
    return done(quarantine(ctx, row, row.tokenId, step.name, failure.reason))
  }

  if (Exit.isFailure(exit)) {
    const fatal = landscapeErrorIn(exit.cause)
    if (Option.isSome(fatal)) return { _tag: "Fatal", error: fatal.value }
    return fail(RowFailure.fromCause(exit.cause))
  }
  if (step._tag === "Transform") {
    let outputHash = inputHash
    if (exit.value !== input) {
      const text = canonical(exit.value)
      if (isNonCanonical(text)) return fail(RowFailure.make("output", `output ${text.path}: ${text.reason}`))
      outputHash = sha256(text)
    }
    close({ status: "completed", outputHash })
    journal.events?.push(Events.asAttempt(Events.transformCompleted(trace, completedAt, ids, durationMs, inputHash, { outputHash }), state.attempt))
    return { _tag: "Next", value: exit.value, hash: outputHash }
  }
  if (step._tag === "Expand") {
    const values = exit.value
    if (!Array.isArray(values)) return fail(RowFailure.make("output", `an expansion returns an array of rows, not ${typeof values}`))
    const hashes: Array<string> = []
    for (let k = 0; k < values.length; k++) {
      const text = canonical(values[k])
      if (isNonCanonical(text)) return fail(RowFailure.make("output", `output [${k}]${text.path.slice(1)}: ${text.reason}`))
      hashes.push(sha256(text))
    }
    // The state's output is the list of the children's hashes, in order.
    const outputHash = sha256(canonicalJson(hashes))
    close({ status: "completed", outputHash })
    journal.events?.push(Events.asAttempt(Events.transformCompleted(trace, completedAt, ids, durationMs, inputHash, { outputHash }), state.attempt))
    return { _tag: "Expanded", values, hashes }
  }
  if (step._tag === "Fork") {
    const routes = Array.isArray(exit.value) ? [...new Set(exit.value.map(String))] : [String(exit.value)]
    if (routes.length === 0) return fail(RowFailure.make("route", "the fork returned no route"))
    const unknown = routes.find((d) => d !== "continue" && !ctx.plan.sinkByName.has(d))
    if (unknown !== undefined) return fail(RowFailure.make("route", `fork returned "${unknown}", which is not a sink of this pipeline`))
    // The decision's hash: a gate's for one route, `{ destinations }` for several (what `verify` checks).
    close({ status: "completed", outputHash: routes.length === 1 ? decisionHash(routes[0]!) : sha256(canonicalJson({ destinations: routes })) })
    return { _tag: "Forked", destinations: routes, stateId: state.stateId, at: completedAt, trace }
  }
  const destination = String(exit.value)
  const target = destination === "continue" ? undefined : ctx.plan.sinkByName.get(destination)
  if (destination !== "continue" && target === undefined) {
    return fail(RowFailure.make("route", `gate returned "${destination}", which is not a sink of this pipeline`))
  }
  close({ status: "completed", outputHash: decisionHash(destination) })
  journal.routing.push({
    routingId: newId(),
    runId: ctx.runId,
    stateId: state.stateId,
    tokenId: row.tokenId,
    destination,
    ...(target === undefined ? {} : { destinationNodeId: target.nodeId }),
    createdAt: completedAt
  })
  journal.events?.push(Events.gateEvaluated(trace, completedAt, ids, destination))
  return target === undefined ? { _tag: "Next", value: input, hash: inputHash } : done({ _tag: "Routed", tokenId: row.tokenId, sink: target, value: input, hash: inputHash })
}

/** The step's Effect for `value`; a step that throws instead of returning one is a defect of the step (the row is quarantined). */
const invoke = (planned: PlannedStep, value: unknown): Effect.Effect<unknown, unknown, unknown> => {
  try {
    const step = planned.step
    if (step._tag === "Gate" || step._tag === "Fork") return step.evaluate(value as never)
    // An aggregation or a fork-join is never invoked on one row (`drive` hands them on).
    return step._tag === "Transform" || step._tag === "Expand" ? step.apply(value as never) : Exit.die(new Error(`step "${step.name}" takes no single row`))
  } catch (e) {
    return Exit.die(e)
  }
}

/** A step's retry policy, if it has one (a fork-join has none of its own). */
const retryOf = (step: PlannedStep["step"]): Retry | undefined => ("retry" in step ? step.retry : undefined)

/** The failure a retry policy is asked about: the step's typed error (a defect is never retried). */
export const retryable = (retry: Retry | undefined, exit: Exit.Exit<unknown, unknown>): retry is Retry => {
  if (retry === undefined || Exit.isSuccess(exit)) return false
  const failure = Cause.failureOption(exit.cause)
  return Option.isSome(failure) && !(failure.value instanceof LandscapeError) && retry.retryable(failure.value)
}

/**
 * Runs one attempt of a step's Effect (anything but an `Exit` of a step without retries) with its
 * `CallScope`, settles it and carries on. A failed attempt the step's `Retry` takes up is recorded
 * like any (a failed node state, its event) and followed, after the schedule's wait, by the next
 * attempt, in a node state of its own; the row is quarantined once the schedule stops.
 */
const runAsync = (
  ctx: RunContext,
  row: Row,
  line: Line,
  index: number,
  work: Effect.Effect<unknown, unknown, unknown>,
  value: unknown,
  hash: string,
  attempt = 1,
  driver?: Schedule.ScheduleDriver<unknown, unknown, never>
): Effect.Effect<Array<End>, LandscapeError> =>
  Effect.suspend(() => {
    const planned = line.steps[index]!
    const { journal, tokenId } = row
    const stateId = newId()
    const startedAt = ctx.clock.unsafeCurrentTimeMillis()
    const startNanos = ctx.clock.unsafeCurrentTimeNanos()
    const start = { stateId, runId: ctx.runId, tokenId, nodeId: planned.nodeId, stepIndex: planned.stepIndex, inputHash: hash, startedAt }
    journal.beginState(attempt === 1 ? start : { ...start, attempt })
    const scope: StateScope = { _tag: "StateScope", runId: ctx.runId, nodeId: planned.nodeId, rowId: journal.rowId, tokenId, stateId }
    const settled = Effect.exit(Effect.provide(work, ctx.contextFor(scope, Recorder.forState(ctx, journal)))).pipe(
      Effect.flatMap((exit) => {
        if (Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)) return Effect.interrupt
        return Effect.map(row.traced ? Events.currentTrace : Effect.succeed(ctx.trace), (trace) =>
          [exit, settle(ctx, row, planned, { stateId, startedAt, startNanos, open: true, attempt }, value, hash, exit, trace)] as const)
      })
    )
    const traced = row.traced
      ? Effect.withSpan(settled, `sightline.${planned.kind} ${planned.step.name}`, {
        attributes: { "sightline.node.id": planned.nodeId, "sightline.state.id": stateId, ...(attempt === 1 ? {} : { "sightline.state.attempt": attempt }) },
        captureStackTrace: false
      })
      : settled
    return Effect.flatMap(traced, ([exit, next]): Effect.Effect<Array<End>, LandscapeError> => {
      if (next._tag === "Fatal") return Effect.fail(next.error)
      if (next._tag === "Done") {
        const policy = retryOf(planned.step)
        if (next.outcome._tag !== "Quarantined" || !retryable(policy, exit)) return Effect.succeed([next.outcome])
        return Effect.flatMap(driver === undefined ? Schedule.driver(policy.schedule) : Effect.succeed(driver), (d) =>
          // The schedule is fed the step's error (a schedule that looks at it can stop on it).
          d.next(Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined).pipe(
            Effect.matchEffect({
              // The schedule stopped: the row goes to quarantine with this last failure.
              onFailure: () => Effect.succeed([next.outcome]),
              onSuccess: () => runAsync(ctx, row, line, index, invoke(planned, value), value, hash, attempt + 1, d)
            })
          ))
      }
      const rest = next._tag === "Expanded" ? children(ctx, row, line, index, next.values, next.hashes)
        : next._tag === "Forked" ? routes(ctx, row, line, index, value, hash, next)
        : drive(ctx, row, line, index + 1, next.value, next.hash)
      return isSettled(rest) ? Effect.succeed(rest) : rest
    })
  })

/** The ends of a split token's children, after its own: settled at once when every child settled, else one after the other. */
const joinEnds = (ends: Array<Ends>): Ends => {
  if (ends.every(isSettled)) return ends.flat()
  return Effect.map(Effect.forEach(ends, (end) => (isSettled(end) ? Effect.succeed(end) : end)), (all) => all.flat())
}

/** A new child token of `parent` (its `ordinal`th), recorded with its parent link. */
const childOf = (ctx: RunContext, parent: Row, ordinal: number, createdAt: number): Row => tokenOf(ctx, parent, [{ tokenId: parent.tokenId, ordinal }], createdAt)

/** A new token of `row`'s row with `parents`, recorded with its links. */
const tokenOf = (ctx: RunContext, row: Row, parents: ReadonlyArray<{ readonly tokenId: string; readonly ordinal: number }>, createdAt: number): Row => {
  const { journal } = row
  const tokenId = newId()
  journal.addToken({ tokenId, rowId: journal.rowId, runId: ctx.runId, createdAt, parents })
  return { journal, data: row.data, traced: row.traced, tokenId }
}

/**
 * An expansion's children: the parent token ends `expanded`, and each value continues from the
 * step after `index` as a child token (recorded with its parent and its place among the children).
 */
const children = (ctx: RunContext, parent: Row, line: Line, index: number, values: ReadonlyArray<unknown>, hashes: ReadonlyArray<string>): Ends => {
  const createdAt = ctx.clock.unsafeCurrentTimeMillis()
  const ends: Array<Ends> = [[{ _tag: "Split", tokenId: parent.tokenId, outcome: "expanded", node: refOf(line.steps[index]!) }]]
  for (let k = 0; k < values.length; k++) ends.push(drive(ctx, childOf(ctx, parent, k, createdAt), line, index + 1, values[k], hashes[k]!))
  return joinEnds(ends)
}

/** Records a fork's routing decision for one child token (on the fork's node state) and its `GateEvaluated`. */
const routeChild = (
  ctx: RunContext,
  journal: RowJournal,
  planned: PlannedStep,
  fork: { readonly stateId: string; readonly at: number; readonly trace: Trace },
  tokenId: string,
  destination: string,
  target: PlannedSink | undefined
): void => {
  const { at, stateId } = fork
  journal.routing.push({
    routingId: newId(),
    runId: ctx.runId,
    stateId,
    tokenId,
    destination,
    ...(target === undefined ? {} : { destinationNodeId: target.nodeId }),
    createdAt: at
  })
  journal.events?.push(Events.gateEvaluated(fork.trace, at, { runId: ctx.runId, rowId: journal.rowId, tokenId, nodeId: planned.nodeId, stateId }, destination))
}

/**
 * A fork's branches: the parent token ends `forked`, and each route gets a child token with its
 * routing decision (on the fork's node state) and its `GateEvaluated`: routed to its sink, or
 * (`continue`) on from the step after `index` with the same row.
 */
const routes = (ctx: RunContext, parent: Row, line: Line, index: number, value: unknown, hash: string, forked: Extract<Step, { readonly _tag: "Forked" }>): Ends => {
  const planned = line.steps[index]!
  const { journal } = parent
  const ends: Array<Ends> = [[{ _tag: "Split", tokenId: parent.tokenId, outcome: "forked", node: refOf(planned) }]]
  forked.destinations.forEach((destination, k) => {
    const child = childOf(ctx, parent, k, forked.at)
    const target = destination === "continue" ? undefined : ctx.plan.sinkByName.get(destination)
    routeChild(ctx, journal, planned, forked, child.tokenId, destination, target)
    ends.push(target === undefined ? drive(ctx, child, line, index + 1, value, hash) : [{ _tag: "Routed", tokenId: child.tokenId, sink: target, value, hash }])
  })
  return joinEnds(ends)
}

/**
 * A fork-join (`Pipeline.Branches`): the token ends `forked`, with its fork's node state and one
 * routing decision per branch (the decision's hash is `{ destinations }` of the branch names, as a
 * fork's); each branch's line runs on a child token, all at once when they wait; then the
 * coalesce ({@link coalesce}) joins the arrivals and the merged token goes on from the step after.
 */
const forkJoin = (ctx: RunContext, row: Row, line: Line, index: number, value: unknown, hash: string): Ends => {
  const planned = line.steps[index]!
  const { journal } = row
  const at = ctx.clock.unsafeCurrentTimeMillis()
  const stateId = newId()
  const names = planned.branches!.map((b) => b.branch!)
  ctx.metrics.state(planned.nodeId, "completed", 0)
  journal.state({
    stateId, runId: ctx.runId, tokenId: row.tokenId, nodeId: planned.nodeId, stepIndex: planned.stepIndex, inputHash: hash, startedAt: at,
    status: "completed", outputHash: destinationsHash(planned, names), completedAt: at, durationMs: 0
  })
  const split: End = { _tag: "Split", tokenId: row.tokenId, outcome: "forked", node: refOf(planned) }
  const runs = planned.branches!.map((branch, k) => {
    const child = childOf(ctx, row, k, at)
    routeChild(ctx, journal, planned, { stateId, at, trace: ctx.trace }, child.tokenId, branch.branch!, undefined)
    return { name: branch.branch!, tokenId: child.tokenId, ends: drive(ctx, child, branch, 0, value, hash) }
  })
  const join = (settled: ReadonlyArray<Array<End>>) => {
    const ends = coalesce(ctx, row, line, index, runs.map((r, k) => ({ name: r.name, ends: settled[k]! })))
    return isSettled(ends) ? [split, ...ends] : Effect.map(ends, (e) => [split, ...e])
  }
  if (runs.every((r) => isSettled(r.ends))) return join(runs.map((r) => r.ends as Array<End>))
  const policy = planned.coalesce!.policy
  const deadline = policy._tag === "BestEffort" ? Duration.decode(policy.timeout) : undefined
  const awaited = runs.map((r) => {
    const ends = isSettled(r.ends) ? Effect.succeed(r.ends) : r.ends
    // A branch still running at the time-out is interrupted: its open state failed, its token quarantined.
    return deadline === undefined ? ends : Effect.map(Effect.timeoutOption(ends, deadline), Option.getOrElse((): Array<End> => {
      const now = ctx.clock.unsafeCurrentTimeMillis()
      const reason = `the coalesce "${planned.coalesce!.name}" waited ${Duration.format(deadline)} for branch "${r.name}"`
      journal.closeOpen(r.tokenId, (stateId, startedAt) => ({ stateId, status: "failed", error: { kind: "timeout", message: reason }, completedAt: now, durationMs: now - startedAt }))
      return [quarantine(ctx, row, r.tokenId, planned.coalesce!.name, reason)]
    }))
  })
  return Effect.flatMap(Effect.all(awaited, { concurrency: "unbounded" }), (settled) => {
    const ends = join(settled)
    return isSettled(ends) ? Effect.succeed(ends) : ends
  })
}

/**
 * A coalesce: the branches' tokens that arrived end `coalesced`, and the merge of those the policy
 * picks (`coalesce.ts`) is a new token (their child) going on from the step after the fork-join;
 * its node state and `TransformCompleted` are recorded on it. When the policy fails, each arrival
 * is quarantined with its reason, after a failed node state at the coalesce.
 */
const coalesce = (
  ctx: RunContext,
  row: Row,
  line: Line,
  index: number,
  branches: ReadonlyArray<{ readonly name: string; readonly ends: Array<End> }>
): Ends => {
  const plan = line.steps[index]!.coalesce!
  const { journal } = row
  const now = ctx.clock.unsafeCurrentTimeMillis()
  const ends: Array<End> = []
  const runs = branches.map((b) => {
    let arrived: Arrived | undefined
    for (const end of b.ends) if (end._tag === "Arrived") arrived = end
    else ends.push(end)
    return { name: b.name, arrived }
  })
  const arrivals = runs.flatMap((r) => (r.arrived === undefined ? [] : [r.arrived]))
  const inputHash = sha256(canonicalJson(Object.fromEntries(runs.flatMap((r) => (r.arrived === undefined ? [] : [[r.name, r.arrived.hash]])))))
  const base = { runId: ctx.runId, nodeId: plan.nodeId, stepIndex: plan.stepIndex, inputHash, startedAt: now, completedAt: now, durationMs: 0 }
  const decided = Coalesce.decide(plan, runs)
  if (Either.isLeft(decided)) {
    // Each arrival's failed state at the coalesce takes what its branch passed on.
    for (const a of arrivals) {
      ctx.metrics.state(plan.nodeId, "failed", 0)
      journal.state({ ...base, inputHash: a.hash, stateId: newId(), tokenId: a.tokenId, status: "failed", error: { kind: "coalesce", message: decided.left } })
      ends.push(quarantine(ctx, row, a.tokenId, plan.name, decided.left))
    }
    return ends
  }
  const { picked, text, value } = decided.right
  const node: NodeRef = { nodeId: plan.nodeId, name: plan.name }
  for (const a of arrivals) ends.push({ _tag: "Split", tokenId: a.tokenId, outcome: "coalesced", node })
  const token = tokenOf(ctx, row, picked.map((k, ordinal) => ({ tokenId: runs[k]!.arrived!.tokenId, ordinal })), now)
  const outputHash = sha256(text)
  const stateId = newId()
  ctx.metrics.state(plan.nodeId, "completed", 0)
  journal.state({ ...base, stateId, tokenId: token.tokenId, status: "completed", outputHash })
  const ids: Events.StateIds = { runId: ctx.runId, rowId: journal.rowId, tokenId: token.tokenId, nodeId: plan.nodeId, stateId }
  journal.events?.push(Events.transformCompleted(ctx.trace, now, ids, 0, inputHash, { outputHash }))
  const rest = drive(ctx, token, line, index + 1, value, outputHash)
  return isSettled(rest) ? [...ends, ...rest] : Effect.map(rest, (r) => [...ends, ...r])
}

/** Takes a token through the steps from `from`; an Effect from the first step that is not an `Exit` (or every step of a traced row). */
const drive = (ctx: RunContext, row: Row, line: Line, from: number, value: unknown, hash: string): Ends => {
  const steps = line.steps
  for (let i = from; i < steps.length; i++) {
    const planned = steps[i]!
    // An aggregation holds the token: the committer buffers it (`aggregation.ts`).
    if (planned.step._tag === "Aggregate") return [{ _tag: "Buffered", tokenId: row.tokenId, node: planned, value, hash }]
    if (planned.step._tag === "Branches") return forkJoin(ctx, row, line, i, value, hash)
    const startedAt = ctx.clock.unsafeCurrentTimeMillis()
    const startNanos = ctx.clock.unsafeCurrentTimeNanos()
    const work = invoke(planned, value)
    // A failure a retry policy may take up is settled as an Effect: its next attempt waits.
    if (row.traced || !Exit.isExit(work) || retryable(retryOf(planned.step), work)) return runAsync(ctx, row, line, i, work, value, hash)
    const next = settle(ctx, row, planned, { stateId: newId(), startedAt, startNanos, open: false, attempt: 1 }, value, hash, work, ctx.trace)
    if (next._tag === "Done") return [next.outcome]
    if (next._tag === "Fatal") return Effect.fail(next.error)
    if (next._tag === "Expanded") return children(ctx, row, line, i, next.values, next.hashes)
    if (next._tag === "Forked") return routes(ctx, row, line, i, value, hash, next)
    value = next.value
    hash = next.hash
  }
  if (line.branch !== undefined) return [{ _tag: "Arrived", tokenId: row.tokenId, value, hash, at: ctx.clock.unsafeCurrentTimeMillis() }]
  if (ctx.plan.defaultSink !== undefined) return [{ _tag: "Routed", tokenId: row.tokenId, sink: ctx.plan.defaultSink, value, hash }]
  const last = steps.at(-1)?.step.name ?? ctx.plan.source.name
  return [quarantine(ctx, row, row.tokenId, last, "no gate routed the row and the pipeline has no default sink")]
}

/** The row, once its tokens' ends are known. */
const processed = (row: Row, ends: Ends, sourceRow = true): Processed | Effect.Effect<Processed, LandscapeError> =>
  isSettled(ends)
    ? { _tag: "Processed", journal: row.journal, data: row.data, ends: outcomesOf(ends), sourceRow }
    : Effect.map(ends, (all): Processed => ({ _tag: "Processed", journal: row.journal, data: row.data, ends: outcomesOf(all), sourceRow }))

/** The ends of a token on the pipeline's line: outcomes only (arrivals are a branch's, taken by its coalesce). */
const outcomesOf = (ends: Array<End>): Array<Outcome> => {
  const outcomes: Array<Outcome> = []
  for (const end of ends) {
    if (end._tag === "Arrived") throw new Error(`token ${end.tokenId} arrived at a coalesce outside a branch`)
    outcomes.push(end)
  }
  return outcomes
}

/**
 * Takes a token made by an aggregation's flush (recorded in `journal`, of the row `data` was read
 * as) through the steps after the aggregation `after`, to its ends (`sourceRow: false`: it reads no source row).
 */
export const continueToken = (
  ctx: RunContext,
  journal: RowJournal,
  data: unknown,
  tokenId: string,
  after: PlannedStep,
  value: unknown,
  hash: string
): Effect.Effect<Processed, LandscapeError> => {
  const row: Row = { journal, data, traced: false, tokenId }
  const result = processed(row, drive(ctx, row, ctx.plan.main, ctx.plan.main.steps.indexOf(after) + 1, value, hash), false)
  return isProcessed(result) ? Effect.succeed(result) : result
}

/** Records the source row, decodes it, and takes it as far as it goes without waiting. */
const start = (ctx: RunContext, record: SourceRecord, rowId: string, rowIndex: number, traced: boolean, trace: Trace) => {
  const now = ctx.clock.unsafeCurrentTimeMillis()
  const journal = new RowJournal(rowId, newId(), rowIndex, ctx.wantsRowEvents)
  journal.cursor = record.cursor
  const text = canonical(record.raw)
  const data = isNonCanonical(text) ? nonCanonicalStandIn(record.raw, text) : record.raw
  const dataJson = isNonCanonical(text) ? canonicalJson(data) : text
  const dataHash = sha256(dataJson)
  const { tokenId } = journal
  journal.row = { rowId, tokenId, runId: ctx.runId, sourceNodeId: ctx.plan.source.nodeId, rowIndex, dataJson, dataHash, createdAt: now }
  journal.events?.push(Events.rowCreated(trace, now, ctx.runId, { rowId, tokenId, nodeId: ctx.plan.source.nodeId, rowIndex, contentHash: dataHash }))
  const row: Row = { journal, data, traced, tokenId }
  if (record.error !== undefined) return sourceFailure(ctx, row, RowFailure.make("parse", record.error))
  if (isNonCanonical(text)) return sourceFailure(ctx, row, RowFailure.make("nonCanonical", `${text.path}: ${text.reason}`))
  const decoded = ctx.plan.source.source.decode(record.raw)
  if (Either.isLeft(decoded)) return sourceFailure(ctx, row, decoded.left)
  // A decoded row that mirrors its record (the common case for JSON sources) has the same hash.
  if (sameJson(decoded.right, record.raw)) return processed(row, drive(ctx, row, ctx.plan.main, 0, decoded.right, dataHash))
  const decodedText = canonical(decoded.right)
  if (isNonCanonical(decodedText)) {
    return sourceFailure(ctx, row, RowFailure.make("nonCanonical", `decoded ${decodedText.path}: ${decodedText.reason}`))
  }
  return processed(row, drive(ctx, row, ctx.plan.main, 0, decoded.right, decodedText === dataJson ? dataHash : sha256(decodedText)))
}

/**
 * Processes one source record: the `Processed` row when every step settled at once, else the
 * Effect that finishes it (fails only with a fatal `LandscapeError`).
 */
export const process = (ctx: RunContext, record: SourceRecord, rowIndex: number): Processed | Effect.Effect<Processed, LandscapeError> => {
  const rowId = newId()
  if (!ctx.telemetry.sampleRowSpans(rowId)) return start(ctx, record, rowId, rowIndex, false, ctx.trace)
  return Effect.withSpan(
    Effect.flatMap(Events.currentTrace, (trace) => {
      const result = start(ctx, record, rowId, rowIndex, true, trace)
      return isProcessed(result) ? Effect.succeed(result) : result
    }),
    "sightline.row",
    { attributes: { "sightline.row.id": rowId, "sightline.row.index": rowIndex }, captureStackTrace: false }
  )
}
