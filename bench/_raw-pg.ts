/**
 * The anchor of `bench/landscape-pg.ts`: the identity pipeline's audit written by hand with `pg`
 * and nothing else, the PostgreSQL counterpart of `_raw-sqlite.ts`. Per source row the same
 * records (a row with its canonical data and SHA-256, its token with its outcome, four node states,
 * one routing decision; UUIDv7 ids), 256 source rows per transaction, each table's records in one
 * multi-row `INSERT` per transaction; one operation for the source and one per sink. No sink files,
 * no telemetry, no hash chain: the floor PostgreSQL sets.
 */
import canonicalize from "canonicalize"
import { createHash } from "node:crypto"
import Pg from "pg"
import { newId as randomUUID } from "../src/internal/ids.js"
import { rows } from "./_identity.js"

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")

/** `INSERT INTO table (columns) VALUES ($1, …), (…)` for `count` rows. */
const insertText = (table: string, columns: ReadonlyArray<string>, count: number) => {
  const tuples: Array<string> = []
  for (let r = 0; r < count; r++) tuples.push(`(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(", ")})`)
  return `INSERT INTO ${table} (${columns.join(", ")}) VALUES ${tuples.join(", ")}`
}

/** Inserts the audit of `n` rows into the (already migrated) database at `url`; returns rows/s. */
export const rawPg = async (url: string, n: number, batchSize = 256): Promise<number> => {
  const db = new Pg.Client({ connectionString: url })
  await db.connect()
  const t0 = performance.now()
  const runId = randomUUID()
  const now = Date.now()
  await db.query(`INSERT INTO runs (run_id, pipeline, status, started_at, config_json, config_hash, telemetry_enabled) VALUES ($1, 'identity', 'running', $2, '{}', $3, 0)`, [runId, now, sha256("{}")])
  const nodeIds = ["source", "a", "b", "c", "late", "on_time", "late_sink", "quarantine"].map(() => randomUUID())
  const kinds = ["source", "transform", "transform", "transform", "gate", "sink", "sink", "sink"]
  await db.query(insertText("nodes", ["node_id", "run_id", "name", "kind", "position", "config_json"], 8), nodeIds.flatMap((id, i) => [id, runId, `n${i}`, kinds[i], i, "{}"]))
  await db.query(
    insertText("operations", ["operation_id", "run_id", "node_id", "kind", "status", "details_json", "started_at"], 4),
    [0, 5, 6, 7].flatMap((i) => [randomUUID(), runId, nodeIds[i], i === 0 ? "memory.read" : "file.write", "running", "{}", now])
  )
  const writeBatch = async (batch: ReadonlyArray<{ readonly index: number; readonly data: object }>) => {
    const rowValues: Array<unknown> = []
    const tokenValues: Array<unknown> = []
    const stateValues: Array<unknown> = []
    const routingValues: Array<unknown> = []
    for (const { data, index } of batch) {
      const t = Date.now()
      const json = canonicalize(data)!
      const hash = sha256(json)
      const rowId = randomUUID()
      const tokenId = randomUUID()
      const late = (data as { delay: number }).delay >= 15
      rowValues.push(rowId, runId, nodeIds[0], index, json, hash, t)
      tokenValues.push(tokenId, rowId, runId, t, "routed", late ? nodeIds[6] : nodeIds[5], t)
      let stateId = ""
      for (let s = 1; s <= 4; s++) {
        stateId = randomUUID()
        stateValues.push(stateId, runId, tokenId, nodeIds[s], s, "completed", hash, s === 4 ? sha256(`{"destination":"${late ? "late" : "continue"}"}`) : hash, t, t, 0)
      }
      routingValues.push(randomUUID(), runId, stateId, tokenId, late ? "late" : "continue", late ? nodeIds[6] : null, t)
    }
    await db.query("BEGIN")
    await db.query(insertText("rows", ["row_id", "run_id", "source_node_id", "row_index", "source_data_json", "source_data_hash", "created_at"], batch.length), rowValues)
    await db.query(insertText("tokens", ["token_id", "row_id", "run_id", "created_at", "outcome", "sink_node_id", "completed_at"], batch.length), tokenValues)
    await db.query(
      insertText("node_states", ["state_id", "run_id", "token_id", "node_id", "step_index", "status", "input_hash", "output_hash", "started_at", "completed_at", "duration_ms"], batch.length * 4),
      stateValues
    )
    await db.query(insertText("routing_events", ["routing_id", "run_id", "state_id", "token_id", "destination", "destination_node_id", "created_at"], batch.length), routingValues)
    await db.query("COMMIT")
  }
  let batch: Array<{ readonly index: number; readonly data: object }> = []
  let index = 0
  for (const data of rows(n)) {
    batch.push({ index: index++, data })
    if (batch.length === batchSize) {
      await writeBatch(batch)
      batch = []
    }
  }
  if (batch.length > 0) await writeBatch(batch)
  await db.query(`UPDATE operations SET status = 'completed', completed_at = $1 WHERE run_id = $2`, [Date.now(), runId])
  await db.query(`UPDATE runs SET status = 'completed', finished_at = $1 WHERE run_id = $2`, [Date.now(), runId])
  const seconds = (performance.now() - t0) / 1000
  await db.end()
  return n / seconds
}
