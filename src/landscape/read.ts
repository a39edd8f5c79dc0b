/**
 * The read half of the Landscape service: each query from its own module, as Landscape operations
 * (their failures `LandscapeError`, on the Landscape's own connection).
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { Stream } from "effect"
import type { LandscapeService } from "./api.js"
import { toLandscapeError } from "./error.js"
import { makeExport } from "./export.js"
import { makeFind } from "./find.js"
import { makeLineage } from "./lineage.js"
import { operation, ownConnection } from "./operation.js"
import { makePurge } from "./purge.js"
import { makeQuery } from "./query.js"
import { makeSummary } from "./summary.js"
import { makeVerify } from "./verify.js"

const read = operation

export const makeReader = (
  sql: SqlClient.SqlClient,
  options: { readonly readonly: boolean }
): Omit<LandscapeService, "beginRun" | "heartbeat" | "finishRun" | "registerNodes" | "recordBatch" | "beginOperation" | "completeOperation" | "recordCall" | "partitions" | "checkpoints"> => {
  const summary = makeSummary(sql)
  const lineage = makeLineage(sql)
  const find = makeFind(sql, options)
  const query = makeQuery(sql)
  const verify = makeVerify(sql)
  const exportRun = makeExport(sql)
  const purge = makePurge(sql)
  return {
    getRun: (runId) => read("getRun", summary.getRun(runId)),
    listRuns: (o) => read("listRuns", summary.listRuns(o)),
    llmUsage: (runId) => read("llmUsage", summary.llmUsage(runId)),
    runs: (o) => read("runs", summary.runs(o)),
    runSummary: (runId) => read("runSummary", summary.runSummary(runId)),
    explain: (request) => read("explain", lineage.explain(request)),
    trace: (request) => read("trace", lineage.trace(request)),
    findRows: (request) => read("findRows", find(request)),
    query: (q) => read("query", query(q)),
    verify: (runId) => read("verify", verify(runId)),
    exportRun: (runId, key) =>
      exportRun(runId, key).pipe(
        Stream.mapError(toLandscapeError("export")),
        Stream.mapInputContext(ownConnection)
      ),
    purge: (o) => read("purge", purge(o))
  }
}
