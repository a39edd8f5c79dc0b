/**
 * `verify`: checks one run's audit from what is stored, and names each problem with its record.
 *
 * - **Hashes.** Every payload is re-hashed (`rows.source_data_json`, `calls.request_json` and
 *   `response_json`, `runs.config_json`); a gate's output hash is recomputed from its routing
 *   decision; along a token, each node state's input hash must be the hash its previous state
 *   passed on. A purged payload is not a problem (its hash stays, `purged_at` says when).
 * - **Chain.** The facts of each link are rebuilt from the records (`chain.ts`), link by link, and
 *   the chain recomputed: the first link whose batch hash differs is the first divergent batch; a
 *   record outside any link, a missing link, or a final value that differs from `runs.chain_hash`
 *   is named too. Runs recorded before the chain (schema 0003) have no links: everything but the
 *   chain is checked (their records are read at once, not by windows).
 * - **Outcomes.** Every token of a completed run has exactly one terminal outcome. In an
 *   interrupted or failed run a token without one was in flight when the run stopped: counted in
 *   `inFlight`, not a problem. Every row has its first token. A child token (`token_parents`)
 *   belongs to its parent's row, and its parent ended `expanded`, `forked` or `coalesced` (or was in flight),
 *   or its parent was consumed in a batch. A batch's members end as their batch did (none while it
 *   is open, `consumed_in_batch` once flushed, quarantined or failed when it failed); a completed
 *   run leaves no batch open.
 * - **Closed.** No node state or operation is left `running` once the run has ended.
 * - **Calls.** Each belongs to a node state XOR an operation of the same run.
 * - **Statistics.** The run's statistics (`stats.ts`, what its summary shows) are what its records
 *   give, counted again.
 *
 * Links are read a window at a time (about 20,000 records), each kind through its
 * `(run_id, chain_seq, chain_ord)` index, so memory stays bounded whatever the run's size.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { Effect } from "effect"
import { canonicalJson, canonicalVersion, sha256 } from "../internal/hashing.js"
import * as Chain from "./chain.js"
import { num, numOrNull, type RunDbRow } from "./decode.js"
import { landscapeError, type LandscapeError } from "./error.js"
import type { Problem, VerifyReport } from "./results.js"
import { differences, readStats, recompute } from "./stats.js"
import { at, readResumes, readWindow, type Values, type WindowRecords } from "./verifyWindow.js"

const maxProblems = 1000
const windowRecords = 20_000

interface LinkDb {
  readonly seq: number
  readonly kind: string
  readonly records: number
  readonly batch_hash: string
  readonly chain_hash: string
}

/** Accumulates problems (the first `maxProblems`) and counts. */
class Report {
  readonly problems: Array<Problem> = []
  problemCount = 0
  hashesChecked = 0
  inFlight = 0
  readonly counts = { rows: 0, tokens: 0, nodeStates: 0, calls: 0, operations: 0 }
  add(check: Problem["check"], record: string, message: string) {
    this.problemCount += 1
    if (this.problems.length < maxProblems) this.problems.push({ check, record, message })
  }
  /** Checks a payload against its stored hash. */
  payload(record: string, json: string | null, hash: string | null, purgedAt: number | null, what: string) {
    if (json === null) {
      if (hash !== null && purgedAt === null) this.add("hash", record, `${what} is missing but was not purged (its hash is ${hash})`)
      return
    }
    this.hashesChecked += 1
    if (hash === null) this.add("hash", record, `${what} is stored without its hash`)
    else if (sha256(json) !== hash) this.add("hash", record, `${what} does not match its hash ${hash}`)
  }
}

const col = {
  tokenId: at("token", "token_id"),
  tokenRow: at("token", "row_id"),
  outcome: at("token", "outcome"),
  rowId: at("row", "row_id"),
  rowIndex: at("row", "row_index"),
  rowHash: at("row", "source_data_hash"),
  rowData: at("row", "source_data_json"),
  rowPurged: at("row", "purged_at"),
  stateId: at("state", "state_id"),
  stateToken: at("state", "token_id"),
  stateNode: at("state", "node_id"),
  step: at("state", "step_index"),
  status: at("state", "status"),
  input: at("state", "input_hash"),
  output: at("state", "output_hash"),
  stateSeq: at("state", "chain_seq"),
  routingState: at("routing", "state_id"),
  destination: at("routing", "destination"),
  callId: at("call", "call_id"),
  request: at("call", "request_json"),
  requestHash: at("call", "request_hash"),
  response: at("call", "response_json"),
  responseHash: at("call", "response_hash"),
  callPurged: at("call", "purged_at"),
  operationId: at("operation", "operation_id"),
  operationKind: at("operation", "kind"),
  operationStatus: at("operation", "status")
}
const str = (v: unknown) => v as string
const strOrNull = (v: unknown) => v as string | null

/** The per-record checks of one window (hashes, outcomes, open records, lineage within a link window). */
const checkWindow = (w: WindowRecords, run: RunDbRow, kinds: NodeKinds, report: Report) => {
  const ended = run.status !== "running"
  const { call, operation, routing, row, state, token } = w.records
  const tokensOfRows = new Set<string>()
  for (const t of token) {
    report.counts.tokens += 1
    tokensOfRows.add(str(t[col.tokenRow]))
    if (t[col.outcome] !== null) continue
    if (run.status === "completed") report.add("outcome", `tokens ${str(t[col.tokenId])}`, `token of row ${str(t[col.tokenRow])} has no terminal outcome in a completed run`)
    else if (ended) report.inFlight += 1
  }
  for (const r of row) {
    report.counts.rows += 1
    report.payload(`rows ${str(r[col.rowId])}`, strOrNull(r[col.rowData]), str(r[col.rowHash]), numOrNull(r[col.rowPurged] as number | null), "source data")
    if (!tokensOfRows.has(str(r[col.rowId]))) report.add("outcome", `rows ${str(r[col.rowId])}`, `row ${num(r[col.rowIndex] as number)} has no token recorded with it`)
  }
  const gateOutputs = new Map<string, string | null>()
  let previous: Values | undefined
  for (const s of state) {
    report.counts.nodeStates += 1
    const status = str(s[col.status])
    if (ended && status === "running") report.add("open", `node_states ${str(s[col.stateId])}`, `node state at step ${num(s[col.step] as number)} is still running after the run ${run.status}`)
    const node = str(s[col.stateNode])
    if (kinds.gates.has(node)) gateOutputs.set(str(s[col.stateId]), strOrNull(s[col.output]))
    // Along a token (its states are consecutive within a link, in step order), each input is what the step before passed on.
    // (An aggregation's flush, a later link, takes the batch's members: its input is theirs, not its token's.)
    if (previous !== undefined && previous[col.stateToken] === s[col.stateToken] && previous[col.stateSeq] === s[col.stateSeq] && previous[col.status] === "completed" && num(previous[col.step] as number) < num(s[col.step] as number)) {
      const passed = kinds.transforms.has(str(previous[col.stateNode])) ? previous[col.output] : previous[col.input]
      if (passed !== null && s[col.input] !== passed) {
        report.add("lineage", `node_states ${str(s[col.stateId])}`, `input hash at step ${num(s[col.step] as number)} is not what step ${num(previous[col.step] as number)} passed on`)
      }
    }
    previous = s
  }
  // A gate's state routes its token one way; a fork's routes each child: its output hashes `{ destinations }`, in order.
  const decisions = new Map<string, Array<string>>()
  for (const r of routing) {
    const state = str(r[col.routingState])
    const list = decisions.get(state)
    if (list === undefined) decisions.set(state, [str(r[col.destination])])
    else list.push(str(r[col.destination]))
  }
  for (const [state, destinations] of decisions) {
    const output = gateOutputs.get(state)
    if (output === undefined || output === null) continue
    const expected = destinations.length === 1 ? sha256(JSON.stringify({ destination: destinations[0] })) : sha256(canonicalJson({ destinations }))
    if (expected !== output) {
      report.add("lineage", `node_states ${state}`, `gate output hash does not match its routing decision "${destinations.join(", ")}"`)
    }
  }
  for (const c of call) {
    report.counts.calls += 1
    const purgedAt = numOrNull(c[col.callPurged] as number | null)
    report.payload(`calls ${str(c[col.callId])}`, strOrNull(c[col.request]), strOrNull(c[col.requestHash]), purgedAt, "request")
    report.payload(`calls ${str(c[col.callId])}`, strOrNull(c[col.response]), strOrNull(c[col.responseHash]), purgedAt, "response")
  }
  for (const o of operation) {
    report.counts.operations += 1
    if (ended && o[col.operationStatus] === "running") report.add("open", `operations ${str(o[col.operationId])}`, `operation ${str(o[col.operationKind])} is still running after the run ${run.status}`)
  }
}

type NodeKinds = { readonly gates: ReadonlySet<string>; readonly transforms: ReadonlySet<string> }

export const makeVerify = (sql: SqlClient.SqlClient) =>
  (runId: string): Effect.Effect<VerifyReport, SqlError.SqlError | LandscapeError> =>
    Effect.gen(function* () {
      const [run] = yield* sql<RunDbRow>`SELECT * FROM runs WHERE run_id = ${runId}`
      if (run === undefined) return yield* landscapeError("verify", `run ${runId} is not recorded`)
      const report = new Report()
      if (run.canonical_version !== null && run.canonical_version !== canonicalVersion) {
        report.add("scheme", `runs ${runId}`, `hash scheme ${run.canonical_version} is not one this Sightline can check (${canonicalVersion})`)
      }
      report.payload(`runs ${runId}`, run.config_json, run.config_hash, null, "configuration")
      const links = yield* sql<LinkDb>`SELECT seq, kind, records, batch_hash, chain_hash FROM audit_chain WHERE run_id = ${runId} ORDER BY seq`
      const resumes = yield* readResumes(sql, runId)
      const nodes = yield* sql<{ readonly node_id: string; readonly kind: string }>`SELECT node_id, kind FROM nodes WHERE run_id = ${runId}`
      // Each node but a gate passes on its output (a coalesce the merged row, an aggregation its batch's).
      const kinds = {
        gates: new Set(nodes.filter((n) => n.kind === "gate").map((n) => n.node_id)),
        transforms: new Set(nodes.filter((n) => ["transform", "aggregation", "coalesce"].includes(n.kind)).map((n) => n.node_id))
      }

      let chain = Chain.genesis(runId)
      const endSeq = run.end_seq === null ? null : num(run.end_seq)
      let chainAtEnd: string | null = null
      let firstDivergent: number | null = null
      let brokenAt: number | null = null
      for (const [i, link] of links.entries()) {
        if (num(link.seq) !== i + 1) {
          report.add("chain", `audit_chain ${runId} ${i + 1}`, `link ${i + 1} is missing (the next stored is ${num(link.seq)})`)
          brokenAt ??= i + 1
          firstDivergent ??= i + 1
          break
        }
      }
      // Windows of links holding about `windowRecords` records each.
      let start = 0
      while (start < links.length) {
        let end = start
        let records = 0
        while (end < links.length && (records === 0 || records + num(links[end]!.records) <= windowRecords)) records += num(links[end++]!.records)
        const lo = num(links[start]!.seq)
        const hi = num(links[end - 1]!.seq)
        const w = yield* readWindow(sql, run, lo, hi, resumes)
        checkWindow(w, run, kinds, report)
        for (const link of links.slice(start, end)) {
          const seq = num(link.seq)
          const facts = w.facts.get(seq) ?? {}
          w.facts.delete(seq)
          const computed = Chain.batchHash(facts)
          if (computed !== link.batch_hash) {
            firstDivergent ??= seq
            report.add("chain", `audit_chain ${runId} ${seq}`, `link ${seq} (${link.kind}): its records now hash to ${computed.slice(0, 12)}…, not to the ${link.batch_hash.slice(0, 12)}… of the ${num(link.records)} records committed`)
          }
          chain = Chain.link(chain, computed)
          if (seq === endSeq) chainAtEnd = chain
          if (endSeq !== null && seq > endSeq) report.add("chain", `audit_chain ${runId} ${seq}`, `link ${seq} (${link.kind}) was written after the run ended (link ${endSeq})`)
          if (brokenAt === null && chain !== link.chain_hash) {
            brokenAt = seq
            if (computed === link.batch_hash) report.add("chain", `audit_chain ${runId} ${seq}`, `link ${seq}'s stored chain value is not the chain of the links before it`)
          }
        }
        for (const seq of w.facts.keys()) report.add("chain", `audit_chain ${runId} ${seq}`, `records claim link ${seq}, which is not in the chain`)
        start = end
      }
      // A run recorded before the chain existed: its records are in no link; check their hashes and outcomes.
      if (links.length === 0) checkWindow(yield* readWindow(sql, run, 0, 0, []), run, kinds, report)
      const unchained = yield* sql<{ readonly t: string; readonly n: number }>`
        SELECT 'rows' AS t, count(*) AS n FROM rows WHERE run_id = ${runId} AND chain_seq IS NULL
        UNION ALL SELECT 'node_states', count(*) FROM node_states WHERE run_id = ${runId} AND chain_seq IS NULL
        UNION ALL SELECT 'tokens', count(*) FROM tokens WHERE run_id = ${runId} AND chain_seq IS NULL
        UNION ALL SELECT 'routing_events', count(*) FROM routing_events WHERE run_id = ${runId} AND chain_seq IS NULL
        UNION ALL SELECT 'calls', count(*) FROM calls WHERE run_id = ${runId} AND chain_seq IS NULL
        UNION ALL SELECT 'operations', count(*) FROM operations WHERE run_id = ${runId} AND chain_seq IS NULL
        UNION ALL SELECT 'nodes', count(*) FROM nodes WHERE run_id = ${runId} AND chain_seq IS NULL
        UNION ALL SELECT 'batches', count(*) FROM batches WHERE run_id = ${runId} AND chain_seq IS NULL
        UNION ALL SELECT 'batch_members', count(*) FROM batch_members WHERE run_id = ${runId} AND chain_seq IS NULL`
      if (links.length > 0) {
        for (const u of unchained) if (num(u.n) > 0) report.add("chain", `${u.t} (${num(u.n)} records)`, `${num(u.n)} ${u.t} records of the run are in no link of its chain`)
      }
      const computedFinal = links.length === 0 ? null : endSeq === null ? chain : chainAtEnd
      if (run.status !== "running" && links.length > 0) {
        if (endSeq === null || run.chain_hash === null) report.add("chain", `runs ${runId}`, "the run ended without recording its final chain value")
        else if (chainAtEnd === null) report.add("chain", `audit_chain ${runId} ${endSeq}`, `link ${endSeq}, which recorded the run's end, is missing`)
        else if (run.chain_hash !== chainAtEnd) report.add("chain", `runs ${runId}`, "the run's final chain value is not the chain of its records")
      }
      const badCalls = yield* sql<{ readonly call_id: string }>`
        SELECT c.call_id FROM calls c LEFT JOIN node_states s ON s.state_id = c.state_id LEFT JOIN operations o ON o.operation_id = c.operation_id
        WHERE c.run_id = ${runId} AND NOT ((c.state_id IS NULL) <> (c.operation_id IS NULL) AND (s.run_id = c.run_id OR o.run_id = c.run_id))`
      for (const c of badCalls) report.add("call", `calls ${c.call_id}`, "the call belongs neither to exactly one node state nor to exactly one operation of the run")
      // The token tree: a child hangs off a token of its own row that split (expanded or forked), or was still in flight.
      const strays = yield* sql<{ readonly token_id: string; readonly parent_token_id: string; readonly found: string | null; readonly outcome: string | null; readonly same_row: number }>`
        SELECT p.token_id, p.parent_token_id, t.token_id AS found, t.outcome, CASE WHEN t.row_id = c.row_id THEN 1 ELSE 0 END AS same_row
        FROM token_parents p JOIN tokens c ON c.token_id = p.token_id LEFT JOIN tokens t ON t.token_id = p.parent_token_id
        WHERE p.run_id = ${runId} AND (t.token_id IS NULL OR (COALESCE(t.outcome, '') <> 'consumed_in_batch' AND (t.row_id <> c.row_id OR t.outcome NOT IN ('expanded', 'forked', 'coalesced'))))`
      for (const stray of strays) {
        const why = stray.found === null ? "is not recorded" : num(stray.same_row) === 0 ? "belongs to another row" : `ended ${stray.outcome}`
        report.add("outcome", `token_parents ${stray.token_id}`, `token ${stray.token_id}'s parent ${stray.parent_token_id} ${why}, not expanded, forked, coalesced or consumed in a batch`)
      }
      // Batches: a member's outcome follows its batch (open: none yet; flushed: consumed_in_batch; failed: quarantined or failed),
      // and a token consumed in a batch is a member of a flushed one.
      const badMembers = yield* sql<{ readonly token_id: string; readonly batch_id: string | null; readonly status: string | null; readonly outcome: string | null }>`
        SELECT t.token_id, b.batch_id, b.status, t.outcome
        FROM tokens t LEFT JOIN batch_members m ON m.token_id = t.token_id LEFT JOIN batches b ON b.batch_id = m.batch_id
        WHERE t.run_id = ${runId} AND (m.token_id IS NOT NULL OR t.outcome = 'consumed_in_batch') AND NOT (
          (b.status = 'open' AND t.outcome IS NULL) OR (b.status = 'flushed' AND t.outcome = 'consumed_in_batch')
          OR (b.status = 'failed' AND t.outcome IN ('quarantined', 'failed')))`
      for (const m of badMembers) {
        const where = m.batch_id === null ? "is a member of no batch" : `is a member of ${m.status} batch ${m.batch_id}`
        report.add("outcome", `tokens ${m.token_id}`, `token ${m.token_id} ended ${m.outcome ?? "with no outcome"} and ${where}`)
      }
      if (run.status === "completed") {
        const open = yield* sql<{ readonly batch_id: string }>`SELECT batch_id FROM batches WHERE run_id = ${runId} AND status = 'open'`
        for (const b of open) report.add("outcome", `batches ${b.batch_id}`, `the run completed with batch ${b.batch_id} still open: the end of the source flushes every batch`)
      }
      if (run.status === "completed") {
        const [counts] = yield* sql<{ readonly rows: number; readonly quarantined: number }>`
          SELECT (SELECT count(*) FROM rows WHERE run_id = ${runId}) AS rows,
                 (SELECT count(*) FROM tokens WHERE run_id = ${runId} AND outcome = 'quarantined') AS quarantined`
        if (run.rows_read !== null && num(run.rows_read) !== num(counts!.rows)) report.add("counts", `runs ${runId}`, `the run says ${num(run.rows_read)} rows were read, ${num(counts!.rows)} are recorded`)
        if (run.rows_quarantined !== null && num(run.rows_quarantined) !== num(counts!.quarantined)) {
          report.add("counts", `runs ${runId}`, `the run says ${num(run.rows_quarantined)} rows were quarantined, ${num(counts!.quarantined)} tokens are`)
        }
      }
      // The run's statistics (what its summary shows) against the same counted from its records.
      const [stored, computed] = [yield* readStats(sql, runId), yield* recompute(sql, runId)]
      for (const [record, message] of differences(stored, computed)) report.add("statistics", record, message)
      return {
        runId,
        ok: report.problemCount === 0,
        canonicalVersion: run.canonical_version,
        counts: { ...report.counts, links: links.length, hashesChecked: report.hashesChecked },
        firstDivergentLink: firstDivergent,
        chainHash: { computed: computedFinal, stored: run.chain_hash },
        inFlight: report.inFlight,
        problems: report.problems,
        problemCount: report.problemCount
      } satisfies VerifyReport
    })
