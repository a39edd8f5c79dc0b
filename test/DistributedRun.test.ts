/**
 * Distributed runs: the partition protocol on both backends (claims, takeover of an expired lease,
 * fencing of the worker that lost it, completion, ending the run once), `DistributedRun` in one
 * process (refusals, a worker interrupted mid-partition continued by another), and worker processes
 * on the flights data against the real PostgreSQL server: 3 workers, then 3 workers one of which is
 * killed with `kill -9` mid-partition. Every run: each source row recorded exactly once, totals equal
 * to a single-process run, each sink's part files holding exactly the rows routed there, `verify` clean.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Schema } from "effect"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { makePipeline } from "../examples/flights/pipeline.js"
import { CallScope, DistributedRun, Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, Telemetry } from "../src/index.js"
import { type Backend, eachBackend, postgres, type Store } from "./support/backends.js"
import { tempDir } from "./helpers.js"

const root = join(import.meta.dirname, "..")

const emptyBatch = { rows: [], nodeStates: [], runningStates: [], stateUpdates: [], routing: [], calls: [], outcomes: [] }

const landscapeOf = (store: Store) => Layer.mergeAll(store.layer(), Telemetry.layerDisabled)

/** Lines of every `<stem>.part-<k><ext>` file in `dir`, without each CSV file's header. */
const partLines = (dir: string, stem: string, ext: string): number =>
  readdirSync(dir)
    .filter((f) => f.startsWith(`${stem}.part-`) && f.endsWith(ext) && !f.includes(".partial-"))
    .reduce((n, f) => {
      const lines = readFileSync(join(dir, f), "utf8").split("\n").filter((l) => l !== "").length
      return n + (ext === ".csv" && lines > 0 ? lines - 1 : lines)
    }, 0)

/** The run's rows as the database holds them: how many, how many distinct source indexes, the range. */
const rowsOf = (store: Store, runId: string) =>
  Effect.map(
    store.exec<{ n: string | number; distinct_n: string | number; lo: string | number; hi: string | number }>(
      `SELECT count(*) AS n, count(DISTINCT row_index) AS distinct_n, min(row_index) AS lo, max(row_index) AS hi FROM rows WHERE run_id = '${runId}'`
    ),
    ([r]) => ({ n: Number(r!.n), distinct: Number(r!.distinct_n), lo: Number(r!.lo), hi: Number(r!.hi) })
  )

describe("partitions", () => {
  eachBackend((backend: Backend) => {
    it.effect("claims are exclusive; an expired lease is taken over with the next attempt and its old holder is fenced out", () =>
      Effect.gen(function* () {
        const store = yield* backend.fresh()
        yield* Effect.gen(function* () {
          const landscape = yield* Landscape.Landscape
          const runId = "run-partitions"
          yield* landscape.beginRun({ runId, pipeline: "p", config: {}, telemetryEnabled: false, telemetryGranularity: "rows", startedAt: 1_000, owner: "workers" })
          yield* landscape.registerNodes([{ nodeId: "n-source", runId, name: "source", kind: "source", position: 0, config: {} }])
          yield* landscape.partitions.create(runId, 2, null, 1_000)
          const run = yield* Landscape.getRun(runId)
          expect(Option.getOrThrow(run).status).toBe("running")

          const a = Option.getOrThrow(yield* landscape.partitions.claim(runId, "A", 100, 1_000))
          const b = Option.getOrThrow(yield* landscape.partitions.claim(runId, "B", 100, 1_010))
          expect([a.index, b.index]).toEqual([0, 1])
          expect([a.attempt, a.previousOwner]).toEqual([1, null])
          expect(Option.isNone(yield* landscape.partitions.claim(runId, "C", 100, 1_050))).toBe(true)

          // A's lease expired at 1,100; B renewed its own.
          yield* landscape.partitions.renew(b, 1_300, 1_090)
          const c = Option.getOrThrow(yield* landscape.partitions.claim(runId, "C", 100, 1_200))
          expect([c.index, c.attempt, c.previousOwner]).toEqual([0, 2, "A"])

          // A comes back: its batch and checkpoint are refused together; nothing of the batch is recorded.
          const row = { rowId: "row-1", tokenId: "tok-1", runId, sourceNodeId: "n-source", rowIndex: 0, dataJson: "{}", dataHash: "0".repeat(64), createdAt: 1_250 }
          const stale = { runId, index: 0, owner: "A", attempt: 1, position: 1, rowsRead: 1, rowsQuarantined: 0, rowsPerSink: {}, state: null, leaseExpiresAt: 1_400 }
          const refused = yield* Effect.flip(landscape.recordBatch({ ...emptyBatch, rows: [row] }, stale))
          expect(refused.operation).toBe("partitionLease")
          expect(refused.message).toContain("another worker took it over")
          expect(yield* rowsOf(store, runId)).toMatchObject({ n: 0 })
          expect((yield* Effect.flip(landscape.partitions.renew(a, 1_500, 1_250))).operation).toBe("partitionLease")

          // C, the holder, commits the same batch with its checkpoint.
          yield* landscape.recordBatch({ ...emptyBatch, rows: [row] }, { ...stale, owner: "C", attempt: 2 })
          const [p0] = yield* landscape.partitions.list(runId)
          expect(p0).toMatchObject({ status: "running", owner: "C", attempt: 2, position: 1, rowsRead: 1 })

          expect(yield* landscape.partitions.complete({ ...stale, owner: "C", attempt: 2 }, 1_300)).toBe(1)
          expect(yield* landscape.partitions.complete({ ...stale, index: 1, owner: "B", attempt: 1, position: 2, rowsRead: 0 }, 1_310)).toBe(0)
          const end = { runId, status: "completed" as const, finishedAt: 1_400, durationMs: 400, rowsRead: 1, rowsQuarantined: 0 }
          // A takeover and the worker it took over from may both close one operation: the first records it, once.
          yield* landscape.beginOperation({ operationId: "op-1", runId, nodeId: "n-source", kind: "memory.read", details: {}, startedAt: 1_000 })
          const closing = { operationId: "op-1", status: "failed" as const, details: {}, error: "worker A stopped", completedAt: 1_300, durationMs: 300 }
          const links = () => Effect.map(store.exec<{ n: string | number }>(`SELECT count(*) AS n FROM audit_chain WHERE run_id = '${runId}'`), ([r]) => Number(r!.n))
          expect(yield* landscape.partitions.completeOperation(closing)).toBe(true)
          const after = yield* links()
          expect(yield* landscape.partitions.completeOperation({ ...closing, error: "interrupted" })).toBe(false)
          expect(yield* links()).toBe(after)
          expect(yield* landscape.partitions.finishRun(end)).toBe(true)
          expect(yield* landscape.partitions.finishRun(end)).toBe(false)
          expect(Option.getOrThrow(yield* Landscape.getRun(runId)).status).toBe("completed")
        }).pipe(Effect.provide(store.layer()))
      }), 30_000)
  })
})

/** A small pipeline: numbered records (every 7th without a valid amount, quarantined), a gate to two file sinks. */
const Item = Schema.Struct({ n: Schema.Number, amount: Schema.Number })
const itemsPipeline = (dir: string, records: number) => {
  const path = join(dir, "items.json")
  if (!existsSync(path)) {
    writeFileSync(path, JSON.stringify(Array.from({ length: records }, (_, n) => ({ n, amount: n % 7 === 3 ? "none" : n * 1.5 }))))
  }
  return Pipeline.make({ name: "items", source: Source.json({ name: "items", path, schema: Item }) }).pipe(
    Pipeline.transform(Pipeline.makeTransform("double", (i: typeof Item.Type) => Effect.succeed({ ...i, amount: i.amount * 2 }))),
    Pipeline.gate(Pipeline.makeGate("size", ["large"], (i: typeof Item.Type) => Effect.succeed(i.amount > 1_000 ? "large" as const : Pipeline.Continue))),
    Pipeline.toSinks({
      sinks: { small: Sink.csv<typeof Item.Type>({ path: join(dir, "out", "small.csv") }), large: Sink.jsonLines<typeof Item.Type>({ path: join(dir, "out", "large.jsonl") }) },
      default: "small",
      quarantine: Sink.jsonLines({ path: join(dir, "out", "quarantine.jsonl") })
    })
  )
}

describe("DistributedRun", () => {
  it.effect("start refuses a sink that cannot continue another worker's partition, before recording anything", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const memory = Sink.make<unknown, never>({ open: () => Effect.succeed({ write: () => Effect.void }) })
      const pipeline = Pipeline.make({ name: "memory", source: Source.json({ name: "items", path: join(dir, "none.json"), schema: Item }) }).pipe(
        Pipeline.toSinks({ sinks: { kept: memory }, default: "kept", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
      )
      const error = yield* Effect.flip(DistributedRun.start(pipeline, { partitions: 2 }))
      expect(error._tag).toBe("PipelineDefinitionError")
      expect(error.message).toContain(`the sink "kept" cannot take part in a distributed run`)
      expect((yield* Effect.flip(DistributedRun.start(itemsPipeline(dir, 10), { partitions: 0 }))).message).toContain("positive whole number of partitions")
      expect(yield* Landscape.listRuns()).toEqual([])
    }).pipe(Effect.provide(Layer.mergeAll(LandscapeSqlite.layer({ filename: join(tempDir(), "l.db") }), Telemetry.layerDisabled))))

  it.effect("a worker refuses a pipeline that is not the run's, and a run that is not distributed", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const started = yield* DistributedRun.start(itemsPipeline(dir, 10), { partitions: 2 })
      const other = yield* Effect.flip(DistributedRun.work(itemsPipeline(tempDir(), 10), { runId: started.runId }))
      expect(other.message).toContain("is not the one run")
      const single = yield* Orchestrator.run(itemsPipeline(dir, 10))
      expect((yield* Effect.flip(DistributedRun.work(itemsPipeline(dir, 10), { runId: single.runId }))).message).toContain("is not a distributed run")
    }).pipe(Effect.provide(Layer.mergeAll(LandscapeSqlite.layer({ filename: join(tempDir(), "l.db") }), Telemetry.layerDisabled))))

  eachBackend((backend: Backend) => {
    it.live("an interrupted worker gives its partition back; another continues it from the checkpoint: every row once, part files match", () =>
      Effect.gen(function* () {
        const store = yield* backend.fresh()
        const dir = tempDir()
        const records = 3_000
        const reference = yield* Orchestrator.run(itemsPipeline(dir, records)).pipe(
          Effect.provide(Layer.mergeAll(LandscapeSqlite.layer({ filename: join(dir, "single.db") }), Telemetry.layerDisabled))
        )
        yield* Effect.gen(function* () {
          const landscape = yield* Landscape.Landscape
          const pipeline = itemsPipeline(dir, records)
          const started = yield* DistributedRun.start(pipeline, { partitions: 2 })
          const first = yield* Effect.fork(DistributedRun.work(pipeline, { runId: started.runId, workerId: "first", batchSize: 50 }))
          // Interrupted once it has committed some batches of its first partition, not all.
          const midway = yield* landscape.partitions.list(started.runId).pipe(
            Effect.map((ps) => ps.find((p) => p.owner === "first" && p.status === "running" && p.position > 0)),
            Effect.delay("5 millis"),
            Effect.repeat({ until: (p) => p !== undefined }),
            Effect.orDie
          )
          yield* Fiber.interrupt(first)
          const released = (yield* landscape.partitions.list(started.runId))[midway!.index]!
          expect(released).toMatchObject({ status: "pending", attempt: 1 })
          expect(released.rowsRead).toBeGreaterThan(0)

          const second = yield* DistributedRun.work(pipeline, { runId: started.runId, workerId: "second", batchSize: 50 })
          expect(second).toMatchObject({ runStatus: "completed", finishedRun: true })
          const resumed = second.partitions.find((p) => p.index === midway!.index)!
          expect(resumed.attempt).toBe(2)
          expect(resumed.resumedAt).toBe(released.position)

          const run = Option.getOrThrow(yield* Landscape.getRun(started.runId))
          expect(run).toMatchObject({ status: "completed", rowsRead: reference.rowsRead, rowsQuarantined: reference.quarantined })
          expect(yield* rowsOf(store, started.runId)).toEqual({ n: records, distinct: records, lo: 0, hi: records - 1 })
          const parts = yield* landscape.partitions.list(started.runId)
          for (const sink of ["small", "large"]) expect(parts.reduce((n, p) => n + (p.rowsPerSink[sink] ?? 0), 0)).toBe(reference.rowsPerSink[sink])
          const out = join(dir, "out")
          expect(partLines(out, "small", ".csv")).toBe(reference.rowsPerSink.small)
          expect(partLines(out, "large", ".jsonl")).toBe(reference.rowsPerSink.large)
          expect(partLines(out, "quarantine", ".jsonl")).toBe(reference.quarantined)
          expect(readdirSync(out).filter((f) => f.includes(".partial-"))).toEqual([])
          const verify = yield* Landscape.verify(started.runId)
          expect(verify.problems).toEqual([])

          // What an operator sees: the summary lists the partitions, the one taken over at attempt 2.
          const summary = Option.getOrThrow(yield* Landscape.runSummary(started.runId))
          expect(summary.partitions.map((p) => [p.status, p.attempt, p.owner])).toEqual(
            [0, 1].map((i) => ["completed", i === midway!.index ? 2 : 1, i === midway!.index ? "second" : summary.partitions[i]!.owner])
          )
          const cli = spawnSync(process.execPath, [join(root, "bin", "sightline.mjs"), "summary", started.runId, "--db", store.target], { encoding: "utf8" })
          expect(cli.status, cli.stderr).toBe(0)
          expect(cli.stdout).toMatch(new RegExp(`${midway!.index} of 2\\s+completed\\s+second\\s+2\\s`))
        }).pipe(Effect.provide(landscapeOf(store)))
      }), 60_000)
  })
})

/** `length` records `{ n }` through one transform `step` into `<dir>/out.jsonl` (and `<dir>/quarantine.jsonl`). */
const N = Schema.Struct({ n: Schema.Number })
const numbersPipeline = <R>(name: string, dir: string, length: number, step: Pipeline.Transform<typeof N.Type, typeof N.Type, never, R>) =>
  Pipeline.make({ name, source: Source.fromIterable({ records: Array.from({ length }, (_, n) => ({ n })), schema: N }) }).pipe(
    Pipeline.transform(step),
    Pipeline.toSinks({
      sinks: { out: Sink.jsonLines<typeof N.Type>({ path: join(dir, "out.jsonl") }) },
      default: "out",
      quarantine: Sink.jsonLines({ path: join(dir, "quarantine.jsonl") })
    })
  )

describe("DistributedRun: a worker whose lease expired while it worked", () => {
  eachBackend((backend: Backend) => {
    it.live("has its next batch refused once another worker took the partition over, and goes on with the run: every row once", () =>
      Effect.gen(function* () {
        const store = yield* backend.fresh()
        const dir = tempDir()
        let stall = true
        const pipeline = numbersPipeline("slow", dir, 200, Pipeline.makeTransform("wait", (r: typeof N.Type) => Effect.as(Effect.sleep(r.n === 55 && stall ? "1500 millis" : "1 millis"), r)))
        yield* Effect.gen(function* () {
          const landscape = yield* Landscape.Landscape
          const started = yield* DistributedRun.start(pipeline, { partitions: 1 })
          // "first" stalls 1.5 s on row 55 without renewing its 300 ms lease (as if paused): "second" takes the partition over.
          const first = yield* Effect.fork(DistributedRun.work(pipeline, { runId: started.runId, workerId: "first", batchSize: 10, concurrency: 1, lease: "300 millis", renewEvery: "1 hour", pollInterval: "50 millis" }))
          yield* landscape.partitions.list(started.runId).pipe(
            Effect.map(([p]) => p!.position === 50 && p!.leaseExpiresAt !== null && p!.leaseExpiresAt < Date.now()),
            Effect.delay("10 millis"),
            Effect.repeat({ until: (expired) => expired })
          )
          stall = false
          const second = yield* DistributedRun.work(pipeline, { runId: started.runId, workerId: "second", batchSize: 10, concurrency: 1 })
          const firstSummary = yield* Fiber.join(first)
          expect(firstSummary).toMatchObject({ lost: 1, partitions: [], runStatus: "completed", finishedRun: false })
          expect(second).toMatchObject({ runStatus: "completed", finishedRun: true })
          expect(second.partitions[0]!.attempt).toBe(2)
          expect(yield* rowsOf(store, started.runId)).toEqual({ n: 200, distinct: 200, lo: 0, hi: 199 })
          expect(readFileSync(join(dir, "out.part-0.jsonl"), "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { n: number }).n)).toEqual(
            Array.from({ length: 200 }, (_, n) => n)
          )
          expect((yield* Landscape.verify(started.runId)).problems).toEqual([])
        }).pipe(Effect.provide(landscapeOf(store)))
      }), 60_000)
  })
})

describe("DistributedRun: rows an external call recorded before their worker stopped", () => {
  eachBackend((backend: Backend) => {
    it.live("are closed failed and not run again (their call is not made twice); the rest of the partition goes on", () =>
      Effect.gen(function* () {
        const store = yield* backend.fresh()
        const dir = tempDir()
        let hang = true
        const pipeline = numbersPipeline("calls", dir, 40, Pipeline.makeTransform("call", (r: typeof N.Type) =>
          Effect.zipRight(
            CallScope.recordCall({ callType: "http", status: "success", attributes: { "http.request.method": "GET" }, latencyMs: 1 }),
            hang && r.n === 21 ? Effect.never : Effect.succeed(r)
          )))
        yield* Effect.gen(function* () {
          const started = yield* DistributedRun.start(pipeline, { partitions: 1 })
          const first = yield* Effect.fork(DistributedRun.work(pipeline, { runId: started.runId, workerId: "first", batchSize: 10 }))
          // Batches 0–9 and 10–19 committed; row 21 made its call (so it is recorded) and hangs.
          yield* store.exec<{ n: string | number }>(
            `SELECT count(*) AS n FROM rows r JOIN run_partitions p ON p.run_id = r.run_id WHERE r.run_id = '${started.runId}' AND r.row_index = 21 AND p.position = 20`
          ).pipe(Effect.delay("10 millis"), Effect.repeat({ until: ([r]) => Number(r!.n) === 1 }))
          yield* Fiber.interrupt(first)
          hang = false
          const second = yield* DistributedRun.work(pipeline, { runId: started.runId, workerId: "second", batchSize: 10 })
          expect(second).toMatchObject({ runStatus: "completed", finishedRun: true })
          expect(second.partitions[0]).toMatchObject({ attempt: 2, resumedAt: 20 })

          expect(yield* rowsOf(store, started.runId)).toEqual({ n: 40, distinct: 40, lo: 0, hi: 39 })
          const failed = yield* store.exec<{ row_index: number; calls: string | number; error: string | null }>(
            `SELECT r.row_index, (SELECT count(*) FROM calls c JOIN node_states s ON s.state_id = c.state_id WHERE s.token_id = t.token_id) AS calls,
                    (SELECT max(s.error_json) FROM node_states s WHERE s.token_id = t.token_id) AS error
             FROM rows r JOIN tokens t ON t.row_id = r.row_id WHERE r.run_id = '${started.runId}' AND t.outcome = 'failed' ORDER BY r.row_index`
          )
          expect(failed.map((f) => f.row_index)).toContain(21)
          for (const f of failed) expect(Number(f.calls)).toBe(1)
          expect(failed.find((f) => f.row_index === 21)!.error).toContain("interrupted")
          const run = Option.getOrThrow(yield* Landscape.getRun(started.runId))
          expect(run).toMatchObject({ status: "completed", rowsRead: 40 })
          expect(readFileSync(join(dir, "out.part-0.jsonl"), "utf8").trim().split("\n")).toHaveLength(40 - failed.length)
          expect((yield* Landscape.verify(started.runId)).problems).toEqual([])
        }).pipe(Effect.provide(landscapeOf(store)))
      }), 60_000)
  })
})

/** A worker process of the flights example, its stdout collected. */
interface Worker {
  readonly proc: ChildProcess
  readonly exit: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly output: string }>
}

const startWorker = (runId: string, env: Record<string, string>): Worker => {
  const proc = spawn(process.execPath, ["--import", "tsx", join("examples", "flights", "distributed.ts"), "work", runId], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  proc.stdout!.on("data", (d: Buffer) => (output += d.toString()))
  proc.stderr!.on("data", (d: Buffer) => (output += d.toString()))
  return { proc, exit: new Promise((resolve) => proc.on("close", (code, signal) => resolve({ code, signal, output }))) }
}

describe.skipIf(!postgres.available)("DistributedRun: worker processes on PostgreSQL", () => {
  /** The flights pipeline run once in this process (SQLite): the totals a distributed run must equal. */
  const single = (dir: string) =>
    Orchestrator.run(makePipeline({ outDir: join(dir, "single") })).pipe(
      Effect.provide(Layer.mergeAll(LandscapeSqlite.layer({ filename: join(dir, "single.db") }), Telemetry.layerDisabled))
    )

  const distributed = (options: { readonly kill: boolean }) =>
    Effect.gen(function* () {
      const store = yield* postgres.fresh()
      const dir = tempDir()
      const out = join(dir, "out")
      const reference = yield* single(dir)
      const env = { SIGHTLINE_LANDSCAPE: store.target, SIGHTLINE_OUT: out, SIGHTLINE_TELEMETRY: "off", SIGHTLINE_LEASE_MS: "2000" }
      const started = yield* DistributedRun.start(makePipeline({ outDir: out }), { partitions: 6 }).pipe(Effect.provide(landscapeOf(store)))
      const workers = [0, 1, 2].map(() => startWorker(started.runId, env))
      let killed: { readonly pid: number; readonly partition: number; readonly position: number } | undefined
      if (options.kill) {
        // kill -9 a worker in the middle of a partition: it has committed batches of it, not all.
        const victim = yield* store.exec<{ owner: string; partition_index: number; position: string | number }>(
          `SELECT owner, partition_index, position FROM run_partitions WHERE run_id = '${started.runId}' AND status = 'running' AND position > 0 ORDER BY partition_index LIMIT 1`
        ).pipe(Effect.delay("20 millis"), Effect.repeat({ until: (rows) => rows.length > 0 }))
        const pid = Number(victim[0]!.owner.split(":")[1])
        killed = { pid, partition: victim[0]!.partition_index, position: Number(victim[0]!.position) }
        process.kill(pid, "SIGKILL")
      }
      const exits = yield* Effect.promise(() => Promise.all(workers.map((w) => w.exit)))
      const alive = exits.filter((_, i) => workers[i]!.proc.pid !== killed?.pid)
      for (const e of alive) expect(e, e.output).toMatchObject({ code: 0 })

      yield* Effect.gen(function* () {
        const landscape = yield* Landscape.Landscape
        const run = Option.getOrThrow(yield* Landscape.getRun(started.runId))
        expect(run).toMatchObject({ status: "completed", rowsRead: reference.rowsRead, rowsQuarantined: reference.quarantined })
        expect(yield* rowsOf(store, started.runId)).toEqual({ n: reference.rowsRead, distinct: reference.rowsRead, lo: 0, hi: reference.rowsRead - 1 })
        const parts = yield* landscape.partitions.list(started.runId)
        expect(parts.every((p) => p.status === "completed")).toBe(true)
        for (const [sink, n] of Object.entries(reference.rowsPerSink)) expect(parts.reduce((sum, p) => sum + (p.rowsPerSink[sink] ?? 0), 0)).toBe(n)
        expect(partLines(out, "on_time", ".csv")).toBe(reference.rowsPerSink.on_time)
        expect(partLines(out, "delayed", ".jsonl")).toBe(reference.rowsPerSink.delayed)
        expect(partLines(out, "quarantine", ".jsonl")).toBe(reference.quarantined)
        expect(readdirSync(out).filter((f) => f.includes(".partial-"))).toEqual([])
        if (killed !== undefined) {
          const taken = parts[killed.partition]!
          expect(taken.attempt).toBeGreaterThanOrEqual(2)
          const closed = yield* store.exec<{ n: string | number }>(
            `SELECT count(*) AS n FROM operations WHERE run_id = '${started.runId}' AND status = 'failed' AND error LIKE '%stopped on partition ${killed.partition}%'`
          )
          expect(Number(closed[0]!.n)).toBeGreaterThan(0)
        }
        expect((yield* Landscape.verify(started.runId)).problems).toEqual([])
        const events = yield* store.exec<{ n: string | number }>(`SELECT count(*) AS n FROM operations WHERE run_id = '${started.runId}' AND status = 'running'`)
        expect(Number(events[0]!.n)).toBe(0)
      }).pipe(Effect.provide(landscapeOf(store)))
      return { killed, exits }
    })

  it.live("3 worker processes on the flights data: every row recorded once, totals equal to a single-process run", () =>
    Effect.asVoid(distributed({ kill: false })), 180_000)

  it.live("one of the 3 workers killed with kill -9 mid-partition: another takes its partition over and the run completes with the same totals", () =>
    Effect.gen(function* () {
      const { killed } = yield* distributed({ kill: true })
      expect(killed).toBeDefined()
    }), 180_000)
})
