/**
 * The anchor of `bench/engine.ts`: what the identity pipeline's audit costs when written by hand with
 * better-sqlite3 and nothing else. Per source row it builds and inserts the records the engine
 * writes (a row with its canonical data and SHA-256, its token with its outcome, four node states
 * with input and output hashes, one routing decision; ids from the engine's own UUIDv7 generator),
 * 256 rows per transaction, through prepared single-row statements; one operation for the source
 * and one per sink. It writes no sink files and
 * emits no telemetry: it is the floor the engine's storage sets.
 */
import Database from "better-sqlite3"
import canonicalize from "canonicalize"
import { createHash } from "node:crypto"
import { newId as randomUUID } from "../src/internal/ids.js"
import { rows } from "./_identity.js"

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")

/** Inserts the audit of `n` rows into `filename` (an already migrated Landscape) and returns rows/s. */
export const rawSqlite = (filename: string, n: number, batchSize = 256): number => {
  const db = new Database(filename)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = NORMAL")
  const t0 = performance.now()
  const runId = randomUUID()
  const now = Date.now()
  db.prepare(`INSERT INTO runs (run_id, pipeline, status, started_at, config_json, config_hash, telemetry_enabled) VALUES (?, 'identity', 'running', ?, '{}', ?, 0)`)
    .run(runId, now, sha256("{}"))
  const nodeIds = ["source", "a", "b", "c", "late", "on_time", "late_sink", "quarantine"].map(() => randomUUID())
  const insertNode = db.prepare(`INSERT INTO nodes (node_id, run_id, name, kind, position, config_json) VALUES (?, ?, ?, ?, ?, '{}')`)
  const kinds = ["source", "transform", "transform", "transform", "gate", "sink", "sink", "sink"]
  nodeIds.forEach((id, i) => insertNode.run(id, runId, `n${i}`, kinds[i], i))
  const insertOperation = db.prepare(
    `INSERT INTO operations (operation_id, run_id, node_id, kind, status, details_json, started_at) VALUES (?, ?, ?, ?, 'running', '{}', ?)`
  )
  for (const i of [0, 5, 6, 7]) insertOperation.run(randomUUID(), runId, nodeIds[i], i === 0 ? "memory.read" : "file.write", now)

  const insertRow = db.prepare(
    `INSERT INTO rows (row_id, run_id, source_node_id, row_index, source_data_json, source_data_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`
  )
  const insertToken = db.prepare(
    `INSERT INTO tokens (token_id, row_id, run_id, created_at, outcome, sink_node_id, completed_at) VALUES (?, ?, ?, ?, 'routed', ?, ?)`
  )
  const insertState = db.prepare(
    `INSERT INTO node_states (state_id, run_id, token_id, node_id, step_index, status, input_hash, output_hash, started_at, completed_at, duration_ms)
     VALUES (?, ?, ?, ?, ?, 'completed', ?, ?, ?, ?, 0)`
  )
  const insertRouting = db.prepare(
    `INSERT INTO routing_events (routing_id, run_id, state_id, token_id, destination, destination_node_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`
  )
  const writeBatch = db.transaction((batch: ReadonlyArray<{ readonly index: number; readonly data: object }>) => {
    for (const { data, index } of batch) {
      const t = Date.now()
      const json = canonicalize(data)!
      const hash = sha256(json)
      const rowId = randomUUID()
      const tokenId = randomUUID()
      const late = (data as { delay: number }).delay >= 15
      insertRow.run(rowId, runId, nodeIds[0], index, json, hash, t)
      insertToken.run(tokenId, rowId, runId, t, late ? nodeIds[6] : nodeIds[5], t)
      let stateId = ""
      for (let s = 1; s <= 4; s++) {
        stateId = randomUUID()
        insertState.run(stateId, runId, tokenId, nodeIds[s], s, hash, s === 4 ? sha256(`{"destination":"${late ? "late" : "continue"}"}`) : hash, t, t)
      }
      insertRouting.run(randomUUID(), runId, stateId, tokenId, late ? "late" : "continue", late ? nodeIds[6] : null, t)
    }
  })
  let batch: Array<{ readonly index: number; readonly data: object }> = []
  let index = 0
  for (const data of rows(n)) {
    batch.push({ index: index++, data })
    if (batch.length === batchSize) {
      writeBatch(batch)
      batch = []
    }
  }
  if (batch.length > 0) writeBatch(batch)
  db.prepare(`UPDATE operations SET status = 'completed', completed_at = ? WHERE run_id = ?`).run(Date.now(), runId)
  db.prepare(`UPDATE runs SET status = 'completed', finished_at = ? WHERE run_id = ?`).run(Date.now(), runId)
  const seconds = (performance.now() - t0) / 1000
  db.close()
  return n / seconds
}
