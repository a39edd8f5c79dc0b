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
import { PipelineDefinitionError, type Pipeline, type QuarantinedRow, reservedNames, type Step } from "../../Pipeline.js"
import type { Sink } from "../../Sink.js"
import type { Source } from "../../Source.js"
import { canonical, isNonCanonical, sha256 } from "../hashing.js"
import { newId } from "../ids.js"

export interface PlannedStep {
  readonly step: Step
  readonly nodeId: string
  /** 1-based position among the steps (`node_states.step_index`; 0 is the source). */
  readonly stepIndex: number
  readonly kind: "transform" | "gate"
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

/** The node kind recorded for a step: an expansion (one row in, any number out) and an aggregation (a batch in) are transforms. */
const stepKind = (step: Step): "transform" | "gate" => (step._tag === "Gate" || step._tag === "Fork" ? "gate" : "transform")

/** The first problem of the definition, as a sentence. */
const problemOf = (pipeline: Pipeline<unknown>): string | undefined => {
  const sinkNames = Object.keys(pipeline.sinks)
  const named: Array<readonly [string, string]> = [
    [pipeline.source.name, "the source"],
    ...pipeline.steps.map((s) => [s.name, `the ${stepKind(s)}`] as const),
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
  for (const step of pipeline.steps) {
    if (step._tag !== "Gate" && step._tag !== "Fork") continue
    const missing = step.routes.find((route) => !(route in pipeline.sinks))
    if (missing !== undefined) return `the ${step._tag === "Fork" ? "fork" : "gate"} "${step.name}" routes to "${missing}", which is not a sink (sinks: ${sinkNames.join(", ")})`
  }
  for (const step of pipeline.steps) {
    if (step._tag !== "Aggregate") continue
    const { condition, count, timeout } = step.trigger
    if (count !== undefined && !(Number.isInteger(count) && count >= 1)) return `the aggregation "${step.name}" has trigger count ${count}; it must be an integer of at least 1`
    if (timeout !== undefined) {
      const ms = Duration.decodeUnknown(timeout).pipe(Option.map(Duration.toMillis), Option.getOrElse(() => Number.NaN))
      if (!(ms > 0 && Number.isFinite(ms))) return `the aggregation "${step.name}" has trigger timeout ${String(timeout)}; it must be a positive, finite duration`
    }
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
    steps: pipeline.steps.map((s) => ({ kind: s._tag, name: s.name, config: s.config })),
    sinks: Object.fromEntries(sinkNames.map((n) => [n, pipeline.sinks[n]!.config])),
    defaultSink: pipeline.defaultSink ?? null,
    quarantine: pipeline.quarantine.config
  }
  const configJson = canonical(config)
  if (isNonCanonical(configJson)) return fail(`its configuration has no JSON form at ${configJson.path.replace("$", "config")}: ${configJson.reason}`)

  const idOf = (name: string) => nodeIds?.get(name) ?? newId()
  const source = { name: pipeline.source.name, nodeId: idOf(pipeline.source.name), source: pipeline.source }
  const steps = pipeline.steps.map((step, i): PlannedStep => ({ step, nodeId: idOf(step.name), stepIndex: i + 1, kind: stepKind(step) }))
  const sinks = sinkNames.map((name): PlannedSink => ({ name, nodeId: idOf(name), sink: pipeline.sinks[name]! }))
  const quarantine = { name: "quarantine", nodeId: idOf("quarantine"), sink: pipeline.quarantine }
  const sinkByName = new Map(sinks.map((s) => [s.name, s]))
  const nodes = (runId: string): ReadonlyArray<NodeRecord> => {
    const node = (nodeId: string, name: string, kind: NodeKind, position: number, config: unknown): NodeRecord =>
      ({ nodeId, runId, name, kind, position, config })
    return [
      node(source.nodeId, source.name, "source", 0, pipeline.source.config),
      ...steps.map((s) => node(s.nodeId, s.step.name, s.kind, s.stepIndex, s.step.config)),
      ...[...sinks, quarantine].map((s, i) => node(s.nodeId, s.name, "sink", steps.length + 1 + i, s.sink.config))
    ]
  }
  return Either.right({
    pipeline: pipeline.name,
    source,
    steps,
    sinks: [...sinks, quarantine],
    sinkByName,
    quarantine,
    defaultSink: pipeline.defaultSink === undefined ? undefined : sinkByName.get(pipeline.defaultSink),
    config,
    configHash: sha256(configJson),
    nodes
  })
}
