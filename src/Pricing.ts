/**
 * A versioned table of LLM prices, and the cost of one call from its token usage.
 *
 * Prices are USD per 1 000 000 tokens, keyed by `"<provider>/<model>"` exactly as the call names
 * them (`gen_ai.provider.name` / `gen_ai.request.model`). There is no fuzzy matching: a dated
 * snapshot such as `gpt-4o-2024-05-13` can be priced differently from its alias, so a model that is
 * not in the table has no cost (`Option.none()`), never a guess.
 *
 * Token accounting follows `@effect/ai`'s `Response.Usage` as the OpenAI provider fills it (OpenAI
 * Responses API `usage`): `cachedInputTokens` are part of `inputTokens`, and `reasoningTokens` are
 * part of `outputTokens`. Each part is priced at its own rate:
 *
 *   cost = (input − cached) × input + cached × cachedInput + (output − reasoning) × output + reasoning × reasoning
 *
 * where a missing `cachedInput` rate falls back to `input`, and a missing `reasoning` rate to
 * `output` (OpenAI bills reasoning tokens as output tokens).
 *
 * @since 0.1.0
 */
import { Option } from "effect"

/**
 * Prices of one model, USD per 1 000 000 tokens.
 *
 * @since 0.1.0
 */
export interface ModelPrice {
  readonly input: number
  readonly output: number
  /** Cached (prompt-cache hit) input tokens. Default: the `input` rate. */
  readonly cachedInput?: number
  /** Reasoning tokens. Default: the `output` rate. */
  readonly reasoning?: number
}

/**
 * A price table. `version` is stored with every priced call (attribute `sightline.pricing.version`)
 * so a cost can always be traced to the prices it was computed from.
 *
 * @since 0.1.0
 */
export interface Table {
  readonly version: string
  /** Keyed by `"<provider>/<model>"`, e.g. `"openai/gpt-4o-mini"`. */
  readonly models: Readonly<Record<string, ModelPrice>>
}

/**
 * The built-in table: list prices published by OpenAI (https://openai.com/api/pricing) and
 * Anthropic (https://www.anthropic.com/pricing) for standard (non-batch) processing, as of its
 * version date. Prices change: check them before relying on the figures for billing, and override
 * with {@link make}.
 *
 * @since 0.1.0
 */
export const defaultTable: Table = {
  version: "sightline-default-2025-06-01",
  models: {
    "openai/gpt-4o": { input: 2.5, cachedInput: 1.25, output: 10 },
    "openai/gpt-4o-mini": { input: 0.15, cachedInput: 0.075, output: 0.6 },
    "openai/gpt-4.1": { input: 2, cachedInput: 0.5, output: 8 },
    "openai/gpt-4.1-mini": { input: 0.4, cachedInput: 0.1, output: 1.6 },
    "openai/gpt-4.1-nano": { input: 0.1, cachedInput: 0.025, output: 0.4 },
    "openai/o3-mini": { input: 1.1, cachedInput: 0.55, output: 4.4, reasoning: 4.4 },
    "openai/o4-mini": { input: 1.1, cachedInput: 0.275, output: 4.4, reasoning: 4.4 },
    "anthropic/claude-3-5-haiku-20241022": { input: 0.8, cachedInput: 0.08, output: 4 },
    "anthropic/claude-sonnet-4-20250514": { input: 3, cachedInput: 0.3, output: 15 }
  }
}

/**
 * Builds a table: `models` added to (and overriding entries of) `base`, which defaults to
 * {@link defaultTable}; pass `base: null` for a table of only your own prices. Throws a `RangeError`
 * on a negative or non-finite price.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly version: string
  readonly models: Readonly<Record<string, ModelPrice>>
  readonly base?: Table | null
}): Table => {
  for (const [key, price] of Object.entries(options.models)) {
    for (const [field, value] of Object.entries(price)) {
      if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
        throw new RangeError(`Pricing: ${key}.${field} must be a finite number ≥ 0, got ${String(value)}`)
      }
    }
  }
  const base = options.base === undefined ? defaultTable : options.base
  return { version: options.version, models: { ...(base?.models ?? {}), ...options.models } }
}

/**
 * Token usage of one call (`@effect/ai` `Response.Usage`); `undefined` counts as 0.
 *
 * @since 0.1.0
 */
export interface Usage {
  readonly inputTokens: number | undefined
  readonly outputTokens: number | undefined
  readonly cachedInputTokens?: number | undefined
  readonly reasoningTokens?: number | undefined
}

/**
 * The cost of one call, USD, in total and by part.
 *
 * @since 0.1.0
 */
export interface Cost {
  readonly usd: number
  readonly inputUsd: number
  readonly cachedInputUsd: number
  readonly outputUsd: number
  readonly reasoningUsd: number
  readonly tableVersion: string
}

/**
 * The price of `provider/model` in `table`, if listed.
 *
 * @since 0.1.0
 */
export const lookup = (table: Table, provider: string, model: string): Option.Option<ModelPrice> =>
  Option.fromNullable(Object.hasOwn(table.models, `${provider}/${model}`) ? table.models[`${provider}/${model}`] : undefined)

/**
 * The cost of a call with `usage` on `provider/model`; `Option.none()` when the model is not in
 * the table (the caller records cost `null`).
 *
 * @since 0.1.0
 */
export const cost = (table: Table, provider: string, model: string, usage: Usage): Option.Option<Cost> =>
  Option.map(lookup(table, provider, model), (price) => {
    const input = usage.inputTokens ?? 0
    const output = usage.outputTokens ?? 0
    const cached = Math.min(usage.cachedInputTokens ?? 0, input)
    const reasoning = Math.min(usage.reasoningTokens ?? 0, output)
    const perToken = (perMillion: number) => perMillion / 1_000_000
    const inputUsd = (input - cached) * perToken(price.input)
    const cachedInputUsd = cached * perToken(price.cachedInput ?? price.input)
    const outputUsd = (output - reasoning) * perToken(price.output)
    const reasoningUsd = reasoning * perToken(price.reasoning ?? price.output)
    return {
      usd: inputUsd + cachedInputUsd + outputUsd + reasoningUsd,
      inputUsd,
      cachedInputUsd,
      outputUsd,
      reasoningUsd,
      tableVersion: table.version
    }
  })
