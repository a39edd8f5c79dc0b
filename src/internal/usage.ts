/**
 * Token and cost totals of LLM calls, folded from the OpenTelemetry GenAI attributes that
 * `AuditedLlmClient` records on each call (`gen_ai.usage.input_tokens`, ...).
 *
 * @internal
 */

/** Totals over some LLM calls. Tokens are counts; cost is USD, `null` when no call had a price. */
export interface Totals {
  readonly calls: number
  readonly inputTokens: number
  readonly outputTokens: number
  readonly totalTokens: number
  readonly cachedInputTokens: number
  readonly reasoningTokens: number
  readonly costUsd: number | null
  /** Calls whose model had no price (their cost is not in `costUsd`). */
  readonly unpricedCalls: number
}

/** Totals of one run: for the whole run and per node (in pipeline order). */
export interface RunTotals {
  readonly runId: string
  readonly run: Totals
  readonly nodes: ReadonlyArray<Totals & { readonly nodeId: string; readonly node: string }>
}

export const emptyTotals: Totals = {
  calls: 0,
  inputTokens: 0,
  outputTokens: 0,
  totalTokens: 0,
  cachedInputTokens: 0,
  reasoningTokens: 0,
  costUsd: null,
  unpricedCalls: 0
}

export const addCall = (t: Totals, a: Readonly<Record<string, unknown>>): Totals => {
  const n = (key: string) => (typeof a[key] === "number" ? a[key] : 0)
  const cost = a["sightline.llm.cost_usd"]
  return {
    calls: t.calls + 1,
    inputTokens: t.inputTokens + n("gen_ai.usage.input_tokens"),
    outputTokens: t.outputTokens + n("gen_ai.usage.output_tokens"),
    totalTokens: t.totalTokens + n("sightline.llm.usage.total_tokens"),
    cachedInputTokens: t.cachedInputTokens + n("sightline.llm.usage.cached_input_tokens"),
    reasoningTokens: t.reasoningTokens + n("sightline.llm.usage.reasoning_tokens"),
    costUsd: typeof cost === "number" ? (t.costUsd ?? 0) + cost : t.costUsd,
    unpricedCalls: t.unpricedCalls + (typeof cost === "number" ? 0 : 1)
  }
}

/** The totals of two sets of calls together. */
export const addTotals = (a: Totals, b: Totals): Totals => ({
  calls: a.calls + b.calls,
  inputTokens: a.inputTokens + b.inputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
  totalTokens: a.totalTokens + b.totalTokens,
  cachedInputTokens: a.cachedInputTokens + b.cachedInputTokens,
  reasoningTokens: a.reasoningTokens + b.reasoningTokens,
  costUsd: a.costUsd === null ? b.costUsd : b.costUsd === null ? a.costUsd : a.costUsd + b.costUsd,
  unpricedCalls: a.unpricedCalls + b.unpricedCalls
})
