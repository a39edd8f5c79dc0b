/**
 * A run's plan: the pipeline's nodes with their ids, positions and configuration, checked before
 * anything is recorded. Pure data, built once per run.
 *
 * The checks are those the compiler cannot make for every pipeline (a name computed at run time, a
 * custom source's name, code that bypassed the types): node names unique and not reserved, every
 * gate route and the default sink naming a sink, every configuration having a canonical JSON form.
 *
 * @internal
 */
import { Duration, Either, Option, Schema } from "effect"
import type { NodeKind, NodeRecord } from "../../Landscape.js"
import {
  type CoalescePolicy,
  type Merge,
  PipelineDefinitionError,
  type Pipeline,
  type QuarantinedRow,
  reservedNames,
  type Step
} from "../../Pipeline.js"
import type { Sink } from "../../Sink.js"
import type { Source } from "../../Source.js"
import { canonical, isNonCanonical, sha256 } from "../hashing.js"
import { newId } from "../ids.js"

export interface PlannedStep {
  readonly step: Step
  readonly nodeId: string
  /** 1-based position among the steps, branches' included (`node_states.step_index`; 0 is the source). */
  readonly stepIndex: number
  readonly kind: "transform" | "gate"
  /** A fork-join's branches, each a line of its own, and the coalesce that joins them. */
  readonly branches?: ReadonlyArray<Line>
  readonly coalesce?: PlannedCoalesce
}

/** Steps a token goes through in order: the pipeline's, or a branch's (`branch`), which ends at its coalesce. */
export interface Line {
  readonly steps: ReadonlyArray<PlannedStep>
  readonly branch?: string
}

/** A fork-join's coalesce node (see `Pipeline.Branches`). */
export interface PlannedCoalesce {
  readonly name: string
  readonly nodeId: string
  readonly stepIndex: number
  readonly policy: CoalescePolicy
  readonly merge: Merge
}

export interface PlannedSink {
  readonly name: string
  readonly nodeId: string
  readonly sink: Sink<never, unknown>
}

/** The pipeline's configuration as recorded with the run (`runs.config_json`). */
export const PlanConfig = Schema.Struct({
  pipeline: Schema.String,
  source: Schema.Struct({ name: Schema.String, config: Schema.Unknown }),
  steps: Schema.Array(Schema.Struct({ kind: Schema.String, name: Schema.String, config: Schema.Unknown })),
  sinks: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  defaultSink: Schema.NullOr(Schema.String),
  quarantine: Schema.Unknown
})
export type PlanConfig = typeof PlanConfig.Type

export interface Plan {
  readonly pipeline: string
  readonly source: { readonly name: string; readonly nodeId: string; readonly source: Source<unknown, unknown> }
  readonly steps: ReadonlyArray<PlannedStep>
  /** The pipeline's line of steps (`steps`, which the rows of the source go through). */
  readonly main: Line
  /** The step index recorded for a sink's node state: after every step's. */
  readonly sinkStepIndex: number
  /** The named sinks, then the quarantine sink. */
  readonly sinks: ReadonlyArray<PlannedSink>
  readonly sinkByName: ReadonlyMap<string, PlannedSink>
  readonly quarantine: PlannedSink & { readonly sink: Sink<QuarantinedRow, unknown> }
  readonly defaultSink: PlannedSink | undefined
  /** The pipeline's configuration as recorded with the run; `configHash` is its SHA-256. */
  readonly config: PlanConfig
  readonly configHash: string
  readonly nodes: (runId: string) => ReadonlyArray<NodeRecord>
}

/** A step's configuration as recorded with the run; a fork-join's with its branches' steps. */
const stepConfig = (s: Step): PlanConfig["steps"][number] =>
  s._tag === "Branches"
    ? { kind: s._tag, name: s.name, config: { ...(s.config as object), steps: Object.fromEntries(s.branches.map((b) => [b.name, b.steps.map(stepConfig)])) } }
    : { kind: s._tag, name: s.name, config: s.config }

/** The node kind recorded for a step: an expansion (one row in, any number out) and an aggregation (a batch in) are transforms. */
const stepKind = (step: Step): "transform" | "gate" => (step._tag === "Gate" || step._tag === "Fork" || step._tag === "Branches" ? "gate" : "transform")

/** Every step, a fork-join's branches' after it, in node order; `inBranch` for a branch's. */
const everyStep = (steps: ReadonlyArray<Step>, inBranch = false): Array<{ readonly step: Step; readonly inBranch: boolean }> =>
  steps.flatMap((step) => [{ step, inBranch }, ...(step._tag === "Branches" ? step.branches.flatMap((b) => everyStep(b.steps, true)) : [])])

/** What is wrong with a fork-join's branches or coalesce, if anything. */
const branchesProblem = (step: Extract<Step, { readonly _tag: "Branches" }>, inBranch: boolean): string | undefined => {
  const where = `the fork-join "${step.name}"`
  if (inBranch) return `${where} is inside a branch; branches do not nest`
  if (step.branches.length === 0) return `${where} has no branch`
  for (const branch of step.branches) {
    const other = branch.steps.find((s) => s._tag !== "Transform" && s._tag !== "Gate")
    if (other !== undefined) return `${where}: branch "${branch.name}" holds "${other.name}", a ${other._tag.toLowerCase()}; a branch holds transforms and gates`
  }
  const { merge, policy } = step.coalesce
  if (policy._tag === "Quorum" && !(Number.isInteger(policy.n) && policy.n >= 1 && policy.n <= step.branches.length)) {
    return `${where} has quorum ${policy.n}; it must be an integer from 1 to its ${step.branches.length} branches`
  }
  if (policy._tag === "BestEffort" && !positiveMs(policy.timeout)) return `${where} has time-out ${String(policy.timeout)}; it must be a positive, finite duration`
  if (typeof merge === "object" && !step.branches.some((b) => b.name === merge.select)) return `${where} selects branch "${merge.select}", which it does not have`
  return undefined
}

const positiveMs = (d: unknown): boolean => {
  const ms = Duration.decodeUnknown(d).pipe(Option.map(Duration.toMillis), Option.getOrElse(() => Number.NaN))
  return ms > 0 && Number.isFinite(ms)
}

/** The first problem of the definition, as a sentence. */
const problemOf = (pipeline: Pipeline<unknown>): string | undefined => {
  const sinkNames = Object.keys(pipeline.sinks)
  const steps = everyStep(pipeline.steps)
  const named: Array<readonly [string, string]> = [
    [pipeline.source.name, "the source"],
    ...steps.flatMap(({ step: s }) => [
      [s.name, `the ${s._tag === "Branches" ? "fork-join" : stepKind(s)}`] as const,
      ...(s._tag === "Branches" ? [[s.coalesce.name, "a coalesce"] as const] : [])
    ]),
    ...sinkNames.map((n) => [n, "a sink"] as const)
  ]
  for (const [name, what] of named) {
    if (name.trim() === "") return `${what} has an empty name`
    if (reservedNames.includes(name) && !(name === "source" && what === "the source")) {
      return `${what} is named "${name}", which is reserved (${reservedNames.join(", ")})`
    }
  }
  const seen = new Map<string, string>()
  for (const [name, what] of named) {
    const before = seen.get(name)
    if (before !== undefined) return `${before} and ${what} are both named "${name}"; node names must be unique`
    seen.set(name, what)
  }
  for (const { inBranch, step } of steps) {
    if (step._tag === "Branches") {
      const problem = branchesProblem(step, inBranch)
      if (problem !== undefined) return problem
    }
  }
  for (const { step } of steps) {
    if (step._tag !== "Gate" && step._tag !== "Fork") continue
    const missing = step.routes.find((route) => !(route in pipeline.sinks))
    if (missing !== undefined) return `the ${step._tag === "Fork" ? "fork" : "gate"} "${step.name}" routes to "${missing}", which is not a sink (sinks: ${sinkNames.join(", ")})`
  }
  for (const { step } of steps) {
    if (step._tag !== "Aggregate") continue
    const { condition, count, timeout } = step.trigger
    if (count !== undefined && !(Number.isInteger(count) && count >= 1)) return `the aggregation "${step.name}" has trigger count ${count}; it must be an integer of at least 1`
    if (timeout !== undefined && !positiveMs(timeout)) return `the aggregation "${step.name}" has trigger timeout ${String(timeout)}; it must be a positive, finite duration`
    if (condition !== undefined && typeof condition !== "function") return `the aggregation "${step.name}" has a trigger condition that is not a function`
  }
  if (pipeline.defaultSink !== undefined && !(pipeline.defaultSink in pipeline.sinks)) {
    return `the default sink "${pipeline.defaultSink}" is not a sink (sinks: ${sinkNames.join(", ")})`
  }
  return undefined
}

/**
 * Plans a run of `pipeline`, or says why it cannot run. `nodeIds` (by node name) are the ids of
 * nodes already registered (a worker joining a distributed run); new ids otherwise.
 */
export const make = (pipeline: Pipeline<unknown>, nodeIds?: ReadonlyMap<string, string>): Either.Either<Plan, PipelineDefinitionError> => {
  const fail = (message: string) => Either.left(new PipelineDefinitionError({ pipeline: pipeline.name, message: `Pipeline "${pipeline.name}": ${message}` }))
  const problem = problemOf(pipeline)
  if (problem !== undefined) return fail(problem)
  const sinkNames = Object.keys(pipeline.sinks)
  const config: PlanConfig = {
    pipeline: pipeline.name,
    source: { name: pipeline.source.name, config: pipeline.source.config },
    steps: pipeline.steps.map(stepConfig),
    sinks: Object.fromEntries(sinkNames.map((n) => [n, pipeline.sinks[n]!.config])),
    defaultSink: pipeline.defaultSink ?? null,
    quarantine: pipeline.quarantine.config
  }
  const configJson = canonical(config)
  if (isNonCanonical(configJson)) return fail(`its configuration has no JSON form at ${configJson.path.replace("$", "config")}: ${configJson.reason}`)

  const idOf = (name: string) => nodeIds?.get(name) ?? newId()
  const source = { name: pipeline.source.name, nodeId: idOf(pipeline.source.name), source: pipeline.source }
  // Step indexes in node order: a fork-join, its branches' steps, its coalesce.
  let next = 1
  const nodeList: Array<{ readonly nodeId: string; readonly name: string; readonly kind: NodeKind; readonly stepIndex: number; readonly config: unknown }> = []
  const planLine = (list: ReadonlyArray<Step>, branch?: string): Line => ({
    steps: list.map((step): PlannedStep => {
      const planned = { step, nodeId: idOf(step.name), stepIndex: next++, kind: stepKind(step) }
      nodeList.push({ nodeId: planned.nodeId, name: step.name, kind: step._tag === "Aggregate" ? "aggregation" : planned.kind, stepIndex: planned.stepIndex, config: step.config })
      if (step._tag !== "Branches") return planned
      const branches = step.branches.map((b) => planLine(b.steps, b.name))
      const coalesce = { ...step.coalesce, nodeId: idOf(step.coalesce.name), stepIndex: next++ }
      nodeList.push({ nodeId: coalesce.nodeId, name: coalesce.name, kind: "coalesce", stepIndex: coalesce.stepIndex, config: step.config })
      return { ...planned, branches, coalesce }
    }),
    ...(branch === undefined ? {} : { branch })
  })
  const main = planLine(pipeline.steps)
  const steps = main.steps
  const sinkStepIndex = next
  const sinks = sinkNames.map((name): PlannedSink => ({ name, nodeId: idOf(name), sink: pipeline.sinks[name]! }))
  const quarantine = { name: "quarantine", nodeId: idOf("quarantine"), sink: pipeline.quarantine }
  const sinkByName = new Map(sinks.map((s) => [s.name, s]))
  const nodes = (runId: string): ReadonlyArray<NodeRecord> => {
    const node = (nodeId: string, name: string, kind: NodeKind, position: number, config: unknown): NodeRecord =>
      ({ nodeId, runId, name, kind, position, config })
    return [
      node(source.nodeId, source.name, "source", 0, pipeline.source.config),
      ...nodeList.map((s) => node(s.nodeId, s.name, s.kind, s.stepIndex, s.config)),
      ...[...sinks, quarantine].map((s, i) => node(s.nodeId, s.name, "sink", sinkStepIndex + i, s.sink.config))
    ]
  }
  return Either.right({
    pipeline: pipeline.name,
    source,
    steps,
    main,
    sinkStepIndex,
    sinks: [...sinks, quarantine],
    sinkByName,
    quarantine,
    defaultSink: pipeline.defaultSink === undefined ? undefined : sinkByName.get(pipeline.defaultSink),
    config,
    configHash: sha256(configJson),
    nodes
  })
}
