/**
 * The row journal: what the processor has to record for one row, and the events it will emit
 * once that is recorded.
 *
 * The engine writes journals a batch of rows at a time, in one Landscape transaction, and emits
 * their events only after it (Landscape first, then telemetry). An external call made in a step
 * needs its node state in the Landscape first (the `calls` row refers to it), so a call writes
 * the row's records so far together with itself (`flushWith`): the row and token, the finished
 * node states, and the state in progress as `running` (completed later by an update). Calls are
 * therefore durable as soon as they are made, whatever happens to the run after.
 *
 * @internal
 */
import type {
  BatchEnd,
  CallRecord,
  NodeStateEnd,
  NodeStateRecord,
  NodeStateStart,
  RecordBatch,
  RoutingRecord,
  RowRecord,
  TokenRecord
} from "../../Landscape.js"
import type { TelemetryEvent } from "../../TelemetryEvent.js"

export type MutableBatch = { readonly [K in keyof RecordBatch]-?: Array<NonNullable<RecordBatch[K]>[number]> }

export const emptyBatch = (): MutableBatch => ({
  rows: [],
  nodeStates: [],
  runningStates: [],
  stateUpdates: [],
  routing: [],
  calls: [],
  outcomes: [],
  tokens: [],
  batches: [],
  batchMembers: [],
  batchEnds: []
})

export class RowJournal {
  row: RowRecord | undefined
  nodeStates: Array<NodeStateRecord> = []
  stateUpdates: Array<NodeStateEnd> = []
  routing: Array<RoutingRecord> = []
  /** Tokens besides the row's first (an expansion's children), created since the last drain. */
  tokens: Array<TokenRecord> | undefined = undefined
  /** How the aggregation batch this journal flushed ended (see `aggregation.ts`). */
  batchEnds: Array<BatchEnd> | undefined = undefined
  /** Events to emit after the commit; `undefined` when the hub would filter row events anyway. */
  readonly events: Array<TelemetryEvent> | undefined
  /** States begun by an asynchronous step and not finished yet. */
  private readonly open = new Map<string, NodeStateStart>()
  /** States already in the Landscape as `running`. */
  private readonly written = new Set<string>()
  /** The row and token are in the Landscape (an external call flushed them). */
  flushed = false
  /** The journal's batch has been committed: later events go straight to the hub. */
  committed = false
  /** Where the source stands after this row's record (`SourceRecord.cursor`), checkpointed with the batch it ends. */
  cursor: unknown = undefined

  constructor(readonly rowId: string, readonly tokenId: string, readonly rowIndex: number, wantsEvents: boolean) {
    this.events = wantsEvents ? [] : undefined
  }

  /** Records a token besides the row's first (a child, or a merge), written with the journal's next drain. */
  addToken(token: TokenRecord): void {
    if (this.tokens === undefined) this.tokens = [token]
    else this.tokens.push(token)
  }

  beginState(start: NodeStateStart): void {
    this.open.set(start.stateId, start)
  }
  /** Completes a state begun with `beginState` (or written as `running` by a flush). */
  endState(end: NodeStateEnd): void {
    const start = this.open.get(end.stateId)
    this.open.delete(end.stateId)
    if (this.written.has(end.stateId)) this.stateUpdates.push(end)
    else if (start !== undefined) {
      const { inputHash, nodeId, runId, startedAt, stateId, stepIndex, tokenId } = start
      const { completedAt, durationMs } = end
      const record: NodeStateRecord = end.status === "completed"
        ? { stateId, runId, tokenId, nodeId, stepIndex, inputHash, startedAt, status: "completed", ...(end.outputHash === undefined ? {} : { outputHash: end.outputHash }), completedAt, durationMs }
        : { stateId, runId, tokenId, nodeId, stepIndex, inputHash, startedAt, status: "failed", error: end.error, completedAt, durationMs }
      // A retry's attempt (2, 3, …); the first attempt's record leaves it out (the column's default).
      this.nodeStates.push(start.attempt === undefined ? record : { ...record, attempt: start.attempt })
    }
  }
  /** Closes with `end` the states of `tokenId` still open (a branch interrupted at its coalesce's time-out). */
  closeOpen(tokenId: string, end: (stateId: string, startedAt: number) => NodeStateEnd): void {
    for (const [id, start] of [...this.open]) if (start.tokenId === tokenId) this.endState(end(id, start.startedAt))
  }
  /** A state that began and ended within the processor's loop: recorded once, complete. */
  state(record: NodeStateRecord): void {
    this.nodeStates.push(record)
  }

  /** Moves the pending records into `batch` (states still open go as `running`). */
  drainInto(batch: MutableBatch): void {
    if (this.row !== undefined && !this.flushed) batch.rows.push(this.row)
    this.flushed = true
    if (this.tokens !== undefined) {
      for (const t of this.tokens) batch.tokens.push(t)
      this.tokens = undefined
    }
    if (this.batchEnds !== undefined) {
      for (const b of this.batchEnds) batch.batchEnds.push(b)
      this.batchEnds = undefined
    }
    for (const s of this.nodeStates) batch.nodeStates.push(s)
    for (const u of this.stateUpdates) batch.stateUpdates.push(u)
    for (const r of this.routing) batch.routing.push(r)
    for (const [id, start] of this.open) {
      if (!this.written.has(id)) {
        batch.runningStates.push(start)
        this.written.add(id)
      }
    }
    this.nodeStates = []
    this.stateUpdates = []
    this.routing = []
  }

  /** The records to write with `call`, now, in one transaction. */
  flushWith(call: CallRecord): RecordBatch {
    const batch = emptyBatch()
    this.drainInto(batch)
    batch.calls.push(call)
    return batch
  }

  /**
   * The run stopped before this flushed row was committed: its pending records go into `batch`,
   * and each state still open is closed with `end` (failed, with the reason the run stopped).
   */
  abandon(batch: MutableBatch, end: (stateId: string) => NodeStateEnd): void {
    for (const id of [...this.open.keys()]) this.endState(end(id))
    this.drainInto(batch)
  }
}
