/**
 * The `sightline` command as users run it: `node bin/sightline.mjs …` (what `npx sightline` runs)
 * in a child process, on Landscapes written by the real engine: SQLite files, and a PostgreSQL
 * database given as a URL.
 */
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Layer, Schema } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, Telemetry } from "../src/index.js"
import { tempDir } from "./helpers.js"
import { postgres } from "./support/backends.js"
import { copyOf, sharedLandscape } from "./support/landscapes.js"

const bin = join(import.meta.dirname, "..", "bin", "sightline.mjs")

const sightline = (args: ReadonlyArray<string>, env: Record<string, string | undefined> = {}) => {
  const result = spawnSync(process.execPath, [bin, ...args], {
    encoding: "utf8",
    env: { ...process.env, SIGHTLINE_LANDSCAPE: undefined, SIGHTLINE_SIGNING_KEY: undefined, NO_COLOR: "1", ...env },
    timeout: 60_000
  })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}
const json = <A>(args: ReadonlyArray<string>): A => {
  const r = sightline([...args, "--json"])
  expect(r.stderr).toBe("")
  expect(r.code).toBe(0)
  return JSON.parse(r.stdout) as A
}

let db = ""
let orders = ""
let llm = ""
beforeAll(async () => {
  const shared = await sharedLandscape()
  db = shared.db
  orders = shared.orders
  llm = shared.llm
}, 120_000)

describe("sightline", () => {
  it("--help lists the commands; a bad argument or a missing database is one line on stderr and exit 2", () => {
    const help = sightline(["--help"])
    expect(help.code).toBe(0)
    for (const command of ["runs", "summary", "explain", "trace", "query", "verify", "export", "purge", "usage"]) expect(help.stdout).toContain(command)
    const missing = join(tempDir(), "nope.db")
    const r = sightline(["runs", "--db", missing])
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split("\n")).toEqual([`sightline: no Landscape at ${missing} (run a pipeline first, or pass --db FILE or set SIGHTLINE_LANDSCAPE)`])
    expect(existsSync(missing)).toBe(false)
    const noSelector = sightline(["explain", "latest", "--db", db])
    expect(noSelector.code).toBe(2)
    expect(noSelector.stderr.trim()).toBe("sightline: give exactly one of --row, --token, --index or --where")
    const badAge = sightline(["purge", "--older-than", "soon", "--db", db])
    expect(badAge.code).toBe(2)
    expect(sightline(["runs", "--limit", "many", "--db", db]).code).toBe(2)
    expect(sightline(["nonsense", "--db", db]).code).toBe(2)
  })

  it("runs and summary: a table on a terminal, JSON with --json; --db or SIGHTLINE_LANDSCAPE", () => {
    const table = sightline(["runs"], { SIGHTLINE_LANDSCAPE: db })
    expect(table.code).toBe(0)
    expect(table.stdout.split("\n")[0]).toMatch(/^run\s+pipeline\s+status\s+started/)
    expect(table.stdout).toContain(orders)
    const runs = json<Array<{ runId: string; pipeline: string }>>(["runs", "--db", db, "--pipeline", "orders"])
    expect(runs.map((r) => r.runId)).toEqual([orders])
    const summary = json<{ run: { runId: string }; outcomes: Record<string, number> }>(["summary", orders, "--db", db])
    expect(summary.outcomes).toMatchObject({ routed: 3, quarantined: 1 })
    const latest = json<{ run: { runId: string } }>(["summary", "latest", "--db", db])
    expect(latest.run.runId).toBe(llm)
    expect(sightline(["summary", orders, "--db", db]).stdout).toContain("quarantine reasons")
  })

  it("explain by index, row, token or field value; trace; usage", () => {
    const text = sightline(["explain", orders, "--index", "1", "--db", db])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/outcome\s+routed → large/)
    expect(text.stdout).toContain("normalize")
    const e = json<{ row: { rowId: string }; token: { tokenId: string } }>(["explain", orders, "--where", "customer=grace", "--db", db])
    expect(json<{ row: { rowId: string } }>(["explain", orders, "--row", e.row.rowId, "--db", db]).row.rowId).toBe(e.row.rowId)
    expect(json<{ row: { rowId: string } }>(["explain", orders, "--token", e.token.tokenId, "--db", db]).row.rowId).toBe(e.row.rowId)
    const none = sightline(["explain", orders, "--where", "customer=nobody", "--db", db])
    expect(none.code).toBe(2)
    const llmRow = sightline(["explain", llm, "--index", "0", "--db", db])
    expect(llmRow.stdout).toContain("call (classify)")
    const t = json<{ tokens: Array<{ outcome: { outcome: string; sink: string } }> }>(["trace", orders, "--row", e.row.rowId, "--db", db])
    expect(t.tokens[0]!.outcome).toMatchObject({ outcome: "routed", sink: "large" })
    const usage = sightline(["usage", llm, "--db", db])
    expect(usage.stdout).toMatch(/classify\s+2/)
  })

  it("explain of a batch member names its batch; trace shows the batch's output, a token of the first member's row", async () => {
    const dir = tempDir()
    const file = join(dir, "landscape.db")
    const pipeline = Pipeline.make({ name: "batched", source: Source.fromIterable({ records: [1, 2, 3, 4].map((n) => ({ n })), schema: Schema.Struct({ n: Schema.Number }) }) }).pipe(
      Pipeline.aggregate(Pipeline.makeAggregate("window", { trigger: { count: 3 } }, (rows: ReadonlyArray<{ readonly n: number }>) => Effect.succeed({ total: rows.reduce((t, r) => t + r.n, 0) }))),
      Pipeline.toSinks({ sinks: { totals: Sink.jsonLines<{ total: number }>({ path: join(dir, "totals.jsonl") }) }, default: "totals", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
    )
    const { runId } = await Effect.runPromise(Orchestrator.run(pipeline).pipe(Effect.provide(Layer.merge(Telemetry.layerDisabled, LandscapeSqlite.layer({ filename: file })))))
    const second = sightline(["explain", runId, "--index", "1", "--db", file])
    expect(second.code).toBe(0)
    expect(second.stdout).toMatch(/outcome\s+consumed_in_batch/)
    expect(second.stdout).toMatch(/batch\s+\S+ of window: member 2 of 3, flushed \(count\), 0 call\(s\) in its flush/)
    const rowId = json<{ row: { rowId: string } }>(["explain", runId, "--index", "1", "--db", file]).row.rowId
    const traced = sightline(["trace", runId, "--row", rowId, "--db", file])
    // The batch's output: a token of the first member's row, its parents the three members.
    expect(traced.stdout).toMatch(/\(row \S+\)\s+\S+, \S+, \S+\s+routed → totals/)
  })

  it("query with filters, paged with --cursor", () => {
    const errors = json<{ items: Array<{ kind: string; node: string }> }>(["query", "--run", orders, "--severity", "error", "--db", db])
    expect(errors.items.map((i) => [i.kind, i.node])).toEqual([["nodeState", "orders"]])
    const first = json<{ items: Array<{ id: string }>; continuationToken: string }>(["query", "--run", llm, "--kind", "call", "--limit", "3", "--db", db])
    expect(first.items).toHaveLength(3)
    const second = json<{ items: Array<{ id: string }>; continuationToken: string | null }>(["query", "--run", llm, "--kind", "call", "--limit", "3", "--cursor", first.continuationToken, "--db", db])
    expect(second.items).toHaveLength(1)
    expect(second.continuationToken).toBeNull()
    expect(sightline(["query", "--since", "1h", "--db", db]).stdout).toContain("nodeState")
  })

  it("verify every run (exit 0), a tampered file (exit 1, the problem named), export and verify --export offline", () => {
    const ok = sightline(["verify", "--db", db])
    expect(ok.code, `${ok.stdout}\n${ok.stderr}`).toBe(0)
    expect(ok.stdout.match(/\bok\b/g)).toHaveLength(2)
    const tampered = copyOf(db)
    const sql = spawnSync(process.execPath, ["-e", `const D=require("better-sqlite3");new D(process.argv[1]).prepare("UPDATE node_states SET input_hash='x' WHERE run_id=?").run(process.argv[2])`, tampered, orders], { encoding: "utf8" })
    expect(sql.status).toBe(0)
    const bad = sightline(["verify", orders, "--db", tampered])
    expect(bad.code).toBe(1)
    expect(bad.stdout).toContain("first divergent batch is link")

    const out = join(tempDir(), "export.jsonl")
    const refused = sightline(["export", llm, "--out", out, "--db", db])
    expect(refused.code).toBe(1)
    expect(refused.stderr.trim()).toMatch(/^sightline: .*SIGHTLINE_SIGNING_KEY/)
    const key = { SIGHTLINE_SIGNING_KEY: "cli-test-key" }
    const exported = sightline(["export", llm, "--out", out, "--db", db], key)
    expect(exported.code, exported.stderr).toBe(0)
    const checked = sightline(["verify", "--export", out], key)
    expect(checked.code, `${checked.stdout}\n${checked.stderr}`).toBe(0)
    expect(checked.stdout).toContain(": ok,")
    writeFileSync(out, readFileSync(out, "utf8").replace("Toy Story", "Toy Story 2"))
    expect(sightline(["verify", "--export", out], key).code).toBe(1)
  })

  it("purge --dry-run changes nothing; purge keeps hashes and explain says purged", () => {
    const copy = copyOf(db)
    const dry = json<{ rows: number; dryRun: boolean }>(["purge", "--older-than", "0s", "--dry-run", "--db", copy])
    expect(dry).toMatchObject({ rows: 6, dryRun: true })
    expect(sightline(["explain", orders, "--index", "0", "--db", copy]).stdout).not.toContain("purged")
    const done = sightline(["purge", "--older-than", "0s", "--db", copy])
    expect(done.stdout).toMatch(/^purged the payloads of 2 run\(s\)/)
    expect(sightline(["explain", orders, "--index", "0", "--db", copy]).stdout).toMatch(/source data\s+purged/)
  })
})

describe.skipIf(!postgres.available)("sightline on PostgreSQL", () => {
  it("--db postgres://… and SIGHTLINE_LANDSCAPE: runs, explain and verify read the database; the password is never printed", async () => {
    const shared = await Effect.runPromise(postgres.shared())
    // The test server trusts every connection: a password in the URL is accepted and must not show.
    const url = shared.store.target.replace("postgres://postgres@", "postgres://postgres:s3cret-pw@")
    const runs = json<ReadonlyArray<{ runId: string }>>(["runs", "--db", url])
    expect(runs.map((r) => r.runId).sort()).toEqual([shared.orders, shared.llm].sort())
    const explained = sightline(["explain", shared.orders, "--index", "1"], { SIGHTLINE_LANDSCAPE: url })
    expect(explained.code).toBe(0)
    expect(explained.stdout).toContain("grace")
    const verified = sightline(["verify", shared.llm, "--db", url])
    expect(verified.code).toBe(0)
    expect(verified.stdout).toContain("ok")
    for (const r of [explained, verified]) expect(r.stdout + r.stderr).not.toContain("s3cret-pw")

    const down = sightline(["runs", "--db", "postgres://postgres:s3cret-pw@127.0.0.1:1/nowhere"])
    expect(down.code).toBe(1)
    expect(down.stderr.trim()).toMatch(/^sightline: Landscape open \(postgres:\/\/127\.0\.0\.1:1\/nowhere\) failed: .*ECONNREFUSED/)
    expect(down.stderr).not.toContain("s3cret-pw")
  })
})
