/**
 * A coalesce's decision (`Pipeline.Branches`), apart from the records the processor makes of it:
 * which of the branches that arrived its policy merges, and the merged row with its canonical
 * text, or why there is none.
 *
 * @internal
 */
import { Either } from "effect"
import type { Merge } from "../../Pipeline.js"
import { canonical, isNonCanonical } from "../hashing.js"
import type { PlannedCoalesce } from "./plan.js"

/** A branch as the coalesce sees it: its name and, when it arrived, its row and when (engine time, ms). */
export interface Branch {
  readonly name: string
  readonly arrived: { readonly value: unknown; readonly at: number } | undefined
}

/** The branches the policy merges (indexes into `branches`, in declaration order), or why it fails. */
const chosen = (plan: PlannedCoalesce, branches: ReadonlyArray<Branch>): Either.Either<ReadonlyArray<number>, string> => {
  const arrived = branches.flatMap((b, k) => (b.arrived === undefined ? [] : [k]))
  const { merge, policy } = plan
  if (policy._tag === "RequireAll" && arrived.length < branches.length) {
    const missing = branches.filter((b) => b.arrived === undefined).map((b) => `"${b.name}"`)
    return Either.left(`the coalesce "${plan.name}" requires every branch; ${missing.join(", ")} did not arrive`)
  }
  if (policy._tag === "Quorum" && arrived.length < policy.n) return Either.left(`the coalesce "${plan.name}" requires ${policy.n} branches; ${arrived.length} arrived`)
  if (arrived.length === 0) return Either.left(`the coalesce "${plan.name}": no branch arrived`)
  const picked = policy._tag === "First" ? [arrived.reduce((a, b) => (branches[b]!.arrived!.at < branches[a]!.arrived!.at ? b : a))] : arrived
  if (typeof merge === "object" && !picked.some((k) => branches[k]!.name === merge.select)) {
    return Either.left(`the coalesce "${plan.name}" selects branch "${merge.select}", which did not arrive`)
  }
  return Either.right(picked)
}

/** The merged row of the picked branches, or why it cannot be made. */
const mergeOf = (merge: Merge, picked: ReadonlyArray<{ readonly name: string; readonly value: unknown }>): Either.Either<unknown, string> => {
  if (merge === "nested") return Either.right(Object.fromEntries(picked.map((c) => [c.name, c.value])))
  if (typeof merge === "object") return Either.right(picked.find((c) => c.name === merge.select)!.value)
  const notObject = picked.find((c) => typeof c.value !== "object" || c.value === null || Array.isArray(c.value))
  if (notObject !== undefined) return Either.left(`a union merges objects; branch "${notObject.name}" made ${Array.isArray(notObject.value) ? "an array" : typeof notObject.value}`)
  return Either.right(Object.assign({}, ...picked.map((c) => c.value)) as unknown)
}

/** What the coalesce makes of `branches`: the branches merged, the merged row and its canonical text; or why it fails. */
export const decide = (
  plan: PlannedCoalesce,
  branches: ReadonlyArray<Branch>
): Either.Either<{ readonly picked: ReadonlyArray<number>; readonly value: unknown; readonly text: string }, string> =>
  Either.flatMap(chosen(plan, branches), (picked) =>
    Either.flatMap(mergeOf(plan.merge, picked.map((k) => ({ name: branches[k]!.name, value: branches[k]!.arrived!.value }))), (value) => {
      const text = canonical(value)
      return isNonCanonical(text) ? Either.left(`merged ${text.path}: ${text.reason}`) : Either.right({ picked, value, text })
    }))
