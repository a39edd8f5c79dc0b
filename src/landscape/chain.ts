/**
 * The per-run hash chain (DESIGN.md invariant 11): every write the Landscape makes for a run (its
 * begin, nodes, each batch of rows, each call, each operation, its end) is one link.
 *
 *   batch_hash(i) = SHA-256(canonical(batch i))
 *   chain(0)      = SHA-256("sightline-chain-v1:" ‖ run id)
 *   chain(i)      = SHA-256(chain(i − 1) ‖ batch_hash(i))
 *
 * `canonical(batch)` is the RFC 8785 JSON text of an array of facts, one fact per record written
 * (an array of strings, numbers and nulls, whose `JSON.stringify` text is already canonical: no
 * object keys to order, and ECMAScript number text is RFC 8785's; JSON-text columns enter by their
 * SHA-256, see {@link FactWriter}). Facts come in a fixed order of
 * kinds ({@link kinds}); records inserted by the write in the order they were given (each stores
 * its place, `chain_seq` and `chain_ord`, so the order can be read back on any SQL backend), updates
 * in primary-key order. Payloads (row data, call bodies) enter through their SHA-256 only, so the
 * chain still verifies after `purge`; `verify` checks each payload against its hash separately.
 *
 * Each link is stored in `audit_chain` (run, seq, batch hash, chain value), and the last value in
 * `runs.chain_hash` when the run ends. Editing, deleting or inserting a record changes the
 * recomputed batch hash of its link, so `verify` names the first link that differs. An attacker
 * who can rewrite the whole file can recompute the whole chain too: anchor the final value outside
 * the file (an export manifest, a signed log) to detect that.
 *
 * @internal
 */
import { createHash } from "node:crypto"
import { sha256 } from "../internal/hashing.js"

/** The kinds of fact, in the order they appear in a batch. */
export const kinds = [
  "run",
  "node",
  "operation",
  "row",
  "token",
  "token_parent",
  "state",
  "routing",
  "call",
  "batch",
  "batch_member",
  "state_end",
  "token_end",
  "batch_end",
  "operation_end",
  "run_end",
  "run_resume"
] as const

export type FactKind = typeof kinds[number]

/** Kinds that record an update of an earlier record: sorted by primary key within a batch. */
const updates: ReadonlySet<FactKind> = new Set(["state_end", "token_end", "batch_end", "operation_end"])

export type Value = string | number | null

/** Characters a JSON string must escape (RFC 8785 §3.2.2.2), and surrogates (a lone one is escaped by `JSON.stringify`). */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const escaped = /[\\\u0000-\u001f\ud800-\udfff]/

/**
 * Writes facts: the canonical JSON text of `[kind, ...values]` each, comma-separated (as
 * `canonicalBatch` joins them). JSON-text columns (`error_json`, `attributes_json`, configuration
 * and details) enter by their SHA-256, so every string of a fact is short.
 *
 * Speed is what shapes it: `JSON.stringify` costs about 0.5 µs per short string on this project's
 * machine (Node 20), some 30 µs for a row's seven facts. So strings are written between quotes as
 * they are, into pieces joined once per 64 facts, and each text is checked afterwards: it is the
 * canonical text exactly when no string held a quote and the text holds no backslash, control
 * character or surrogate. Otherwise (a free-text field with a quote, say) it is rewritten with
 * `JSON.stringify` for every string. Both the write path and `verify` build facts through it, so
 * their texts agree.
 */
export class FactWriter {
  /** Facts per text: keeps each text below V8's large-object size (a 256-row batch would make ~400 KB strings). */
  private static readonly chunk = 64
  private readonly texts: Array<string> = []
  private parts: Array<string> = []
  /** Positions in `parts` of the strings written unescaped. */
  private plain: Array<number> = []
  /** Some string written holds a quote. */
  private quote = false
  private inText = 0
  /** Facts written. */
  count = 0
  begin(kind: FactKind): this {
    this.parts.push(this.inText++ === 0 ? `["${kind}"` : `,["${kind}"`)
    this.count++
    return this
  }
  str(x: string | null | undefined): this {
    if (x === null || x === undefined) this.parts.push(",null")
    else {
      if (!this.quote && x.includes("\"")) this.quote = true
      this.plain.push(this.parts.length)
      this.parts.push(`,"${x}"`)
    }
    return this
  }
  /** A JSON-text column: its SHA-256 (hex, needs no escaping). */
  json(x: string | null | undefined): this {
    this.parts.push(x === null || x === undefined ? ",null" : `,"${sha256(x)}"`)
    return this
  }
  num(x: number | null | undefined): this {
    this.parts.push(x === null || x === undefined || !Number.isFinite(x) ? ",null" : `,${x}`)
    return this
  }
  end(): this {
    this.parts.push("]")
    if (this.inText >= FactWriter.chunk) this.flush()
    return this
  }
  /** One fact of `kind` from `values` in its `columns` order (JSON-text columns hashed). */
  fact(kind: FactKind, values: ReadonlyArray<unknown>, width: number = values.length): this {
    const hashed = jsonColumns[kind]
    this.begin(kind)
    for (let i = 0; i < width; i++) {
      const x = values[i]
      if (typeof x === "number") this.num(x)
      else if (typeof x === "string") {
        if (hashed?.has(i)) this.json(x)
        else this.str(x)
      }
      else this.parts.push(",null")
    }
    return this.end()
  }
  /** Ends the current text: the canonical one, unless a string needs escaping, then rewritten. */
  private flush(): void {
    if (this.inText === 0) return
    let text = this.parts.join("")
    if (this.quote || escaped.test(text)) {
      for (const i of this.plain) this.parts[i] = `,${JSON.stringify(this.parts[i]!.slice(2, -1))}`
      text = this.parts.join("")
    }
    this.texts.push(text)
    this.parts = []
    this.plain = []
    this.quote = false
    this.inText = 0
  }
  /** The facts written, as texts of comma-separated facts (a batch's list of one kind). */
  list(): Array<string> {
    this.flush()
    return this.texts
  }
  /** The facts written, as one text. */
  text(): string {
    return this.list().join(",")
  }
}

/** One fact's canonical text (JSON-text columns hashed). */
export const factOf = (kind: FactKind, row: ReadonlyArray<unknown>, width: number = row.length): string => new FactWriter().fact(kind, row, width).text()

/** One fact from its values. */
export const fact = (kind: FactKind, values: ReadonlyArray<Value | undefined>): string => factOf(kind, values)

/**
 * The stored columns of each fact kind that comes from one table, in the fact's order: what
 * `verify` reads to rebuild facts (`facts` below builds the same arrays from the write's records).
 */
export const columns = {
  node: ["node_id", "name", "kind", "position", "config_json"],
  operation: ["operation_id", "node_id", "kind", "begin_details_json", "started_at"],
  row: ["row_id", "source_node_id", "row_index", "source_data_hash", "created_at"],
  token: ["token_id", "row_id", "created_at", "outcome", "sink_node_id", "completed_at"],
  token_parent: ["token_id", "parent_token_id", "ordinal"],
  state: ["state_id", "token_id", "node_id", "step_index", "attempt", "status", "input_hash", "output_hash", "error_json", "started_at", "completed_at", "duration_ms"],
  routing: ["routing_id", "state_id", "token_id", "destination", "destination_node_id", "created_at"],
  call: ["call_id", "node_id", "state_id", "operation_id", "call_type", "status", "request_hash", "response_hash", "attributes_json", "error", "latency_ms", "created_at"],
  batch: ["batch_id", "node_id", "created_at"],
  batch_member: ["batch_id", "token_id", "ordinal"],
  state_end: ["state_id", "status", "output_hash", "error_json", "completed_at", "duration_ms"],
  batch_end: ["batch_id", "status", "trigger_reason", "state_id", "flushed_at"],
  token_end: ["token_id", "outcome", "sink_node_id", "completed_at"],
  operation_end: ["operation_id", "status", "details_json", "error", "completed_at", "duration_ms"]
} as const

/** Positions of the JSON-text columns of each kind, which facts hold by their SHA-256. */
const jsonColumns: Partial<Record<FactKind, ReadonlySet<number>>> = Object.fromEntries(
  Object.entries(columns).map(([kind, names]) => [kind, new Set((names as ReadonlyArray<string>).flatMap((n, i) => (n.endsWith("_json") ? [i] : [])))])
)

/** The numeric columns of the tables' facts (PostgreSQL returns BIGINT as text). */
export const numericColumns = {
  node: ["position"],
  operation: ["started_at", "chain_seq", "end_seq"],
  row: ["row_index", "created_at", "chain_seq", "purged_at"],
  token: ["created_at", "completed_at", "chain_seq", "outcome_seq"],
  token_parent: ["ordinal", "chain_seq"],
  state: ["step_index", "attempt", "started_at", "completed_at", "duration_ms", "chain_seq", "end_seq"],
  routing: ["created_at", "chain_seq"],
  call: ["latency_ms", "created_at", "chain_seq", "purged_at"],
  batch: ["created_at", "chain_seq", "end_seq"],
  batch_member: ["ordinal", "chain_seq"]
} as const

/** The stored columns of each kind of record that the chain covers (payloads by hash only). */
export const facts = {
  run: (r: {
    readonly runId: string
    readonly pipeline: string
    readonly startedAt: number
    readonly configHash: string
    readonly telemetryEnabled: number
    readonly telemetryGranularity: string | null
    readonly ownerHost: string | null
    readonly ownerPid: number | null
    readonly canonicalVersion: string | null
    readonly traceId: string | null
    readonly parentRunId: string | null
  }) =>
    // The parent (schema 0004) is a field of the fact only when there is one, so the runs recorded
    // before it keep the hashes they were chained with.
    fact("run", [
      r.runId, r.pipeline, r.startedAt, r.configHash, r.telemetryEnabled, r.telemetryGranularity, r.ownerHost, r.ownerPid, r.canonicalVersion, r.traceId,
      ...(r.parentRunId === null ? [] : [r.parentRunId])
    ]),
  runEnd: (r: {
    readonly runId: string
    readonly status: string
    readonly finishedAt: number | null
    readonly durationMs: number | null
    readonly rowsRead: number | null
    readonly rowsQuarantined: number | null
    readonly error: string | null
  }) => fact("run_end", [r.runId, r.status, r.finishedAt, r.durationMs, r.rowsRead, r.rowsQuarantined, r.error]),
  /** A resume (`Orchestrator.resume`, schema 0007): the attempt, where it continues, and how the run had ended before (the end it reopens). */
  runResume: (r: {
    readonly runId: string
    readonly attempt: number
    readonly position: number
    readonly resumedAt: number
    readonly previousStatus: string
    readonly previousFinishedAt: number | null
    readonly previousDurationMs: number | null
    readonly previousRowsRead: number | null
    readonly previousRowsQuarantined: number | null
    readonly previousError: string | null
    readonly previousEndSeq: number | null
  }) =>
    fact("run_resume", [
      r.runId, r.attempt, r.position, r.resumedAt, r.previousStatus, r.previousFinishedAt, r.previousDurationMs, r.previousRowsRead,
      r.previousRowsQuarantined, r.previousError, r.previousEndSeq
    ]),
  node: (n: { readonly nodeId: string; readonly name: string; readonly kind: string; readonly position: number; readonly configJson: string }) =>
    fact("node", [n.nodeId, n.name, n.kind, n.position, n.configJson]),
  operation: (o: { readonly operationId: string; readonly nodeId: string; readonly kind: string; readonly detailsJson: string; readonly startedAt: number }) =>
    fact("operation", [o.operationId, o.nodeId, o.kind, o.detailsJson, o.startedAt]),
  operationEnd: (o: {
    readonly operationId: string
    readonly status: string
    readonly detailsJson: string | null
    readonly error: string | null
    readonly completedAt: number | null
    readonly durationMs: number | null
  }) => fact("operation_end", [o.operationId, o.status, o.detailsJson, o.error, o.completedAt, o.durationMs]),
  row: (r: { readonly rowId: string; readonly sourceNodeId: string; readonly rowIndex: number; readonly dataHash: string; readonly createdAt: number }) =>
    fact("row", [r.rowId, r.sourceNodeId, r.rowIndex, r.dataHash, r.createdAt]),
  token: (t: {
    readonly tokenId: string
    readonly rowId: string
    readonly createdAt: number
    readonly outcome: string | null
    readonly sinkNodeId: string | null
    readonly completedAt: number | null
  }) => fact("token", [t.tokenId, t.rowId, t.createdAt, t.outcome, t.sinkNodeId, t.completedAt]),
  /** A batch's end (`batches`, schema 0009). */
  batchEnd: (b: { readonly batchId: string; readonly status: string; readonly trigger: string | null; readonly stateId: string | null; readonly flushedAt: number | null }) =>
    fact("batch_end", [b.batchId, b.status, b.trigger, b.stateId, b.flushedAt]),
  tokenEnd: (t: { readonly tokenId: string; readonly outcome: string; readonly sinkNodeId: string | null; readonly completedAt: number | null }) =>
    fact("token_end", [t.tokenId, t.outcome, t.sinkNodeId, t.completedAt]),
  state: (s: {
    readonly stateId: string
    readonly tokenId: string
    readonly nodeId: string
    readonly stepIndex: number
    readonly attempt: number
    readonly status: string
    readonly inputHash: string
    readonly outputHash: string | null
    readonly errorJson: string | null
    readonly startedAt: number
    readonly completedAt: number | null
    readonly durationMs: number | null
  }) =>
    fact("state", [
      s.stateId, s.tokenId, s.nodeId, s.stepIndex, s.attempt, s.status, s.inputHash, s.outputHash, s.errorJson, s.startedAt, s.completedAt, s.durationMs
    ]),
  stateEnd: (s: {
    readonly stateId: string
    readonly status: string
    readonly outputHash: string | null
    readonly errorJson: string | null
    readonly completedAt: number | null
    readonly durationMs: number | null
  }) => fact("state_end", [s.stateId, s.status, s.outputHash, s.errorJson, s.completedAt, s.durationMs]),
  routing: (r: {
    readonly routingId: string
    readonly stateId: string
    readonly tokenId: string
    readonly destination: string
    readonly destinationNodeId: string | null
    readonly createdAt: number
  }) => fact("routing", [r.routingId, r.stateId, r.tokenId, r.destination, r.destinationNodeId, r.createdAt]),
  call: (c: {
    readonly callId: string
    readonly nodeId: string
    readonly stateId: string | null
    readonly operationId: string | null
    readonly callType: string
    readonly status: string
    readonly requestHash: string | null
    readonly responseHash: string | null
    readonly attributesJson: string
    readonly error: string | null
    readonly latencyMs: number
    readonly createdAt: number
  }) =>
    fact("call", [
      c.callId, c.nodeId, c.stateId, c.operationId, c.callType, c.status, c.requestHash, c.responseHash, c.attributesJson, c.error, c.latencyMs, c.createdAt
    ])
}

/** The facts of one batch, by kind. */
export type BatchFacts = Partial<Record<FactKind, Array<string>>>

/** Appends `text` to the facts of `kind`. */
export const add = (batch: BatchFacts, kind: FactKind, text: string): void => {
  const list = batch[kind]
  if (list === undefined) batch[kind] = [text]
  else list.push(text)
}


/** `canonical(batch)`: the JSON array of its facts, kinds in order, updates sorted by primary key. */
export const canonicalBatch = (batch: BatchFacts): string => {
  const parts: Array<string> = []
  for (const kind of kinds) {
    const list = batch[kind]
    if (list === undefined || list.length === 0) continue
    // An update fact starts with `["<kind>","<primary key>",`: sorting the texts sorts by key.
    parts.push((updates.has(kind) ? [...list].sort() : list).join(","))
  }
  return `[${parts.join(",")}]`
}

/** SHA-256 of `canonical(batch)`, hex, fed text by text (no one string of the whole batch). */
export const batchHash = (batch: BatchFacts): string => {
  const hash = createHash("sha256")
  hash.update("[")
  let first = true
  for (const kind of kinds) {
    const list = batch[kind]
    if (list === undefined || list.length === 0) continue
    for (const text of updates.has(kind) ? [...list].sort() : list) {
      if (!first) hash.update(",")
      hash.update(text)
      first = false
    }
  }
  hash.update("]")
  return hash.digest("hex")
}

/** The chain's value before the run's first link. */
export const genesis = (runId: string): string => sha256(`sightline-chain-v1:${runId}`)

/** The chain's value after a link whose batch hash is `batch`. */
export const link = (previous: string, batch: string): string => sha256(previous + batch)

/** The name of the chain scheme, as exports and `verify` report it. */
export const chainAlgorithm = "sha256-chain-v1: chain(i) = sha256(chain(i-1) || sha256(rfc8785(batch(i)))), chain(0) = sha256(\"sightline-chain-v1:\" || runId)"
