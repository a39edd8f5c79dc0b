/**
 * The anchor of `bench/landscape-pg.ts`: the identity pipeline's audit written by hand with `pg`
 * and nothing else, the PostgreSQL counterpart of `_raw-sqlite.ts`. Per source row the same
 * records (`_raw-records.ts`), 256 source rows per transaction, each table's records in one
 * multi-row `INSERT` per transaction; one operation for the source and one per sink. No sink files,
 * no telemetry, no hash chain: the floor PostgreSQL sets.
 */
import Pg from "pg"
import { newId as randomUUID } from "../src/internal/ids.js"
import { rows } from "./_identity.js"
import { auditOf, columns, nodeKinds, nodeNames, sha256 } from "./_raw-records.js"

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
  const nodeIds = nodeNames.map(() => randomUUID())
  await db.query(insertText("nodes", ["node_id", "run_id", "name", "kind", "position", "config_json"], 8), nodeIds.flatMap((id, i) => [id, runId, `n${i}`, nodeKinds[i], i, "{}"]))
  await db.query(
    insertText("operations", ["operation_id", "run_id", "node_id", "kind", "status", "details_json", "started_at"], 4),
    [0, 5, 6, 7].flatMap((i) => [randomUUID(), runId, nodeIds[i], i === 0 ? "memory.read" : "file.write", "running", "{}", now])
  )
  const writeBatch = async (batch: ReadonlyArray<{ readonly index: number; readonly data: object }>) => {
    const values = { rows: [] as Array<unknown>, tokens: [] as Array<unknown>, node_states: [] as Array<unknown>, routing_events: [] as Array<unknown> }
    for (const { data, index } of batch) {
      const audit = auditOf(data, index, runId, nodeIds)
      values.rows.push(...audit.row)
      values.tokens.push(...audit.token)
      for (const state of audit.states) values.node_states.push(...state)
      values.routing_events.push(...audit.routing)
    }
    await db.query("BEGIN")
    for (const table of ["rows", "tokens", "node_states", "routing_events"] as const) {
      await db.query(insertText(table, columns[table], values[table].length / columns[table].length), values[table])
    }
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
