/**
 * `findRows`: rows by the value of a field of their stored source record, with the database's JSON
 * functions: SQLite's `json_extract(source_data_json, '$."a"."b"')`, PostgreSQL's
 * `source_data_json::jsonb #> '{"a","b"}'` compared as `jsonb` (a number matches a number, a string
 * a string, as in SQLite).
 *
 * Index strategy: the first search on a field creates an expression index
 * `rows_field_<name> ON rows (run_id, <that expression>)`, so every later search on it is an index
 * lookup whatever the run's size. Creating it reads every row once (a few seconds per million);
 * from then on each row written costs one more evaluation of the expression. A read-only Landscape
 * cannot create it and scans the run's rows instead. The path is part of the index expression, so
 * it is written into the SQL text: field names are checked (no quote, backslash, bracket or control
 * character) and quoted per segment.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { Effect } from "effect"
import { num } from "./decode.js"
import { type Dialect, dialectOf } from "./dialect.js"
import { landscapeError, type LandscapeError } from "./error.js"
import type { TokenOutcome } from "./records.js"
import type { FieldValue, FindRowsRequest, FoundRow } from "./results.js"

// eslint-disable-next-line no-control-regex -- control characters are what it refuses
const segment = /^[^"'\\.[\]\u0000-\u001f]+$/

/** The path of a field name (`address.city` → `["address", "city"]`), or `undefined` when it is not allowed. */
const fieldPath = (field: string): ReadonlyArray<string> | undefined => {
  const parts = field.split(".")
  return parts.every((p) => segment.test(p)) ? parts : undefined
}

/** How one dialect reads a field of `source_data_json` and compares it. */
interface FieldSql {
  /** The field's value in row alias `r` (`""` for the bare column, as an index expression needs). */
  readonly expression: (path: ReadonlyArray<string>, alias: string) => string
  /** The placeholder a wanted value binds to, given its 1-based position. */
  readonly placeholder: (n: number) => string
  readonly bind: (v: string | number | boolean) => unknown
  /** The condition "the field holds JSON null" (not "is missing"). */
  readonly isNull: (path: ReadonlyArray<string>) => string
}

const fieldSql: Record<Dialect, FieldSql> = {
  sqlite: {
    expression: (path, alias) => `json_extract(${alias}source_data_json, '$.${path.map((p) => `"${p}"`).join(".")}')`,
    placeholder: () => "?",
    // SQLite's json_extract gives a JSON boolean as 0/1.
    bind: (v) => (typeof v === "boolean" ? (v ? 1 : 0) : v),
    isNull: (path) => `json_type(r.source_data_json, '$.${path.map((p) => `"${p}"`).join(".")}') = 'null'`
  },
  pg: {
    expression: (path, alias) => `((${alias}source_data_json)::jsonb #> '{${path.map((p) => `"${p}"`).join(",")}}')`,
    placeholder: (n) => `$${n}::jsonb`,
    bind: (v) => JSON.stringify(v),
    isNull: (path) => `${fieldSql.pg.expression(path, "r.")} = 'null'::jsonb`
  }
}

/** The index name of a field: its characters outside `[A-Za-z0-9_]` as `_xx` hex. */
const indexName = (field: string) => `rows_field_${field.replace(/[^A-Za-z0-9]/g, (c) => `_${c.charCodeAt(0).toString(16)}`)}`

export const makeFind = (sql: SqlClient.SqlClient, options: { readonly readonly: boolean }) => {
  const dialect = dialectOf(sql)
  const f = fieldSql[dialect]
  const indexed = new Set<string>()
  const ensureIndex = (field: string, path: ReadonlyArray<string>) =>
    options.readonly || indexed.has(field)
      ? Effect.void
      : sql.unsafe(`CREATE INDEX IF NOT EXISTS ${indexName(field)} ON rows (run_id, ${f.expression(path, "")})`).pipe(
        Effect.tap(() => Effect.sync(() => indexed.add(field)))
      )

  return (request: FindRowsRequest): Effect.Effect<ReadonlyArray<FoundRow>, SqlError.SqlError | LandscapeError> =>
    Effect.gen(function* () {
      const fields = Object.entries(request.where)
      if (fields.length === 0) return yield* landscapeError("findRows", "give at least one field to match")
      const conditions: Array<string> = []
      const params: Array<unknown> = [request.runId]
      for (const [field, wanted] of fields) {
        const path = fieldPath(field)
        if (path === undefined) {
          return yield* landscapeError("findRows", `field name ${JSON.stringify(field)} is not allowed (no quote, backslash, bracket or control character)`)
        }
        yield* ensureIndex(field, path)
        const values = (Array.isArray(wanted) ? wanted : [wanted]) as ReadonlyArray<FieldValue>
        if (values.length === 0) return []
        const nonNull = values.filter((v) => v !== null)
        const parts: Array<string> = []
        if (nonNull.length > 0) {
          const list: Array<string> = []
          for (const v of nonNull) {
            params.push(f.bind(v))
            list.push(f.placeholder(params.length))
          }
          parts.push(`${f.expression(path, "r.")} IN (${list.join(", ")})`)
        }
        if (nonNull.length < values.length) parts.push(`(${f.isNull(path)})`)
        conditions.push(parts.length === 1 ? parts[0]! : `(${parts.join(" OR ")})`)
      }
      params.push(Math.max(1, request.limit ?? 100))
      const limit = dialect === "pg" ? `$${params.length}` : "?"
      const rows = yield* sql.unsafe<{
        readonly row_id: string
        readonly row_index: number
        readonly source_data_hash: string
        readonly token_id: string | null
        readonly outcome: TokenOutcome | null
        readonly sink: string | null
      }>(
        `SELECT r.row_id, r.row_index, r.source_data_hash, t.token_id, t.outcome, n.name AS sink
         FROM rows r LEFT JOIN tokens t ON t.row_id = r.row_id LEFT JOIN nodes n ON n.node_id = t.sink_node_id
         WHERE r.run_id = ${dialect === "pg" ? "$1" : "?"} AND ${conditions.join(" AND ")} LIMIT ${limit}`,
        params
      )
      // In index order (the first rows recorded with the value), then by row index within the page: no sort of every match.
      return rows.map((r) => ({ rowId: r.row_id, rowIndex: num(r.row_index), tokenId: r.token_id, outcome: r.outcome, sink: r.sink, dataHash: r.source_data_hash })).sort((a, b) => a.rowIndex - b.rowIndex)
    })
}
