/**
 * `/metrics` against the real tools: `promtool check metrics` (Debian `prometheus` 2.42) on what
 * the server returns, and a real Prometheus started here that scrapes it and answers a query.
 * CI installs the package (.ci/run); elsewhere the two tool tests are skipped when it is missing.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Metric, Option, Scope } from "effect"
import { execFileSync, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PipelineMetric, PrometheusExporter } from "../src/index.js"
import { closedPort } from "./otlp/_receiver.js"

const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0
const tools = has("promtool") && has("prometheus")
if (!tools && process.env.CI !== undefined) throw new Error("CI must have promtool and prometheus (apt-get install prometheus)")

const record = Effect.gen(function* () {
  yield* Metric.incrementBy(Metric.taggedWithLabels(PipelineMetric.rowsRouted, PipelineMetric.labels({ sink: "delayed" })), 42)
  yield* Metric.incrementBy(Metric.taggedWithLabels(PipelineMetric.rowsRead, PipelineMetric.labels({ node: "source" })), 3)
  yield* Metric.update(Metric.taggedWithLabels(PipelineMetric.nodeStateDuration, PipelineMetric.labels({ node: "enrich", status: "completed" })), 0.02)
  yield* Metric.update(
    Metric.taggedWithLabels(PipelineMetric.genAiTokenUsage, PipelineMetric.labels({ "gen_ai.token.type": "input", "gen_ai.request.model": "gpt-4o-mini" })),
    120
  )
  yield* Metric.incrementBy(Metric.taggedWithLabels(PipelineMetric.llmCost, PipelineMetric.labels({ provider: "openai" })), 0.25)
})

/** Serves /metrics on a free port for the duration of `body`. */
const serving = <A, E>(body: (url: string) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const port = yield* Effect.promise(closedPort)
    return yield* Effect.scoped(Effect.flatMap(Layer.build(PrometheusExporter.layer({ port })), () => body(`http://127.0.0.1:${port}`)))
  })

const get = (url: string) => Effect.promise(() => fetch(url).then(async (r) => ({ type: r.headers.get("content-type"), text: await r.text() })))

describe("PrometheusExporter", () => {
  it("maps names by the OpenTelemetry compatibility rules, without the type segment", () => {
    expect(PrometheusExporter.prometheusName("pipeline.engine.node.histogram.state_duration", "s", false)).toBe("pipeline_engine_node_state_duration_seconds")
    expect(PrometheusExporter.prometheusName("pipeline.engine.sink.counter.rows_routed", "{row}", true)).toBe("pipeline_engine_sink_rows_routed_total")
    expect(PrometheusExporter.prometheusName("gen_ai.client.token.usage", "{token}", false)).toBe("gen_ai_client_token_usage")
    expect(PrometheusExporter.prometheusName("gen_ai.client.operation.duration", "s", false)).toBe("gen_ai_client_operation_duration_seconds")
    expect(PrometheusExporter.prometheusName("pipeline.io.file.gauge.size_bytes", "By", false)).toBe("pipeline_io_file_size_bytes")
    expect(PrometheusExporter.prometheusName("pipeline.telemetry.exporter.gauge.circuit_open", "1", false)).toBe("pipeline_telemetry_exporter_circuit_open")
  })

  it.live("serves text format 0.0.4 with HELP, TYPE, histogram buckets and sanitized labels", () =>
    Effect.gen(function* () {
      yield* record
      const { text, type } = yield* serving((url) => get(`${url}/metrics`))
      expect(type).toBe(PrometheusExporter.contentType)
      expect(text).toMatch(/^# TYPE pipeline_engine_sink_rows_routed_total counter$/m)
      expect(text).toMatch(/^pipeline_engine_sink_rows_routed_total\{sink="delayed"\} \d+$/m)
      expect(text).toMatch(/^# TYPE pipeline_engine_node_state_duration_seconds histogram$/m)
      expect(text).toMatch(/^pipeline_engine_node_state_duration_seconds_bucket\{node="enrich",status="completed",le="\+Inf"\} \d+$/m)
      expect(text).toMatch(/^gen_ai_client_token_usage_bucket\{gen_ai_token_type="input",gen_ai_request_model="gpt-4o-mini",le="256"\} \d+$/m)
      expect(text).not.toMatch(/counter_|histogram_|gauge_/)
    }))

  it.live("closing the layer ends a scraper's open connection instead of waiting for it", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(closedPort)
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(PrometheusExporter.layer({ port }), scope)
      // A scraper in the middle of its next request on a kept-alive connection: Node's `close`
      // alone waits for it (until the server's headers time-out, a minute).
      const socket = connect(port, "127.0.0.1")
      yield* Effect.async<void>((resume) => void socket.once("connect", () => resume(Effect.void)))
      socket.write("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n")
      yield* Effect.sleep("100 millis")
      const closed = yield* Scope.close(scope, Exit.void).pipe(Effect.disconnect, Effect.timeout("3 seconds"), Effect.option)
      socket.destroy()
      expect(Option.isSome(closed)).toBe(true)
    }))

  it.live.skipIf(!tools)("promtool check metrics passes on the served /metrics", () =>
    Effect.gen(function* () {
      yield* record
      const { text } = yield* serving((url) => get(`${url}/metrics`))
      const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" })
      expect(check.stderr + check.stdout).toBe("")
      expect(check.status).toBe(0)
    }))

  it.live.skipIf(!tools)("a real Prometheus scrapes it and answers a query for one series", () =>
    Effect.gen(function* () {
      yield* record
      const dir = mkdtempSync(join(tmpdir(), "sightline-prom-"))
      const result = yield* serving((url) =>
        Effect.acquireUseRelease(
          Effect.promise(async () => {
            const port = await closedPort()
            const config = join(dir, "prom.yml")
            writeFileSync(config, `global: {scrape_interval: 1s}\nscrape_configs: [{job_name: sightline, static_configs: [{targets: ['${url.slice(7)}']}]}]\n`)
            execFileSync("promtool", ["check", "config", config])
            const proc = spawn("prometheus", [
              `--config.file=${config}`,
              `--storage.tsdb.path=${join(dir, "data")}`,
              `--web.listen-address=127.0.0.1:${port}`
            ], { stdio: "ignore" })
            return { proc, base: `http://127.0.0.1:${port}` }
          }),
          ({ base }) =>
            Effect.promise(async () => {
              const query = `${base}/api/v1/query?query=${encodeURIComponent('pipeline_engine_sink_rows_routed_total{sink="delayed"}')}`
              // Prometheus 2.42 starts scraping after a fixed delay of about 5 s (peers.md §2).
              for (let i = 0; i < 300; i++) {
                const body = await fetch(query).then((r) => r.json() as Promise<{ data?: { result?: Array<{ value: [number, string] }> } }>).catch(() => undefined)
                const value = body?.data?.result?.[0]?.value[1]
                if (value !== undefined) return Number(value)
                await new Promise((resolve) => setTimeout(resolve, 100))
              }
              return undefined
            }),
          ({ proc }) => Effect.sync(() => proc.kill("SIGTERM"))
        )
      )
      expect(result).toBeGreaterThanOrEqual(42)
    }), 60_000)
})
