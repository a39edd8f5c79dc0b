/**
 * The run's Landscape operations: reading the source, and writing each sink (DESIGN.md invariant
 * 9: every operation ends `completed` or `failed`, whatever fails and when).
 *
 * Each operation is begun before its resource is touched (a sink that cannot be opened still has
 * its operation, then closed `failed`), and a finalizer on the run's scope closes every operation
 * still open when the scope closes without `complete`: sinks are aborted (their partial output set
 * aside, see `Sink.ts`) and their operations recorded `failed` with the reason (the failure, or
 * `interrupted`). `complete` commits every sink and closes every operation `completed`, in order;
 * a sink whose commit fails leaves the rest to the finalizer.
 *
 * @internal
 */
import { Cause, Context, Effect, Exit, Option, Scope, Stream } from "effect"
import type { OperationScope } from "../../CallScope.js"
import type { LandscapeError, OperationEnd } from "../../Landscape.js"
import { isLeaseLost } from "../../landscape/error.js"
import type { SinkDetails, SinkError, SinkWriter } from "../../Sink.js"
import type { SourceError, SourceRecord } from "../../Source.js"
import { newId } from "../ids.js"
import type { RunContext } from "./context.js"
import type { PlannedSink } from "./plan.js"
import * as Recorder from "./recorder.js"

export interface SinkHandle {
  readonly planned: PlannedSink
  readonly writer: SinkWriter<never>
  readonly scope: OperationScope
  /** Rows written so far. */
  rows: number
}

export interface Operations {
  /** The source's records, read inside its operation (after the resumed cursor when there is one: see `readsFromCursor`). */
  readonly records: Stream.Stream<SourceRecord, SourceError>
  /** `true` when `records` starts after the resumed source cursor (its first record is the checkpoint's position), not at the source's start. */
  readonly readsFromCursor: boolean
  /** Open sinks by name, the quarantine sink included, in plan order. */
  readonly sinks: ReadonlyMap<string, SinkHandle>
  /** Commits every sink and records every operation `completed`. */
  readonly complete: Effect.Effect<void, SinkError | LandscapeError>
  /** A distributed run's attempt state: each sink's checkpoint (after the writes so far) and the attempt's operations. */
  readonly checkpoint: () => AttemptState
}

/** What a worker continuing a partition needs of the attempt before (stored with each checkpoint). */
export interface AttemptState {
  readonly sinks: Readonly<Record<string, SinkDetails>>
  readonly operations: ReadonlyArray<string>
}

/** The partition an attempt of a distributed run writes, and the state it continues from. */
export interface PartitionOf {
  readonly index: number
  readonly count: number
  readonly attempt: number
  readonly resume: AttemptState | undefined
  /** The ids of this attempt's operations by node id, checkpointed before they are begun (so a takeover can close them whenever the worker dies). */
  readonly operationIds: ReadonlyMap<string, string>
}

interface Open {
  readonly scope: OperationScope
  readonly startedAt: number
  readonly config: unknown
  closed: boolean
  readonly details: () => Record<string, unknown>
  abort: (reason: string) => Effect.Effect<SinkDetails>
}

/** The scope closed because the partition's lease was taken over (a distributed run's attempt). */
const lostLease = (exit: Exit.Exit<unknown, unknown>): boolean =>
  Exit.isFailure(exit) && Option.exists(Cause.failureOption(exit.cause), isLeaseLost)

/** One line saying why the scope closed without `complete`. */
const reasonOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "the run ended before this operation completed"
  if (Cause.isInterruptedOnly(exit.cause)) return "interrupted"
  const error = Cause.squash(exit.cause)
  return typeof error === "object" && error !== null && "message" in error ? String((error as { message: unknown }).message) : String(error)
}

/**
 * Begins the source operation and opens every sink inside its own, in the current scope.
 * `recordsRead` is the count recorded with the source's operation when it closes.
 */
export const open = (
  ctx: RunContext,
  recordsRead: () => number,
  continuing: {
    /** A distributed run's partition. */
    readonly partition?: PartitionOf
    /** A resumed run: each sink's checkpoint (what its writer's `checkpoint` returned at the last committed batch). */
    readonly sinks?: Readonly<Record<string, SinkDetails>>
    /** A resumed run: the source's cursor at its last committed record, read on from with `Source.recordsAfter`. */
    readonly sourceCursor?: unknown
  } = {}
): Effect.Effect<Operations, SinkError | LandscapeError, Scope.Scope> =>
  Effect.gen(function* () {
    const { clock, landscape, plan, runId } = ctx
    const { partition, sinks: resumeSinks, sourceCursor } = continuing
    const opened: Array<Open> = []
    // A distributed run's attempt may race the worker that takes its partition over: whoever closes an operation first records its end.
    const completeOperation = partition === undefined
      ? landscape.completeOperation
      : (o: OperationEnd) => Effect.asVoid(landscape.partitions.completeOperation(o))
    const close = (op: Open, status: "completed" | "failed", details: SinkDetails, error?: string) =>
      Effect.suspend(() => {
        op.closed = true
        const completedAt = clock.unsafeCurrentTimeMillis()
        return completeOperation({
          operationId: op.scope.operationId,
          status,
          details: { ...(op.config as object), ...op.details(), ...details },
          ...(error === undefined ? {} : { error }),
          completedAt,
          durationMs: completedAt - op.startedAt
        })
      })
    yield* Effect.addFinalizer((exit) =>
      Effect.forEach(opened.filter((op) => !op.closed), (op) =>
        // A partition taken over by another worker: that worker closes this attempt's operations
        // (closing them here too would record their end twice); the sinks are only set aside.
        lostLease(exit)
          ? Effect.asVoid(op.abort("the partition was taken over by another worker"))
          : Effect.flatMap(op.abort(reasonOf(exit)), (details) => close(op, "failed", details, reasonOf(exit))).pipe(
            Effect.catchAll((e) => Effect.zipRight(ctx.fatal.report(e), Effect.logError("Landscape: could not close an operation", e)))
          ), { discard: true })
    )
    const begin = (nodeId: string, kind: string, config: unknown, details: () => Record<string, unknown>) =>
      Effect.gen(function* () {
        const scope: OperationScope = { _tag: "OperationScope", runId, nodeId, operationId: partition?.operationIds.get(nodeId) ?? newId() }
        const startedAt = clock.unsafeCurrentTimeMillis()
        yield* landscape.beginOperation({ operationId: scope.operationId, runId, nodeId, kind, details: config, startedAt })
        const op: Open = { scope, startedAt, config: typeof config === "object" && config !== null ? config : { config }, closed: false, details, abort: () => Effect.succeed({}) }
        opened.push(op)
        return op
      })

    const source = yield* begin(plan.source.nodeId, plan.source.source.operation, plan.source.source.config, () => ({ records: recordsRead() }))
    const { recordsAfter } = plan.source.source
    const from = sourceCursor !== undefined && recordsAfter !== undefined ? recordsAfter(sourceCursor) : plan.source.source.records
    const records = Stream.provideContext(from, ctx.contextFor(source.scope, Recorder.forOperation(ctx)))

    const scope = yield* Effect.scope
    const sinks = new Map<string, SinkHandle>()
    for (const planned of plan.sinks) {
      const handle: { current?: SinkHandle } = {}
      const op = yield* begin(planned.nodeId, planned.sink.operation, planned.sink.config, () => ({ rows: handle.current?.rows ?? 0 }))
      const context = Context.add(ctx.contextFor(op.scope, Recorder.forOperation(ctx)), Scope.Scope, scope)
      const resume = partition === undefined ? resumeSinks?.[planned.name] : partition.resume?.sinks[planned.name]
      const sinkContext = partition === undefined
        ? { runId, name: planned.name, ...(resume === undefined ? {} : { resume }) }
        : { runId, name: planned.name, partition: { index: partition.index, count: partition.count, attempt: partition.attempt }, ...(resume === undefined ? {} : { resume }) }
      const writer = yield* Effect.provide(planned.sink.open(sinkContext), context)
      handle.current = { planned, writer, scope: op.scope, rows: 0 }
      sinks.set(planned.name, handle.current)
      op.abort = (reason) => writer.abort?.(reason) ?? Effect.succeed({})
    }

    const complete = Effect.suspend(() =>
      Effect.gen(function* () {
        for (const op of opened.slice(1)) {
          const handle = [...sinks.values()].find((h) => h.scope === op.scope)!
          const details = handle.writer.commit === undefined ? {} : yield* handle.writer.commit
          yield* close(op, "completed", details)
        }
        yield* close(opened[0]!, "completed", {})
      })
    )
    const checkpoint = (): AttemptState => ({
      sinks: Object.fromEntries([...sinks.values()].map((h) => [h.planned.name, h.writer.checkpoint?.() ?? {}])),
      operations: opened.map((op) => op.scope.operationId)
    })
    return { records, readsFromCursor: from !== plan.source.source.records, sinks, complete, checkpoint }
  })
