/**
 * How rows move through a run: a producer fiber reads the source and processes each record, a
 * committer fiber commits them a batch at a time, in source order.
 *
 * - **Producer.** A row that settles at once (every step an `Exit`, see `processor.ts`) goes into
 *   the open batch as it is; a row that has to wait runs in a fiber of the run's `FiberSet`, at
 *   most `concurrency` at a time, and goes into the batch as the `Deferred` of its result, in its
 *   source position. A batch is sealed when it holds `batchSize` rows, when `batchWindow` has
 *   passed since its first row (a timer fiber checks), or at the end of the source. Sealed batches
 *   wait in a bounded queue (two batches): a slow committer slows the producer, memory stays bounded.
 * - **Committer.** Takes the sealed batches in order, awaits each waiting row, commits the batch
 *   (`commit.ts`). When the source ends or fails, the rows read before are still committed, then
 *   the source's failure fails the run.
 * - **The event loop is never held long.** The producer hands the event loop a turn (`setImmediate`)
 *   after `yieldAfterMs` of work, so signals, I/O and timers are served while a long run goes on
 *   (before this, the engine held it for 200–400 ms at a time and tsx killed a process whose SIGINT
 *   handler could not run in time).
 *
 * Interruption stops the producer (no further row is read), interrupts the rows in flight, and
 * lets the batch being committed finish as a unit; batches not committed are dropped whole.
 *
 * @internal
 */
import { Chunk, Deferred, Duration, Effect, Exit, FiberSet, Option, Queue, Schedule, type Scope, Stream } from "effect"
import type { LandscapeError } from "../../Landscape.js"
import type { SinkError } from "../../Sink.js"
import type { SourceError, SourceRecord } from "../../Source.js"
import { yieldIfBusy } from "../eventLoop.js"
import type { Aggregations } from "./aggregation.js"
import type { RunContext } from "./context.js"
import { isProcessed, type Processed, process } from "./processor.js"

export interface FlowOptions {
  readonly concurrency: number
  readonly batchSize: number
  readonly batchWindow: Duration.Duration
  /** Longest stretch of work before the producer yields to the event loop, milliseconds. */
  readonly yieldAfterMs: number
  /** Called before each batch is sealed: refreshes what the run reads once per batch. */
  readonly onBatch: () => void
  /**
   * Which source records this run processes, by their index in the source (a distributed run's
   * partition, from its checkpoint on). Default: every one. Rows keep their index in the source.
   */
  readonly select?: (index: number) => boolean
  /** The source index of the first record `records` gives (a resumed source read on from its cursor). Default 0. */
  readonly firstIndex?: number
  /**
   * The run's aggregations (`aggregation.ts`), when it has any: the committer flushes a batch right
   * after committing the rows that fire its trigger, when its time-out falls due (waiting for it
   * even while no row comes), and at the end of the source; each flush is committed as a batch of
   * its own, and may fire a later aggregation in turn.
   */
  readonly aggregations?: Aggregations
}

/** A row in its batch: processed, or still running (its result will be in `deferred`). */
type Slot = Processed | { readonly _tag: "Running"; readonly deferred: Deferred.Deferred<Processed, LandscapeError> }
type Sealed = { readonly _tag: "Batch"; readonly slots: ReadonlyArray<Slot> } | { readonly _tag: "End"; readonly exit: Exit.Exit<void, SourceError> }

/**
 * Runs `records` through the processor and `commit`, in the current scope. Fails with the source's
 * `SourceError` (after committing the rows before it), a sink's `SinkError`, or a `LandscapeError`.
 */
export const run = (
  ctx: RunContext,
  records: Stream.Stream<SourceRecord, SourceError>,
  options: FlowOptions,
  commit: (batch: ReadonlyArray<Processed>) => Effect.Effect<void, SinkError | LandscapeError>
): Effect.Effect<void, SourceError | SinkError | LandscapeError, Scope.Scope> =>
  Effect.gen(function* () {
    const sealed = yield* Queue.bounded<Sealed>(2)
    const rows = yield* FiberSet.make<void, never>()
    const permits = yield* Effect.makeSemaphore(options.concurrency)
    const sealing = yield* Effect.makeSemaphore(1)
    let open: Array<Slot> = []
    let openedAt = 0
    const seal = sealing.withPermits(1)(Effect.suspend(() => {
      if (open.length === 0) return Effect.void
      options.onBatch()
      const slots = open
      open = []
      return Queue.offer(sealed, { _tag: "Batch", slots })
    }))

    /** A row that has to wait: run it in its own fiber, holding a permit, into a `Deferred`. */
    const admit = (work: Effect.Effect<Processed, LandscapeError>) =>
      Effect.gen(function* () {
        const deferred = yield* Deferred.make<Processed, LandscapeError>()
        yield* permits.take(1)
        yield* FiberSet.run(rows, Effect.ensuring(Deferred.complete(deferred, work), permits.release(1)))
        return { _tag: "Running", deferred } as const
      })

    let index = options.firstIndex ?? 0
    const select = options.select
    const produce = Stream.runForEachChunk(records, (chunk) =>
      Effect.gen(function* () {
        for (const record of Chunk.toReadonlyArray(chunk)) {
          const at = index++
          if (select !== undefined && !select(at)) continue
          const result = process(ctx, record, at)
          if (open.length === 0) openedAt = ctx.clock.unsafeCurrentTimeMillis()
          open.push(isProcessed(result) ? result : yield* admit(result))
          if (open.length >= options.batchSize) yield* seal
          yield* yieldIfBusy(options.yieldAfterMs)
        }
      }))
    const windowMs = Duration.toMillis(options.batchWindow)
    const timer = Effect.suspend(() =>
      open.length > 0 && ctx.clock.unsafeCurrentTimeMillis() - openedAt >= windowMs ? seal : Effect.void
    ).pipe(Effect.repeat(Schedule.spaced(Duration.millis(Math.max(1, windowMs / 2)))))

    yield* Effect.forkScoped(timer)
    yield* Effect.forkScoped(Effect.exit(produce).pipe(
      Effect.tap(() => seal),
      Effect.flatMap((exit) => Queue.offer(sealed, { _tag: "End", exit }))
    ))

    const aggregations = options.aggregations
    /**
     * Flushes and commits the batches due (all at the end of the source) until none is, one
     * aggregation at a time in step order: a flush may fill a later aggregation, whose own
     * end-of-source flush must wait for it.
     */
    const flushDue = (endOfSource: boolean) =>
      Effect.gen(function* () {
        if (aggregations === undefined) return
        let due = aggregations.due(endOfSource)
        while (due.length > 0) {
          const first = due[0]!.planned
          const flushed = yield* Effect.forEach(due.filter((d) => d.planned === first), (d) => aggregations.flush(d))
          yield* commit(flushed.flat())
          due = aggregations.due(endOfSource)
        }
      })
    /** The next sealed batch, or `None` when an aggregation's time-out falls due first. */
    const takeNext = Effect.suspend(() => {
      const deadline = aggregations?.deadline()
      if (deadline === undefined) return Effect.map(Queue.take(sealed), Option.some)
      return Effect.timeoutOption(Queue.take(sealed), Duration.millis(Math.max(0, deadline - ctx.clock.unsafeCurrentTimeMillis())))
    })

    while (true) {
      const next = yield* takeNext
      if (Option.isNone(next)) {
        yield* flushDue(false)
        continue
      }
      if (next.value._tag === "End") {
        if (Exit.isSuccess(next.value.exit)) yield* flushDue(true)
        return yield* next.value.exit
      }
      const batch: Array<Processed> = []
      for (const slot of next.value.slots) batch.push(slot._tag === "Processed" ? slot : yield* Deferred.await(slot.deferred))
      yield* commit(batch)
      yield* flushDue(false)
    }
  })
