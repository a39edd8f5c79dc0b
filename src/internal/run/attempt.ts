/**
 * One worker's attempt on one partition of a distributed run (`DistributedRun.work`): the same
 * flow, processor and commit as a single-process run, over the partition's source records, with
 * the partition's checkpoint written in each batch's transaction and the lease renewed beside it.
 *
 * 1. **Leftovers.** A takeover first closes what the attempt before left open: its operations
 *    (`failed`, naming both workers), and the rows an external call had recorded early but no batch
 *    committed (their running node states `failed`, their tokens `failed`): those rows are not
 *    processed again, so no external call is made twice.
 * 2. **Sinks** are opened on the partition (`SinkContext.partition`), continuing the last
 *    checkpoint's output (`SinkContext.resume`). The attempt's operation ids are checkpointed
 *    before its operations are begun, and the sinks' state once they are open, so a worker dying
 *    at any point is continued from what it checkpointed and leaves no operation open.
 * 3. **Rows**: the source's records whose index is the partition's, from the checkpoint on; each
 *    batch's checkpoint (next index, counts, sink offsets, operation ids) is written with it, and
 *    the batch is refused when the lease was taken over (fencing by `attempt`).
 * 4. **End**: sinks committed (the partition's files moved into place), operations closed, the
 *    partition completed (the answer says how many are left). A lost lease ends the attempt quietly
 *    (another worker has the partition); an interruption releases the partition with its
 *    checkpoint for another worker; any other failure marks it `failed` (the run fails with it).
 *
 * @internal
 */
import { Cause, type Clock, Duration, Effect, Exit, Option, Schedule } from "effect"
import { type LandscapeError, type LandscapeService, type NodeStateEnd, type PartitionCheckpoint, type PartitionLease, type TokenEnd } from "../../Landscape.js"
import type { SinkError } from "../../Sink.js"
import type { SourceError } from "../../Source.js"
import type { TelemetryService } from "../../Telemetry.js"
import { isLeaseLost } from "../../landscape/error.js"
import * as Commit from "./commit.js"
import { make as makeRunContext, type RunContext } from "./context.js"
import * as Flow from "./flow.js"
import { newId } from "../ids.js"
import { emptyBatch } from "./journal.js"
import * as Operations from "./operations.js"
import type { Plan } from "./plan.js"

export interface AttemptEnv {
  readonly plan: Plan
  readonly landscape: LandscapeService
  readonly telemetry: TelemetryService
  readonly clock: Clock.Clock
  readonly contextFor: RunContext["contextFor"]
  readonly flow: Omit<Flow.FlowOptions, "select" | "onBatch">
  /** How long a lease lasts without renewal, ms. */
  readonly leaseMs: number
  /** How often the lease (and the run's heartbeat) is renewed, ms. */
  readonly renewEveryMs: number
}

export type AttemptResult =
  | { readonly _tag: "Completed"; readonly remaining: number; readonly rowsRead: number }
  | { readonly _tag: "Lost"; readonly message: string }

const isAttemptState = (u: unknown): u is Operations.AttemptState =>
  typeof u === "object" && u !== null && typeof (u as Operations.AttemptState).sinks === "object" && Array.isArray((u as Operations.AttemptState).operations)

/** Closes what earlier attempts left open; returns the indexes of the rows they recorded that this attempt skips. */
const closeLeftovers = (ctx: RunContext, lease: PartitionLease, previous: Operations.AttemptState | undefined, counts: Commit.Counts, checkpoint: () => PartitionCheckpoint) =>
  Effect.gen(function* () {
    if (lease.attempt === 1) return new Set<number>()
    const left = yield* ctx.landscape.partitions.leftovers(lease, previous?.operations ?? [])
    const now = ctx.clock.unsafeCurrentTimeMillis()
    const reason = `worker ${lease.previousOwner ?? "of the attempt before"} stopped on partition ${lease.index} (attempt ${lease.attempt - 1}); ` +
      `continued by ${lease.owner} from source index ${lease.position}`
    for (const op of left.operations) {
      yield* ctx.landscape.partitions.completeOperation({ operationId: op.operationId, status: "failed", details: op.details, error: reason, completedAt: now, durationMs: now - op.startedAt })
    }
    if (left.rows.length > 0) {
      const records = emptyBatch()
      const message = `${reason}; this row's external call was recorded before the worker stopped, so it is not made again`
      for (const s of left.runningStates) {
        records.stateUpdates.push({ stateId: s.stateId, status: "failed", error: { kind: "worker", message }, completedAt: now, durationMs: now - s.startedAt } satisfies NodeStateEnd)
      }
      for (const r of left.rows) records.outcomes.push({ tokenId: r.tokenId, outcome: "failed", sinkNodeId: null, completedAt: now } satisfies TokenEnd)
      counts.read += left.rows.length
      counts.failed += left.rows.length
      yield* ctx.landscape.recordBatch(records, checkpoint())
    }
    return new Set(left.rows.map((r) => r.rowIndex))
  })

/** The run stopped before rows flushed early by a call were committed: their open states are closed `failed`. */
const abandonFlushed = (ctx: RunContext, exit: Exit.Exit<unknown, unknown>) =>
  Effect.suspend(() => {
    if (ctx.flushed.size === 0) return Effect.void
    const records = emptyBatch()
    const completedAt = ctx.clock.unsafeCurrentTimeMillis()
    const message = Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause) ? `the worker's attempt failed: ${Cause.squash(exit.cause)}` : "the worker was interrupted"
    for (const journal of ctx.flushed) {
      journal.abandon(records, (stateId) => ({ stateId, status: "failed", error: { kind: "run", message }, completedAt, durationMs: 0 }))
    }
    return ctx.landscape.recordBatch(records)
  })

const refOf = (lease: PartitionLease) => ({ runId: lease.runId, index: lease.index, owner: lease.owner, attempt: lease.attempt })

/**
 * Runs one attempt on `lease`'s partition, inside the caller's span. Fails with what fails a run
 * (the partition is then `failed`); a lost lease is an answer, not a failure.
 */
export const run = (env: AttemptEnv, lease: PartitionLease): Effect.Effect<AttemptResult, SourceError | SinkError | LandscapeError> =>
  Effect.gen(function* () {
    const { clock, landscape, plan, telemetry } = env
    const ctx = yield* makeRunContext({ runId: lease.runId, plan, landscape, telemetry, clock, contextFor: env.contextFor })
    const ref = refOf(lease)
    const previous = isAttemptState(lease.state) ? lease.state : undefined
    const counts: Commit.Counts = {
      read: lease.rowsRead,
      quarantined: lease.rowsQuarantined,
      failed: 0,
      perSink: { ...Object.fromEntries(plan.sinks.slice(0, -1).map((s) => [s.name, 0])), ...lease.rowsPerSink }
    }
    let state: Operations.AttemptState = previous ?? { sinks: {}, operations: [] }
    let position = lease.position
    const checkpointAt = (at: number, c: Commit.Counts): PartitionCheckpoint => ({
      ...ref,
      position: at,
      rowsRead: c.read,
      rowsQuarantined: c.quarantined,
      rowsPerSink: c.perSink,
      state,
      leaseExpiresAt: clock.unsafeCurrentTimeMillis() + env.leaseMs
    })
    const skip = yield* closeLeftovers(ctx, lease, previous, counts, () => checkpointAt(position, counts))
    const selected = (i: number) => i >= lease.position && i % lease.count === lease.index && !skip.has(i)

    // This attempt's operations are named in the checkpoint before they are begun, and its sinks'
    // own state once they are open: a worker dying at any point leaves nothing a takeover cannot close.
    const operationIds = new Map([plan.source, ...plan.sinks].map((node) => [node.nodeId, newId()]))
    state = { sinks: previous?.sinks ?? {}, operations: [...operationIds.values()] }
    yield* landscape.partitions.checkpoint(checkpointAt(position, counts), clock.unsafeCurrentTimeMillis())

    const body = Effect.scoped(Effect.gen(function* () {
      const ops = yield* Operations.open(ctx, () => counts.read, {
        partition: { index: lease.index, count: lease.count, attempt: lease.attempt, resume: previous, operationIds }
      })
      state = ops.checkpoint()
      yield* landscape.partitions.checkpoint(checkpointAt(position, counts), clock.unsafeCurrentTimeMillis())
      const renew = Effect.suspend(() => {
        const now = clock.unsafeCurrentTimeMillis()
        return Effect.zipRight(landscape.partitions.renew(ref, now + env.leaseMs, now), landscape.heartbeat(lease.runId))
      })
      yield* Effect.forkScoped(renew.pipe(
        Effect.delay(Duration.millis(env.renewEveryMs)),
        Effect.catchAll(ctx.fatal.report),
        Effect.repeat(Schedule.spaced(Duration.millis(env.renewEveryMs)))
      ))
      const commit = (batch: ReadonlyArray<Commit.Processed>) =>
        Commit.commit(ctx, ops, counts, batch, (next) => {
          state = ops.checkpoint()
          // A distributed run has no aggregation (`DistributedRun.start` refuses one): every batch reads source rows.
          position = next.position ?? position
          return checkpointAt(position, next.counts)
        })
      yield* Flow.run(ctx, ops.records, { ...env.flow, select: selected, onBatch: () => void (ctx.wantsRowEvents = telemetry.accepts("RowCreated")) }, commit)
      yield* ctx.fatal.settle
      yield* ops.complete
      state = ops.checkpoint()
      return yield* landscape.partitions.complete(checkpointAt(position, counts), clock.unsafeCurrentTimeMillis())
    }))

    return yield* ctx.fatal.supervise(body).pipe(
      // A worker that lost its lease leaves its rows to the one that took it (closing them here could race its takeover).
      Effect.onExit((exit) =>
        Exit.isSuccess(exit) || Option.exists(Cause.failureOption(exit.cause), isLeaseLost)
          ? Effect.void
          : Effect.catchAll(abandonFlushed(ctx, exit), (e) => Effect.logError("Landscape: could not close the rows of a stopped attempt", e))),
      Effect.map((remaining): AttemptResult => ({ _tag: "Completed", remaining, rowsRead: counts.read }))
    )
  }).pipe(
    // From the claim on (leftovers and first checkpoint included): a lost lease is an answer, any
    // other failure fails the partition, an interruption gives it back.
    Effect.catchIf(isLeaseLost, (e) => Effect.succeed<AttemptResult>({ _tag: "Lost", message: e.message })),
    Effect.tapError(() => Effect.ignoreLogged(env.landscape.partitions.fail(refOf(lease), env.clock.unsafeCurrentTimeMillis()))),
    Effect.onInterrupt(() =>
      env.landscape.partitions.release(refOf(lease), env.clock.unsafeCurrentTimeMillis()).pipe(
        Effect.catchAll((e) => Effect.logWarning(`partition ${lease.index} of run ${lease.runId} could not be released (${e.message}); another worker takes it over when its lease expires`))
      ))
  )
