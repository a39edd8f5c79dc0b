/**
 * `query`: node states, calls, operations and quarantines, filtered, in audit order, a page at a
 * time.
 *
 * Audit order: runs by start time (then id), and within a run by place in its hash chain (link,
 * kind, position; see `chain.ts`), which is the order its records were committed. Each kind is read
 * through its `(run_id, chain_seq, chain_ord)` index from the cursor on (keyset paging), so a deep
 * page costs what the first does.
 *
 * The continuation token (opaque, base64url JSON) holds the cursor, a fingerprint of the filters,
 * and a snapshot mark: the last `audit_chain` entry committed when the first page was read
 * (SQLite's insertion-ordered `rowid`; on PostgreSQL the `mark` column, a sequence, migration
 * 0005). Each run is read only up to its last link at or before the mark, so records committed
 * after the first page (another run writing, or this one going on) are not in the results, and a
 * page never skips or repeats one. On PostgreSQL a link numbered before the mark may commit after
 * it (sequence numbers are taken in one order, transactions commit in another); such a link is
 * read by a later page if its run has not been passed yet, and never twice: a run's links are
 * numbered one after the other under its chain lock (`write.ts`).
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { Effect } from "effect"
import { sha256 } from "../internal/hashing.js"
import { failureLine, num, numOrNull } from "./decode.js"
import { dialectOf, placeholders } from "./dialect.js"
import { landscapeError, type LandscapeError } from "./error.js"
import type { AuditItem, AuditKind, AuditPage, AuditQuery, Severity } from "./results.js"

const kindOrder: ReadonlyArray<AuditKind> = ["operation", "nodeState", "call", "quarantine"]
/** Above every `chain_ord`: the largest INTEGER of PostgreSQL (int4), which a bound parameter compared with the column must fit. */
const maxOrd = 2 ** 31 - 1

interface Cursor {
  readonly startedAt: number
  readonly runId: string
  readonly seq: number
  readonly kind: number
  readonly ord: number
}
interface Token extends Cursor {
  readonly v: 1
  readonly mark: number
  readonly filters: string
}

const fingerprint = (q: AuditQuery) => {
  const { continuationToken: _t, limit: _l, ...filters } = q
  return sha256(JSON.stringify(filters, Object.keys(filters).sort())).slice(0, 16)
}

const encode = (token: Token) => Buffer.from(JSON.stringify(token)).toString("base64url")
const decode = (text: string): Token | undefined => {
  try {
    const t = JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as Token
    return t.v === 1 && typeof t.mark === "number" && typeof t.runId === "string" ? t : undefined
  } catch {
    return undefined
  }
}

/** Statuses of each kind that reach a severity. */
const severityStatuses = (kind: AuditKind, severity: Severity): ReadonlyArray<string> | undefined => {
  if (severity === "info") return undefined
  switch (kind) {
    case "nodeState":
    case "operation":
      return severity === "error" ? ["failed"] : ["failed", "running"]
    case "call":
      return ["error"]
    case "quarantine":
      return severity === "error" ? [] : undefined
  }
}
const severityOf = (kind: AuditKind, status: string): Severity =>
  status === "failed" || status === "error" ? "error" : status === "running" || kind === "quarantine" ? "warning" : "info"

interface ItemDb {
  readonly id: string
  readonly seq: number
  readonly ord: number
  readonly node_id: string
  readonly node: string
  readonly status: string
  readonly time: number
  readonly duration_ms: number | null
  readonly token_id: string | null
  readonly row_id: string | null
  readonly message: string | null
  readonly error_json: string | null
}

/** One kind's statement: columns, tables and the kind's own conditions. */
const kindSql: Record<AuditKind, { readonly select: string; readonly alias: string; readonly time: string; readonly status: string; readonly where?: string }> = {
  nodeState: {
    select: `SELECT s.state_id AS id, s.chain_seq AS seq, s.chain_ord AS ord, s.node_id, n.name AS node, s.status, s.started_at AS time,
      s.duration_ms, s.token_id, t.row_id, NULL AS message, s.error_json
      FROM node_states s JOIN nodes n ON n.node_id = s.node_id JOIN tokens t ON t.token_id = s.token_id`,
    alias: "s",
    time: "s.started_at",
    status: "s.status"
  },
  call: {
    select: `SELECT c.call_id AS id, c.chain_seq AS seq, c.chain_ord AS ord, c.node_id, n.name AS node, c.status, c.created_at AS time,
      c.latency_ms AS duration_ms, s.token_id, t.row_id, c.error AS message, NULL AS error_json
      FROM calls c JOIN nodes n ON n.node_id = c.node_id LEFT JOIN node_states s ON s.state_id = c.state_id LEFT JOIN tokens t ON t.token_id = s.token_id`,
    alias: "c",
    time: "c.created_at",
    status: "c.status"
  },
  operation: {
    select: `SELECT o.operation_id AS id, o.chain_seq AS seq, o.chain_ord AS ord, o.node_id, n.name AS node, o.status, o.started_at AS time,
      o.duration_ms, NULL AS token_id, NULL AS row_id, o.error AS message, NULL AS error_json
      FROM operations o JOIN nodes n ON n.node_id = o.node_id`,
    alias: "o",
    time: "o.started_at",
    status: "o.status"
  },
  quarantine: {
    select: `SELECT t.token_id AS id, t.chain_seq AS seq, t.chain_ord AS ord, f.node_id, n.name AS node, t.outcome AS status, t.completed_at AS time,
      NULL AS duration_ms, t.token_id, t.row_id, NULL AS message, f.error_json
      FROM tokens t
      JOIN node_states f ON f.state_id = (SELECT x.state_id FROM node_states x WHERE x.token_id = t.token_id AND x.status = 'failed' ORDER BY x.step_index DESC LIMIT 1)
      JOIN nodes n ON n.node_id = f.node_id`,
    alias: "t",
    time: "t.completed_at",
    status: "t.outcome",
    // The partial index `tokens_unrouted`'s condition, spelt as it is so SQLite uses the index.
    where: "(t.outcome IS NULL OR t.outcome <> 'routed') AND t.outcome = 'quarantined'"
  }
}

export const makeQuery = (sql: SqlClient.SqlClient) => {
  const dialect = dialectOf(sql)
  const markColumn = dialect === "pg" ? "mark" : "rowid"
  const headAtMark = placeholders(dialect, `SELECT max(seq) AS s FROM audit_chain WHERE run_id = ? AND ${markColumn} <= ?`)
  const runsAfter = (q: AuditQuery, cursor: Cursor | undefined) => {
    const conditions: Array<string> = []
    const params: Array<unknown> = []
    if (q.runIds !== undefined) {
      conditions.push(`run_id IN (${q.runIds.map(() => "?").join(", ") || "NULL"})`)
      params.push(...q.runIds)
    }
    if (q.traceId !== undefined) {
      conditions.push("trace_id = ?")
      params.push(q.traceId)
    }
    if (q.until !== undefined) {
      conditions.push("started_at <= ?")
      params.push(q.until)
    }
    if (q.since !== undefined) {
      conditions.push("(finished_at IS NULL OR finished_at >= ?)")
      params.push(q.since)
    }
    if (cursor !== undefined) {
      conditions.push("(started_at, run_id) >= (?, ?)")
      params.push(cursor.startedAt, cursor.runId)
    }
    return sql.unsafe<{ readonly run_id: string; readonly started_at: number }>(
      placeholders(dialect, `SELECT run_id, started_at FROM runs ${conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : ""} ORDER BY started_at, run_id`),
      params
    )
  }

  /** Up to `limit` items of one kind in one run after `(seq, ord)`, up to link `seqMax`. */
  const items = (kind: AuditKind, q: AuditQuery, runId: string, after: readonly [number, number], seqMax: number, limit: number) => {
    const k = kindSql[kind]
    const a = k.alias
    const conditions = [`${a}.run_id = ?`, `(${a}.chain_seq, ${a}.chain_ord) > (?, ?)`, `${a}.chain_seq <= ?`]
    const params: Array<unknown> = [runId, after[0], after[1], seqMax]
    if (k.where !== undefined) conditions.push(k.where)
    let statuses = q.status
    const bySeverity = q.severity === undefined ? undefined : severityStatuses(kind, q.severity)
    if (bySeverity !== undefined) statuses = statuses === undefined ? bySeverity : statuses.filter((s) => bySeverity.includes(s))
    if (statuses !== undefined) {
      if (statuses.length === 0) return Effect.succeed([])
      conditions.push(`${k.status} IN (${statuses.map(() => "?").join(", ")})`)
      params.push(...statuses)
    }
    if (q.nodes !== undefined) {
      if (q.nodes.length === 0) return Effect.succeed([])
      conditions.push(`n.name IN (${q.nodes.map(() => "?").join(", ")})`)
      params.push(...q.nodes)
    }
    if (q.rowIds !== undefined) {
      if (kind === "operation" || q.rowIds.length === 0) return Effect.succeed([])
      conditions.push(`t.row_id IN (${q.rowIds.map(() => "?").join(", ")})`)
      params.push(...q.rowIds)
    }
    if (q.since !== undefined) {
      conditions.push(`${k.time} >= ?`)
      params.push(q.since)
    }
    if (q.until !== undefined) {
      conditions.push(`${k.time} <= ?`)
      params.push(q.until)
    }
    params.push(limit)
    return sql.unsafe<ItemDb>(placeholders(dialect, `${k.select} WHERE ${conditions.join(" AND ")} ORDER BY ${a}.chain_seq, ${a}.chain_ord LIMIT ?`), params)
  }

  const toItem = (kind: AuditKind, runId: string, r: ItemDb): AuditItem => ({
    kind,
    runId,
    node: r.node,
    nodeId: r.node_id,
    status: r.status,
    severity: severityOf(kind, r.status),
    time: num(r.time),
    durationMs: numOrNull(r.duration_ms),
    id: r.id,
    rowId: r.row_id,
    tokenId: r.token_id,
    message: r.message ?? failureLine(r.error_json)
  })

  return (q: AuditQuery): Effect.Effect<AuditPage, SqlError.SqlError | LandscapeError> =>
    Effect.gen(function* () {
      const limit = Math.min(10_000, Math.max(1, Math.floor(q.limit ?? 100)))
      const filters = fingerprint(q)
      const token = q.continuationToken === undefined ? undefined : decode(q.continuationToken)
      if (q.continuationToken !== undefined && token === undefined) return yield* landscapeError("query", "the continuation token is not one this Landscape gave")
      if (token !== undefined && token.filters !== filters) return yield* landscapeError("query", "the continuation token belongs to a query with other filters")
      const mark = token?.mark ?? num((yield* sql.unsafe<{ readonly m: number | null }>(`SELECT max(${markColumn}) AS m FROM audit_chain`))[0]?.m ?? 0)
      const kinds = kindOrder.filter((k) => q.kinds === undefined || q.kinds.includes(k))
      const page: Array<{ readonly item: AuditItem; readonly cursor: Cursor }> = []
      for (const run of yield* runsAfter(q, token)) {
        if (page.length >= limit) break
        const [head] = yield* sql.unsafe<{ readonly s: number | null }>(headAtMark, [run.run_id, mark])
        if (head?.s === null || head?.s === undefined) continue
        const seqMax = num(head.s)
        const here = token !== undefined && token.runId === run.run_id ? token : undefined
        const lists = yield* Effect.forEach(kinds, (kind) => {
          const k = kindOrder.indexOf(kind)
          const after: readonly [number, number] = here === undefined
            ? [0, -1]
            : [here.seq, k > here.kind ? -1 : k === here.kind ? here.ord : maxOrd]
          return Effect.map(items(kind, q, run.run_id, after, seqMax, limit - page.length), (rows) =>
            rows.map((r) => ({ item: toItem(kind, run.run_id, r), cursor: { startedAt: num(run.started_at), runId: run.run_id, seq: num(r.seq), kind: k, ord: num(r.ord) } })))
        })
        const merged = lists.flat().sort((x, y) => x.cursor.seq - y.cursor.seq || x.cursor.kind - y.cursor.kind || x.cursor.ord - y.cursor.ord)
        for (const entry of merged.slice(0, limit - page.length)) page.push(entry)
      }
      const last = page.at(-1)
      return {
        items: page.map((p) => p.item),
        continuationToken: page.length < limit || last === undefined ? null : encode({ v: 1, mark, filters, ...last.cursor })
      }
    })
}
