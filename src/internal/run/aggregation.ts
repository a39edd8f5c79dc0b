/**
 * A run's aggregations (`Pipeline.Aggregate`): their open batches and their flushes.
 *
 * - **Buffering.** The processor stops a token at an aggregation (`Buffered`); the committer, which
 *   takes rows in source order, adds it to the aggregation's open batch while it commits the row
 *   ({@link Aggregations.buffer}): the batch (when new) and the membership are recorded in that
 *   batch's transaction, the token keeps no outcome (`buffered`), and the open batches go into
 *   the checkpoint written with it ({@link Aggregations.state}).
 * - **Triggers.** `count` and `condition` are checked as each member is added; `timeout` is a
 *   deadline on the engine's `Clock` that the committer waits for ({@link Aggregations.deadline})
 *   even while no row arrives; the end of the source flushes every open batch.
 * - **Flush.** {@link Aggregations.flush} runs the step on the members' rows (its retries each a
 *   node state of their own, on the first member's token), and gives the members' tokens and the
 *   outputs' as processed rows for the committer to commit after the batch that fired it.
 *
 * @internal
 */
import { Cause, Duration, Effect, Exit, Option, Predicate, Schedule } from "effect"
import type { StateScope } from "../../CallScope.js"
import type { LandscapeError } from "../../Landscape.js"
import type { Aggregate, TriggerReason } from "../../Pipeline.js"
import { describeError } from "../describe.js"
import { canonical, canonicalJson, isNonCanonical, sha256 } from "../hashing.js"
import { newId } from "../ids.js"
import * as RowFailure from "../rowFailure.js"
import { elapsedMs, type RunContext } from "./context.js"
import * as Events from "./events.js"
import { type MutableBatch, RowJournal } from "./journal.js"
import type { PlannedStep } from "./plan.js"
import { continueToken, landscapeErrorIn, type Outcome, type Processed, retryable } from "./processor.js"
import * as Recorder from "./recorder.js"

/** A token buffered into a batch, with what its flush (and a quarantine) needs. */
export interface Member {
  readonly tokenId: string
  readonly rowId: string
  readonly rowIndex: number
  /** The row as it reached the aggregation, and its hash. */
  readonly value: unknown
  readonly hash: string
  /** Its source row's data as stored: what the quarantine sink receives if the batch fails. */
  readonly data: unknown
}

/**
 * A member as the checkpoint keeps it: its row and source data as JSON text, not as objects,
 * since the checkpoint is stored as canonical JSON (keys sorted) and a sink writes a row's keys in
 * their order: restored from text, a resumed run writes the bytes an uninterrupted one does (the
 * `kill -9` trials found this).
 */
export interface StoredMember {
  readonly tokenId: string
  readonly rowId: string
  readonly rowIndex: number
  readonly hash: string
  readonly valueJson: string
  readonly dataJson: string
}

/** An open batch as the checkpoint keeps it. */
export interface OpenBatchState {
  readonly batchId: string
  /** When its first member was buffered, epoch ms: a `timeout` trigger counts from here. */
  readonly openedAt: number
  readonly members: ReadonlyArray<StoredMember>
}

/**
 * The open batches by aggregation name, in order: the checkpoint's `aggregations`. Each but the
 * last has fired (its count was reached mid-commit) and waits for its flush; the last may be filling.
 */
export type AggregationState = Readonly<Record<string, ReadonlyArray<OpenBatchState>>>

/** A batch being filled or waiting for its flush. */
export interface OpenBatch {
  readonly batchId: string
  readonly openedAt: number
  readonly members: Array<Member>
  /** The trigger that fired as a member was added (`count`, `condition`), waiting for the flush; no member joins it after. */
  fired: TriggerReason | undefined
  /** The `condition` threw: the batch fails with this. */
  conditionError: string | undefined
}

type AggregateStep = Aggregate<never, unknown, unknown, unknown>

const aggregateOf = (planned: PlannedStep): AggregateStep => planned.step as AggregateStep

const timeoutMs = (step: AggregateStep): number | undefined =>
  step.trigger.timeout === undefined ? undefined : Duration.toMillis(Duration.decode(step.trigger.timeout))

const isStored = (u: unknown): u is StoredMember =>
  Predicate.isRecord(u) && typeof u.tokenId === "string" && typeof u.rowId === "string" && typeof u.rowIndex === "number" && typeof u.hash === "string" &&
  typeof u.valueJson === "string" && typeof u.dataJson === "string"

const toStored = (m: Member): StoredMember => ({
  tokenId: m.tokenId,
  rowId: m.rowId,
  rowIndex: m.rowIndex,
  hash: m.hash,
  valueJson: JSON.stringify(m.value),
  dataJson: JSON.stringify(m.data)
})
const fromStored = (m: StoredMember): Member => ({
  tokenId: m.tokenId,
  rowId: m.rowId,
  rowIndex: m.rowIndex,
  hash: m.hash,
  value: JSON.parse(m.valueJson) as unknown,
  data: JSON.parse(m.dataJson) as unknown
})

const isBatchState = (u: unknown): u is OpenBatchState =>
  Predicate.isRecord(u) && typeof u.batchId === "string" && typeof u.openedAt === "number" && Array.isArray(u.members) && u.members.length > 0 &&
  u.members.every(isStored)

/** Where a batch's flush leaves it: its outputs' hashes, or why it failed. */
type Result =
  | { readonly _tag: "Flushed"; readonly outputs: ReadonlyArray<unknown>; readonly hashes: ReadonlyArray<string> }
  | { readonly _tag: "Failed"; readonly reason: string }

/** A batch due for its flush: its aggregation, the batch, and what fired. */
export interface Due {
  readonly planned: PlannedStep
  readonly batch: OpenBatch
  readonly reason: TriggerReason
}

export class Aggregations {
  /** Each aggregation's open batches, oldest first. */
  private readonly open = new Map<PlannedStep, Array<OpenBatch>>()

  /**
   * The run's aggregations, with the open batches of a resumed run's checkpoint (`restored`,
   * {@link AggregationState}) except those the resume `closed` (their flush had begun).
   */
  constructor(private readonly ctx: RunContext, restored?: unknown, closed: ReadonlySet<string> = new Set()) {
    if (!Predicate.isRecord(restored)) return
    for (const planned of ctx.plan.steps) {
      const saved = restored[planned.step.name]
      if (planned.step._tag !== "Aggregate" || !Array.isArray(saved)) continue
      const batches = saved.filter(isBatchState).filter((b) => !closed.has(b.batchId)).map((b): OpenBatch => ({
        batchId: b.batchId,
        openedAt: b.openedAt,
        members: b.members.map(fromStored),
        fired: undefined,
        conditionError: undefined
      }))
      for (const batch of batches) this.check(planned, batch)
      if (batches.length > 0) this.open.set(planned, batches)
    }
  }

  /** The open batches, for the checkpoint. */
  state(): AggregationState {
    const state: Record<string, ReadonlyArray<OpenBatchState>> = {}
    for (const [planned, batches] of this.open) {
      if (batches.length > 0) state[planned.step.name] = batches.map((b) => ({ batchId: b.batchId, openedAt: b.openedAt, members: b.members.map(toStored) }))
    }
    return state
  }

  /** Adds a buffered token to its aggregation's filling batch (opening one), recording both into `records`. */
  buffer(end: Extract<Outcome, { readonly _tag: "Buffered" }>, row: Processed, records: MutableBatch): void {
    const { ctx } = this
    let batches = this.open.get(end.node)
    if (batches === undefined) this.open.set(end.node, batches = [])
    let batch = batches.at(-1)
    if (batch === undefined || batch.fired !== undefined) {
      batch = { batchId: newId(), openedAt: ctx.clock.unsafeCurrentTimeMillis(), members: [], fired: undefined, conditionError: undefined }
      batches.push(batch)
      records.batches.push({ batchId: batch.batchId, runId: ctx.runId, nodeId: end.node.nodeId, createdAt: batch.openedAt })
    }
    records.batchMembers.push({ batchId: batch.batchId, tokenId: end.tokenId, ordinal: batch.members.length, runId: ctx.runId })
    const { journal } = row
    batch.members.push({ tokenId: end.tokenId, rowId: journal.rowId, rowIndex: journal.rowIndex, value: end.value, hash: end.hash, data: row.data })
    this.check(end.node, batch)
  }

  /** Marks `batch` fired when its count is reached or its condition holds. */
  private check(planned: PlannedStep, batch: OpenBatch): void {
    const { trigger } = aggregateOf(planned)
    if (trigger.count !== undefined && batch.members.length >= trigger.count) batch.fired = "count"
    else if (trigger.condition !== undefined) {
      try {
        if (trigger.condition(batch.members.map((m) => m.value as never))) batch.fired = "condition"
      } catch (e) {
        batch.fired = "condition"
        batch.conditionError = `the trigger's condition threw: ${describeError(e)}`
      }
    }
  }

  /** When the first `timeout` trigger of a filling batch fires, epoch ms; `undefined` when none waits for one. */
  deadline(): number | undefined {
    let first: number | undefined
    for (const [planned, batches] of this.open) {
      const ms = timeoutMs(aggregateOf(planned))
      const batch = batches.at(-1)
      if (ms !== undefined && batch !== undefined && batch.fired === undefined && (first === undefined || batch.openedAt + ms < first)) first = batch.openedAt + ms
    }
    return first
  }

  /** The batches to flush now, in step order and each aggregation's in order, with what fired (every open batch at the end of the source). */
  due(endOfSource: boolean): ReadonlyArray<Due> {
    const now = this.ctx.clock.unsafeCurrentTimeMillis()
    const due: Array<Due> = []
    for (const planned of this.ctx.plan.steps) {
      const batches = this.open.get(planned)
      if (batches === undefined) continue
      const ms = timeoutMs(aggregateOf(planned))
      for (const batch of batches) {
        const reason = batch.fired ?? (ms !== undefined && now >= batch.openedAt + ms ? "timeout" : endOfSource ? "end_of_source" : undefined)
        if (reason !== undefined) due.push({ planned, batch, reason })
      }
    }
    return due
  }

  /**
   * Flushes `planned`'s open batch (see the module's description): the processed tokens to commit,
   * the first holding the flush's node state(s), event and the batch's end. Fails only with a
   * fatal `LandscapeError`.
   */
  flush({ batch, planned, reason }: Due): Effect.Effect<ReadonlyArray<Processed>, LandscapeError> {
    const batches = this.open.get(planned) ?? []
    batches.splice(batches.indexOf(batch), 1)
    const { ctx } = this
    const step = aggregateOf(planned)
    const members = batch.members
    const first = members[0]!
    const journal = new RowJournal(first.rowId, first.tokenId, first.rowIndex, ctx.wantsRowEvents)
    const inputHash = sha256(canonicalJson(members.map((m) => m.hash)))
    const values = members.map((m) => m.value)
    return Effect.gen(function* () {
      const { result, stateId } = batch.conditionError === undefined
        ? yield* attempt(ctx, planned, journal, values, inputHash, 1, undefined)
        : failedState(ctx, planned, journal, inputHash, RowFailure.make("trigger", batch.conditionError))
      const flushedAt = ctx.clock.unsafeCurrentTimeMillis()
      journal.batchEnds = [{ batchId: batch.batchId, status: result._tag === "Flushed" ? "flushed" : "failed", trigger: reason, stateId, flushedAt }]
      if (result._tag === "Failed") {
        return members.map((m, k): Processed => {
          const quarantined: Outcome = {
            _tag: "Quarantined",
            tokenId: m.tokenId,
            row: { runId: ctx.runId, rowId: m.rowId, tokenId: m.tokenId, rowIndex: m.rowIndex, node: step.name, reason: result.reason, data: m.data }
          }
          return { _tag: "Processed", journal: k === 0 ? journal : memberJournal(ctx, m), data: m.data, ends: [quarantined], sourceRow: false }
        })
      }
      const consumed = (m: Member): Outcome => ({ _tag: "Split", tokenId: m.tokenId, outcome: "consumed_in_batch", node: { nodeId: planned.nodeId, name: step.name } })
      /** A new token of `m`'s row, child of `parents`, taken on from the step after the aggregation. */
      const output = (j: RowJournal, m: Member, parents: ReadonlyArray<Member>, k: number) =>
        Effect.suspend(() => {
          const tokenId = newId()
          j.addToken({ tokenId, rowId: m.rowId, runId: ctx.runId, createdAt: flushedAt, parents: parents.map((p, ordinal) => ({ tokenId: p.tokenId, ordinal })) })
          return Effect.map(continueToken(ctx, j, m.data, tokenId, planned, result.outputs[k], result.hashes[k]!), (p): Processed => ({
            ...p,
            ends: [consumed(m), ...p.ends]
          }))
        })
      if (step.output === "single") {
        const rest = members.slice(1).map((m): Processed => ({ _tag: "Processed", journal: memberJournal(ctx, m), data: m.data, ends: [consumed(m)], sourceRow: false }))
        return [yield* output(journal, first, members, 0), ...rest]
      }
      return yield* Effect.forEach(members, (m, k) => output(k === 0 ? journal : memberJournal(ctx, m), m, [m], k))
    })
  }
}

/** The journal of a member other than the first: its tokens' records and events (the flush's state is the first's). */
const memberJournal = (ctx: RunContext, m: Member): RowJournal => new RowJournal(m.rowId, m.tokenId, m.rowIndex, ctx.wantsRowEvents)

/** A flush that failed before its step ran (its condition threw): one failed node state. */
const failedState = (ctx: RunContext, planned: PlannedStep, journal: RowJournal, inputHash: string, failure: RowFailure.RowFailure) => {
  const stateId = newId()
  const now = ctx.clock.unsafeCurrentTimeMillis()
  const { runId } = ctx
  const { nodeId, stepIndex } = planned
  ctx.metrics.state(nodeId, "failed", 0)
  journal.state({ stateId, runId, tokenId: journal.tokenId, nodeId, stepIndex, inputHash, startedAt: now, status: "failed", error: failure.detail, completedAt: now, durationMs: 0 })
  const ids: Events.StateIds = { runId, rowId: journal.rowId, tokenId: journal.tokenId, nodeId, stateId }
  journal.events?.push(Events.transformCompleted(ctx.trace, now, ids, 0, inputHash, { error: failure.reason }))
  return { result: { _tag: "Failed", reason: failure.reason } satisfies Result, stateId }
}

/** The step's outputs checked: as many as it must return, each with a canonical form. */
const outputsOf = (step: AggregateStep, count: number, value: unknown): Extract<Result, { readonly _tag: "Flushed" }> | RowFailure.RowFailure => {
  if (!Array.isArray(value)) return RowFailure.make("output", `an aggregation returns rows, not ${typeof value}`)
  if (step.output === "passthrough" && value.length !== count) {
    return RowFailure.make("output", `a passthrough aggregation returns one row per member: ${value.length} rows for ${count} members`)
  }
  const hashes: Array<string> = []
  for (let k = 0; k < value.length; k++) {
    const text = canonical(value[k])
    if (isNonCanonical(text)) return RowFailure.make("output", `output [${k}]${text.path.slice(1)}: ${text.reason}`)
    hashes.push(sha256(text))
  }
  return { _tag: "Flushed", outputs: value, hashes }
}

/**
 * One attempt at a batch: a node state on the first member's token (`journal`), the step run with
 * its `CallScope` (its calls hang off that state), recorded with its `TransformCompleted`; a
 * failure the step's `Retry` takes up is followed, after the schedule's wait, by the next attempt.
 */
const attempt = (
  ctx: RunContext,
  planned: PlannedStep,
  journal: RowJournal,
  values: ReadonlyArray<unknown>,
  inputHash: string,
  n: number,
  driver: Schedule.ScheduleDriver<unknown, unknown, never> | undefined
): Effect.Effect<{ readonly result: Result; readonly stateId: string }, LandscapeError> =>
  Effect.gen(function* () {
    const step = aggregateOf(planned)
    const { runId } = ctx
    const { nodeId, stepIndex } = planned
    const tokenId = journal.tokenId
    const stateId = newId()
    const startedAt = ctx.clock.unsafeCurrentTimeMillis()
    const startNanos = ctx.clock.unsafeCurrentTimeNanos()
    const start = { stateId, runId, tokenId, nodeId, stepIndex, inputHash, startedAt }
    journal.beginState(n === 1 ? start : { ...start, attempt: n })
    const scope: StateScope = { _tag: "StateScope", runId, nodeId, rowId: journal.rowId, tokenId, stateId }
    const work = Effect.suspend(() => step.apply(values as ReadonlyArray<never>))
    const exit = yield* Effect.exit(Effect.provide(work, ctx.contextFor(scope, Recorder.forState(ctx, journal))))
    const fatal = Exit.isFailure(exit) ? landscapeErrorIn(exit.cause) : Option.none()
    if (Option.isSome(fatal)) return yield* fatal.value
    if (Exit.isInterrupted(exit)) return yield* Effect.interrupt
    const checked = Exit.isSuccess(exit) ? outputsOf(step, values.length, exit.value) : RowFailure.fromCause(exit.cause)
    const completedAt = ctx.clock.unsafeCurrentTimeMillis()
    const durationMs = elapsedMs(startNanos, ctx.clock.unsafeCurrentTimeNanos())
    const ids: Events.StateIds = { runId, rowId: journal.rowId, tokenId, nodeId, stateId }
    if ("_tag" in checked) {
      // The state's output: the one row's hash, or the list of the members' outputs' hashes.
      const outputHash = step.output === "single" ? checked.hashes[0]! : sha256(canonicalJson(checked.hashes))
      ctx.metrics.state(nodeId, "completed", durationMs)
      journal.endState({ stateId, status: "completed", outputHash, completedAt, durationMs })
      journal.events?.push(Events.asAttempt(Events.transformCompleted(ctx.trace, completedAt, ids, durationMs, inputHash, { outputHash }), n))
      return { result: checked, stateId }
    }
    ctx.metrics.state(nodeId, "failed", durationMs)
    journal.endState({ stateId, status: "failed", error: checked.detail, completedAt, durationMs })
    journal.events?.push(Events.asAttempt(Events.transformCompleted(ctx.trace, completedAt, ids, durationMs, inputHash, { error: checked.reason }), n))
    const failed = { result: { _tag: "Failed", reason: checked.reason } satisfies Result, stateId }
    if (!retryable(step.retry, exit)) return failed
    const policy = step.retry
    const d = driver ?? (yield* Schedule.driver(policy.schedule))
    const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
    const again = yield* Effect.option(d.next(error))
    return Option.isNone(again) ? failed : yield* attempt(ctx, planned, journal, values, inputHash, n + 1, d)
  })
