/**
 * What the hand-written anchors (`_raw-sqlite.ts`, `_raw-pg.ts`) insert per source row of the
 * identity pipeline: the records the engine writes for it, as column values in `columns` order.
 * A row with its canonical data (RFC 8785) and SHA-256, its token with its outcome, four node
 * states with input and output hashes, one routing decision; ids from the engine's UUIDv7 generator.
 */
import canonicalize from "canonicalize"
import { createHash } from "node:crypto"
import { newId as randomUUID } from "../src/internal/ids.js"

export const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")

/** The nodes of the identity pipeline, in position order, with their kinds. */
export const nodeNames = ["source", "a", "b", "c", "late", "on_time", "late_sink", "quarantine"] as const
export const nodeKinds = ["source", "transform", "transform", "transform", "gate", "sink", "sink", "sink"] as const

export const columns = {
  rows: ["row_id", "run_id", "source_node_id", "row_index", "source_data_json", "source_data_hash", "created_at"],
  tokens: ["token_id", "row_id", "run_id", "created_at", "outcome", "sink_node_id", "completed_at"],
  node_states: ["state_id", "run_id", "token_id", "node_id", "step_index", "status", "input_hash", "output_hash", "started_at", "completed_at", "duration_ms"],
  routing_events: ["routing_id", "run_id", "state_id", "token_id", "destination", "destination_node_id", "created_at"]
} as const

export interface RowAudit {
  readonly row: Array<unknown>
  readonly token: Array<unknown>
  readonly states: ReadonlyArray<Array<unknown>>
  readonly routing: Array<unknown>
}

/** The records of source row `index` (`data`) of run `runId`, whose node ids are `nodeIds` (in `nodeNames` order). */
export const auditOf = (data: object, index: number, runId: string, nodeIds: ReadonlyArray<string>): RowAudit => {
  const t = Date.now()
  const json = canonicalize(data)!
  const hash = sha256(json)
  const rowId = randomUUID()
  const tokenId = randomUUID()
  const late = (data as { delay: number }).delay >= 15
  const states: Array<Array<unknown>> = []
  for (let s = 1; s <= 4; s++) {
    const output = s === 4 ? sha256(`{"destination":"${late ? "late" : "continue"}"}`) : hash
    states.push([randomUUID(), runId, tokenId, nodeIds[s], s, "completed", hash, output, t, t, 0])
  }
  return {
    row: [rowId, runId, nodeIds[0], index, json, hash, t],
    token: [tokenId, rowId, runId, t, "routed", late ? nodeIds[6] : nodeIds[5], t],
    states,
    routing: [randomUUID(), runId, states[3]![0], tokenId, late ? "late" : "continue", late ? nodeIds[6] : null, t]
  }
}
