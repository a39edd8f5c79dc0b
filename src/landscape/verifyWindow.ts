/**
 * Reads the records of links `lo..hi` of one run's chain and rebuilds each link's facts from them
 * (`chain.ts`): a record inserted by a link gives its fact there, in `chain_ord` order; a record
 * completed by a later link (`end_seq`, `outcome_seq`) gives its insert-time fact (still running,
 * no outcome) there and its completion fact in the later link.
 *
 * Records are read as arrays (`SqlClient`'s `values`), their columns in the order of the fact they
 * make (`Chain.columns`), then the link's place: a third of the cost of objects, which matters at
 * seven records per source row (`bench/landscape-read.ts`, `verify`).
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { Effect } from "effect"
import * as Chain from "./chain.js"
import { num, numOrNull, type RunDbRow } from "./decode.js"
import { dialectOf, placeholders } from "./dialect.js"

/** A record as read: the columns of its fact (see `Chain.columns`), then the `extra` columns of its table. */
export type Values = ReadonlyArray<unknown>

/** What each table's query reads after the fact's columns. */
export const extra = {
  node: ["chain_seq"],
  operation: ["chain_seq", "end_seq", "status"],
  row: ["chain_seq", "source_data_json", "purged_at"],
  token: ["chain_seq", "outcome_seq"],
  token_parent: ["chain_seq"],
  state: ["chain_seq", "end_seq"],
  routing: ["chain_seq"],
  call: ["chain_seq", "request_json", "response_json", "purged_at"],
  batch: ["chain_seq", "end_seq"],
  batch_member: ["chain_seq"]
} as const

const tables = {
  node: "nodes",
  operation: "operations",
  row: "rows",
  token: "tokens",
  token_parent: "token_parents",
  state: "node_states",
  routing: "routing_events",
  call: "calls",
  batch: "batches",
  batch_member: "batch_members"
} as const
export type Table = keyof typeof tables

/** Column `name` of a record of `table`, by position. */
export const at = (table: Table, name: string): number => {
  const i = (Chain.columns[table] as ReadonlyArray<string>).indexOf(name)
  return i >= 0 ? i : Chain.columns[table].length + (extra[table] as ReadonlyArray<string>).indexOf(name)
}

export interface WindowRecords {
  readonly records: { readonly [K in Table]: ReadonlyArray<Values> }
  /** Each link's rebuilt facts. */
  readonly facts: Map<number, Chain.BatchFacts>
}

/** The select list of `table`: its fact's columns (an operation's begin details as it began), then its extra columns. */
const selectList = (table: Table) =>
  [...Chain.columns[table].map((c) => (c === "begin_details_json" ? "coalesce(begin_details_json, details_json)" : c)), ...extra[table]].join(", ")

/** Numbers as numbers (PostgreSQL gives BIGINT as text), in the fact's numeric columns. */
const numericOf = (table: Table): ReadonlyArray<number> => (Chain.numericColumns[table] as ReadonlyArray<string>).map((n) => at(table, n))
const numeric: Record<Table, ReadonlyArray<number>> = {
  node: numericOf("node"),
  operation: numericOf("operation"),
  row: numericOf("row"),
  token: numericOf("token"),
  token_parent: numericOf("token_parent"),
  state: numericOf("state"),
  routing: numericOf("routing"),
  call: numericOf("call"),
  batch: numericOf("batch"),
  batch_member: numericOf("batch_member")
}
const normalize = (table: Table, r: Values): Values => {
  for (const i of numeric[table]) {
    const v = r[i]
    if (typeof v === "string" || typeof v === "bigint") return r.map((x, j) => (numeric[table].includes(j) && x !== null ? Number(x) : x))
  }
  return r
}

const seqOf = (table: Table, r: Values) => num(r[Chain.columns[table].length] as number)

/**
 * The records of links `lo..hi` with their facts; with `lo` = `hi` = 0, the records of a run
 * recorded before the chain (schema 0003), which are in no link (no facts then).
 */
export const readWindow = (
  sql: SqlClient.SqlClient,
  run: RunDbRow,
  lo: number,
  hi: number,
  /** The run's resumes (`readResumes`), read once per `verify`. */
  resumes: ReadonlyArray<ResumeDbRow>
): Effect.Effect<WindowRecords, SqlError.SqlError> =>
  Effect.gen(function* () {
    const runId = run.run_id
    const dialect = dialectOf(sql)
    const where = lo === 0 && hi === 0 ? "chain_seq IS NULL" : "chain_seq BETWEEN ? AND ?"
    const read = (table: Table) =>
      Effect.map(
        sql.unsafe(
          placeholders(dialect, `SELECT ${selectList(table)} FROM ${tables[table]} WHERE run_id = ? AND ${where} ORDER BY chain_seq, chain_ord`),
          lo === 0 && hi === 0 ? [runId] : [runId, lo, hi]
        ).values,
        (rows) => rows.map((r) => normalize(table, r))
      )
    const records = {
      node: yield* read("node"),
      operation: yield* read("operation"),
      row: yield* read("row"),
      token: yield* read("token"),
      token_parent: yield* read("token_parent"),
      state: yield* read("state"),
      routing: yield* read("routing"),
      call: yield* read("call"),
      batch: yield* read("batch"),
      batch_member: yield* read("batch_member")
    }
    /** Completions recorded by links `lo..hi`; the last `numbers` columns of each end kind are numeric. */
    const ends = (table: Table, columns: ReadonlyArray<string>, seqColumn: string, numbers: number) =>
      Effect.map(
        sql.unsafe(placeholders(dialect, `SELECT ${seqColumn}, ${columns.join(", ")} FROM ${tables[table]} WHERE run_id = ? AND ${seqColumn} BETWEEN ? AND ?`), [runId, lo, hi]).values,
        (rows) => rows.map((r) => [num(r[0] as number), normalizeEnd(r.slice(1), numbers)] as const)
      )
    const stateEnds = yield* ends("state", Chain.columns.state_end, "end_seq", 2)
    const tokenEnds = yield* ends("token", Chain.columns.token_end, "outcome_seq", 1)
    const operationEnds = yield* ends("operation", Chain.columns.operation_end, "end_seq", 2)
    const batchEnds = yield* ends("batch", Chain.columns.batch_end, "end_seq", 1)

    const facts = new Map<number, Chain.BatchFacts>()
    const add = (seq: number, kind: Chain.FactKind, text: string) => {
      let batch = facts.get(seq)
      if (batch === undefined) facts.set(seq, batch = {})
      Chain.add(batch, kind, text)
    }
    /** Inserted records' facts: one writer per link and kind (see `Chain.FactWriter`). */
    const writers = new Map<number, Partial<Record<Chain.FactKind, Chain.FactWriter>>>()
    const writer = (seq: number, kind: Chain.FactKind) => {
      let byKind = writers.get(seq)
      if (byKind === undefined) writers.set(seq, byKind = {})
      return (byKind[kind] ??= new Chain.FactWriter())
    }
    if (lo <= 1 && 1 <= hi) {
      // A resumed run's first owner is kept by its first resume (the resuming process owns it now).
      const first = resumes[0]
      add(1, "run", Chain.facts.run({
        runId,
        pipeline: run.pipeline,
        startedAt: num(run.started_at),
        configHash: run.config_hash,
        telemetryEnabled: num(run.telemetry_enabled),
        telemetryGranularity: run.telemetry_granularity,
        ownerHost: first === undefined ? run.owner_host : first.previous_owner_host,
        ownerPid: numOrNull(first === undefined ? run.owner_pid : first.previous_owner_pid),
        canonicalVersion: run.canonical_version,
        traceId: run.trace_id,
        parentRunId: run.parent_run_id
      }))
    }
    const plain = (table: Table) => {
      const width = Chain.columns[table].length
      for (const r of records[table]) writer(seqOf(table, r), table).fact(table, r, width)
    }
    plain("node")
    plain("operation")
    plain("row")
    // A token whose outcome came later, and a state completed later, were inserted without their end.
    const tokenWidth = Chain.columns.token.length
    const outcomeSeq = at("token", "outcome_seq")
    for (const r of records.token) {
      writer(seqOf("token", r), "token").fact("token", r[outcomeSeq] === null ? r : [r[0], r[1], r[2], null, null, null], tokenWidth)
    }
    plain("token_parent")
    const stateWidth = Chain.columns.state.length
    const endSeq = at("state", "end_seq")
    for (const r of records.state) {
      writer(seqOf("state", r), "state").fact("state", r[endSeq] === null ? r : [r[0], r[1], r[2], r[3], r[4], "running", r[6], null, null, r[9], null, null], stateWidth)
    }
    plain("routing")
    plain("call")
    plain("batch")
    plain("batch_member")
    for (const [seq, r] of stateEnds) add(seq, "state_end", Chain.fact("state_end", r))
    for (const [seq, r] of tokenEnds) add(seq, "token_end", Chain.fact("token_end", r))
    for (const [seq, r] of operationEnds) add(seq, "operation_end", Chain.fact("operation_end", r))
    for (const [seq, r] of batchEnds) add(seq, "batch_end", Chain.fact("batch_end", r))
    if (run.end_seq !== null && lo <= num(run.end_seq) && num(run.end_seq) <= hi) {
      add(num(run.end_seq), "run_end", Chain.facts.runEnd({
        runId,
        status: run.status,
        finishedAt: numOrNull(run.finished_at),
        durationMs: numOrNull(run.duration_ms),
        rowsRead: numOrNull(run.rows_read),
        rowsQuarantined: numOrNull(run.rows_quarantined),
        error: run.error
      }))
    }
    for (const r of resumes) {
      const seq = num(r.chain_seq)
      const previous = {
        previousStatus: r.previous_status,
        previousFinishedAt: numOrNull(r.previous_finished_at),
        previousDurationMs: numOrNull(r.previous_duration_ms),
        previousRowsRead: numOrNull(r.previous_rows_read),
        previousRowsQuarantined: numOrNull(r.previous_rows_quarantined),
        previousError: r.previous_error,
        previousEndSeq: numOrNull(r.previous_end_seq)
      }
      if (lo <= seq && seq <= hi) {
        add(seq, "run_resume", Chain.facts.runResume({ runId, attempt: num(r.attempt), position: num(r.position), resumedAt: num(r.resumed_at), ...previous }))
      }
      // The end this resume reopened: `runs` holds the run's latest end only.
      const endSeq = previous.previousEndSeq
      if (endSeq !== null && lo <= endSeq && endSeq <= hi) {
        add(endSeq, "run_end", Chain.facts.runEnd({
          runId,
          status: previous.previousStatus,
          finishedAt: previous.previousFinishedAt,
          durationMs: previous.previousDurationMs,
          rowsRead: previous.previousRowsRead,
          rowsQuarantined: previous.previousRowsQuarantined,
          error: previous.previousError
        }))
      }
    }
    for (const [seq, byKind] of writers) {
      let batch = facts.get(seq)
      if (batch === undefined) facts.set(seq, batch = {})
      for (const [kind, w] of Object.entries(byKind)) batch[kind as Chain.FactKind] = w.list()
    }
    return { records, facts }
  })

/** A resume as stored (`run_resumes`, schema 0007). */
export interface ResumeDbRow {
  readonly attempt: number
  readonly position: number
  readonly resumed_at: number
  readonly previous_status: string
  readonly previous_finished_at: number | null
  readonly previous_duration_ms: number | null
  readonly previous_rows_read: number | null
  readonly previous_rows_quarantined: number | null
  readonly previous_error: string | null
  readonly previous_end_seq: number | null
  readonly previous_owner_host: string | null
  readonly previous_owner_pid: number | null
  readonly chain_seq: number
}

/** An end fact's values, its last `numbers` columns as numbers. */
const normalizeEnd = (r: ReadonlyArray<unknown>, numbers: number): ReadonlyArray<Chain.Value> =>
  r.map((x, i) => (x !== null && typeof x !== "number" && i >= r.length - numbers ? Number(x) : x)) as ReadonlyArray<Chain.Value>

/** The run's resumes, in order (none for a run never resumed). */
export const readResumes = (sql: SqlClient.SqlClient, runId: string): Effect.Effect<ReadonlyArray<ResumeDbRow>, SqlError.SqlError> =>
  sql<ResumeDbRow>`SELECT * FROM run_resumes WHERE run_id = ${runId} ORDER BY attempt`
