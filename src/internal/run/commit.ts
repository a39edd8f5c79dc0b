/**
 * Committing one batch of processed rows, in source order, as a unit that an interruption cannot
 * split (DESIGN.md invariant 9):
 *
 * 1. every routed row is offered to its sink's `reject` check; a refused row is quarantined;
 * 2. the sinks write their rows (the quarantine sink included);
 * 3. the Landscape records the batch in one transaction: rows, tokens with their terminal outcome,
 *    node states, routing decisions, and the tokens an aggregation buffers (`aggregation.ts`) as
 *    members of its open batch;
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
import type { Aggregations } from "./aggregation.js"
import type { RunContext } from "./context.js"
import * as Events from "./events.js"
import { emptyBatch } from "./journal.js"
import type { Operations, SinkHandle } from "./operations.js"
import { type Outcome, type Processed, quarantine } from "./processor.js"

export type { Processed }

/**
 * Where the run stands after a batch, for its checkpoint: the next source index and the source's
 * cursor after the batch's last source row (`undefined` for a batch of an aggregation's flush only,
 * which reads no source row), and the counts.
 */
export interface Next {
  readonly position: number | undefined
  readonly counts: Counts
  readonly cursor: unknown
}

/** Counts of committed rows. */
export interface Counts {
  read: number
  quarantined: number
  failed: number
  readonly perSink: Record<string, number>
}

/** Quarantines routed tokens their sink refuses, with a failed node state on the sink's node. */
const applyRejections = (ctx: RunContext, ops: Operations, batch: ReadonlyArray<Processed>): void => {
  for (const processed of batch) {
    const { ends } = processed
    for (let k = 0; k < ends.length; k++) {
      const end = ends[k]!
      if (end._tag !== "Routed") continue
      const reason = ops.sinks.get(end.sink.name)!.writer.reject?.(end.value as never)
      if (reason === undefined) continue
      const now = ctx.clock.unsafeCurrentTimeMillis()
      const message = `sink "${end.sink.name}" refused the row: ${reason}`
      ctx.metrics.state(end.sink.nodeId, "failed", 0)
      processed.journal.state({
        stateId: newId(),
        runId: ctx.runId,
        tokenId: end.tokenId,
        nodeId: end.sink.nodeId,
        stepIndex: ctx.plan.sinkStepIndex,
        inputHash: end.hash,
        startedAt: now,
        status: "failed",
        error: { kind: "sink", sink: end.sink.name, message: reason },
        completedAt: now,
        durationMs: 0
      })
      ends[k] = quarantine(ctx, processed, end.tokenId, end.sink.name, message)
    }
  }
}

/** A token's recorded outcome and the node it ended at (its sink, or the step that split it). */
interface Ended {
  readonly outcome: TokenOutcome
  readonly nodeId: string
  readonly node: string
}

/** `counts` with `batch` committed. */
const countsAfter = (counts: Counts, batch: ReadonlyArray<Processed>, outcomes: ReadonlyMap<Outcome, Ended>): Counts => {
  let read = counts.read
  for (const p of batch) if (p.sourceRow) read += 1
  const next: Counts = { read, quarantined: counts.quarantined, failed: counts.failed, perSink: { ...counts.perSink } }
  for (const { node, outcome } of outcomes.values()) {
    if (outcome === "routed") next.perSink[node] = (next.perSink[node] ?? 0) + 1
    else if (outcome === "quarantined") next.quarantined += 1
    else if (outcome === "failed") next.failed += 1
  }
  return next
}

/** The tokens of each sink, in plan order (the quarantine sink last), each list in source order (a row's tokens in order). */
const bySink = (ops: Operations, batch: ReadonlyArray<Processed>) => {
  const groups = new Map<SinkHandle, Array<Outcome>>([...ops.sinks.values()].map((h) => [h, []]))
  for (const processed of batch) {
    for (const end of processed.ends) {
      if (end._tag === "Split" || end._tag === "Buffered") continue
      groups.get(ops.sinks.get(end._tag === "Routed" ? end.sink.name : "quarantine")!)!.push(end)
    }
  }
  return groups
}

const valueOf = (end: Outcome): unknown => (end._tag === "Routed" ? end.value : end._tag === "Quarantined" ? end.row : undefined)

/**
 * Commits `batch`. Fails with the `SinkError` of a sink that could not write (after recording the
 * batch), or with the `LandscapeError` of the Landscape.
 */
export const commit = (
  ctx: RunContext,
  ops: Operations,
  counts: Counts,
  batch: ReadonlyArray<Processed>,
  checkpoint?: (next: Next) => RunCheckpoint | PartitionCheckpoint,
  aggregations?: Aggregations
): Effect.Effect<void, SinkError | LandscapeError> =>
  Effect.uninterruptible(Effect.gen(function* () {
    applyRejections(ctx, ops, batch)
    const outcomes = new Map<Outcome, Ended>()
    let failure: SinkError | undefined
    for (const [handle, ends] of bySink(ops, batch)) {
      if (ends.length === 0) continue
      if (failure === undefined) {
        // The pipeline's types guarantee each sink accepts what is routed to it (`Pipeline.toSinks`).
        const written = yield* Effect.either(handle.writer.write(ends.map((end) => valueOf(end) as never)))
        if (written._tag === "Left") failure = written.left
        else handle.rows += ends.length
        yield* yieldIfBusy()
      }
      const outcome: TokenOutcome = failure !== undefined ? "failed" : handle.planned.name === "quarantine" ? "quarantined" : "routed"
      for (const end of ends) outcomes.set(end, { outcome, nodeId: handle.planned.nodeId, node: handle.planned.name })
    }

    const records = emptyBatch()
    const completedAt = ctx.clock.unsafeCurrentTimeMillis()
    for (const processed of batch) {
      processed.journal.drainInto(records)
      for (const end of processed.ends) {
        // A buffered token has no outcome yet: it joins its aggregation's open batch.
        if (end._tag === "Buffered") {
          aggregations!.buffer(end, processed, records)
          continue
        }
        let ended = outcomes.get(end)
        if (ended === undefined && end._tag === "Split") {
          ended = { outcome: end.outcome, nodeId: end.node.nodeId, node: end.node.name }
          outcomes.set(end, ended)
        }
        records.outcomes.push({ tokenId: end.tokenId, outcome: ended!.outcome, sinkNodeId: ended!.nodeId, completedAt } satisfies TokenEnd)
      }
    }
    yield* yieldIfBusy()
    let last: Processed["journal"] | undefined
    for (const p of batch) if (p.sourceRow) last = p.journal
    yield* ctx.landscape.recordBatch(records, checkpoint?.({ position: last === undefined ? undefined : last.rowIndex + 1, counts: countsAfter(counts, batch, outcomes), cursor: last?.cursor }))

    const events: Array<TelemetryEvent> = []
    const routed = new Map<string, number>()
    const quarantinedAt = new Map<string, number>()
    for (const processed of batch) {
      const { journal } = processed
      journal.committed = true
      ctx.flushed.delete(journal)
      if (processed.sourceRow) counts.read += 1
      if (journal.events !== undefined) for (const event of journal.events) events.push(event)
      for (const end of processed.ends) {
        if (end._tag === "Buffered") continue
        const { node, nodeId, outcome } = outcomes.get(end)!
        if (outcome === "routed") {
          counts.perSink[node] = (counts.perSink[node] ?? 0) + 1
          routed.set(node, (routed.get(node) ?? 0) + 1)
        } else if (outcome === "quarantined") {
          counts.quarantined += 1
          const at = end._tag === "Quarantined" ? end.row.node : node
          quarantinedAt.set(at, (quarantinedAt.get(at) ?? 0) + 1)
        } else if (outcome === "failed") counts.failed += 1
        if (journal.events === undefined || outcome === "failed" || outcome === "completed" || outcome === "coalesced" || outcome === "consumed_in_batch") continue
        events.push(Events.tokenCompleted(ctx.trace, completedAt, ctx.runId, { rowId: journal.rowId, tokenId: end.tokenId, nodeId, sink: node, outcome }))
      }
    }
    ctx.metrics.committed(batch.length, routed, quarantinedAt)
    if (events.length > 0) yield* ctx.telemetry.emitAll(events)
    if (failure !== undefined) return yield* failure
  }))
