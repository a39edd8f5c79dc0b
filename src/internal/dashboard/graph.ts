/**
 * A run's pipeline drawn as SVG: its nodes in step order from the source, left to right (wrapping
 * every 6), each with its kind and how many node states it completed and failed, then its sinks
 * stacked at the end with the tokens routed to each. Fork-join branches are drawn in step order
 * too (the Landscape's nodes have positions, not edges).
 *
 * @internal
 */
import type { RunSummary } from "../../Landscape.js"
import { html, type Html } from "./html.js"

const W = 150
const H = 54
const GAP_X = 40
const GAP_Y = 30
const PER_ROW = 6

const fill: Record<string, string> = { source: "#e0ecff", gate: "#fff1c2", aggregation: "#eadcff", coalesce: "#d6f5f0", sink: "#d8f3dc" }

export const graph = (s: RunSummary): Html => {
  const steps = s.nodes.filter((n) => n.kind !== "sink")
  const sinks = s.nodes.filter((n) => n.kind === "sink")
  const at = (i: number) => ({ x: 10 + (i % PER_ROW) * (W + GAP_X), y: 10 + Math.floor(i / PER_ROW) * (H + GAP_Y) })
  const last = at(Math.max(0, steps.length - 1))
  const sinkX = last.x + W + GAP_X
  const height = Math.max(last.y + H, 10 + sinks.length * (H + 10)) + 10
  const width = Math.min(PER_ROW, Math.max(1, steps.length)) * (W + GAP_X) + W + 20
  const box = (x: number, y: number, name: string, kind: string, detail: string) =>
    html`<g class="node" data-node="${name}"><rect x="${x}" y="${y}" width="${W}" height="${H}" rx="6" fill="${fill[kind] ?? "#fff"}" stroke="#8a96a3"/>
<text x="${x + 8}" y="${y + 18}" font-size="13" font-weight="600">${name.length > 20 ? `${name.slice(0, 19)}…` : name}</text>
<text x="${x + 8}" y="${y + 34}" font-size="11" fill="#5b6570">${kind}</text><text x="${x + 8}" y="${y + 48}" font-size="11">${detail}</text></g>`
  const arrow = (x1: number, y1: number, x2: number, y2: number) => html`<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="#8a96a3" marker-end="url(#arrow)"/>`
  const parts: Array<Html> = []
  steps.forEach((n, i) => {
    const { x, y } = at(i)
    const failed = n.states["failed"] ?? 0
    parts.push(box(x, y, n.name, n.kind, n.kind === "source" ? "" : `${(n.states["completed"] ?? 0).toLocaleString("en-US")} ok${failed > 0 ? `, ${failed.toLocaleString("en-US")} failed` : ""}`))
    if (i > 0) {
      const p = at(i - 1)
      parts.push(p.y === y ? arrow(p.x + W, y + H / 2, x - 4, y + H / 2) : arrow(p.x + W / 2, p.y + H, x + W / 2, y - 4))
    }
  })
  sinks.forEach((n, k) => {
    const y = 10 + k * (H + 10)
    // The quarantine sink takes the rows quarantined (their tokens' outcome), the others the tokens routed to them.
    const tokens = n.name === "quarantine" && s.sinks[n.name] === undefined ? s.outcomes.quarantined : s.sinks[n.name] ?? 0
    parts.push(box(sinkX, y, n.name, "sink", `${tokens.toLocaleString("en-US")} tokens`))
    parts.push(arrow(last.x + W, last.y + H / 2, sinkX - 4, y + H / 2))
  })
  return html`<svg id="graph" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="pipeline graph">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#8a96a3"/></marker></defs>
${parts}</svg>`
}
