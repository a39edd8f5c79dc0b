/**
 * W3C Trace Context and Baggage: the grammar (the cases of the official suite, w3c/trace-context
 * `test/test.py`, which CI cannot fetch: see .ci/run), and propagation through the inbound
 * middleware to an outbound call, over real HTTP on 127.0.0.1.
 */
import { HttpClient, HttpClientRequest, HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { createServer } from "node:http"
import { TraceContext } from "../src/index.js"
import { startReceiver } from "./otlp/_receiver.js"

const ok = "00-12345678901234567890123456789012-1234567890123456-01"
const parse = (h: string | ReadonlyArray<string>) => Option.getOrUndefined(TraceContext.parseTraceparent(h))
const state = (h: string | ReadonlyArray<string>) => Option.getOrUndefined(TraceContext.parseTracestate(h))

describe("traceparent", () => {
  it("accepts a valid header, with surrounding spaces and tabs", () => {
    for (const h of [ok, ` ${ok}`, `\t${ok}`, `${ok} `, `\t ${ok} \t`]) {
      expect(parse(h)).toEqual({ traceId: "12345678901234567890123456789012", parentId: "1234567890123456", flags: 1 })
    }
  })
  it("refuses what the grammar refuses", () => {
    const bad = [
      "ff-12345678901234567890123456789012-1234567890123456-01", // version ff
      ".0-12345678901234567890123456789012-1234567890123456-01",
      "000-12345678901234567890123456789012-1234567890123456-01",
      "0-12345678901234567890123456789012-1234567890123456-01",
      "00-00000000000000000000000000000000-1234567890123456-01", // all-zero trace id
      "00-12345678901234567890123456789012-0000000000000000-01", // all-zero parent id
      "00-1234567890123456789012345678901.-1234567890123456-01",
      "00-1234567890123456789012345678901-1234567890123456-01",
      "00-123456789012345678901234567890123-1234567890123456-01",
      "00-12345678901234567890123456789012-123456789012345.-01",
      "00-12345678901234567890123456789012-12345678901234567-01",
      "00-12345678901234567890123456789012-1234567890123456-.0",
      "00-12345678901234567890123456789012-1234567890123456-011",
      "00-12345678901234567890123456789012-1234567890123456-0",
      "00-12345678901234567890123456789012-1234567890123456-01.", // version 00 with trailing characters
      "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
      "00-ABCDEF78901234567890123456789012-1234567890123456-01", // uppercase
      "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like"
    ]
    for (const h of bad) expect(parse(h), h).toBeUndefined()
    expect(parse([ok, ok])).toBeUndefined() // repeated header
  })
  it("reads a future version by its first 55 characters, and writes version 00 with known flags only", () => {
    expect(parse("cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like")?.traceId).toBe(
      "12345678901234567890123456789012"
    )
    expect(TraceContext.formatTraceparent("12345678901234567890123456789012", "1234567890123456", 0xff)).toBe(
      "00-12345678901234567890123456789012-1234567890123456-03"
    )
  })
})

describe("tracestate", () => {
  it("joins headers in order, ignores empty members and OWS, keeps the first of a repeated key", () => {
    expect(state(["foo=1,bar=2", "", "rojo=1 \t , \t congo=2", "foo=9"])).toEqual([["foo", "1"], ["bar", "2"], ["rojo", "1"], ["congo", "2"]])
  })
  it("accepts the whole grammar: 32 members, keys of 256, vendor keys with @", () => {
    const many = Array.from({ length: 32 }, (_, i) => `bar${i}=${i}`).join(",")
    expect(state(many)).toHaveLength(32)
    expect(state(`${"z".repeat(256)}=1`)).toHaveLength(1)
    expect(state("foo@=1,foo@@bar=2,t@vvvvvvvvvvvvvvv=3")).toHaveLength(3)
    const value = Array.from({ length: 0x7e - 0x20 + 1 }, (_, i) => String.fromCharCode(0x20 + i)).filter((c) => c !== "," && c !== "=").join("")
    expect(state(`a=${value}`)).toEqual([["a", value]])
  })
  it("discards the whole header on one bad member or more than 32", () => {
    for (const h of ["foo =1", "FOO=1", "foo.bar=1", "@foo=1,bar=2", `${"z".repeat(257)}=1`, "foo=bar=baz", "foo=,bar=3"]) {
      expect(state(["ok=1", h]), h).toBeUndefined()
    }
    expect(state(Array.from({ length: 33 }, (_, i) => `bar${i}=${i}`).join(","))).toBeUndefined()
    expect(state("")).toBeUndefined()
  })
})

describe("baggage", () => {
  it("parses and formats, percent-decoding values and dropping properties", () => {
    const b = Option.getOrThrow(TraceContext.parseBaggage("userId=al%20ice;prop=1, tenant=acme"))
    expect(b).toEqual([["userId", "al ice"], ["tenant", "acme"]])
    expect(TraceContext.formatBaggage(b)).toBe("userId=al%20ice,tenant=acme")
    expect(TraceContext.parseBaggage("=x")).toEqual(Option.none())
  })
})

describe("propagation through the inbound middleware", () => {
  it.live("continues the caller's trace with a new parent id, its tracestate and random flag; baggage only when asked, redacted", () =>
    Effect.gen(function* () {
      const sink = yield* Effect.promise(() => startReceiver())
      const router = HttpRouter.empty.pipe(
        HttpRouter.get(
          "/work",
          Effect.gen(function* () {
            const client = (yield* HttpClient.HttpClient).pipe(HttpClient.withTracerPropagation(false))
            const call = (baggage: boolean) =>
              Effect.flatMap(TraceContext.headers({ baggage }), (h) => client.execute(HttpClientRequest.get(`${sink.url}/cb`, { headers: h }))).pipe(
                Effect.withSpan("cb", { kind: "client" }),
                Effect.scoped
              )
            yield* call(false)
            yield* call(true)
            return HttpServerResponse.empty()
          })
        )
      )
      const server = TraceContext.serve(router).pipe(Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })))
      yield* Effect.scoped(
        Effect.gen(function* () {
          const ctx = yield* Layer.build(server)
          const address = yield* HttpServer.addressFormattedWith((a) => Effect.succeed(a)).pipe(Effect.provide(ctx))
          const client = (yield* HttpClient.HttpClient).pipe(HttpClient.withTracerPropagation(false))
          yield* client.execute(HttpClientRequest.get(`${address}/work`, {
            headers: {
              traceparent: "00-12345678901234567890123456789012-1234567890123456-02",
              tracestate: "vendor=abc,other=1",
              baggage: "tenant=acme,password=hunter2"
            }
          }))
        })
      )
      yield* Effect.promise(() => sink.close())
      const [plain, withBaggage] = sink.received
      const tp = Option.getOrThrow(TraceContext.parseTraceparent(String(plain!.headers["traceparent"])))
      expect(tp.traceId).toBe("12345678901234567890123456789012")
      expect(tp.parentId).not.toBe("1234567890123456")
      expect(tp.flags).toBe(0x02) // not sampled, random flag propagated
      expect(plain!.headers["tracestate"]).toBe("vendor=abc,other=1")
      expect(plain!.headers["baggage"]).toBeUndefined()
      expect(withBaggage!.headers["baggage"]).toBe("tenant=acme")
      expect(withBaggage!.headers["traceparent"]).not.toBe(plain!.headers["traceparent"])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})
