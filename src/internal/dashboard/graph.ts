/**
 * A run's pipeline drawn as SVG, from the configuration recorded with the run (`runs.config_json`:
 * its steps in order, a fork-join's with its branches' steps): the source, then each step left to
 * right; a fork-join's branches in lanes of their own between the fork and its coalesce; the sinks
 * stacked at the end, each reached from the last step and from every gate that routes to it. Each
 * node shows its kind and how many node states it completed and failed, each sink the tokens it
 * took. A configuration this module cannot read (recorded by another version) is drawn as the
 * nodes in step order.
 *
 * @internal
 */
import { Either, Option, Schema } from "effect"
import type { RunSummary } from "../../Landscape.js"
import { html, type Html } from "./html.js"

const W = 150
const H = 54
const GAP_X = 40
const GAP_Y = 16

const fill: Record<string, string> = { source: "#e0ecff", gate: "#fff1c2", aggregation: "#eadcff", coalesce: "#d6f5f0", sink: "#d8f3dc" }

interface StepConfig {
  readonly kind: string
  readonly name: string
  readonly config?: unknown
}
const StepConfig: Schema.Schema<StepConfig> = Schema.Struct({
  kind: Schema.String,
  name: Schema.String,
  config: Schema.optional(Schema.Unknown)
})
const Recorded = Schema.Struct({ steps: Schema.Array(StepConfig) })
const BranchesConfig = Schema.Struct({
  /** The branches in the order the pipeline declares them (the recorded `steps` are key-sorted). */
  branches: Schema.optional(Schema.Array(Schema.String)),
  coalesce: Schema.Struct({ name: Schema.String }),
  steps: Schema.Record({ key: Schema.String, value: Schema.Array(StepConfig) })
})
const Routes = Schema.Struct({ routes: Schema.Array(Schema.String) })

/** A node placed on the grid (column, lane), and the names of the nodes it is drawn from. */
interface Placed {
  readonly name: string
  readonly column: number
  readonly lane: number
  readonly from: ReadonlyArray<string>
}

/** A fork-join step's branches and coalesce, when `step` is one this module can read. */
const branchesOf = (step: StepConfig) =>
  step.kind === "Branches" ? Either.getRight(Schema.decodeUnknownEither(BranchesConfig)(step.config)) : Option.none()

/** Places the recorded steps after `source`; what it cannot read, it places in step order. */
const place = (source: string, steps: ReadonlyArray<StepConfig>): { readonly placed: Array<Placed>; readonly last: ReadonlyArray<string> } => {
  const placed: Array<Placed> = [{ name: source, column: 0, lane: 0, from: [] }]
  let column = 1
  let frontier: ReadonlyArray<string> = [source]
  for (const step of steps) {
    placed.push({ name: step.name, column, lane: 0, from: frontier })
    const branches = branchesOf(step)
    if (Option.isNone(branches)) {
      frontier = [step.name]
      column += 1
      continue
    }
    const { coalesce, steps: byBranch } = branches.value
    const lanes = (branches.value.branches ?? Object.keys(byBranch)).map((name) => [name, byBranch[name] ?? []] as const)
    const ends = lanes.map(([, list], lane) => {
      let previous = step.name
      list.forEach((s, i) => {
        placed.push({ name: s.name, column: column + 1 + i, lane, from: [previous] })
        previous = s.name
      })
      return previous
    })
    const width = Math.max(1, ...lanes.map(([, list]) => list.length))
    placed.push({ name: coalesce.name, column: column + 1 + width, lane: 0, from: ends })
    frontier = [coalesce.name]
    column += width + 2
  }
  return { placed, last: frontier }
}

/** Every recorded step, branches' included, whose configuration names routes (gates, forks). */
const routesOf = (steps: ReadonlyArray<StepConfig>): Array<readonly [string, ReadonlyArray<string>]> =>
  steps.flatMap((s) => {
    const routes = Schema.decodeUnknownEither(Routes)(s.config)
    return [
      ...(Either.isRight(routes) ? [[s.name, routes.right.routes] as const] : []),
      ...Option.match(branchesOf(s), { onNone: () => [], onSome: (b) => Object.values(b.steps).flatMap(routesOf) })
    ]
  })

/** The graph of run `s`, from its recorded configuration `config`. */
export const graph = (s: RunSummary, config: unknown): Html => {
  const byName = new Map(s.nodes.map((n) => [n.name, n]))
  const source = s.nodes.find((n) => n.kind === "source")?.name ?? "source"
  const recorded = Schema.decodeUnknownEither(Recorded)(config)
  const steps = Either.isRight(recorded)
    ? recorded.right.steps
    : s.nodes.filter((n) => n.kind !== "source" && n.kind !== "sink").map((n) => ({ kind: n.kind, name: n.name }))
  const { last, placed } = place(source, steps)
  const sinks = s.nodes.filter((n) => n.kind === "sink")
  const sinkColumn = Math.max(...placed.map((p) => p.column)) + 1
  const lanes = Math.max(1, ...placed.map((p) => p.lane + 1), sinks.length)
  const at = (column: number, lane: number) => ({ x: 10 + column * (W + GAP_X), y: 10 + lane * (H + GAP_Y) })
  const position = new Map(placed.map((p) => [p.name, at(p.column, p.lane)]))
  sinks.forEach((n, k) => position.set(n.name, at(sinkColumn, k)))
  const routes = routesOf(steps)
  const edges: Array<readonly [string, string]> = [
    ...placed.flatMap((p) => p.from.map((f) => [f, p.name] as const)),
    ...sinks.flatMap((n) => [
      ...last.map((l) => [l, n.name] as const),
      ...routes.filter(([gate, to]) => to.includes(n.name) && !last.includes(gate)).map(([gate]) => [gate, n.name] as const)
    ])
  ]
  const box = (name: string, kind: string, detail: string) => {
    const { x, y } = position.get(name)!
    return html`<g class="node" data-node="${name}" data-kind="${kind}"><rect x="${x}" y="${y}" width="${W}" height="${H}" rx="6" fill="${fill[kind] ?? "#fff"}" stroke="#8a96a3"/>
<text x="${x + 8}" y="${y + 18}" font-size="13" font-weight="600">${name.length > 20 ? `${name.slice(0, 19)}…` : name}</text>
<text x="${x + 8}" y="${y + 34}" font-size="11" fill="#5b6570">${kind}</text><text x="${x + 8}" y="${y + 48}" font-size="11">${detail}</text></g>`
  }
  const states = (name: string) => {
    const n = byName.get(name)
    if (n === undefined) return ""
    const failed = n.states["failed"] ?? 0
    return `${(n.states["completed"] ?? 0).toLocaleString("en-US")} ok${failed > 0 ? `, ${failed.toLocaleString("en-US")} failed` : ""}`
  }
  const arrow = ([from, to]: readonly [string, string]) => {
    const a = position.get(from)
    const b = position.get(to)
    return a === undefined || b === undefined
      ? null
      : html`<line class="edge" data-from="${from}" data-to="${to}" x1="${a.x + W}" y1="${a.y + H / 2}" x2="${b.x - 4}" y2="${b.y + H / 2}" stroke="#8a96a3" marker-end="url(#arrow)"/>`
  }
  const width = (sinkColumn + 1) * (W + GAP_X) - GAP_X + 20
  const height = lanes * (H + GAP_Y) - GAP_Y + 20
  return html`<svg id="graph" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="pipeline graph">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#8a96a3"/></marker></defs>
${edges.map(arrow)}
${placed.map((p) => box(p.name, byName.get(p.name)?.kind ?? "transform", p.name === source ? "" : states(p.name)))}
${sinks.map((n) => {
    // The quarantine sink takes the rows quarantined (their tokens' outcome), the others the tokens routed to them.
    const tokens = n.name === "quarantine" && s.sinks[n.name] === undefined ? s.outcomes.quarantined : s.sinks[n.name] ?? 0
    return box(n.name, "sink", `${tokens.toLocaleString("en-US")} ${tokens === 1 ? "token" : "tokens"}`)
  })}</svg>`
}
