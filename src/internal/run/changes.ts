/**
 * What differs between the pipeline a run was recorded with and the one that would resume it, one
 * line per difference, so a refused resume says what changed (the seed system refuses any change
 * without saying which). Compared: the pipeline's name; the source's name and configuration; the
 * steps (their kinds and names in order, the topology; then each step's configuration); the sinks
 * by name and configuration; the default sink; the quarantine sink's configuration. Configurations
 * are compared by their canonical JSON (RFC 8785), the form the run recorded.
 *
 * @internal
 */
import { Option, Schema } from "effect"
import { canonical, isNonCanonical } from "../hashing.js"
import { PlanConfig } from "./plan.js"

/** Canonical JSON text, or a marker that never equals one (the recorded side is always canonical). */
const textOf = (value: unknown): string => {
  const text = canonical(value)
  return isNonCanonical(text) ? `<no JSON form: ${text.reason}>` : text
}

/** A configuration in a message: its JSON, cut at 120 characters. */
const show = (text: string): string => (text.length > 120 ? `${text.slice(0, 117)}...` : text)

const differ = (what: string, before: unknown, after: unknown): ReadonlyArray<string> => {
  const a = textOf(before)
  const b = textOf(after)
  return a === b ? [] : [`${what}: configuration changed from ${show(a)} to ${show(b)}`]
}

/** The differences, one line each; empty when the pipeline can resume the run. */
export const between = (recorded: unknown, current: PlanConfig): ReadonlyArray<string> => {
  const before = Option.getOrUndefined(Schema.decodeUnknownOption(PlanConfig)(recorded))
  if (before === undefined) return ["the run's recorded configuration is not a pipeline's (it was not recorded by Orchestrator.run)"]
  const changes: Array<string> = []
  if (before.pipeline !== current.pipeline) changes.push(`pipeline: named "${before.pipeline}", now "${current.pipeline}"`)
  if (before.source.name !== current.source.name) changes.push(`source: named "${before.source.name}", now "${current.source.name}"`)
  else changes.push(...differ(`source "${current.source.name}"`, before.source.config, current.source.config))

  const shape = (steps: PlanConfig["steps"]) => steps.map((s) => `${s.kind.toLowerCase()} ${s.name}`).join(" → ")
  if (shape(before.steps) !== shape(current.steps)) {
    changes.push(`steps: were ${shape(before.steps) || "none"}, now ${shape(current.steps) || "none"}`)
  } else {
    current.steps.forEach((step, i) => changes.push(...differ(`${step.kind.toLowerCase()} "${step.name}"`, before.steps[i]!.config, step.config)))
  }

  const names = new Set([...Object.keys(before.sinks), ...Object.keys(current.sinks)])
  for (const name of [...names].sort()) {
    if (!(name in current.sinks)) changes.push(`sink "${name}": removed`)
    else if (!(name in before.sinks)) changes.push(`sink "${name}": added`)
    else changes.push(...differ(`sink "${name}"`, before.sinks[name], current.sinks[name]))
  }
  if ((before.defaultSink ?? null) !== current.defaultSink) {
    changes.push(`default sink: was ${JSON.stringify(before.defaultSink ?? null)}, now ${JSON.stringify(current.defaultSink)}`)
  }
  changes.push(...differ("quarantine sink", before.quarantine, current.quarantine))
  return changes
}
