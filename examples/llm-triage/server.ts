/**
 * A tiny OpenAI-compatible server (the `POST /v1/responses` endpoint of the Responses API, the one
 * `@effect/ai-openai` calls) on 127.0.0.1 with an OS-assigned port. It "classifies" the last user
 * text with a keyword rule, and reports token usage as ceil(characters / 4), the rough rule OpenAI
 * documents (https://platform.openai.com/tokenizer). Used by the example and by the tests.
 */
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer, type Scope } from "effect"
import { createServer } from "node:http"

export interface Usage {
  readonly input: number
  readonly output: number
  readonly cached: number
  readonly reasoning: number
}

export interface ServerOptions {
  /** Required `Authorization: Bearer <apiKey>`; a request without it gets 401. Default: none checked. */
  readonly apiKey?: string
  /** The reply, from the last user text and the whole prompt. Default {@link answer}. */
  readonly reply?: (last: string, prompt: string) => string
  /** Token usage reported. Default: ceil(chars / 4) in and out, nothing cached, no reasoning. */
  readonly usage?: (text: string, reply: string) => Usage
  /** Status to answer with instead (e.g. 500), for failure tests. */
  readonly failWith?: number
}

export interface RequestSeen {
  readonly headers: Readonly<Record<string, string>>
  readonly body: unknown
}

const labels: ReadonlyArray<readonly [RegExp, string]> = [
  [/\b(love|romance|wedding|heart|kiss|bride)\b/i, "romance"],
  [/\b(war|battle|soldier|army|kill|die|dead|gun|attack|fight)\b/i, "action"],
  [/\b(ghost|evil|night|dark|horror|blood|scream|fear|terror)\b/i, "horror"],
  [/\b(star|space|alien|planet|future|robot|galaxy)\b/i, "sci-fi"],
  [/\b(funny|comedy|dumb|party|crazy|wild)\b/i, "comedy"]
]

/** The keyword classifier: the first label whose words occur in `text`, else `drama`. */
export const classify = (text: string): string => labels.find(([re]) => re.test(text))?.[1] ?? "drama"

const audiences: Record<string, string> = { action: "adults", horror: "adults", romance: "adults", comedy: "teens", "sci-fi": "teens", drama: "adults" }

/** The default reply: the audience when the prompt asks for one, else the genre of the last text. */
export const answer = (last: string, prompt: string): string =>
  /audience/i.test(prompt) ? (/\b(kid|family|little|toy|animal|dog|christmas)\b/i.test(last) ? "family" : audiences[classify(last)] ?? "adults") : classify(last)

const texts = (value: unknown): Array<string> => {
  if (typeof value === "string") return [value]
  if (Array.isArray(value)) return value.flatMap(texts)
  if (value !== null && typeof value === "object") {
    const o = value as Record<string, unknown>
    if (typeof o["text"] === "string") return [o["text"]]
    return texts(o["content"])
  }
  return []
}

const tokens = (text: string) => Math.max(1, Math.ceil(text.length / 4))

/** Starts the server for the current scope; returns its base URL (ending in `/v1`) and the requests seen. */
export const start = (options: ServerOptions = {}): Effect.Effect<{ readonly baseUrl: string; readonly seen: Array<RequestSeen> }, never, Scope.Scope> =>
  Effect.gen(function* () {
    const seen: Array<RequestSeen> = []
    let n = 0
    const responses = Effect.gen(function* () {
      const req = yield* HttpServerRequest.HttpServerRequest
      const body = (yield* Effect.orDie(req.json)) as Record<string, unknown>
      seen.push({ headers: { ...req.headers }, body })
      if (options.apiKey !== undefined && req.headers["authorization"] !== `Bearer ${options.apiKey}`) {
        return HttpServerResponse.unsafeJson({ error: { message: "Incorrect API key provided", type: "invalid_request_error", code: "invalid_api_key" } }, { status: 401 })
      }
      if (options.failWith !== undefined) {
        return HttpServerResponse.unsafeJson({ error: { message: "server error", type: "server_error" } }, { status: options.failWith })
      }
      const all = texts(body["input"])
      const prompt = all.join("\n")
      const last = all.at(-1) ?? ""
      const reply = (options.reply ?? answer)(last, prompt)
      const usage = options.usage?.(prompt, reply) ?? { input: tokens(prompt), output: tokens(reply), cached: 0, reasoning: 0 }
      n += 1
      const model = typeof body["model"] === "string" ? body["model"] : "unknown"
      return HttpServerResponse.unsafeJson({
        id: `resp_${n}`,
        object: "response",
        created_at: Math.floor(Date.now() / 1000),
        status: "completed",
        error: null,
        incomplete_details: null,
        instructions: null,
        model,
        output: [{
          type: "message",
          id: `msg_${n}`,
          status: "completed",
          role: "assistant",
          content: [{ type: "output_text", text: reply, annotations: [] }]
        }],
        parallel_tool_calls: true,
        tool_choice: "auto",
        tools: [],
        temperature: 1,
        top_p: 1,
        metadata: {},
        usage: {
          input_tokens: usage.input,
          input_tokens_details: { cached_tokens: usage.cached },
          output_tokens: usage.output,
          output_tokens_details: { reasoning_tokens: usage.reasoning },
          total_tokens: usage.input + usage.output
        }
      })
    })
    const router = HttpRouter.empty.pipe(HttpRouter.post("/v1/responses", responses))
    const ctx = yield* Layer.build(
      HttpServer.serve(router, (app) => app).pipe(
        Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
      )
    ).pipe(Effect.orDie)
    const address = Context.get(ctx, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("not a TCP address")
    return { baseUrl: `http://127.0.0.1:${address.port}/v1`, seen }
  })
