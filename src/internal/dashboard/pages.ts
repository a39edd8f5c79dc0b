/**
 * The dashboard's pages, rendered on the server from the Landscape's read API: the runs, one run
 * (graph, per node counts and durations, sinks, quarantine reasons, calls, LLM usage), one node's
 * recent node states, and one row (`explain` as a timeline, and forward `trace`). Every value from
 * the Landscape goes through the escaping template of `html.ts`.
 *
 * @internal
 */
import { Clock, Effect, Option } from "effect"
import type { Explanation, ResumePoint, RunRow, RunSummary, StateView, Trace, VerifyReport } from "../../Landscape.js"
import { Landscape, type LandscapeError } from "../../Landscape.js"
import { formatNumber, ms, short } from "../format.js"
import { graph } from "./graph.js"
import { Html, html, page, path, status } from "./html.js"
import { type Verification, Verifier } from "./verifier.js"

const num = (n: number | null | undefined): string => (n === null || n === undefined ? "-" : formatNumber(n))
const time = (t: number | null): string => (t === null ? "-" : new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, ""))
const usd = (n: number | null): string => (n === null ? "-" : `$${n.toFixed(4)}`)
const json = (value: unknown): string => JSON.stringify(value, null, 2) ?? "null"

/** Rows per second of a run, from its rows read and duration (ms), rounded. */
const rate = (r: RunRow): number | null => (r.rowsRead === null || r.durationMs === null || r.durationMs <= 0 ? null : Math.round(r.rowsRead / (r.durationMs / 1000)))

export interface RunsFilter {
  readonly status?: string
  readonly pipeline?: string
}

const statuses = ["running", "completed", "failed", "interrupted"] as const

/** The runs, most recent first (at most 100), with their LLM totals; filtered by status and pipeline. */
export const runs = (filter: RunsFilter): Effect.Effect<string, LandscapeError, Landscape> =>
  Effect.gen(function* () {
    const landscape = yield* Landscape
    const status_ = statuses.find((s) => s === filter.status)
    const list = yield* landscape.runs({
      limit: 100,
      ...(status_ === undefined ? {} : { status: status_ }),
      ...(filter.pipeline === undefined || filter.pipeline === "" ? {} : { pipeline: filter.pipeline })
    })
    const usage = yield* Effect.forEach(list, (r) => landscape.llmUsage(r.runId))
    // Rows per sink, and a running run's rows, as of its last committed batch (its checkpoint: cheaper than counting tokens).
    const points = yield* Effect.forEach(list, (r) => landscape.checkpoints.read(r.runId))
    const now = yield* Clock.currentTimeMillis
    const rows = list.map((listed, i) => {
      const r = withProgress(listed, points[i]!, now)
      const llm = usage[i]!.run
      const perSink = Option.getOrUndefined(points[i]!)?.checkpoint?.rowsPerSink ?? {}
      const sinks = Object.entries(perSink).filter(([, n]) => n > 0).map(([sink, n]) => `${sink} ${num(n)}`).join(" · ")
      return html`<tr data-run="${r.runId}">
<td><a href="${path("runs", r.runId)}"><code>${r.runId}</code></a></td><td>${r.pipeline}</td><td>${status(r.status)}</td>
<td>${time(r.startedAt)}</td><td class="n">${ms(r.durationMs)}</td><td class="n">${num(r.rowsRead)}</td><td class="n">${num(rate(r))}</td>
<td>${sinks === "" ? "-" : sinks}</td><td class="n">${num(r.rowsQuarantined)}</td><td>${r.telemetryEnabled ? (r.telemetryGranularity ?? "on") : "off"}</td>
<td class="n">${llm.calls === 0 ? "-" : num(llm.totalTokens)}</td><td class="n">${llm.calls === 0 ? "-" : usd(llm.costUsd)}</td></tr>`
    })
    const running = list.some((r) => r.status === "running")
    return page("Runs", html`<div id="page"><h1>Runs</h1>
<form method="get" action="/"><label>status <select name="status"><option value="">any</option>${
      statuses.map((s) => html`<option ${s === status_ ? new Html("selected") : null}>${s}</option>`)
    }</select></label> <label>pipeline <input name="pipeline" value="${filter.pipeline ?? ""}"></label> <button>filter</button></form>
<table id="runs"><thead><tr><th>run</th><th>pipeline</th><th>status</th><th>started (UTC)</th><th>duration</th><th>rows</th><th>rows/s</th>
<th>rows per sink</th><th>quarantined</th><th>telemetry</th><th>LLM tokens</th><th>LLM cost</th></tr></thead><tbody>${rows}</tbody></table>
${list.length === 0 ? html`<p class="muted">No runs recorded in this Landscape yet.</p>` : null}</div>`, { follow: running })
  })

/**
 * One run: graph, nodes, outcomes, sinks, quarantine reasons, calls, LLM usage; `none` when the run
 * is not recorded. With `live`, the page of a running run also lists its events as they are emitted
 * in this process (`Dashboard.LiveEvents`).
 */
export const run = (runId: string, live: boolean): Effect.Effect<Option.Option<string>, LandscapeError, Landscape> =>
  Effect.gen(function* () {
    const landscape = yield* Landscape
    const summary = yield* landscape.runSummary(runId)
    if (Option.isNone(summary)) return Option.none()
    const now = yield* Clock.currentTimeMillis
    const point = yield* landscape.checkpoints.read(runId)
    const verifier = yield* Effect.serviceOption(Verifier)
    const verification = Option.isNone(verifier) ? undefined : Option.getOrUndefined(yield* verifier.value.get(runId))
    const integrity = integrityOf(summary.value.run, Option.isSome(verifier), verification)
    return Option.some(runPage(withProgress(summary.value.run, point, now), summary.value, Option.getOrUndefined(point)?.config, live, integrity))
  })

/**
 * The run's integrity: its hash chain's end, and its verification when the server has a verifier
 * (`Dashboard.layer`): a button to start one, its progress (the page follows it), or its outcome
 * with the first problems. Without a verifier, the command that verifies.
 */
const integrityOf = (r: RunRow, canVerify: boolean, v: Verification | undefined): { readonly html: Html; readonly follow: boolean } => {
  const chain = r.chainHash === null ? (r.status === "running" ? "open (running)" : "not recorded") : html`ends <code title="${r.chainHash}">${short(r.chainHash)}</code>`
  const button = (label: string) => html`<form method="post" action="${path("runs", r.runId, "verify")}" class="inline"><button id="verify">${label}</button></form>`
  const what = html`<span class="muted">recomputes every hash and the chain, and checks outcomes, lineage and statistics, as <code>sightline verify ${r.runId}</code> does</span>`
  const body = !canVerify
    ? html`<p><code>sightline verify ${r.runId}</code> recomputes it.</p>`
    : v === undefined
    ? html`<p>${button("verify now")} ${what}</p>`
    : v._tag === "waiting" || v._tag === "running"
    ? html`<p id="verification" data-verification="${v._tag}">${v._tag === "waiting" ? "waiting for another verification" : "verifying"} since ${time(v.since)} …</p>`
    : v._tag === "failed"
    ? html`<p id="verification" data-verification="failed">verify failed at ${time(v.at)}: ${v.message} ${button("verify again")}</p>`
    : verified(v.report, v.at, button("verify again"))
  return { html: html`<h2 id="integrity">Integrity</h2><p>hash chain ${chain}</p>${body}`, follow: v?._tag === "waiting" || v?._tag === "running" }
}

const verified = (report: VerifyReport, at: number, again: Html): Html => {
  const counts = html`${num(report.counts.links)} links, ${num(report.counts.hashesChecked)} hashes, ${num(report.counts.rows)} rows, ${num(report.counts.nodeStates)} node states, ${num(report.counts.calls)} calls`
  if (report.ok) return html`<p id="verification" data-verification="ok">${status("ok")} verified at ${time(at)}: ${counts} ${again}</p>`
  const problems = report.problems.slice(0, 20).map((p) => html`<tr><td>${p.check}</td><td><code>${p.record}</code></td><td>${p.message}</td></tr>`)
  return html`<p id="verification" data-verification="problems">${status("failed")} ${num(report.problemCount)} problem(s) at ${time(at)}${report.firstDivergentLink === null ? null : html`, first divergent link ${num(report.firstDivergentLink)}`}: ${counts} ${again}</p>
<table id="problems"><thead><tr><th>check</th><th>record</th><th>problem</th></tr></thead><tbody>${problems}</tbody></table>
${report.problemCount > problems.length ? html`<p class="muted">the first ${problems.length} of ${num(report.problemCount)}: <code>sightline verify ${report.runId}</code> lists them all</p>` : null}`
}

/**
 * A running run's rows and duration so far: its last checkpoint's counts (written with every
 * committed batch) and the time since it started; the run's own once it has ended.
 */
const withProgress = (r: RunRow, point: Option.Option<ResumePoint>, now: number): RunRow => {
  if (r.status !== "running") return r
  const checkpoint = Option.getOrUndefined(point)?.checkpoint
  return { ...r, rowsRead: checkpoint?.rowsRead ?? 0, rowsQuarantined: checkpoint?.rowsQuarantined ?? 0, durationMs: now - r.startedAt }
}

const runPage = (r: RunRow, s: RunSummary, config: unknown, live: boolean, integrity: { readonly html: Html; readonly follow: boolean }): string => {
  const nodes = s.nodes.map((n) => {
    const total = Object.values(n.states).reduce((a, b) => a + b, 0)
    const failed = n.states["failed"] ?? 0
    return html`<tr data-node="${n.name}"><td><a href="${path("runs", r.runId, "nodes", n.name)}">${n.name}</a></td><td>${n.kind}</td>
<td class="n">${num(total)}</td><td class="n">${num(n.states["completed"] ?? 0)}</td><td class="n">${num(failed)}</td>
<td class="n">${total === 0 ? "-" : `${num((failed / total) * 100)} %`}</td>
<td class="n">${ms(n.durationMs?.p50)}</td><td class="n">${ms(n.durationMs?.p95)}</td><td class="n">${ms(n.durationMs?.max)}</td></tr>`
  })
  const outcomes = Object.entries(s.outcomes).filter(([, n]) => n > 0).map(([o, n]) => html`<tr><td>${status(o)}</td><td class="n">${num(n)}</td></tr>`)
  const sinks = Object.entries(s.sinks).map(([sink, n]) => html`<tr data-sink="${sink}"><td>${sink}</td><td class="n">${num(n)}</td></tr>`)
  const reasons = s.quarantineReasons.map((q) => html`<tr><td>${q.node}</td><td>${q.kind}</td><td>${q.reason}</td><td class="n">${num(q.count)}</td>
<td><a href="${path("runs", r.runId, "rows", q.exampleRowId)}">example row</a></td></tr>`)
  const calls = s.calls.map((c) => html`<tr><td>${c.callType}</td><td>${c.service === "" ? "-" : c.service}</td><td>${status(c.status)}</td><td class="n">${num(c.count)}</td>
<td class="n">${ms(c.latencyMs.p50)}</td><td class="n">${ms(c.latencyMs.p95)}</td><td class="n">${ms(c.latencyMs.max)}</td></tr>`)
  const llm = s.llm.nodes.map((n) => html`<tr><td>${n.node}</td><td class="n">${num(n.calls)}</td><td class="n">${num(n.inputTokens)}</td>
<td class="n">${num(n.outputTokens)}</td><td class="n">${usd(n.costUsd)}</td></tr>`)
  const table = (id: string, head: ReadonlyArray<string>, body: ReadonlyArray<Html>, none: string) =>
    body.length === 0 ? html`<p class="muted">${none}</p>` : html`<table id="${id}"><thead><tr>${head.map((h) => html`<th>${h}</th>`)}</tr></thead><tbody>${body}</tbody></table>`
  const running = r.status === "running"
  return page(`Run ${r.runId}`, html`<div id="page"><h1>Run <code>${r.runId}</code> ${status(r.status)}</h1>
<p>pipeline <b>${r.pipeline}</b> · started ${time(r.startedAt)} · ${ms(r.durationMs)} · ${num(r.rowsRead)} rows (${num(rate(r))} rows/s) ·
${num(r.rowsQuarantined)} quarantined · telemetry ${r.telemetryEnabled ? (r.telemetryGranularity ?? "on") : "off"}${r.error === null ? null : html` · error: ${r.error}`}</p>
<h2>Pipeline</h2><div class="graph">${graph(s, config)}</div>
<h2>Nodes</h2>${table("nodes", ["node", "kind", "states", "completed", "failed", "error rate", "p50", "p95", "max"], nodes, "No nodes.")}
<h2>Outcomes</h2>${table("outcomes", ["outcome", "tokens"], outcomes, "No tokens yet.")}
<h2>Sinks</h2>${table("sinks", ["sink", "tokens"], sinks, "Nothing routed yet.")}
<h2>Quarantine reasons</h2>${table("quarantine", ["node", "kind", "reason", "rows", ""], reasons, "No row was quarantined.")}
<h2>External calls</h2>${table("calls", ["type", "service", "status", "calls", "p50", "p95", "max"], calls, "No external calls.")}
<h2>LLM usage</h2>${table("llm", ["node", "calls", "input tokens", "output tokens", "cost (USD)"], llm, "No LLM calls.")}
${integrity.html}</div>
${running && live ? html`<section id="live"><h2>Events, live</h2><p>telemetry <span id="health" class="muted">…</span></p><ol id="events" reversed></ol></section>` : null}`, { follow: running || integrity.follow })
}

/**
 * A node's first 100 node states and calls, each linked to its row. (Its quarantined rows are its
 * failed states; the run page groups every quarantine by reason. Asking `query` for quarantines by
 * node reads every token of the run: 0.3 s on the 1,000,000-row bench Landscape, against 5 ms.)
 */
export const node = (runId: string, name: string): Effect.Effect<string, LandscapeError, Landscape> =>
  Effect.gen(function* () {
    const landscape = yield* Landscape
    const recent = yield* landscape.query({ runIds: [runId], nodes: [name], kinds: ["nodeState", "call"], limit: 100 })
    const rows = recent.items.map((i) => html`<tr><td>${i.kind}</td><td>${status(i.status)}</td><td>${time(i.time)}</td><td class="n">${ms(i.durationMs)}</td>
<td>${i.rowId === null ? "-" : html`<a href="${path("runs", runId, "rows", i.rowId)}"><code>${i.rowId}</code></a>`}</td><td>${i.message ?? ""}</td></tr>`)
    return page(`${name} in run ${runId}`, html`<h1>Node ${name}</h1><p>run <a href="${path("runs", runId)}"><code>${runId}</code></a> · its first 100 node states and calls</p>
<table id="records"><thead><tr><th>record</th><th>status</th><th>time (UTC)</th><th>duration</th><th>row</th><th>message</th></tr></thead><tbody>${rows}</tbody></table>`)
  })

const stateRow = (s: StateView): Html => html`<tr data-step="${s.node}"><td class="n">${s.stepIndex}</td><td>${s.node}</td><td>${s.kind}</td>
<td>${status(s.status)}${s.attempt > 1 ? ` (attempt ${s.attempt})` : ""}</td><td><code>${short(s.inputHash)}</code></td><td><code>${short(s.outputHash)}</code></td>
<td class="n">${ms(s.durationMs)}</td><td>${s.routing.map((r) => r.sink ?? r.destination).join(", ")}</td>
<td>${s.error === null ? "" : html`<pre>${json(s.error)}</pre>`}${s.calls.map((c) => html`<details><summary>${c.callType} ${status(c.status)} ${ms(c.latencyMs)}</summary>
<pre>${json({ request: c.request, response: c.response, attributes: c.attributes, error: c.error })}</pre></details>`)}</td></tr>`

/** One row: its source record, each step's node state (hashes, duration, routing, calls), its outcome, and where its tokens went. */
export const row = (runId: string, rowId: string): Effect.Effect<Option.Option<string>, LandscapeError, Landscape> =>
  Effect.gen(function* () {
    const landscape = yield* Landscape
    const explained = yield* landscape.explain({ runId, rowId })
    if (Option.isNone(explained)) return Option.none()
    const trace = yield* landscape.trace({ runId, rowId })
    return Option.some(rowPage(explained.value, Option.getOrUndefined(trace)))
  })

const rowPage = (e: Explanation, trace: Trace | undefined): string => {
  const data = e.row.data.status === "stored" ? json(e.row.data.value) : e.row.data.status === "purged" ? `(purged at ${time(e.row.data.purgedAt)})` : "(not stored)"
  const outcome = e.outcome.outcome === null ? html`${status(null)} ${e.outcome.reason}` : html`${status(e.outcome.outcome)}${e.outcome.sink === null ? null : html` to <b>${e.outcome.sink}</b>`}`
  const tokens = (trace?.tokens ?? []).map((t) => html`<tr><td><code>${t.tokenId}</code>${t.rowId === e.row.rowId ? null : html` (row <a href="${path("runs", e.run.runId, "rows", t.rowId)}">${t.rowId}</a>)`}</td>
<td>${t.path.map((p) => `${p.node} (${p.status})`).join(" → ")}</td><td>${t.outcome.outcome === null ? "-" : t.outcome.outcome}${t.outcome.outcome !== null && t.outcome.sink !== null ? ` to ${t.outcome.sink}` : ""}</td></tr>`)
  return page(`Row ${e.row.rowId}`, html`<h1>Row ${e.row.rowIndex} <span class="muted">of run <a href="${path("runs", e.run.runId)}"><code>${e.run.runId}</code></a> (${e.run.pipeline})</span></h1>
<p>row <code>${e.row.rowId}</code> from ${e.row.sourceNode} at ${time(e.row.createdAt)} · hash <code>${short(e.row.dataHash)}</code> · outcome <span id="outcome">${outcome}</span></p>
<h2>Source record</h2><pre id="source">${data}</pre>
<h2>Steps</h2><table id="steps"><thead><tr><th>step</th><th>node</th><th>kind</th><th>status</th><th>input</th><th>output</th><th>duration</th><th>routing</th><th>error and calls</th></tr></thead>
<tbody>${e.states.map(stateRow)}</tbody></table>
${e.batch === undefined ? null : html`<h2>Batch</h2><p>member ${e.batch.ordinal + 1} of ${e.batch.size} of a batch of ${e.batch.node}: ${status(e.batch.status)}${e.batch.trigger === null ? null : ` (${e.batch.trigger})`}</p>`}
<h2>Tokens (forward lineage)</h2><table id="tokens"><thead><tr><th>token</th><th>path</th><th>outcome</th></tr></thead><tbody>${tokens}</tbody></table>`)
}
