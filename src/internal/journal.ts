/**
 * The row journal: what the processor has to record for one row and the events it will emit after.
 *
 * The engine writes journals a batch of rows at a time, in one Landscape transaction, and emits
 * their events only once that transaction has committed (Landscape first, then telemetry). An
 * external call made in a transform needs its node state on disk first (the `calls` row refers to
 * it), so `recordCall` writes the journal's records with the call (`flushWith`): states still in
 * progress are written as `running` and completed later with an update.
 *
 * @internal
 */
import { Effect } from "effect"
import { LandscapeError } from "../Landscape.js"
import type {
  CallRecord,
  LandscapeService,
  NodeStateEnd,
  NodeStateRecord,
  NodeStateStart,
  RecordBatch,
  RoutingRecord,
  RowRecord
} from "../Landscape.js"
import type { TelemetryEvent } from "../TelemetryEvent.js"

export class RowJournal {
  rows: Array<RowRecord> = []
  nodeStates: Array<NodeStateRecord> = []
  stateUpdates: Array<NodeStateEnd> = []
  routing: Array<RoutingRecord> = []
  readonly events: Array<TelemetryEvent> = []
  private readonly open = new Map<string, NodeStateStart>()
  private readonly written = new Set<string>()

  record(row: RowRecord): void {
    this.rows.push(row)
  }
  beginState(start: NodeStateStart): void {
    this.open.set(start.stateId, start)
  }
  completeState(end: NodeStateEnd): void {
    const start = this.open.get(end.stateId)
    this.open.delete(end.stateId)
    if (this.written.has(end.stateId)) this.stateUpdates.push(end)
    else if (start !== undefined) this.nodeStates.push({ ...start, ...end })
  }
  route(routing: RoutingRecord): void {
    this.routing.push(routing)
  }
  emit(event: TelemetryEvent): void {
    this.events.push(event)
  }

  /** Moves the pending records into `batch` (states still open go as `running`). */
  drainInto(batch: MutableBatch): void {
    batch.rows.push(...this.rows)
    batch.nodeStates.push(...this.nodeStates)
    batch.stateUpdates.push(...this.stateUpdates)
    batch.routing.push(...this.routing)
    for (const [id, start] of this.open) {
      if (!this.written.has(id)) {
        batch.runningStates.push(start)
        this.written.add(id)
      }
    }
    this.rows = []
    this.nodeStates = []
    this.stateUpdates = []
    this.routing = []
  }

  /**
   * Writes the pending records now, with `call` after them, in one transaction; the events stay
   * journaled.
   */
  flushWith(landscape: LandscapeService, call: CallRecord): Effect.Effect<void, LandscapeError> {
    return Effect.suspend(() => {
      const batch = emptyBatch()
      this.drainInto(batch)
      batch.calls.push(call)
      return Effect.mapError(
        landscape.recordBatch(batch),
        (e) => new LandscapeError({ operation: "recordCall", message: e.message.replace("recordBatch", "recordCall"), cause: e.cause })
      )
    })
  }
}

export type MutableBatch = { readonly [K in keyof RecordBatch]: Array<RecordBatch[K][number]> }

export const emptyBatch = (): MutableBatch => ({
  rows: [],
  nodeStates: [],
  runningStates: [],
  stateUpdates: [],
  routing: [],
  calls: []
})
