/**
 * Signed export of one run's audit, and its offline check.
 *
 * `exportRun` streams the run's complete audit as JSON Lines, in chain order: the run, then link by
 * link its nodes, operations, rows, tokens, node states, routing decisions and calls, and the
 * links themselves (`audit_chain`). Each record is an object of its stored columns (payloads as
 * the stored canonical JSON text, so their hashes can be recomputed from the file) plus `type` and
 * `signature`: HMAC-SHA256 (hex) with the signing key over the record's RFC 8785 canonical JSON
 * without `signature`. The last line is the manifest (record count, a SHA-256 over the records'
 * signatures in order, the run's chain value, the algorithms), signed the same way.
 *
 * `verifyExport` checks such a file without the database: every signature, the record count and
 * final hash, every payload against its hash, and the chain values of the links against each other
 * and the manifest. The key never appears in the file (ELSPETH's signed export, with the chain added).
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { Chunk, Effect, Option, Redacted, Schema, Stream } from "effect"
import { createHash, createHmac, timingSafeEqual } from "node:crypto"
import { canonicalJson, sha256 } from "../internal/hashing.js"
import * as Chain from "./chain.js"
import { num, type RunDbRow } from "./decode.js"
import { dialectOf, placeholders } from "./dialect.js"
import { landscapeError, type LandscapeError } from "./error.js"
import type { ExportManifest, ExportVerifyReport, Problem } from "./results.js"

const windowLinks = 64

/** Record types of an export and their tables, in the order each window lists them. */
const tables = [
  ["node", "nodes"], ["operation", "operations"], ["row", "rows"], ["token", "tokens"], ["node_state", "node_states"], ["routing", "routing_events"], ["call", "calls"]
] as const

const sign = (key: string, record: object): string => createHmac("sha256", key).update(canonicalJson(record)).digest("hex")

/** A key that can sign: non-empty. */
const keyOf = (key: Redacted.Redacted<string>, operation: "export" | "verifyExport"): Effect.Effect<string, LandscapeError> => {
  const value = Redacted.value(key)
  return value.length === 0 ? Effect.fail(landscapeError(operation, "the signing key is empty (set SIGHTLINE_SIGNING_KEY)")) : Effect.succeed(value)
}

export const makeExport = (sql: SqlClient.SqlClient) => {
  const dialect = dialectOf(sql)
  const windowOf = (table: string) => placeholders(dialect, `SELECT * FROM ${table} WHERE run_id = ? AND chain_seq BETWEEN ? AND ? ORDER BY chain_seq, chain_ord`)
  return (runId: string, key: Redacted.Redacted<string>): Stream.Stream<string, SqlError.SqlError | LandscapeError> =>
    Stream.unwrap(Effect.gen(function* () {
      const secret = yield* keyOf(key, "export")
      const [run] = yield* sql<RunDbRow>`SELECT * FROM runs WHERE run_id = ${runId}`
      if (run === undefined) return yield* landscapeError("export", `run ${runId} is not recorded`)
      const links = yield* sql<{ readonly seq: number; readonly kind: string; readonly records: number; readonly batch_hash: string; readonly chain_hash: string; readonly created_at: number }>`
        SELECT seq, kind, records, batch_hash, chain_hash, created_at FROM audit_chain WHERE run_id = ${runId} ORDER BY seq`
      const signatures = createHash("sha256")
      let count = 0
      const line = (type: string, record: object) => {
        const body = { type, ...record }
        const signature = sign(secret, body)
        signatures.update(signature)
        count += 1
        return JSON.stringify({ ...body, signature })
      }
      const first = Stream.succeed(line("run", run))
      const windows = Stream.paginateChunkEffect(0, (start: number) =>
        Effect.gen(function* () {
          if (start >= links.length) return [Chunk.empty<string>(), Option.none<number>()] as const
          const slice = links.slice(start, start + windowLinks)
          const lo = num(slice[0]!.seq)
          const hi = num(slice.at(-1)!.seq)
          const out: Array<string> = []
          for (const [type, table] of tables) {
            const records = yield* sql.unsafe<Record<string, unknown>>(windowOf(table), [runId, lo, hi])
            for (const record of records) out.push(line(type, record))
          }
          for (const link of slice) out.push(line("link", { run_id: runId, ...link }))
          const next = start + windowLinks
          return [Chunk.unsafeFromArray(out), next < links.length ? Option.some(next) : Option.none()] as const
        }))
      const manifest = Stream.fromEffect(Effect.sync(() => {
        const body: ExportManifest = {
          type: "manifest",
          runId,
          recordCount: count,
          finalHash: signatures.digest("hex"),
          chainHash: run.chain_hash,
          hashAlgorithm: "sha256",
          signatureAlgorithm: "hmac-sha256",
          canonicalization: "rfc8785",
          chainAlgorithm: Chain.chainAlgorithm,
          exportedAt: Date.now()
        }
        return JSON.stringify({ ...body, signature: sign(secret, body) })
      }))
      return Stream.concat(Stream.concat(first, windows), manifest)
    }))
}

const Manifest = Schema.Struct({
  type: Schema.Literal("manifest"),
  runId: Schema.String,
  recordCount: Schema.Number,
  finalHash: Schema.String,
  chainHash: Schema.NullOr(Schema.String),
  hashAlgorithm: Schema.Literal("sha256"),
  signatureAlgorithm: Schema.Literal("hmac-sha256"),
  canonicalization: Schema.Literal("rfc8785"),
  chainAlgorithm: Schema.String,
  exportedAt: Schema.Number
})
const decodeManifest = Schema.decodeUnknownOption(Manifest)

const equalHex = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))

/** Checks an export's lines offline (see the module docs). Fails only with the lines' own error, or with `LandscapeError` for an empty key. */
export const verifyExport = <E>(lines: Stream.Stream<string, E>, key: Redacted.Redacted<string>): Effect.Effect<ExportVerifyReport, E | LandscapeError> =>
  Effect.gen(function* () {
    const secret = yield* keyOf(key, "verifyExport")
    const problems: Array<Problem> = []
    const add = (record: string, check: Problem["check"], message: string) => void (problems.length < 1000 && problems.push({ check, record, message }))
    const signatures = createHash("sha256")
    let records = 0
    let lineNo = 0
    let runId: string | null = null
    const found: { manifest: ExportManifest | null } = { manifest: null }
    let chain: string | null = null
    let expectedSeq = 1
    yield* Stream.runForEach(Stream.filter(lines, (l) => l.trim() !== ""), (text) =>
      Effect.sync(() => {
        lineNo += 1
        const where = `line ${lineNo}`
        if (found.manifest !== null) return add(where, "counts", "a record after the manifest")
        let parsed: Record<string, unknown>
        try {
          parsed = JSON.parse(text) as Record<string, unknown>
        } catch {
          return add(where, "signature", "not JSON")
        }
        const { signature, ...body } = parsed
        if (typeof signature !== "string" || !equalHex(sign(secret, body), signature)) add(where, "signature", `${String(body["type"])} record: signature does not match (edited, or another key)`)
        if (body["type"] === "manifest") {
          found.manifest = Option.getOrNull(decodeManifest(body))
          if (found.manifest === null) add(where, "counts", "the manifest is not one this Sightline writes")
          return
        }
        records += 1
        if (typeof signature === "string") signatures.update(signature)
        const type = body["type"]
        if (type === "run") {
          runId = String(body["run_id"])
          chain = Chain.genesis(runId)
          if (typeof body["config_json"] === "string" && sha256(body["config_json"]) !== body["config_hash"]) add(where, "hash", "run configuration does not match its hash")
        } else if (type === "row" && typeof body["source_data_json"] === "string" && sha256(body["source_data_json"]) !== body["source_data_hash"]) {
          add(where, "hash", `row ${String(body["row_id"])}: source data does not match its hash`)
        } else if (type === "call") {
          for (const part of ["request", "response"] as const) {
            const json = body[`${part}_json`]
            if (typeof json === "string" && sha256(json) !== body[`${part}_hash`]) add(where, "hash", `call ${String(body["call_id"])}: ${part} does not match its hash`)
          }
        } else if (type === "link" && chain !== null) {
          if (body["seq"] !== expectedSeq) add(where, "chain", `link ${String(body["seq"])} where link ${expectedSeq} was expected`)
          expectedSeq = Number(body["seq"]) + 1
          chain = Chain.link(chain, String(body["batch_hash"]))
          if (chain !== body["chain_hash"]) add(where, "chain", `link ${String(body["seq"])}: chain value is not the chain of the links before it`)
        }
      }))
    const m = found.manifest
    if (m === null) add(`line ${lineNo}`, "counts", "the export has no manifest (cut short?)")
    else {
      if (m.recordCount !== records) add("manifest", "counts", `the manifest says ${m.recordCount} records, the file has ${records}`)
      if (m.finalHash !== signatures.digest("hex")) add("manifest", "signature", "the manifest's final hash is not the hash of the records' signatures")
      if (m.chainHash !== null && m.chainHash !== chain) add("manifest", "chain", "the manifest's chain value is not the chain of the exported links")
    }
    return { ok: problems.length === 0, runId, records, manifest: m, problems }
  })
