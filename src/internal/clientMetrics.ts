/**
 * The audited clients' metrics (`PipelineMetric` catalogue): call duration by call type,
 * provider and status; for LLM calls also the GenAI semantic-convention metrics and the cost.
 * Updated synchronously, once per call.
 *
 * @internal
 */
import { Effect } from "effect"
import * as PipelineMetric from "../PipelineMetric.js"

/** One external call's duration. `provider`: the server's host for HTTP, the GenAI provider for LLM calls. */
export const recordCall = (callType: string, provider: string, status: "success" | "error", latencyMs: number): Effect.Effect<void> =>
  Effect.sync(() => {
    PipelineMetric.callDuration.unsafeUpdate(latencyMs / 1000, PipelineMetric.labels({ call_type: callType, provider, status }))
  })

export interface LlmCall {
  readonly provider: string
  readonly model: string
  readonly status: "success" | "error"
  readonly latencyMs: number
  readonly inputTokens?: number
  readonly outputTokens?: number
  readonly costUsd?: number
}

/** `gen_ai.client.operation.duration`, `gen_ai.client.token.usage` (input and output), the cost, and the call duration. */
export const recordLlm = (call: LlmCall): Effect.Effect<void> =>
  Effect.zipRight(
    recordCall("llm", call.provider, call.status, call.latencyMs),
    Effect.sync(() => {
      const gen = { "gen_ai.operation.name": "chat", "gen_ai.provider.name": call.provider, "gen_ai.request.model": call.model } as const
      PipelineMetric.genAiOperationDuration.unsafeUpdate(call.latencyMs / 1000, PipelineMetric.labels(gen))
      if (call.inputTokens !== undefined) {
        PipelineMetric.genAiTokenUsage.unsafeUpdate(call.inputTokens, PipelineMetric.labels({ ...gen, "gen_ai.token.type": "input" }))
      }
      if (call.outputTokens !== undefined) {
        PipelineMetric.genAiTokenUsage.unsafeUpdate(call.outputTokens, PipelineMetric.labels({ ...gen, "gen_ai.token.type": "output" }))
      }
      if (call.costUsd !== undefined) {
        PipelineMetric.llmCost.unsafeUpdate(call.costUsd, PipelineMetric.labels({ provider: call.provider, "gen_ai.request.model": call.model }))
      }
    })
  )
