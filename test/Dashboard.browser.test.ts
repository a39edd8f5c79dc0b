/// <reference lib="dom" />
/**
 * `sightline serve` in a real browser: headless Chromium from Debian (`/usr/bin/chromium`, or
 * SIGHTLINE_CHROMIUM) driven by puppeteer-core, against the command as users run it
 * (`node bin/sightline.mjs serve`, a child process) on Landscapes written by the real engine.
 *
 * - Every page shows what the Landscape holds: the runs and their statuses; a run's nodes, sinks
 *   and quarantine reasons; one row's steps and outcome. The test follows the links run → node →
 *   row as a user would click them.
 * - Row data and error messages holding markup (`<script>`, `"><img onerror=…>`) are shown as text:
 *   no script runs, no element is injected.
 * - A run in progress in another process (test/fixtures/run-child.ts) updates on the page while it
 *   runs, and shows `completed` when it ends.
 *
 * Screenshots go to the test's temporary folder; with SIGHTLINE_UPDATE_SCREENSHOTS=1, the run page's
 * is written to docs/dashboard-run.png too (the README's).
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { Context, Effect, Fiber, Layer, Option, Schedule, Schema } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { copyFileSync, existsSync } from "node:fs"
import { dirname, join } from "node:path"
import puppeteer, { type Browser, type Page } from "puppeteer-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Dashboard, Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, Telemetry } from "../src/index.js"
import { tempDir } from "./helpers.js"
import { copyOf, sharedLandscape } from "./support/landscapes.js"

const root = join(import.meta.dirname, "..")
const chromium = process.env.SIGHTLINE_CHROMIUM ?? "/usr/bin/chromium"
const shots = tempDir("sightline-dashboard-")

/** Markup in row data and in an error message: shown as text, or the test fails. */
const script = `<script>window.__xss = "script"</script>`
const img = `"><img src=x onerror="window.__xss='img'">`

const Visit = Schema.Struct({ id: Schema.Number, name: Schema.String, note: Schema.String })
const hostile = (dir: string) =>
  Pipeline.make({
    name: "visits",
    source: Source.fromIterable({
      name: "visits",
      schema: Visit,
      records: [{ id: 1, name: script, note: "fine" }, { id: 2, name: "bob", note: img }, { id: 3, name: "carol", note: "fine" }]
    })
  }).pipe(
    Pipeline.transform(Pipeline.makeTransform("check", (v: typeof Visit.Type) => v.note === "fine" ? Effect.succeed(v) : Effect.fail(new Error(`bad note ${v.note}`)))),
    Pipeline.toSinks({
      sinks: { kept: Sink.jsonLines<typeof Visit.Type>({ path: join(dir, "kept.jsonl") }) },
      default: "kept",
      quarantine: Sink.jsonLines({ path: join(dir, "quarantine.jsonl") })
    })
  )

interface Server {
  readonly url: string
  readonly stop: () => void
}

/** `sightline serve --db <db> --port 0`, until `stop`; resolves with its address once it listens. */
const serve = (db: string): Promise<Server> =>
  new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [join(root, "bin", "sightline.mjs"), "serve", "--db", db, "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    proc.stdout.on("data", (d: Buffer) => {
      out += d.toString()
      const url = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1]
      if (url !== undefined) resolve({ url, stop: () => proc.kill("SIGINT") })
    })
    proc.stderr.on("data", (d: Buffer) => (out += d.toString()))
    proc.on("exit", (code) => reject(new Error(`sightline serve exited ${code}: ${out}`)))
  })

const text = (page: Page, selector: string) => page.$eval(selector, (e) => (e as HTMLElement).innerText)
const cells = (page: Page, selector: string) =>
  page.$$eval(selector, (rows) => rows.map((r) => Array.from(r.querySelectorAll("td")).map((c) => (c as HTMLElement).innerText.trim())))
const num = (s: string | undefined) => Number((s ?? "").replace(/[^\d.]/g, ""))

let browser: Browser
let server: Server
let db: string
let runs: { readonly orders: string; readonly llm: string; readonly visits: string }

beforeAll(async () => {
  const shared = await sharedLandscape()
  db = copyOf(shared.db)
  const visits = await Effect.runPromise(Orchestrator.run(hostile(tempDir())).pipe(
    Effect.provide(Layer.merge(LandscapeSqlite.layer({ filename: db }), Telemetry.layerDisabled))
  ))
  runs = { orders: shared.orders, llm: shared.llm, visits: visits.runId }
  server = await serve(db)
  browser = await puppeteer.launch({ executablePath: chromium, args: ["--no-sandbox", "--disable-gpu"] })
}, 120_000)

afterAll(async () => {
  await browser?.close()
  server?.stop()
})

/** A new page that records every dialog (an `alert` from injected script would be one) and page error. */
const open = async (path: string) => {
  const page = await browser.newPage()
  await page.setViewport({ width: 1280, height: 900 })
  const incidents: Array<string> = []
  page.on("dialog", (d) => void incidents.push(`dialog ${d.message()}`).valueOf())
  page.on("pageerror", (e) => void incidents.push(`error ${String(e)}`))
  await page.goto(server.url + path, { waitUntil: "load" })
  return { page, incidents }
}

const landscape = <A>(effect: Effect.Effect<A, unknown, Landscape.Landscape>) =>
  Effect.runPromise(effect.pipe(Effect.provide(LandscapeSqlite.layer({ filename: db, readonly: true }))))

describe("sightline serve, in Chromium", () => {
  it("the runs, a run, a node and a row show what the Landscape holds, following the links a user clicks", async () => {
    const recorded = await landscape(Landscape.runs())
    const { page, incidents } = await open("/")
    const listed = await cells(page, "#runs tbody tr")
    expect(listed.map((r) => [r[0], r[1], r[2]])).toEqual(recorded.map((r) => [r.runId, r.pipeline, r.status]))
    await page.screenshot({ path: join(shots, "runs.png"), fullPage: true })

    // Run → its page: nodes, sinks, the quarantine reason.
    await Promise.all([page.waitForNavigation(), page.click(`a[href="/runs/${runs.orders}"]`)])
    const summary = Option.getOrThrow(await landscape(Landscape.runSummary(runs.orders)))
    const nodes = await cells(page, "#nodes tbody tr")
    expect(nodes.map((r) => [r[0], r[1], num(r[2]), num(r[4])])).toEqual(
      summary.nodes.map((n) => [n.name, n.kind, Object.values(n.states).reduce((a, b) => a + b, 0), n.states["failed"] ?? 0])
    )
    expect(Object.fromEntries((await cells(page, "#sinks tbody tr")).map((r) => [r[0], num(r[1])]))).toEqual(summary.sinks)
    expect((await cells(page, "#quarantine tbody tr")).map((r) => [r[0], num(r[3])])).toEqual(summary.quarantineReasons.map((q) => [q.node, q.count]))
    expect(await page.$$eval("#graph .node", (g) => g.map((n) => n.getAttribute("data-node")))).toEqual(summary.nodes.map((n) => n.name))
    // Integrity: "verify now" runs verify in the server's background; the page follows it to its outcome.
    await Promise.all([page.waitForNavigation(), page.click("#verify")])
    expect(new URL(page.url()).hash).toBe("#integrity")
    await page.waitForFunction(() => document.querySelector("#verification")?.getAttribute("data-verification") === "ok", { timeout: 20_000 })
    const report = await landscape(Landscape.verify(runs.orders))
    expect(await text(page, "#verification")).toContain(`${report.counts.links} links, ${report.counts.hashesChecked} hashes, ${report.counts.rows} rows`)
    await page.screenshot({ path: join(shots, "run.png"), fullPage: true })
    if (process.env.SIGHTLINE_UPDATE_SCREENSHOTS === "1") copyFileSync(join(shots, "run.png"), join(root, "docs", "dashboard-run.png"))

    // Node → its records, each linked to its row.
    await Promise.all([page.waitForNavigation(), page.click(`a[href="/runs/${runs.orders}/nodes/normalize"]`)])
    const records = await cells(page, "#records tbody tr")
    expect(records.length).toBe(summary.nodes.find((n) => n.name === "normalize")!.states["completed"])
    const rowLink = await page.$eval("#records tbody tr a", (a) => a.getAttribute("href")!)

    // Row → explain: its steps and outcome.
    await Promise.all([page.waitForNavigation(), page.click(`a[href="${rowLink}"]`)])
    const rowId = rowLink.split("/").at(-1)!
    const explained = Option.getOrThrow(await landscape(Landscape.explain({ runId: runs.orders, rowId })))
    expect((await cells(page, "#steps tbody tr")).map((r) => [r[1], r[3]])).toEqual(explained.states.map((s) => [s.node, s.status]))
    expect(await text(page, "#outcome")).toContain(explained.outcome.outcome!)
    expect(JSON.parse(await text(page, "#source"))).toEqual(explained.row.data.status === "stored" ? explained.row.data.value : null)
    await page.screenshot({ path: join(shots, "row.png"), fullPage: true })
    expect(incidents).toEqual([])
  }, 60_000)

  it("shows markup in row data and error messages as text: no script runs, nothing is injected", async () => {
    const { page, incidents } = await open(`/runs/${runs.visits}`)
    expect((await cells(page, "#quarantine tbody tr")).map((r) => r[2])).toEqual([`bad note ${img}`])
    await Promise.all([page.waitForNavigation(), page.click("#quarantine a")])
    // The failure as recorded, in JSON: the markup is its text.
    expect(await text(page, "#steps")).toContain(JSON.stringify(`bad note ${img}`))
    const explained = await landscape(Landscape.explain({ runId: runs.visits, rowIndex: 0 }))
    await page.goto(`${server.url}/runs/${runs.visits}/rows/${Option.getOrThrow(explained).row.rowId}`, { waitUntil: "load" })
    expect(JSON.parse(await text(page, "#source"))).toMatchObject({ name: script })
    for (const path of ["/", `/runs/${runs.visits}`, `/runs/${runs.visits}/nodes/check`]) await page.goto(server.url + path, { waitUntil: "load" })
    expect(await page.evaluate(() => (window as { __xss?: unknown }).__xss)).toBeUndefined()
    expect(await page.$$eval("img, script", (e) => e.length)).toBe(0)
    expect(incidents).toEqual([])
  }, 60_000)

  it("a run in progress in another process updates on its page, and shows completed when it ends", async () => {
    const dir = tempDir()
    const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", join("test", "fixtures", "run-child.ts"), dir, "12000"], {
      cwd: root,
      env: { ...process.env, RUN_CHILD_DAG: "1" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    const ended = new Promise((resolve) => child.on("exit", resolve))
    await new Promise<void>((resolve) => child.stdout!.on("data", (d: Buffer) => d.toString().includes("committed") && resolve()))
    expect(existsSync(join(dir, "landscape.db"))).toBe(true)
    const live = await serve(join(dir, "landscape.db"))
    try {
      const page = await browser.newPage()
      await page.goto(live.url + "/", { waitUntil: "load" })
      const [run] = await cells(page, "#runs tbody tr")
      expect(run![2]).toBe("running")
      await page.goto(`${live.url}/runs/${run![0]}`, { waitUntil: "load" })
      const rowsNow = async () => num(/([\d,]+) rows \(/.exec(await text(page, "#page p"))?.[1])
      const first = await rowsNow()
      // The page fetches itself every second while the run runs, and swaps in the new counts.
      await page.waitForFunction((n) => Number(/([\d,]+) rows \(/.exec(document.querySelector("#page p")!.textContent!)?.[1]?.replace(/,/g, "")) > n, { timeout: 10_000 }, first)
      expect(await rowsNow()).toBeGreaterThan(first)
      // No events panel: the run is in another process.
      expect(await page.$("#events")).toBeNull()
      await ended
      await page.waitForFunction(() => document.querySelector("h1 .status")?.textContent === "completed", { timeout: 10_000 })
      expect(await rowsNow()).toBe(12_000)
    } finally {
      live.stop()
      child.kill()
    }
  }, 120_000)

  it("a run in the dashboard's process lists its events as they are emitted (Server-Sent Events) with the exporters' health", async () => {
    const db = join(tempDir(), "landscape.db")
    const Slow = Schema.Struct({ id: Schema.Number })
    const slow = Pipeline.make({ name: "slow", source: Source.fromIterable({ name: "ids", schema: Slow, records: Array.from({ length: 400 }, (_, id) => ({ id })) }) }).pipe(
      Pipeline.transform(Pipeline.makeTransform("wait", (r: typeof Slow.Type) => Effect.as(Effect.sleep("10 millis"), r))),
      Pipeline.toSinks({ sinks: { out: Sink.jsonLines<typeof Slow.Type>({ path: join(dirname(db), "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dirname(db), "q.jsonl") }) })
    )
    const seen = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const writer = yield* Layer.build(LandscapeSqlite.layer({ filename: db }))
      const telemetry = Telemetry.layer({ exporters: [Dashboard.liveExporter] }).pipe(Layer.provideMerge(Dashboard.layerLiveEvents))
      const shared = yield* Layer.build(telemetry)
      const served = yield* Layer.build(Dashboard.layer({ port: 0 }).pipe(Layer.provide(LandscapeSqlite.layer({ filename: db, readonly: true })), Layer.provide(Layer.succeedContext(shared))))
      const url = HttpServer.formatAddress(Context.get(served, HttpServer.HttpServer).address)
      const running = yield* Effect.fork(Orchestrator.run(slow, { concurrency: 1, batchSize: 20 }).pipe(Effect.provide(Context.merge(writer, shared))))
      const runId = yield* Landscape.runs({ limit: 1 }).pipe(
        Effect.provide(writer),
        Effect.flatMap(([r]) => (r === undefined ? Effect.fail("no run yet") : Effect.succeed(r.runId))),
        Effect.retry(Schedule.spaced("20 millis"))
      )
      const page = yield* Effect.promise(() => browser.newPage())
      yield* Effect.promise(() => page.goto(`${url}/runs/${runId}`, { waitUntil: "load" }))
      yield* Effect.promise(() => page.waitForFunction(() => document.querySelectorAll("#events li").length >= 5, { timeout: 10_000 }))
      const health = yield* Effect.promise(() => page.waitForFunction(() => document.querySelector("#health")?.textContent?.includes("dashboard") === true, { timeout: 10_000 }).then(() => text(page, "#health")))
      const events = yield* Effect.promise(() => page.$$eval("#events li", (items) => items.map((i) => i.textContent ?? "")))
      yield* Fiber.join(running)
      yield* Effect.promise(() => page.waitForFunction(() => document.querySelector("h1 .status")?.textContent === "completed", { timeout: 10_000 }))
      yield* Effect.promise(() => page.screenshot({ path: join(shots, "live.png"), fullPage: true }))
      return { events, health }
    })))
    expect(seen.events.length).toBeGreaterThanOrEqual(5)
    expect(seen.events.every((e) => /^\d\d:\d\d:\d\d\.\d{3} (RunStarted|RowCreated|TransformCompleted|TokenCompleted|PhaseChanged|GateEvaluated|RunFinished)/.test(e))).toBe(true)
    expect(seen.events.some((e) => e.includes("TransformCompleted"))).toBe(true)
    expect(seen.health).toMatch(/^healthy: dashboard healthy$/)
  }, 60_000)
})
