/**
 * The main job as a user starts it, with the standard OpenTelemetry variables pointed at a local
 * receiver: every event arrives as a log record, the run's spans and the sampled rows' spans
 * arrive with their parent links, and the engine's metrics arrive, all decoded with the official
 * protos. With SIGHTLINE_PROMETHEUS_PORT set it also serves `/metrics` while it runs.
 */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { get } from "node:http"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { tempDir } from "../helpers.js"
import { decodeProtobuf, hex } from "./_proto.js"
import { closedPort, startReceiver } from "./_receiver.js"

const root = join(import.meta.dirname, "..", "..")

interface Attr { readonly key: string; readonly value: { readonly stringValue?: string } }
interface LogRecord { readonly eventName?: string; readonly attributes?: ReadonlyArray<Attr> }
interface Span { readonly name: string; readonly spanId: string; readonly parentSpanId?: string; readonly traceId: string }
interface MetricData { readonly name: string }

const fetchText = (url: string) =>
  new Promise<string>((resolve, reject) => get(url, (res) => {
    let body = ""
    res.on("data", (d: Buffer) => (body += d.toString()))
    res.on("end", () => resolve(body))
  }).on("error", reject))

describe("OTEL_EXPORTER_OTLP_ENDPOINT=… npm start", () => {
  it("delivers every event, the run's and sampled rows' spans and the engine's metrics; /metrics is served while it runs", async () => {
    const receiver = await startReceiver()
    const dir = tempDir()
    const prometheusPort = await closedPort()
    const proc = spawn(process.execPath, ["--import", "tsx", join(root, "examples", "flights", "main.ts")], {
      cwd: root,
      env: { ...process.env, SIGHTLINE_OUT: dir, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: "flights", SIGHTLINE_PROMETHEUS_PORT: String(prometheusPort) },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stderr = ""
    proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    let scraped = ""
    const scrape = setInterval(() => {
      fetchText(`http://127.0.0.1:${prometheusPort}/metrics`).then((text) => {
        if (text.includes("pipeline_engine_source_rows_read_total")) scraped = text
      }, () => undefined)
    }, 200)
    const code = await new Promise<number | null>((resolve) => proc.on("close", resolve))
    clearInterval(scrape)
    await receiver.close()
    expect(code, stderr).toBe(0)

    const decoded = (signal: "logs" | "traces" | "metrics") =>
      receiver.received.filter((r) => r.path === `/v1/${signal}`).map((r) => decodeProtobuf(signal, r.body))
    const logs = decoded("logs").flatMap((d) =>
      (d.resourceLogs as Array<{ scopeLogs: Array<{ logRecords: Array<LogRecord> }> }>).flatMap((rl) => rl.scopeLogs.flatMap((s) => s.logRecords)))
    const events = readFileSync(join(dir, "events.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { _tag: string; traceId: string })
    expect(events.length).toBe(120_005)
    expect(logs.length).toBe(events.length)
    expect(logs.filter((l) => l.eventName === "sightline.token.completed").length).toBe(20_000)

    const spans = decoded("traces").flatMap((d) =>
      (d.resourceSpans as Array<{ scopeSpans: Array<{ spans: Array<Span> }> }>).flatMap((rs) => rs.scopeSpans.flatMap((s) => s.spans)))
    const run = spans.find((s) => s.name === "sightline.run")!
    expect(hex(run.traceId)).toBe(events[0]!.traceId)
    const rows = spans.filter((s) => s.name === "sightline.row")
    // Rows are sampled for spans of their own at 1 in 1000 by default (deterministic on the row id).
    expect(rows.length).toBeGreaterThan(5)
    expect(rows.length).toBeLessThan(60)
    expect(rows.every((r) => r.parentSpanId === run.spanId)).toBe(true)
    const steps = spans.filter((s) => s.name.startsWith("sightline.transform ") || s.name.startsWith("sightline.gate "))
    expect(steps.length).toBe(rows.length * 4)
    expect(steps.every((s) => rows.some((r) => r.spanId === s.parentSpanId))).toBe(true)

    const metrics = new Set(decoded("metrics").flatMap((d) =>
      (d.resourceMetrics as Array<{ scopeMetrics: Array<{ metrics: Array<MetricData> }> }>).flatMap((rm) => rm.scopeMetrics.flatMap((s) => s.metrics.map((m) => m.name)))))
    for (const name of ["pipeline.engine.source.counter.rows_read", "pipeline.engine.sink.counter.rows_routed", "pipeline.engine.node.histogram.state_duration"]) {
      expect(metrics).toContain(name)
    }
    expect(scraped).toMatch(/pipeline_engine_sink_rows_routed_total\{sink="on_time"\} \d+/)
  }, 120_000)
})
