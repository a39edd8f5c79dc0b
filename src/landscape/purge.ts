/**
 * Retention: `purge` deletes the stored payloads (source row data, call requests and responses) of
 * runs that ended before a time, and keeps every hash, so the audit stays attributable: `explain`
 * then says `purged` (with when), `verify` still checks the chain and skips the purged payloads.
 * Runs still `running` are never purged. Payloads are not part of the hash chain (only their
 * hashes are), so a purge is not a write to any run's chain. SQLite reuses the freed pages; the
 * file shrinks only after a `VACUUM`.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { Clock, Effect } from "effect"
import { num } from "./decode.js"
import type { PurgeOptions, PurgeResult } from "./results.js"
import { writeTransaction } from "./write.js"

export const makePurge = (sql: SqlClient.SqlClient) =>
  (options: PurgeOptions): Effect.Effect<PurgeResult, SqlError.SqlError> => {
    const body = Effect.gen(function* () {
      const runs = (yield* sql<{ readonly run_id: string }>`
        SELECT run_id FROM runs WHERE status <> 'running' AND finished_at IS NOT NULL AND finished_at < ${options.olderThan} ORDER BY started_at`).map((r) => r.run_id)
      const dryRun = options.dryRun ?? false
      if (runs.length === 0) return { runs, rows: 0, calls: 0, bytes: 0, dryRun }
      const [rows] = yield* sql<{ readonly n: number; readonly bytes: number | null }>`
        SELECT count(*) AS n, sum(length(source_data_json)) AS bytes FROM rows WHERE run_id IN ${sql.in(runs)} AND source_data_json IS NOT NULL`
      const [calls] = yield* sql<{ readonly n: number; readonly bytes: number | null }>`
        SELECT count(*) AS n, sum(coalesce(length(request_json), 0) + coalesce(length(response_json), 0)) AS bytes
        FROM calls WHERE run_id IN ${sql.in(runs)} AND (request_json IS NOT NULL OR response_json IS NOT NULL)`
      if (!dryRun) {
        const now = yield* Clock.currentTimeMillis
        yield* sql`UPDATE rows SET source_data_json = NULL, purged_at = ${now} WHERE run_id IN ${sql.in(runs)} AND source_data_json IS NOT NULL`
        yield* sql`UPDATE calls SET request_json = NULL, response_json = NULL, purged_at = ${now}
          WHERE run_id IN ${sql.in(runs)} AND (request_json IS NOT NULL OR response_json IS NOT NULL)`
      }
      return { runs, rows: num(rows!.n), calls: num(calls!.n), bytes: num(rows!.bytes ?? 0) + num(calls!.bytes ?? 0), dryRun }
    })
    // A dry run only reads: it takes no write lock, so a running pipeline is never held by it.
    return options.dryRun === true ? sql.withTransaction(body) : writeTransaction(sql, body)
  }
