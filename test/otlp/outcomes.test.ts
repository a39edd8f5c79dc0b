/**
 * What happens to a batch of log records for each answer of a local OTLP receiver, with exact
 * accounting in `Telemetry.stats` (specification `protocol/otlp.md`: retry only 429, 502, 503,
 * 504 and transport errors, honouring `Retry-After`; `partial_success` rejections are drops).
 */
import { describe, expect, it } from "@effect/vitest"
import { type Duration, Effect, Schedule } from "effect"
import { OtlpExporter, Telemetry, TelemetryStats } from "../../src/index.js"
import { parseRetryAfter } from "../../src/internal/otlp/transport.js"
import { row } from "../hub/_helpers.js"
import { decodeProtobuf, partialSuccess } from "./_proto.js"
import { closedPort, type Reply, startReceiver } from "./_receiver.js"
import { quiet, runWith } from "./_run.js"

const N = 10
const events = Array.from({ length: N }, (_, i) => row(i))

/** Sends one batch of N events to a receiver answering `script`; returns the stats and what it received. */
const scenario = (script: (index: number) => Reply, extra: { readonly timeout?: Duration.DurationInput; readonly url?: string } = {}) =>
  Effect.gen(function* () {
    const receiver = yield* Effect.promise(() => startReceiver((_r, i) => script(i)))
    const { result, stats } = yield* runWith(
      Telemetry.layer({
        exporters: [OtlpExporter.logs({ url: extra.url ?? receiver.url, timeout: extra.timeout ?? "2 seconds" })],
        retry: Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(2))),
        exportTimeout: "5 seconds",
        lastResort: quiet
      }),
      // Read before the layer closes: closing adds a last drop report (an EventsDropped batch).
      (t) => Effect.zipRight(Effect.zipRight(t.emitAll(events), t.flush), Effect.map(t.stats, (s) => ({ s, received: [...receiver.received] })))
    )
    yield* Effect.promise(() => receiver.close())
    expect(TelemetryStats.unaccounted(stats, "otlp-logs")).toBe(0)
    expect(TelemetryStats.unaccounted(result.s, "otlp-logs")).toBe(0)
    return { otlp: result.s.exporters["otlp-logs"]!, received: result.received }
  })

describe("OTLP outcomes and accounting", () => {
  it.live("200: all exported, one request", () =>
    Effect.gen(function* () {
      const { otlp, received } = yield* scenario(() => ({ status: 200 }))
      expect(received).toHaveLength(1)
      expect(otlp).toMatchObject({ exported: N, retries: 0, batchesExported: 1, dropped: { exportFailed: 0 } })
    }))

  it.live("requests carry at most maxBatchSize records: 2048 by default, or as given", () =>
    Effect.gen(function* () {
      const many = Array.from({ length: 5000 }, (_, i) => row(i))
      const recordsPerRequest = (maxBatchSize?: number) =>
        Effect.gen(function* () {
          const receiver = yield* Effect.promise(() => startReceiver())
          const { stats } = yield* runWith(
            Telemetry.layer({
              exporters: [OtlpExporter.logs({ url: receiver.url, ...(maxBatchSize === undefined ? {} : { maxBatchSize }) })],
              exporterQueue: { capacity: 4096, strategy: "block" },
              lastResort: quiet
            }),
            (t) => Effect.zipRight(t.emitAll(many), t.flush)
          )
          yield* Effect.promise(() => receiver.close())
          expect(stats.exporters["otlp-logs"]).toMatchObject({ exported: 5000, dropped: { exportFailed: 0, queueOverflow: 0 } })
          return receiver.received.map((r) => {
            const resourceLogs = decodeProtobuf("logs", r.body)["resourceLogs"] as Array<{ scopeLogs: Array<{ logRecords: Array<unknown> }> }>
            return resourceLogs[0]!.scopeLogs[0]!.logRecords.length
          })
        })
      const byDefault = yield* recordsPerRequest()
      expect(Math.max(...byDefault)).toBe(2048)
      expect(byDefault.reduce((a, b) => a + b, 0)).toBe(5000)
      const given = yield* recordsPerRequest(1000)
      expect(Math.max(...given)).toBe(1000)
      expect(given.reduce((a, b) => a + b, 0)).toBe(5000)
    }))

  it.live("400: not retried, the batch dropped and counted", () =>
    Effect.gen(function* () {
      const { otlp, received } = yield* scenario(() => ({ status: 400 }))
      expect(received).toHaveLength(1)
      expect(otlp).toMatchObject({ exported: 0, retries: 0, batchesFailed: 1, dropped: { exportFailed: N } })
      expect(otlp.lastError).toMatch(/HTTP 400/)
    }))

  it.live("429 with Retry-After: 1 second: retried after at least that, then delivered", () =>
    Effect.gen(function* () {
      const { otlp, received } = yield* scenario((i) => (i === 0 ? { status: 429, headers: { "retry-after": "1" } } : { status: 200 }))
      expect(received).toHaveLength(2)
      expect(received[1]!.at - received[0]!.at).toBeGreaterThanOrEqual(950)
      expect(otlp).toMatchObject({ exported: N, retries: 1, dropped: { exportFailed: 0 } })
    }))

  it.live("503 with an HTTP-date Retry-After: waits until then, then delivered", () =>
    Effect.gen(function* () {
      const { otlp, received } = yield* scenario((i) =>
        i === 0 ? { status: 503, headers: { "retry-after": new Date(Date.now() + 2000).toUTCString() } } : { status: 200 })
      expect(received).toHaveLength(2)
      expect(received[1]!.at - received[0]!.at).toBeGreaterThanOrEqual(900) // HTTP dates have 1 s resolution
      expect(otlp).toMatchObject({ exported: N, retries: 1 })
    }))

  it.live("a Retry-After longer than the export time-out gives up at once", () =>
    Effect.gen(function* () {
      const { otlp, received } = yield* scenario(() => ({ status: 503, headers: { "retry-after": "120" } }))
      expect(received).toHaveLength(1)
      expect(otlp).toMatchObject({ exported: 0, retries: 0, dropped: { exportFailed: N } })
    }))

  it.live("502 and 504 are retried until the schedule ends; 500 is not", () =>
    Effect.gen(function* () {
      const bad = yield* scenario((i) => ({ status: i % 2 === 0 ? 502 : 504 }))
      expect(bad.received).toHaveLength(3)
      expect(bad.otlp).toMatchObject({ exported: 0, retries: 2, dropped: { exportFailed: N } })
      const internal = yield* scenario(() => ({ status: 500 }))
      expect(internal.received).toHaveLength(1)
    }))

  it.live("partial success: the rejected records are drops with the receiver's reason, the rest exported", () =>
    Effect.gen(function* () {
      const { otlp } = yield* scenario(() => ({ status: 200, body: partialSuccess("logs", 3, "attribute too long") }))
      expect(otlp).toMatchObject({ exported: N - 3, dropped: { exportFailed: 3 }, rejected: { "attribute too long": 3 } })
    }))

  it.live("a hung receiver: each attempt times out, is retried, and the batch is dropped", () =>
    Effect.gen(function* () {
      const { otlp, received } = yield* scenario(() => "hang", { timeout: "200 millis" })
      expect(received).toHaveLength(3)
      expect(otlp).toMatchObject({ exported: 0, retries: 2, dropped: { exportFailed: N } })
      expect(otlp.lastError).toMatch(/timed out after 200ms/)
    }))

  it.live("a connection reset and a refused connection are transport errors: retried, then dropped", () =>
    Effect.gen(function* () {
      const reset = yield* scenario(() => "reset")
      expect(reset.received).toHaveLength(3)
      expect(reset.otlp).toMatchObject({ exported: 0, retries: 2, dropped: { exportFailed: N } })
      const refused = yield* scenario(() => ({ status: 200 }), { url: `http://127.0.0.1:${yield* Effect.promise(closedPort)}` })
      expect(refused.received).toHaveLength(0)
      expect(refused.otlp).toMatchObject({ exported: 0, retries: 2, dropped: { exportFailed: N } })
      expect(refused.otlp.lastError).toMatch(/transport error/)
    }))
})

describe("Retry-After", () => {
  it("reads delta-seconds and HTTP dates, and ignores anything else", () => {
    const now = Date.parse("Sun, 06 Nov 1994 08:49:37 GMT")
    expect(parseRetryAfter("120", now)).toBe(120_000)
    expect(parseRetryAfter("Sun, 06 Nov 1994 08:49:40 GMT", now)).toBe(3000)
    expect(parseRetryAfter("Sun, 06 Nov 1994 08:49:30 GMT", now)).toBe(0)
    expect(parseRetryAfter("soon", now)).toBeUndefined()
    expect(parseRetryAfter(undefined, now)).toBeUndefined()
  })
})
