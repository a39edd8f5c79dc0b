/**
 * The dashboard's server (`Dashboard.layer`) on 127.0.0.1, over a Landscape written by the real
 * engine, requested with `fetch`: a host other than loopback is refused without a token; with a
 * token, every page but `/healthz` needs it (Bearer header, or `?token=` once, which sets a cookie
 * and redirects); unknown runs and rows are 404 pages; nothing is written to the Landscape.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { Context, Effect, Exit, Layer, Redacted } from "effect"
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { Dashboard, LandscapeSqlite } from "../src/index.js"
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
})
