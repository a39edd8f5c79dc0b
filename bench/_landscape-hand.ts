/**
 * The anchors of `bench/landscape-read.ts`: the same reads written by hand with better-sqlite3 on
 * the same file (prepared statements, no Effect, no decoding beyond what the answer needs).
 */
import Database from "better-sqlite3"
import { createHash } from "node:crypto"

export const openHand = (db: string) => {
  const d = new Database(db, { readonly: true })
  const tokenByIndex = d.prepare(`SELECT t.token_id, t.outcome, t.sink_node_id, r.row_id, r.row_index, r.source_data_json, r.source_data_hash
    FROM rows r JOIN tokens t ON t.row_id = r.row_id WHERE r.run_id = ? AND r.row_index = ? ORDER BY t.chain_seq, t.chain_ord LIMIT 1`)
  const tokenByRow = d.prepare(`SELECT t.token_id, t.outcome, t.sink_node_id, r.row_id, r.row_index, r.source_data_json, r.source_data_hash
    FROM rows r JOIN tokens t ON t.row_id = r.row_id WHERE r.row_id = ? AND r.run_id = ? ORDER BY t.chain_seq, t.chain_ord LIMIT 1`)
  const run = d.prepare(`SELECT run_id, pipeline, status FROM runs WHERE run_id = ?`)
  const nodes = d.prepare(`SELECT node_id, name, kind FROM nodes WHERE run_id = ?`)
  const states = d.prepare(`SELECT * FROM node_states WHERE token_id = ? ORDER BY step_index, attempt, started_at`)
  const routing = d.prepare(`SELECT state_id, destination, destination_node_id FROM routing_events WHERE token_id = ?`)
  const calls = d.prepare(`SELECT * FROM calls WHERE state_id IN (SELECT state_id FROM node_states WHERE token_id = ?)`)
  type Token = { token_id: string; row_id: string; source_data_json: string }
  const explainWith = (token: Token | undefined, runId: string) => {
    if (token === undefined) throw new Error("no such row")
    return {
      token,
      data: JSON.parse(token.source_data_json) as unknown,
      run: run.get(runId),
      nodes: nodes.all(runId),
      states: states.all(token.token_id),
      routing: routing.all(token.token_id),
      calls: calls.all(token.token_id)
    }
  }
  const find = d.prepare(`SELECT r.row_id, r.row_index, t.token_id, t.outcome FROM rows r LEFT JOIN tokens t ON t.row_id = r.row_id
    WHERE r.run_id = ? AND json_extract(r.source_data_json, '$."origin"') IN (?) LIMIT ?`)
  const statesPage = d.prepare(`SELECT s.state_id, s.chain_seq, s.chain_ord, s.node_id, n.name, s.status, s.started_at, s.duration_ms, s.token_id, t.row_id
    FROM node_states s JOIN nodes n ON n.node_id = s.node_id JOIN tokens t ON t.token_id = s.token_id
    WHERE s.run_id = ? AND (s.chain_seq, s.chain_ord) > (?, ?) ORDER BY s.chain_seq, s.chain_ord LIMIT ?`)
  const counts = d.prepare(`SELECT node_id, status, count(*) AS n FROM node_states WHERE run_id = ? GROUP BY node_id, status`)
  const ranks = d.prepare(`SELECT node_id, d, rn, cnt FROM (
      SELECT node_id, duration_ms AS d, row_number() OVER (PARTITION BY node_id ORDER BY duration_ms) AS rn, count(*) OVER (PARTITION BY node_id) AS cnt
      FROM node_states WHERE run_id = ? AND duration_ms IS NOT NULL)
    WHERE rn = (cnt * 50 + 99) / 100 OR rn = (cnt * 95 + 99) / 100 OR rn = cnt`)
  const outcomes = d.prepare(`SELECT outcome, sink_node_id, count(*) AS n FROM tokens WHERE run_id = ? GROUP BY outcome, sink_node_id`)
  const readRows = d.prepare(`SELECT source_data_json, source_data_hash FROM rows WHERE run_id = ? ORDER BY chain_seq, chain_ord`).raw()
  const readStates = d.prepare(`SELECT state_id, token_id, node_id, step_index, status, input_hash, output_hash, started_at FROM node_states WHERE run_id = ? ORDER BY chain_seq, chain_ord`).raw()
  const readTokens = d.prepare(`SELECT token_id, row_id, outcome FROM tokens WHERE run_id = ? ORDER BY chain_seq, chain_ord`).raw()
  const readRouting = d.prepare(`SELECT routing_id, state_id, destination FROM routing_events WHERE run_id = ? ORDER BY chain_seq, chain_ord`).raw()
  return {
    close: () => d.close(),
    explainByIndex: (runId: string, index: number) => explainWith(tokenByIndex.get(runId, index) as Token | undefined, runId),
    explainByRow: (runId: string, rowId: string) => explainWith(tokenByRow.get(rowId, runId) as Token | undefined, runId),
    findRows: (runId: string, origin: string, limit: number) => find.all(runId, origin, limit),
    statesPage: (runId: string, seq: number, ord: number, limit: number) => statesPage.all(runId, seq, ord, limit),
    /** Counts by node and status, nearest-rank p50/p95 and max per node (the same window query), outcomes. */
    summary: (runId: string) => {
      return { byStatus: counts.all(runId), ranks: ranks.all(runId), outcomes: outcomes.all(runId) }
    },
    /**
     * The verify floor: reads the run's rows, tokens, node states and routing decisions in chain
     * order and re-hashes every source record; no chain, no checks. Returns rows read.
     */
    readAndHash: (runId: string) => {
      let rows = 0
      for (const [json, hash] of readRows.iterate(runId) as Iterable<[string, string]>) {
        if (createHash("sha256").update(json).digest("hex") !== hash) throw new Error("hash")
        rows++
      }
      for (const _ of readTokens.iterate(runId)) void _
      for (const _ of readStates.iterate(runId)) void _
      for (const _ of readRouting.iterate(runId)) void _
      return rows
    }
  }
}
