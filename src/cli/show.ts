/**
 * The readable form of each `sightline` result.
 *
 * @internal
 */
import type * as L from "../Landscape.js"
import { block, formatNumber, ms, oneLine, short, table, time } from "./render.js"

export { json } from "./render.js"

export const runs = (list: ReadonlyArray<L.RunRow>): string =>
  list.length === 0
    ? "no runs"
    : table(
      ["run", "pipeline", "status", "started", "duration", "rows", "quarantined"],
      list.map((r) => [r.runId, r.pipeline, r.status, time(r.startedAt), ms(r.durationMs), r.rowsRead, r.rowsQuarantined])
    )

const stats = (d: L.DurationStats | null) => (d === null ? ["-", "-", "-"] : [ms(d.p50), ms(d.p95), ms(d.max)])

const usd = (v: number | null) => (v === null ? "-" : `$${v.toFixed(6)}`)

export const usage = (t: L.RunTotals): string =>
  t.run.calls === 0
    ? `run ${t.runId}: no LLM calls`
    : [
      `LLM usage of run ${t.runId}`,
      table(
        ["node", "calls", "input", "cached", "output", "reasoning", "total", "cost USD", "unpriced"],
        [...t.nodes.map((n) => ({ ...n, name: n.node })), { ...t.run, name: "(run)" }].map((n) => [
          n.name, n.calls, n.inputTokens, n.cachedInputTokens, n.outputTokens, n.reasoningTokens, n.totalTokens, usd(n.costUsd), n.unpricedCalls
        ])
      )
    ].join("\n")

export const summary = (s: L.RunSummary): string => {
  const r = s.run
  const parts = [
    block([
      ["run", r.runId],
      ["pipeline", r.pipeline],
      ["status", r.status + (r.error ? ` (${r.error})` : "")],
      ["started", time(r.startedAt)],
      ["duration", ms(r.durationMs)],
      ["rows read", r.rowsRead],
      ["quarantined", r.rowsQuarantined],
      ["outcomes", Object.entries(s.outcomes).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${formatNumber(n)}`).join(", ") || "-"],
      ["sinks", Object.entries(s.sinks).map(([k, n]) => `${k} ${formatNumber(n)}`).join(", ") || "-"],
      ["chain", r.chainHash ?? "-"]
    ]),
    "",
    table(
      ["node", "kind", "completed", "failed", "running", "p50", "p95", "max"],
      s.nodes.map((n) => [n.name, n.kind, n.states["completed"] ?? 0, n.states["failed"] ?? 0, n.states["running"] ?? 0, ...stats(n.durationMs)])
    )
  ]
  if (s.calls.length > 0) {
    parts.push("", table(["call", "service", "status", "count", "p50", "p95", "max"], s.calls.map((c) => [c.callType, c.service === "" ? "-" : c.service, c.status, c.count, ...stats(c.latencyMs)])))
  }
  if (s.llm.run.calls > 0) parts.push("", usage(s.llm))
  if (s.quarantineReasons.length > 0) {
    parts.push("", "quarantine reasons", table(["count", "node", "kind", "reason", "example row"], s.quarantineReasons.slice(0, 20).map((q) => [q.count, q.node, q.kind, oneLine(q.reason, 80), q.exampleRowId])))
  }
  parts.push("", table(["operation", "node", "status", "duration", "error"], s.operations.map((o) => [o.kind, o.node, o.status, ms(o.durationMs), o.error])))
  if (s.partitions.length > 0) {
    parts.push("", table(
      ["partition", "status", "worker", "attempt", "rows read", "quarantined", "next source row"],
      s.partitions.map((p) => [`${p.index} of ${p.count}`, p.status, p.owner, p.attempt, p.rowsRead, p.rowsQuarantined, p.position])
    ))
  }
  return parts.join("\n")
}

const payloadText = (p: L.Payload) => (p.status === "stored" ? oneLine(p.value, 400) : p.status === "purged" ? `purged ${time(p.purgedAt)} (hash kept)` : "-")

const outcomeText = (o: L.OutcomeView) =>
  o.outcome === null ? `none: ${o.reason}` : `${o.outcome}${o.sink === null ? "" : ` → ${o.sink}`}${o.completedAt === null ? "" : ` at ${time(o.completedAt)}`}`

export const explanation = (e: L.Explanation): string => {
  const lines = [
    block([
      ["run", `${e.run.runId} (${e.run.pipeline}, ${e.run.status})`],
      ["row", `${e.row.rowId} (index ${e.row.rowIndex}, from ${e.row.sourceNode})`],
      ["token", e.token.tokenId],
      ["source hash", e.row.dataHash],
      ["source data", payloadText(e.row.data)],
      ["outcome", outcomeText(e.outcome)],
      ...(e.batch === undefined ? [] : [["batch", batchText(e.batch)] as const])
    ]),
    "",
    table(
      ["step", "node", "kind", "status", "input", "output", "duration", "detail"],
      e.states.map((s) => [
        s.stepIndex,
        s.node,
        s.kind,
        s.status,
        short(s.inputHash),
        short(s.outputHash),
        ms(s.durationMs),
        s.error !== null
          ? oneLine(s.error, 100)
          : s.routing.length > 0
          ? s.routing.map((r) => `→ ${r.destination}`).join(", ")
          : s.calls.length > 0 ? `${s.calls.length} call(s)` : ""
      ])
    )
  ]
  // The batch's flush, when its state is another token's (the first member's), with its calls.
  const flush = e.batch?.flush
  const ownStates = new Set(e.states.map((s) => s.stateId))
  const withCalls = flush === undefined || flush === null || ownStates.has(flush.stateId) ? e.states : [...e.states, flush]
  for (const s of withCalls) {
    for (const c of s.calls) {
      lines.push("", block([
        [`call (${s.node}${ownStates.has(s.stateId) ? "" : ", its batch's flush"})`, `${c.callType} ${c.status}, ${ms(c.latencyMs)} at ${time(c.createdAt)}${c.error ? `: ${c.error}` : ""}`],
        ["request", `${short(c.requestHash)} ${payloadText(c.request)}`],
        ["response", `${short(c.responseHash)} ${payloadText(c.response)}`]
      ]))
    }
  }
  return lines.join("\n")
}

/** A token's batch: `<batch> of <aggregation>: member 2 of 500, flushed (count), 1 call`. */
const batchText = (b: NonNullable<L.Explanation["batch"]>): string =>
  `${b.batchId} of ${b.node}: member ${b.ordinal + 1} of ${b.size}, ${b.status}${b.trigger === null ? "" : ` (${b.trigger})`}` +
  (b.flush === null ? "" : `, ${b.flush.calls.length} call(s) in its flush`)

export const found = (rows: ReadonlyArray<L.FoundRow>, where: string): string =>
  [
    `${rows.length}${rows.length === 20 ? "+" : ""} rows have ${where}; explain one with --row <id> or --index <n>`,
    table(["index", "row", "outcome", "sink"], rows.map((r) => [r.rowIndex, r.rowId, r.outcome, r.sink]))
  ].join("\n")

export const trace = (t: L.Trace): string =>
  [
    block([["run", t.runId], ["row", `${t.row.rowId} (index ${t.row.rowIndex})`], ["source hash", t.row.dataHash]]),
    "",
    table(["token", "parents", "path", "outcome"], t.tokens.map((k) => [
      // A token of another row (a batch's output) says whose.
      k.rowId === t.row.rowId ? k.tokenId : `${k.tokenId} (row ${k.rowId})`,
      k.parents.join(", ") || "-",
      k.path.map((p) => (p.status === "completed" ? p.node : `${p.node} (${p.status})`)).join(" → "),
      outcomeText(k.outcome)
    ]))
  ].join("\n")

export const page = (p: L.AuditPage): string =>
  [
    p.items.length === 0
      ? "no records"
      : table(["time", "kind", "node", "status", "duration", "row", "message"], p.items.map((i) => [
        time(i.time), i.kind, i.node, i.status, ms(i.durationMs), i.rowId, i.message === null ? "" : oneLine(i.message, 80)
      ])),
    p.continuationToken === null ? "(last page)" : `next page: --cursor ${p.continuationToken}`
  ].join("\n")

export const verifyReports = (reports: ReadonlyArray<L.VerifyReport>): string =>
  reports.length === 0
    ? "no runs"
    : [
      table(
        ["run", "result", "rows", "states", "calls", "links", "hashes", "in flight", "problems"],
        reports.map((r) => [r.runId, r.ok ? "ok" : "FAILED", r.counts.rows, r.counts.nodeStates, r.counts.calls, r.counts.links, r.counts.hashesChecked, r.inFlight, r.problemCount])
      ),
      ...reports.filter((r) => !r.ok).flatMap((r) => [
        "",
        `run ${r.runId}${r.firstDivergentLink === null ? "" : `: first divergent batch is link ${r.firstDivergentLink}`}`,
        ...r.problems.slice(0, 50).map((p) => `  ${p.check.padEnd(8)} ${p.record}: ${p.message}`),
        ...(r.problemCount > 50 ? [`  … and ${r.problemCount - 50} more (--json lists up to 1,000)`] : [])
      ])
    ].join("\n")

export const exportReport = (r: L.ExportVerifyReport, path: string): string =>
  [
    `${path}: ${r.ok ? "ok" : "FAILED"}, ${formatNumber(r.records)} signed records of run ${r.runId ?? "?"}${r.manifest ? `, chain ${r.manifest.chainHash ?? "-"}` : ""}`,
    ...r.problems.slice(0, 50).map((p) => `  ${p.check.padEnd(9)} ${p.record}: ${p.message}`)
  ].join("\n")

export const purge = (r: L.PurgeResult, age: string): string =>
  r.runs.length === 0
    ? `no run finished more than ${age} ago`
    : `${r.dryRun ? "would purge" : "purged"} the payloads of ${formatNumber(r.runs.length)} run(s) finished more than ${age} ago: ` +
      `${formatNumber(r.rows)} rows, ${formatNumber(r.calls)} calls, ${formatNumber(r.bytes)} bytes; every hash kept`
