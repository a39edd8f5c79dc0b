/**
 * The `sightline` subcommands (see `main.ts`): each reads `--db` and prints a table, or JSON with
 * `--json`.
 *
 * @internal
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Chunk, Clock, Console, Effect, Option, Stream } from "effect"
import { closeSync, createReadStream, openSync, writeSync } from "node:fs"
import { createInterface } from "node:readline"
import { Landscape } from "../Landscape.js"
import * as L from "../Landscape.js"
import { dbPath, landscapeAt, parseAge, parseTime, resolveRun, UsageError } from "./context.js"
import { resume } from "./resume.js"
import { serve } from "./serve.js"
import * as Show from "./show.js"

const db = Options.text("db").pipe(
  Options.withDescription("Landscape: a SQLite file or a postgres:// URL (default: $SIGHTLINE_LANDSCAPE, else out/landscape.db)"),
  Options.optional
)
const asJson = Options.boolean("json").pipe(Options.withDescription("print JSON instead of a table"))
const runArg = Args.text({ name: "runId|latest" }).pipe(Args.withDescription("a run id, or latest"))

/** Runs `body` with the Landscape of `--db` and prints what it returns. */
const withLandscape = <A, E>(
  dbOption: Option.Option<string>,
  body: Effect.Effect<A, E, Landscape>
) => Effect.provide(body, landscapeAt(dbPath(dbOption)))

const print = (asJsonFlag: boolean, value: unknown, text: () => string) => Console.log(asJsonFlag ? Show.json(value) : text())

const runs = Command.make("runs", {
  db,
  json: asJson,
  status: Options.choice("status", ["running", "completed", "failed", "interrupted"]).pipe(Options.optional),
  pipeline: Options.text("pipeline").pipe(Options.optional),
  parent: Options.text("parent").pipe(Options.withDescription("only the runs this run started (its children): a run id, a prefix, or latest"), Options.optional),
  limit: Options.integer("limit").pipe(Options.withDefault(20))
}, (o) =>
  withLandscape(o.db, Effect.gen(function* () {
    const parentRunId = Option.isSome(o.parent) ? yield* resolveRun(o.parent.value) : undefined
    const list = yield* L.runs({
      limit: o.limit,
      ...(parentRunId === undefined ? {} : { parentRunId }),
      ...Option.match(o.status, { onNone: () => ({}), onSome: (status) => ({ status }) }),
      ...Option.match(o.pipeline, { onNone: () => ({}), onSome: (pipeline) => ({ pipeline }) })
    })
    yield* print(o.json, list, () => Show.runs(list))
  }))).pipe(Command.withDescription("list runs, most recent first"))

const summary = Command.make("summary", { db, json: asJson, run: runArg }, (o) =>
  withLandscape(o.db, Effect.gen(function* () {
    const runId = yield* resolveRun(o.run)
    const s = Option.getOrThrow(yield* L.runSummary(runId))
    yield* print(o.json, s, () => Show.summary(s))
  }))).pipe(Command.withDescription("per node counts and durations, calls, LLM tokens and cost, quarantine reasons"))

const parseWhere = (text: string) => {
  const i = text.indexOf("=")
  if (i <= 0) return Effect.fail(new UsageError({ message: `--where takes field=value, got "${text}"` }))
  const field = text.slice(0, i).trim()
  const raw = text.slice(i + 1)
  // A value that reads as JSON (15, true, "LAX") is matched as that and as its text (CSV sources store text).
  const values: Array<L.FieldValue> = [raw]
  try {
    const parsed = JSON.parse(raw) as unknown
    if (parsed === null || ["string", "number", "boolean"].includes(typeof parsed)) values.unshift(parsed as L.FieldValue)
  } catch {
    // plain text
  }
  return Effect.succeed([field, [...new Set(values)]] as const)
}

const explain = Command.make("explain", {
  db,
  json: asJson,
  run: runArg,
  row: Options.text("row").pipe(Options.withDescription("row id"), Options.optional),
  token: Options.text("token").pipe(Options.withDescription("token id"), Options.optional),
  index: Options.integer("index").pipe(Options.withDescription("row index in the source (0 = first)"), Options.optional),
  where: Options.text("where").pipe(Options.withDescription("field=value of the source record, e.g. origin=LAX"), Options.repeated)
}, (o) =>
  withLandscape(o.db, Effect.gen(function* () {
    const runId = yield* resolveRun(o.run)
    const given = Number(Option.isSome(o.row)) + Number(Option.isSome(o.token)) + Number(Option.isSome(o.index)) + Number(o.where.length > 0)
    if (given !== 1) return yield* new UsageError({ message: "give exactly one of --row, --token, --index or --where" })
    if (o.where.length > 0) {
      const where = Object.fromEntries(yield* Effect.forEach(o.where, parseWhere))
      const found = yield* L.findRows({ runId, where, limit: 20 })
      if (found.length === 0) return yield* new UsageError({ message: `no row of run ${runId} has ${o.where.join(" and ")}` })
      if (found.length > 1) return yield* print(o.json, { matches: found }, () => Show.found(found, o.where.join(" and ")))
      return yield* explainOne(o.json, { runId, rowId: found[0]!.rowId })
    }
    const request: L.ExplainRequest = Option.isSome(o.row)
      ? { runId, rowId: o.row.value }
      : Option.isSome(o.token)
      ? { runId, tokenId: o.token.value }
      : { runId, rowIndex: Option.getOrThrow(o.index) }
    yield* explainOne(o.json, request)
  }))).pipe(Command.withDescription("backward lineage of one row or token: source record, every step, routing, calls, outcome"))

const explainOne = (asJsonFlag: boolean, request: L.ExplainRequest) =>
  Effect.gen(function* () {
    const e = yield* L.explain(request)
    if (Option.isNone(e)) {
      const what = "rowId" in request ? `row ${request.rowId}` : "tokenId" in request ? `token ${request.tokenId}` : `row index ${request.rowIndex}`
      return yield* new UsageError({ message: `run ${request.runId} has no ${what}` })
    }
    yield* print(asJsonFlag, e.value, () => Show.explanation(e.value))
  })

const trace = Command.make("trace", {
  db,
  json: asJson,
  run: runArg,
  row: Options.text("row").pipe(Options.withDescription("row id"))
}, (o) =>
  withLandscape(o.db, Effect.gen(function* () {
    const runId = yield* resolveRun(o.run)
    const t = yield* L.trace({ runId, rowId: o.row })
    if (Option.isNone(t)) return yield* new UsageError({ message: `run ${runId} has no row ${o.row}` })
    yield* print(o.json, t.value, () => Show.trace(t.value))
  }))).pipe(Command.withDescription("forward lineage of one row: every token and where each ended"))

const query = Command.make("query", {
  db,
  json: asJson,
  since: Options.text("since").pipe(Options.withDescription("ISO time, epoch ms, or an age (1h = an hour ago)"), Options.optional),
  until: Options.text("until").pipe(Options.optional),
  run: Options.text("run").pipe(Options.repeated),
  node: Options.text("node").pipe(Options.repeated),
  status: Options.text("status").pipe(Options.repeated),
  severity: Options.choice("severity", ["info", "warning", "error"]).pipe(Options.optional),
  kind: Options.choice("kind", ["nodeState", "call", "operation", "quarantine"]).pipe(Options.repeated),
  row: Options.text("row").pipe(Options.repeated),
  trace: Options.text("trace").pipe(Options.withDescription("W3C trace id of a run"), Options.optional),
  limit: Options.integer("limit").pipe(Options.withDefault(50)),
  cursor: Options.text("cursor").pipe(Options.withDescription("continuation token printed by the previous page"), Options.optional)
}, (o) =>
  withLandscape(o.db, Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const since = Option.isSome(o.since) ? yield* parseTime(o.since.value, now) : undefined
    const until = Option.isSome(o.until) ? yield* parseTime(o.until.value, now) : undefined
    const runIds = yield* Effect.forEach(o.run, resolveRun)
    const page = yield* L.query({
      ...(since === undefined ? {} : { since }),
      ...(until === undefined ? {} : { until }),
      ...(runIds.length > 0 ? { runIds } : {}),
      ...(o.node.length > 0 ? { nodes: o.node } : {}),
      ...(o.status.length > 0 ? { status: o.status } : {}),
      ...(Option.isSome(o.severity) ? { severity: o.severity.value } : {}),
      ...(o.kind.length > 0 ? { kinds: o.kind } : {}),
      ...(o.row.length > 0 ? { rowIds: o.row } : {}),
      ...(Option.isSome(o.trace) ? { traceId: o.trace.value } : {}),
      limit: o.limit,
      ...(Option.isSome(o.cursor) ? { continuationToken: o.cursor.value } : {})
    })
    yield* print(o.json, page, () => Show.page(page))
  }))).pipe(Command.withDescription("node states, calls, operations and quarantines, filtered, a page at a time"))

/**
 * Lines of a file, as a stream. The readline interface is created in the same call as its async
 * iterator, when the stream starts: readline reads as soon as it exists, and lines it emits before
 * the iterator listens are lost (an interface made when the stream was defined lost every line of a
 * small file now and then on a loaded machine: `verify --export` then found no records).
 */
const fileLines = (path: string) =>
  Stream.fromAsyncIterable(
    { [Symbol.asyncIterator]: () => createInterface({ input: createReadStream(path), crlfDelay: Infinity })[Symbol.asyncIterator]() },
    (e) => new UsageError({ message: `cannot read ${path}: ${String(e)}` })
  )

const verify = Command.make("verify", {
  db,
  json: asJson,
  run: Args.text({ name: "runId|latest" }).pipe(Args.withDescription("a run id, or latest; default: every run"), Args.optional),
  exportFile: Options.file("export").pipe(Options.withDescription("check a signed export file offline instead"), Options.optional)
}, (o) =>
  Effect.gen(function* () {
    if (Option.isSome(o.exportFile)) {
      const path = o.exportFile.value
      const report = yield* L.verifyExport(fileLines(path))
      yield* print(o.json, report, () => Show.exportReport(report, path))
      if (!report.ok) yield* Effect.sync(() => void (process.exitCode = 1))
      return
    }
    yield* withLandscape(o.db, Effect.gen(function* () {
      const ids = Option.isSome(o.run) ? [yield* resolveRun(o.run.value)] : (yield* L.runs({ limit: 1_000_000 })).map((r) => r.runId).reverse()
      const reports = yield* Effect.forEach(ids, (id) => L.verify(id))
      yield* print(o.json, Option.isSome(o.run) ? reports[0] : reports, () => Show.verifyReports(reports))
      if (reports.some((r) => !r.ok)) yield* Effect.sync(() => void (process.exitCode = 1))
    }))
  })).pipe(Command.withDescription("recompute every hash and the hash chain; check outcomes, open records, calls, statistics (exit 1 on a problem)"))

const exportCommand = Command.make("export", {
  db,
  run: runArg,
  out: Options.text("out").pipe(Options.withDescription("file to write (default: standard output)"), Options.optional)
}, (o) =>
  withLandscape(o.db, Effect.gen(function* () {
    const runId = yield* resolveRun(o.run)
    const lines = L.exportRun(runId)
    if (Option.isNone(o.out)) {
      return yield* Stream.runForEachChunk(lines, (chunk) => Effect.sync(() => void process.stdout.write(Chunk.join(chunk, "\n") + "\n")))
    }
    const path = o.out.value
    const fd = yield* Effect.try({ try: () => openSync(path, "w"), catch: (e) => new UsageError({ message: `cannot write ${path}: ${String(e)}` }) })
    let count = 0
    yield* Stream.runForEachChunk(lines, (chunk) =>
      Effect.sync(() => {
        count += chunk.length
        writeSync(fd, Chunk.join(chunk, "\n") + "\n")
      })).pipe(Effect.ensuring(Effect.sync(() => closeSync(fd))))
    yield* Console.error(`wrote ${count.toLocaleString("en-US")} lines (records and manifest) of run ${runId} to ${path}`)
  }))).pipe(Command.withDescription("the run's audit as JSON Lines, each record HMAC-SHA256-signed with $SIGHTLINE_SIGNING_KEY, ending in a manifest"))

const purge = Command.make("purge", {
  db,
  json: asJson,
  olderThan: Options.text("older-than").pipe(Options.withDescription("age of the runs to purge, e.g. 90d, 12h")),
  dryRun: Options.boolean("dry-run").pipe(Options.withDescription("say what would be purged, change nothing"))
}, (o) =>
  withLandscape(o.db, Effect.gen(function* () {
    const age = parseAge(o.olderThan)
    if (Option.isNone(age)) return yield* new UsageError({ message: `--older-than takes an age like 90d, 12h or 30m, got "${o.olderThan}"` })
    const now = yield* Clock.currentTimeMillis
    const result = yield* L.purge({ olderThan: now - age.value, dryRun: o.dryRun })
    yield* print(o.json, result, () => Show.purge(result, o.olderThan))
  }))).pipe(Command.withDescription("delete the payloads of runs finished longer ago than --older-than; every hash stays"))

const usage = Command.make("usage", { db, json: asJson, run: runArg }, (o) =>
  withLandscape(o.db, Effect.gen(function* () {
    const runId = yield* resolveRun(o.run)
    const totals = yield* Effect.flatMap(Landscape, (l) => l.llmUsage(runId))
    yield* print(o.json, totals, () => Show.usage(totals))
  }))).pipe(Command.withDescription("LLM calls, tokens and cost (USD) per node"))

export const sightline = Command.make("sightline").pipe(
  Command.withDescription("Read a Sightline Landscape (runs, lineage, audit queries, integrity, export, retention) resume its interrupted runs, serve the audit browser"),
  Command.withSubcommands([runs, summary, explain, trace, query, verify, exportCommand, purge, usage, resume, serve])
)
