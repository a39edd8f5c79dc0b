/**
 * The dashboard's server (`Dashboard.layer`) on 127.0.0.1, over a Landscape written by the real
 * engine, requested with `fetch`: a host other than loopback is refused without a token; with a
 * token, every page but `/healthz` needs it (Bearer header, or `?token=` once, which sets a cookie
 * and redirects); unknown runs and rows are 404 pages; nothing is written to the Landscape; a
 * fork-join is drawn with its branches in lanes between the fork and the coalesce.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import Database from "better-sqlite3"
import { Context, Effect, Exit, Layer, Redacted, Schema } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { Dashboard, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, Telemetry } from "../src/index.js"
import { tempDir } from "./helpers.js"
import { copyOf, sharedLandscape } from "./support/landscapes.js"

/** Serves the dashboard over a copy of the shared Landscape (read-only) for the length of `body`. */
const withServer = <A>(options: Dashboard.Options, body: (url: string, db: string) => Promise<A>) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    const db = copyOf((yield* Effect.promise(sharedLandscape)).db)
    const context = yield* Layer.build(Dashboard.layer({ port: 0, ...options }).pipe(Layer.provide(LandscapeSqlite.layer({ filename: db, readonly: true }))))
    const url = HttpServer.formatAddress(Context.get(context, HttpServer.HttpServer).address)
    return yield* Effect.promise(() => body(url, db))
  })))

describe("Dashboard", () => {
  it("refuses to serve beyond loopback without a token", async () => {
    const exit = await Effect.runPromiseExit(Effect.scoped(Layer.build(
      Dashboard.layer({ host: "0.0.0.0", port: 0 }).pipe(Layer.provide(LandscapeSqlite.layer({ filename: ":memory:" })))
    )))
    expect(Exit.isFailure(exit) && String(exit.cause)).toContain("serving on 0.0.0.0 needs a token")
  })

  it("with a token: 401 without it, pages with the Bearer header or the cookie ?token= sets; /healthz open", async () => {
    await withServer({ token: Redacted.make("s3cret") }, async (url) => {
      expect((await fetch(`${url}/`)).status).toBe(401)
      expect((await fetch(`${url}/`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401)
      expect((await fetch(`${url}/`, { headers: { authorization: "Bearer s3cret" } })).status).toBe(200)
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: "ok" })
      const redirect = await fetch(`${url}/?status=completed&token=s3cret`, { redirect: "manual" })
      expect(redirect.status).toBe(303)
      expect(redirect.headers.get("location")).toBe("/?status=completed")
      const cookie = redirect.headers.get("set-cookie")!
      expect(cookie).toMatch(/^sightline_token=s3cret; Path=\/; HttpOnly; SameSite=Strict/)
      const page = await fetch(`${url}/?status=completed`, { headers: { cookie: cookie.split(";")[0]! } })
      expect(page.status).toBe(200)
      expect(await page.text()).toContain("<h1>Runs</h1>")
    })
  })

  it("answers 404 pages for runs and rows that are not recorded, and writes nothing", async () => {
    await withServer({}, async (url, db) => {
      const before = readFileSync(db)
      const run = await fetch(`${url}/runs/nope`)
      expect(run.status).toBe(404)
      expect(await run.text()).toContain("run nope is not in this Landscape")
      const row = await fetch(`${url}/runs/nope/rows/%3Cb%3E`)
      expect(row.status).toBe(404)
      expect(await row.text()).toContain("row &lt;b&gt; of run nope")
      expect((await fetch(`${url}/`)).status).toBe(200)
      expect(readFileSync(db).equals(before)).toBe(true)
    })
  })

  it("verifies a run on demand in the background: POST starts it, the run page shows its outcome; a statistic tampered with is a problem listed", async () => {
    const { orders } = await sharedLandscape()
    await withServer({}, async (url, db) => {
      const before = readFileSync(db)
      const outcome = async () => {
        for (let i = 0; i < 200; i++) {
          const page = await (await fetch(`${url}/runs/${orders}`)).text()
          const state = /id="verification" data-verification="(\w+)"/.exec(page)?.[1]
          if (state !== undefined && state !== "waiting" && state !== "running") return { state, page }
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
        throw new Error("verification did not end within 10 s")
      }
      expect(await (await fetch(`${url}/runs/${orders}`)).text()).toContain(`<form method="post" action="/runs/${orders}/verify" class="inline"><button id="verify">verify now</button>`)
      const started = await fetch(`${url}/runs/${orders}/verify`, { method: "POST", redirect: "manual" })
      expect(started.status).toBe(303)
      expect(started.headers.get("location")).toBe(`/runs/${orders}#integrity`)
      const ok = await outcome()
      expect(ok.state).toBe("ok")
      expect(ok.page).toMatch(/verified at [\d-]+ [\d:]+: \d+ links, \d+ hashes, 4 rows/)
      expect(readFileSync(db).equals(before)).toBe(true)

      const tamper = new Database(db)
      tamper.prepare("UPDATE token_outcome_stats SET count = count + 1 WHERE run_id = ? AND outcome = 'routed'").run(orders)
      tamper.close()
      expect((await fetch(`${url}/runs/${orders}/verify`, { method: "POST", redirect: "manual" })).status).toBe(303)
      const problems = await outcome()
      expect(problems.state).toBe("problems")
      expect(problems.page).toContain("<td>statistics</td><td><code>token_outcome_stats routed")
      expect((await fetch(`${url}/runs/nope/verify`, { method: "POST", redirect: "manual" })).status).toBe(404)
    })
  })

  it("draws a fork-join's branches in lanes between the fork and its coalesce, and a branch's gate to its sink", async () => {
    const Flight = Schema.Struct({ id: Schema.Number, origin: Schema.String })
    type Flight = typeof Flight.Type
    const dir = tempDir()
    const db = join(dir, "landscape.db")
    const pipeline = Pipeline.make({ name: "lanes", source: Source.fromIterable({ name: "flights", schema: Flight, records: [{ id: 1, origin: "JFK" }, { id: 2, origin: "XXX" }] }) }).pipe(
      Pipeline.forkJoin({
        name: "fan_out",
        branches: {
          weather: (b) => b.pipe(Pipeline.transform(Pipeline.makeTransform("wind", (f: Flight) => Effect.succeed({ ...f, windKt: 10 })))),
          airport: (b) => b.pipe(
            Pipeline.transform(Pipeline.makeTransform("city", (f: Flight) => Effect.succeed({ ...f, city: f.origin === "JFK" ? "New York" : "" }))),
            Pipeline.gate(Pipeline.makeGate("known", ["unknown"], (f: Flight & { city: string }) => Effect.succeed(f.city === "" ? "unknown" as const : Pipeline.Continue)))
          )
        },
        coalesce: { name: "joined", policy: Pipeline.requireAll, merge: "union" }
      }),
      Pipeline.toSinks({
        sinks: { out: Sink.jsonLines<Flight>({ path: join(dir, "out.jsonl") }), unknown: Sink.jsonLines<Flight>({ path: join(dir, "unknown.jsonl") }) },
        default: "out",
        quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") })
      })
    )
    const summary = await Effect.runPromise(Orchestrator.run(pipeline).pipe(Effect.provide(Layer.merge(LandscapeSqlite.layer({ filename: db }), Telemetry.layerDisabled))))
    const page = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const context = yield* Layer.build(Dashboard.layer({ port: 0 }).pipe(Layer.provide(LandscapeSqlite.layer({ filename: db, readonly: true }))))
      const url = HttpServer.formatAddress(Context.get(context, HttpServer.HttpServer).address)
      return yield* Effect.promise(() => fetch(`${url}/runs/${summary.runId}`).then((r) => r.text()))
    })))
    const at = Object.fromEntries([...page.matchAll(/<g class="node" data-node="([^"]+)" data-kind="([^"]+)"><rect x="(\d+)" y="(\d+)"/g)].map((m) => [m[1]!, { kind: m[2], x: Number(m[3]), y: Number(m[4]) }]))
    const edges = [...page.matchAll(/<line class="edge" data-from="([^"]+)" data-to="([^"]+)"/g)].map((m) => `${m[1]} → ${m[2]}`)
    expect(Object.keys(at)).toEqual(["flights", "fan_out", "wind", "city", "known", "joined", "out", "unknown", "quarantine"])
    expect(at["fan_out"]).toMatchObject({ kind: "gate" })
    expect(at["joined"]).toMatchObject({ kind: "coalesce" })
    // Branches side by side: each in a lane of its own, after the fork and before the coalesce.
    expect(at["wind"]!.x).toBe(at["city"]!.x)
    expect(at["wind"]!.y).not.toBe(at["city"]!.y)
    expect(at["known"]!.y).toBe(at["city"]!.y)
    expect(at["fan_out"]!.x).toBeLessThan(at["wind"]!.x)
    expect(at["joined"]!.x).toBeGreaterThan(at["known"]!.x)
    expect(edges).toEqual(expect.arrayContaining([
      "flights → fan_out", "fan_out → wind", "fan_out → city", "city → known", "wind → joined", "known → joined",
      "joined → out", "joined → unknown", "known → unknown", "joined → quarantine"
    ]))
    expect(edges).not.toContain("wind → known")
  })
})
