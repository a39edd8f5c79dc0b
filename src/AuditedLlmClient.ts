/**
 * LLM calls through `@effect/ai`'s `LanguageModel`, each recorded in the Landscape and then emitted
 * as `ExternalCallCompleted` (callType `llm`) through {@link recordCall}, with token usage and cost.
 *
 * Per call the `calls` row holds:
 * - `request`: `{ provider, model, prompt: [{ role, text }], truncated, bytes }` — the prompt text
 *   redacted (secret-looking tokens, see {@link Options.redactPatterns}) and capped at
 *   `maxContentBytes` (UTF-8 bytes; `bytes` is the full size).
 * - `response`: `{ text, finishReason, truncated, bytes, responseModel? }` (redacted and capped the same way), or none on failure.
 * - `attributes`, with the OpenTelemetry GenAI names (semantic conventions, `gen_ai` registry):
 *   `gen_ai.operation.name` (`chat`), `gen_ai.provider.name`, `gen_ai.request.model`,
 *   `gen_ai.response.model`, `gen_ai.response.finish_reasons`, `gen_ai.usage.input_tokens`,
 *   `gen_ai.usage.output_tokens`, plus `sightline.llm.usage.total_tokens`,
 *   `sightline.llm.usage.cached_input_tokens`, `sightline.llm.usage.reasoning_tokens` (when the
 *   provider reports them), `sightline.llm.cost_usd` (absent when the model has no price) and
 *   `sightline.pricing.version` (the {@link Pricing.Table} version the cost comes from).
 * - `latencyMs`: wall time of the call, milliseconds.
 *
 * Each call runs in a client span `chat <model>` with the GenAI attributes (semantic conventions
 * v1.41.0 `gen-ai/gen-ai-spans.md`), usage added when it returns.
 *
 * Metrics (`PipelineMetric`): `gen_ai.client.operation.duration`, `gen_ai.client.token.usage` (input
 * and output), `pipeline.client.llm.counter.cost` and `pipeline.client.call.histogram.duration`.
 *
 * A model missing from the price table records no cost (`null` in {@link usageTotals}) and logs a
 * warning; it is never guessed. The call's own error (`AiError`) reaches the caller unchanged
 * after it is recorded; a Landscape failure while recording is a defect (`CallScope.recordCall`);
 * telemetry never fails.
 *
 * @since 0.1.0
 */
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import { Context, Effect, Exit, Layer, Option, type Schema } from "effect"
import type * as RateLimiter from "effect/RateLimiter"
import { type CallScope, recordCall } from "./CallScope.js"
import * as ClientMetrics from "./internal/clientMetrics.js"
import * as RateLimit from "./internal/rateLimit.js"
import * as Redaction from "./internal/redaction.js"
import { Landscape, type LandscapeError } from "./Landscape.js"
import type { RunTotals } from "./internal/usage.js"
import * as Pricing from "./Pricing.js"
import type { Telemetry } from "./Telemetry.js"
import type { AttributeValue } from "./TelemetryEvent.js"

/**
 * Options of {@link make} and {@link layer}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** `gen_ai.provider.name`, e.g. `"openai"`. Also the first half of the price key. */
  readonly provider: string
  /** `gen_ai.request.model`, the model the `LanguageModel` was built for, e.g. `"gpt-4o-mini"`. */
  readonly model: string
  /** Prices. Default {@link Pricing.defaultTable}. */
  readonly pricing?: Pricing.Table
  /** Largest prompt or completion text stored, bytes (UTF-8). Default 16 384 (16 KiB). */
  readonly maxContentBytes?: number
  /**
   * Patterns replaced by `[REDACTED]` in prompts and completions, added to the defaults: OpenAI-style
   * keys (`sk-…`), AWS access key ids (`AKIA…`), `Bearer …` tokens, JWTs.
   */
  readonly redactPatterns?: ReadonlyArray<RegExp>
  /**
   * The provider's rate limit: each call first takes a permit of this Effect `RateLimiter`, and the
   * wait is recorded on the call (`sightline.rate_limit.wait_ms`, milliseconds; not part of
   * `latencyMs`). Default: none.
   */
  readonly rateLimit?: RateLimiter.RateLimiter
}

/** No tools: the audited client does not run tool calls. @since 0.1.0 */
export type NoTools = Record<string, never>

/**
 * What the audited client offers: `generateText` and `generateObject` of `LanguageModel`, without
 * tools, each needing `CallScope | Landscape | Telemetry`.
 *
 * @since 0.1.0
 */
export interface Client {
  readonly provider: string
  readonly model: string
  readonly generateText: (options: {
    readonly prompt: Prompt.RawInput
  }) => Effect.Effect<LanguageModel.GenerateTextResponse<NoTools>, AiError.AiError, CallScope | Landscape | Telemetry>
  readonly generateObject: <A, I extends Record<string, unknown>>(options: {
    readonly prompt: Prompt.RawInput
    readonly schema: Schema.Schema<A, I>
    readonly objectName?: string
  }) => Effect.Effect<LanguageModel.GenerateObjectResponse<NoTools, A>, AiError.AiError, CallScope | Landscape | Telemetry>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class AuditedLlmClient extends Context.Tag("sightline/AuditedLlmClient")<AuditedLlmClient, Client>() {}

const defaultPatterns: ReadonlyArray<RegExp> = [
  /\bsk-[A-Za-z0-9_-]{16,}/g,
  /\bAKIA[0-9A-Z]{16}\b/g,
  /\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/g,
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g
]

const messageText = (message: Prompt.Message): string => {
  if (typeof message.content === "string") return message.content
  return message.content
    .map((part) => (part.type === "text" || part.type === "reasoning" ? part.text : `[${part.type}]`))
    .join("")
}

/**
 * Builds the audited client over the `LanguageModel` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Client, never, LanguageModel.LanguageModel> =>
  Effect.map(LanguageModel.LanguageModel, (lm): Client => {
    const pricing = options.pricing ?? Pricing.defaultTable
    const maxBytes = options.maxContentBytes ?? 16_384
    const patterns = [...defaultPatterns, ...(options.redactPatterns ?? [])].map((p) =>
      new RegExp(p.source, p.flags.includes("g") ? p.flags : `${p.flags}g`)
    )
    const redact = (text: string) => patterns.reduce((acc, p) => acc.replace(p, "[REDACTED]"), text)
    const common: Record<string, AttributeValue> = {
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": options.provider,
      "gen_ai.request.model": options.model,
      "sightline.pricing.version": pricing.version
    }
    const priced = Option.isSome(Pricing.lookup(pricing, options.provider, options.model))

    const audited = <R extends LanguageModel.GenerateTextResponse<NoTools>>(
      prompt: Prompt.RawInput,
      call: Effect.Effect<R, AiError.AiError>
    ): Effect.Effect<R, AiError.AiError, CallScope | Landscape | Telemetry> =>
      Effect.gen(function* () {
        let budget = maxBytes
        let promptBytes = 0
        let promptTruncated = false
        const messages = Prompt.make(prompt).content.map((message) => {
          const text = redact(messageText(message))
          const capped = Redaction.cap(text, Math.max(0, budget))
          budget -= Buffer.byteLength(capped.text)
          promptBytes += capped.bytes
          promptTruncated ||= capped.truncated
          return { role: message.role, text: capped.text }
        })
        const request = {
          provider: options.provider,
          model: options.model,
          prompt: messages,
          bytes: promptBytes,
          truncated: promptTruncated
        }
        const waitedMs = yield* RateLimit.acquire(options.rateLimit)
        const base = waitedMs === undefined ? common : { ...common, [RateLimit.waitAttribute]: waitedMs }
        const start = performance.now()
        const exit = yield* Effect.exit(call)
        const latencyMs = performance.now() - start
        const metric = { provider: options.provider, model: options.model, latencyMs }
        if (Exit.isFailure(exit)) {
          yield* ClientMetrics.recordLlm({ ...metric, status: "error" })
          const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
          yield* recordCall({
            callType: "llm",
            status: "error",
            request,
            attributes: { ...base, "error.type": failure?._tag ?? "defect" },
            error: redact(failure === undefined ? "defect" : `${failure._tag}: ${failure.message}`),
            latencyMs
          })
          return yield* Effect.failCause(exit.cause)
        }
        const response = exit.value
        const usage = response.usage
        const completion = Redaction.cap(redact(response.text), maxBytes)
        const metadata = response.content.find((p) => p.type === "response-metadata")
        const responseModel = metadata !== undefined && metadata.type === "response-metadata"
          ? Option.getOrUndefined(metadata.modelId)
          : undefined
        const cost = Pricing.cost(pricing, options.provider, options.model, usage)
        if (!priced) {
          yield* Effect.logWarning(
            `Pricing: no price for ${options.provider}/${options.model} in table ${pricing.version}; cost recorded as null`
          )
        }
        const attributes: Record<string, AttributeValue> = {
          ...base,
          "gen_ai.response.finish_reasons": response.finishReason,
          "gen_ai.usage.input_tokens": usage.inputTokens ?? 0,
          "gen_ai.usage.output_tokens": usage.outputTokens ?? 0,
          "sightline.llm.usage.total_tokens": usage.totalTokens ?? (usage.inputTokens ?? 0) + (usage.outputTokens ?? 0)
        }
        if (responseModel !== undefined) attributes["gen_ai.response.model"] = responseModel
        if (usage.cachedInputTokens !== undefined) attributes["sightline.llm.usage.cached_input_tokens"] = usage.cachedInputTokens
        if (usage.reasoningTokens !== undefined) attributes["sightline.llm.usage.reasoning_tokens"] = usage.reasoningTokens
        if (Option.isSome(cost)) attributes["sightline.llm.cost_usd"] = cost.value.usd
        yield* ClientMetrics.recordLlm({
          ...metric,
          status: "success",
          ...(usage.inputTokens === undefined ? {} : { inputTokens: usage.inputTokens }),
          ...(usage.outputTokens === undefined ? {} : { outputTokens: usage.outputTokens }),
          ...(Option.isSome(cost) ? { costUsd: cost.value.usd } : {})
        })
        yield* recordCall({
          callType: "llm",
          status: "success",
          request,
          response: {
            text: completion.text,
            bytes: completion.bytes,
            truncated: completion.truncated,
            finishReason: response.finishReason,
            ...(responseModel === undefined ? {} : { responseModel })
          },
          attributes,
          latencyMs
        })
        yield* Effect.annotateCurrentSpan({
          "gen_ai.response.finish_reasons": response.finishReason,
          "gen_ai.usage.input_tokens": usage.inputTokens ?? 0,
          "gen_ai.usage.output_tokens": usage.outputTokens ?? 0,
          ...(responseModel === undefined ? {} : { "gen_ai.response.model": responseModel })
        })
        return response
      }).pipe(
        // The GenAI client span (semconv v1.41.0 gen-ai-spans.md): `{operation} {model}`, kind client.
        Effect.withSpan(`chat ${options.model}`, {
          kind: "client",
          captureStackTrace: false,
          attributes: {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": options.provider,
            "gen_ai.request.model": options.model
          }
        })
      )

    return {
      provider: options.provider,
      model: options.model,
      generateText: ({ prompt }) => audited(prompt, lm.generateText({ prompt })),
      generateObject: ({ objectName, prompt, schema }) =>
        audited(prompt, lm.generateObject(objectName === undefined ? { prompt, schema } : { prompt, schema, objectName }))
    }
  })

/**
 * The {@link AuditedLlmClient} service over the `LanguageModel` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<AuditedLlmClient, never, LanguageModel.LanguageModel> =>
  Layer.effect(AuditedLlmClient, make(options))

/**
 * Token and cost totals of a set of LLM calls. `costUsd` sums the priced calls; `unpricedCalls`
 * counts calls whose model had no price (their cost is unknown, not zero); `costUsd` is `null`
 * when no call was priced. `RunTotals` holds them for a whole run and per node.
 *
 * @since 0.1.0
 */
export type { RunTotals, Totals } from "./internal/usage.js"

/**
 * Tokens and cost of the LLM calls of `runId`, for the run and per node (in pipeline order),
 * read from the run's statistics, which each recorded call updates in its own transaction
 * (`verify` recounts them from the `calls` table). The same totals are in `RunSummary.llm`. Fails
 * with `LandscapeError`.
 *
 * @since 0.1.0
 */
export const usageTotals = (runId: string): Effect.Effect<RunTotals, LandscapeError, Landscape> =>
  Effect.flatMap(Landscape, (landscape) => landscape.llmUsage(runId))
