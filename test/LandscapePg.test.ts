/**
 * What only PostgreSQL has, on the real server of `support/postgres.ts`: several processes opening
 * one database, and its faults. A server that is not there, a server that goes away mid-run, a
 * statement time-out: the run fails with `LandscapeError` within a second of the fault, and what was
 * recorded still verifies. A serialization failure is retried (the whole transaction was rolled
 * back, so nothing is recorded twice). A killed idle connection is replaced by the pool and costs
 * nothing (measured: a run whose connections were all terminated with `pg_terminate_backend` while
 * idle went on and completed).
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Option, Redacted, Schedule, Schema } from "effect"
import { type AddressInfo, connect, createServer, type Socket } from "node:net"
import { join } from "node:path"
import Pg from "pg"
import { Landscape, LandscapePg, Orchestrator, Pipeline, Sink, Source, TestExporter } from "../src/index.js"
import { tempDir } from "./helpers.js"
import { postgres, type Store } from "./support/backends.js"
import { runOrders } from "./support/landscapes.js"

const Row = Schema.Struct({ n: Schema.Number })

/** A run long enough to be hit mid-way: 200,000 rows, 1 ms of work each, four at a time. */
const longRun = (landscape: Layer.Layer<Landscape.Landscape, Landscape.LandscapeError>) => {
  const dir = tempDir()
  const pipeline = Pipeline.make({ name: "long", source: Source.fromIterable({ records: Array.from({ length: 200_000 }, (_, n) => ({ n })), schema: Row }) }).pipe(
    Pipeline.transform(Pipeline.makeTransform("work", (r: typeof Row.Type) => Effect.as(Effect.sleep("1 millis"), r))),
    Pipeline.toSinks({ sinks: { out: Sink.jsonLines({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
  )
  return Orchestrator.run(pipeline, { concurrency: 4 }).pipe(Effect.provide(Layer.merge(TestExporter.layer(), landscape)))
}

/** Waits until the store holds at least `rows` rows. */
const untilRows = (store: Store, rows: number) =>
  Effect.repeat(
    Effect.map(store.exec<{ n: number }>("SELECT count(*) AS n FROM rows"), ([r]) => Number(r?.n ?? 0)),
    { until: (n) => n >= rows, schedule: Schedule.spaced("20 millis") }
  )

/**
 * A TCP proxy to the test server on 127.0.0.1: `cut()` ends every connection through it and stops
 * listening, as a server that went away does (clients see their sockets closed, then refused).
 */
const startProxy = (target: number) =>
  Effect.async<{ readonly port: number; readonly cut: () => void }>((resume) => {
    const sockets = new Set<Socket>()
    const server = createServer((client) => {
      const upstream = connect(target, "127.0.0.1")
      for (const s of [client, upstream]) {
        sockets.add(s)
        s.on("error", () => s.destroy())
        s.on("close", () => sockets.delete(s))
      }
      client.pipe(upstream).pipe(client)
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as AddressInfo
      resume(Effect.succeed({
        port: address.port,
        cut: () => {
          server.close()
          for (const s of sockets) s.destroy()
        }
      }))
    })
  })

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

/** Runs `fault` once the long run has recorded some rows; the run's exit and the milliseconds from the fault to it. */
const hitMidRun = (store: Store, landscape: Layer.Layer<Landscape.Landscape, Landscape.LandscapeError>, fault: Effect.Effect<unknown>) =>
  Effect.gen(function* () {
    yield* Effect.provide(Landscape.listRuns(), landscape) // migrated before it is watched
    const fiber = yield* Effect.fork(longRun(landscape))
    yield* untilRows(store, 500)
    yield* fault
    const at = Date.now()
    const exit = yield* Fiber.await(fiber)
    return { exit, afterMs: Date.now() - at }
  })

describe.skipIf(!postgres.available)("LandscapePg", () => {
  const backend = postgres

  it.live("a server that is not there: the layer fails with LandscapeError naming the server, not the password, at once", () =>
    Effect.gen(function* () {
      const start = Date.now()
      const error = yield* Effect.flip(Effect.provide(Landscape.listRuns(), LandscapePg.layer({ url: Redacted.make("postgres://postgres:s3cret@127.0.0.1:1/none") })))
      expect(Date.now() - start).toBeLessThan(1000)
      expect(error).toMatchObject({ _tag: "LandscapeError", operation: "open" })
      expect(error.message).toContain("postgres://127.0.0.1:1/none")
      expect(error.message).not.toContain("s3cret")
    }))

  it.live("three processes' layers opening a new database at once: migrated once, each works", () =>
    Effect.gen(function* () {
      const store = yield* backend.fresh()
      const runs = yield* Effect.all([0, 1, 2].map(() => runOrders(store.layer())), { concurrency: "unbounded" })
      expect(new Set(runs.map((r) => r.runId)).size).toBe(3)
      const applied = yield* store.exec<{ migration_id: number }>("SELECT migration_id FROM effect_sql_migrations ORDER BY migration_id")
      expect(applied.map((m) => m.migration_id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    }))

  it.scopedLive("the server goes away mid-run (connections cut, new ones refused): LandscapeError within 1 s; what was committed verifies", () =>
    Effect.gen(function* () {
      const store = yield* backend.fresh()
      const server = new URL(store.target)
      const proxy = yield* Effect.acquireRelease(startProxy(Number(server.port)), (p) => Effect.sync(() => p.cut()))
      const landscape = LandscapePg.layer({ url: Redacted.make(`postgres://postgres@127.0.0.1:${proxy.port}${server.pathname}`) })
      const { afterMs, exit } = yield* hitMidRun(store, landscape, Effect.sync(() => proxy.cut()))
      expect(afterMs).toBeLessThan(1000)
      expect(failureOf(exit)).toMatchObject({ _tag: "LandscapeError" })
      // Its end could not be recorded: the run stays running until its heartbeat is stale (then a
      // later open marks it interrupted); every link that committed is whole.
      const [run] = yield* Effect.provide(Landscape.runs(), store.layer())
      expect(run!.status).toBe("running")
      const report = yield* Effect.provide(Landscape.verify(run!.runId), store.layer())
      expect(report.problems).toEqual([])
      expect(report.counts.rows).toBeGreaterThanOrEqual(500)
    }))

  it.live("a statement time-out (a lock held elsewhere, statement_timeout in the URL): LandscapeError within 1 s of it, the run recorded failed", () =>
    Effect.gen(function* () {
      const store = yield* backend.fresh()
      const url = `${store.target}?options=${encodeURIComponent("-c statement_timeout=300")}`
      const landscape = LandscapePg.layer({ url: Redacted.make(url) })
      // Another session holds the chain's table until the run's first write blocked on it has timed
      // out (that statement stops waiting), then lets go, so the run can record how it ended.
      const blocked = store.exec<{ pid: number; query_start: string }>(
        "SELECT l.pid, a.query_start::text FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted AND l.relation = 'audit_chain'::regclass"
      )
      const hold = Effect.forkDaemon(Effect.promise(async () => {
        const client = new Pg.Client({ connectionString: store.target })
        await client.connect()
        await client.query("BEGIN; LOCK TABLE audit_chain IN ACCESS EXCLUSIVE MODE")
        const poll = () => Effect.runPromise(Effect.delay(blocked, "10 millis"))
        let first = (await poll())[0]
        for (let i = 0; first === undefined && i < 500; i++) first = (await poll())[0]
        while ((await poll()).some((w) => w.pid === first?.pid && w.query_start === first.query_start)) continue
        await client.query("COMMIT")
        await client.end()
      }))
      const { afterMs, exit } = yield* hitMidRun(store, landscape, Effect.zipRight(hold, Effect.sleep("50 millis")))
      expect(afterMs).toBeLessThan(300 + 1000)
      expect(failureOf(exit)).toMatchObject({ _tag: "LandscapeError", message: expect.stringContaining("statement timeout") })
      const [run] = yield* Effect.provide(Landscape.runs(), store.layer())
      expect(run).toMatchObject({ status: "failed", error: expect.stringContaining("statement timeout") })
      expect(yield* Effect.provide(Landscape.verify(run!.runId), store.layer())).toMatchObject({ problems: [] })
    }))

  it.live("a serialization failure is retried as a whole transaction: the run completes, each batch recorded once", () =>
    Effect.gen(function* () {
      const store = yield* backend.fresh()
      yield* Effect.provide(Landscape.listRuns(), store.layer()) // migrated
      // The first three links written fail as a serializable transaction would (SQLSTATE 40001). A
      // sequence counts the attempts: unlike a table, it is not rolled back with the transaction.
      yield* store.exec(`CREATE SEQUENCE attempts;
        CREATE FUNCTION fail_some() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF nextval('attempts') <= 3 THEN RAISE EXCEPTION 'could not serialize access' USING ERRCODE = '40001'; END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER fail_some BEFORE INSERT ON audit_chain FOR EACH ROW EXECUTE FUNCTION fail_some()`)
      const summary = yield* runOrders(store.layer())
      const [links] = yield* store.exec<{ n: number }>(`SELECT count(*) AS n FROM audit_chain WHERE run_id = '${summary.runId}'`)
      const [attempts] = yield* store.exec<{ last_value: number }>("SELECT last_value FROM attempts")
      expect(Number(attempts!.last_value)).toBe(Number(links!.n) + 3) // every link written once, after three refusals
      const report = yield* Effect.provide(Landscape.verify(summary.runId), store.layer())
      expect(report).toMatchObject({ ok: true, problems: [], counts: { rows: 4 } })
    }))
})
