/**
 * Committing one batch of processed rows, in source order, as a unit that an interruption cannot
 * split (DESIGN.md invariant 9):
 *
 * 1. every routed row is offered to its sink's `reject` check; a refused row is quarantined;
 * 2. the sinks write their rows (the quarantine sink included);
 * 3. the Landscape records the batch in one transaction: rows, tokens with their terminal outcome,
 *    node states, routing decisions;
 * 4. the events are emitted (Landscape first, then telemetry).
 *
 * Between its stretches of synchronous work it hands the event loop a turn when due
 * (`eventLoop.ts`): a commit of 256 rows is tens of milliseconds of CPU on a slow machine.
 *
 * Sinks write before the Landscape records the outcomes so that an outcome is never `routed` for
 * a row its sink failed to write: a sink failure records those tokens `failed` (and the rows of
 * the sinks after it, not written, `failed` too) and then fails the run with the `SinkError`. A
 * Landscape failure is fatal either way. With file sinks nothing is final before the run completes
 * (see `Sink.ts`), so a failed run's partial output is set aside, never mistaken for output.
 *
 * @internal
 */
import { Effect } from "effect"
import type { LandscapeError, PartitionCheckpoint, RunCheckpoint, TokenEnd, TokenOutcome } from "../../Landscape.js"
import type { SinkError } from "../../Sink.js"
import type { TelemetryEvent } from "../../TelemetryEvent.js"
import { yieldIfBusy } from "../eventLoop.js"
import { newId } from "../ids.js"
import type { RunContext } from "./context.js"
import * as Events from "./events.js"
import { emptyBatch } from "./journal.js"
import type { Operations, SinkHandle } from "./operations.js"
import { type Processed, quarantine } from "./processor.js"

export type { Processed }

/** Counts of committed rows. */
export interface Counts {
  read: number
  quarantined: number
  failed: number
  readonly perSink: Record<string, number>
}

/** Quarantines routed rows their sink refuses, with a failed node state on the sink's node. */
const applyRejections = (ctx: RunContext, ops: Operations, batch: ReadonlyArray<Processed>): void => {
  for (const processed of batch) {
    const outcome = processed.outcome
    if (outcome._tag !== "Routed") continue
    const reason = ops.sinks.get(outcome.sink.name)!.writer.reject?.(outcome.value as never)
    if (reason === undefined) continue
    const now = ctx.clock.unsafeCurrentTimeMillis()
    const message = `sink "${outcome.sink.name}" refused the row: ${reason}`
    ctx.metrics.state(outcome.sink.nodeId, "failed", 0)
    processed.journal.state({
      stateId: newId(),
      runId: ctx.runId,
      tokenId: processed.journal.tokenId,
      nodeId: outcome.sink.nodeId,
      stepIndex: ctx.plan.steps.length + 1,
      inputHash: outcome.hash,
      startedAt: now,
      status: "failed",
      error: { kind: "sink", sink: outcome.sink.name, message: reason },
      completedAt: now,
      durationMs: 0
    })
    processed.outcome = quarantine(ctx, processed, outcome.sink.name, message)
  }
}

/** `counts` with `batch` committed. */
const countsAfter = (
  counts: Counts,
  batch: ReadonlyArray<Processed>,
  outcomes: ReadonlyMap<Processed, { readonly outcome: TokenOutcome; readonly sink: SinkHandle }>
): Counts => {
  const next: Counts = { read: counts.read + batch.length, quarantined: counts.quarantined, failed: counts.failed, perSink: { ...counts.perSink } }
  for (const { outcome, sink } of outcomes.values()) {
    if (outcome === "routed") next.perSink[sink.planned.name] = (next.perSink[sink.planned.name] ?? 0) + 1
    else if (outcome === "quarantined") next.quarantined += 1
    else next.failed += 1
  }
  return next
}

/** The rows of each sink, in plan order (the quarantine sink last), each list in source order. */
const bySink = (ops: Operations, batch: ReadonlyArray<Processed>) => {
  const groups = new Map<SinkHandle, Array<Processed>>([...ops.sinks.values()].map((h) => [h, []]))
  for (const processed of batch) {
    const name = processed.outcome._tag === "Routed" ? processed.outcome.sink.name : "quarantine"
    groups.get(ops.sinks.get(name)!)!.push(processed)
  }
  return groups
}

const valueOf = (processed: Processed): unknown => (processed.outcome._tag === "Routed" ? processed.outcome.value : processed.outcome.row)

/**
 * Commits `batch`. Fails with the `SinkError` of a sink that could not write (after recording the
 * batch), or with the `LandscapeError` of the Landscape.
 */
export const commit = (
  ctx: RunContext,
  ops: Operations,
  counts: Counts,
  batch: ReadonlyArray<Processed>,
  checkpoint?: (next: { readonly position: number; readonly counts: Counts; readonly cursor: unknown }) => RunCheckpoint | PartitionCheckpoint
): Effect.Effect<void, SinkError | LandscapeError> =>
  Effect.uninterruptible(Effect.gen(function* () {
    applyRejections(ctx, ops, batch)
    const outcomes = new Map<Processed, { readonly outcome: TokenOutcome; readonly sink: SinkHandle }>()
    let failure: SinkError | undefined
    for (const [handle, rows] of bySink(ops, batch)) {
      if (rows.length === 0) continue
      if (failure === undefined) {
        // The pipeline's types guarantee each sink accepts what is routed to it (`Pipeline.toSinks`).
        const written = yield* Effect.either(handle.writer.write(rows.map((processed) => valueOf(processed) as never)))
        if (written._tag === "Left") failure = written.left
        else handle.rows += rows.length
        yield* yieldIfBusy()
      }
      const outcome: TokenOutcome = failure !== undefined ? "failed" : handle.planned.name === "quarantine" ? "quarantined" : "routed"
      for (const processed of rows) outcomes.set(processed, { outcome, sink: handle })
    }

    const records = emptyBatch()
    const completedAt = ctx.clock.unsafeCurrentTimeMillis()
    for (const processed of batch) {
      const { outcome, sink } = outcomes.get(processed)!
      processed.journal.drainInto(records)
      records.outcomes.push({ tokenId: processed.journal.tokenId, outcome, sinkNodeId: sink.planned.nodeId, completedAt } satisfies TokenEnd)
    }
    yield* yieldIfBusy()
    const last = batch[batch.length - 1]!.journal
    yield* ctx.landscape.recordBatch(records, checkpoint?.({ position: last.rowIndex + 1, counts: countsAfter(counts, batch, outcomes), cursor: last.cursor }))

    const events: Array<TelemetryEvent> = []
    const routed = new Map<string, number>()
    const quarantinedAt = new Map<string, number>()
    for (const processed of batch) {
      const { journal } = processed
      journal.committed = true
      ctx.flushed.delete(journal)
      const { outcome, sink } = outcomes.get(processed)!
      counts.read += 1
      if (outcome === "routed") {
        counts.perSink[sink.planned.name] = (counts.perSink[sink.planned.name] ?? 0) + 1
        routed.set(sink.planned.name, (routed.get(sink.planned.name) ?? 0) + 1)
      } else if (outcome === "quarantined") {
        counts.quarantined += 1
        const node = processed.outcome._tag === "Quarantined" ? processed.outcome.row.node : sink.planned.name
        quarantinedAt.set(node, (quarantinedAt.get(node) ?? 0) + 1)
      } else counts.failed += 1
      if (journal.events === undefined) continue
      for (const event of journal.events) events.push(event)
      if (outcome === "failed") continue
      events.push(Events.tokenCompleted(ctx.trace, completedAt, ctx.runId, {
        rowId: journal.rowId,
        tokenId: journal.tokenId,
        nodeId: sink.planned.nodeId,
        sink: sink.planned.name,
        outcome
      }))
    }
    ctx.metrics.committed(batch.length, routed, quarantinedAt)
    if (events.length > 0) yield* ctx.telemetry.emitAll(events)
    if (failure !== undefined) return yield* failure
  }))
