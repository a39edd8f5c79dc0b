/**
 * The anchor of `bench/engine.ts`: what the identity pipeline's audit costs when written by hand with
 * better-sqlite3 and nothing else. Per source row it builds and inserts the records the engine
 * writes (`_raw-records.ts`), 256 rows per transaction, through prepared single-row statements; one operation for the source
 * and one per sink. It writes no sink files and
 * emits no telemetry: it is the floor the engine's storage sets.
 */
import Database from "better-sqlite3"
import { newId as randomUUID } from "../src/internal/ids.js"
import { rows } from "./_identity.js"
import { auditOf, columns, nodeKinds, nodeNames, sha256 } from "./_raw-records.js"

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
  const nodeIds = nodeNames.map(() => randomUUID())
  const insertNode = db.prepare(`INSERT INTO nodes (node_id, run_id, name, kind, position, config_json) VALUES (?, ?, ?, ?, ?, '{}')`)
  nodeIds.forEach((id, i) => insertNode.run(id, runId, `n${i}`, nodeKinds[i], i))
  const insertOperation = db.prepare(
    `INSERT INTO operations (operation_id, run_id, node_id, kind, status, details_json, started_at) VALUES (?, ?, ?, ?, 'running', '{}', ?)`
  )
  for (const i of [0, 5, 6, 7]) insertOperation.run(randomUUID(), runId, nodeIds[i], i === 0 ? "memory.read" : "file.write", now)
  const insert = (table: keyof typeof columns) =>
    db.prepare(`INSERT INTO ${table} (${columns[table].join(", ")}) VALUES (${columns[table].map(() => "?").join(", ")})`)
  const insertRow = insert("rows")
  const insertToken = insert("tokens")
  const insertState = insert("node_states")
  const insertRouting = insert("routing_events")
  const writeBatch = db.transaction((batch: ReadonlyArray<{ readonly index: number; readonly data: object }>) => {
    for (const { data, index } of batch) {
      const audit = auditOf(data, index, runId, nodeIds)
      insertRow.run(...audit.row)
      insertToken.run(...audit.token)
      for (const state of audit.states) insertState.run(...state)
      insertRouting.run(...audit.routing)
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
