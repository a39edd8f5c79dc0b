/**
 * The Landscape's SQL schema as versioned `@effect/sql` migrations (applied ids are kept in
 * `effect_sql_migrations`). Portable SQL: the same statements run on SQLite and PostgreSQL.
 * Times are epoch milliseconds (INTEGER), durations milliseconds (REAL), hashes SHA-256 hex over
 * RFC 8785 canonical JSON.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Migrator from "@effect/sql/Migrator"
import { Effect } from "effect"
import { makeStatsWriter, recompute } from "./stats.js"

const statements = (...sqls: ReadonlyArray<string>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.forEach(sqls, (s) => sql.unsafe(s), { discard: true }))

/**
 * Runs the statements of the current dialect: `pg` for PostgreSQL, `sqlite` for every other client
 * (the statements of this file are otherwise portable).
 */
const byDialect = (options: { readonly sqlite: ReadonlyArray<string>; readonly pg: ReadonlyArray<string> }) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.forEach(sql.onDialectOrElse({ pg: () => options.pg, orElse: () => options.sqlite }), (s) => sql.unsafe(s), { discard: true }))

/**
 * SQLite cannot change a CHECK constraint in place, so 0002 rebuilds `runs` and `tokens` the way
 * https://www.sqlite.org/lang_altertable.html#otheralter describes (create, copy, drop, rename). The
 * Landscape layer turns foreign keys off around the migrations and checks them after
 * (`PRAGMA foreign_key_check`), as that procedure requires.
 */
const runsColumns = `run_id, pipeline, status, started_at, finished_at, duration_ms, config_json, config_hash,
  telemetry_enabled, telemetry_granularity, rows_read, rows_quarantined, error`
const tokensColumns = "token_id, row_id, run_id, created_at, outcome, sink_node_id, completed_at"

const rowsColumns0002 = "row_id, run_id, source_node_id, row_index, source_data_json, source_data_hash, created_at"

/** 0003: `rows.source_data_json` may be NULL (purged) and rows get their chain place and `purged_at`. */
const rowsPurgeable = {
  sqlite: [
    `CREATE TABLE rows_0003 (
      row_id TEXT PRIMARY KEY,
      run_id TEXT NOT NULL REFERENCES runs (run_id),
      source_node_id TEXT NOT NULL REFERENCES nodes (node_id),
      row_index INTEGER NOT NULL,
      source_data_json TEXT,
      source_data_hash TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      chain_seq INTEGER,
      chain_ord INTEGER,
      purged_at BIGINT,
      UNIQUE (run_id, row_index)
    )`,
    `INSERT INTO rows_0003 (${rowsColumns0002}) SELECT ${rowsColumns0002} FROM rows`,
    `DROP TABLE rows`,
    `ALTER TABLE rows_0003 RENAME TO rows`
  ],
  pg: [
    `ALTER TABLE rows ALTER COLUMN source_data_json DROP NOT NULL`,
    `ALTER TABLE rows ADD COLUMN chain_seq INTEGER`,
    `ALTER TABLE rows ADD COLUMN chain_ord INTEGER`,
    `ALTER TABLE rows ADD COLUMN purged_at BIGINT`,
    `DROP INDEX rows_run`
  ]
}

const chainAndReadSide = [
  `ALTER TABLE runs ADD COLUMN canonical_version TEXT`,
  `UPDATE runs SET canonical_version = 'sha256-rfc8785-v1'`,
  `ALTER TABLE runs ADD COLUMN trace_id TEXT`,
  `ALTER TABLE runs ADD COLUMN chain_hash TEXT`,
  `ALTER TABLE runs ADD COLUMN end_seq INTEGER`,
  ...["nodes", "operations", "tokens", "node_states", "routing_events", "calls"].flatMap((table) => [
    `ALTER TABLE ${table} ADD COLUMN chain_seq INTEGER`,
    `ALTER TABLE ${table} ADD COLUMN chain_ord INTEGER`
  ]),
  `ALTER TABLE node_states ADD COLUMN end_seq INTEGER`,
  `ALTER TABLE operations ADD COLUMN end_seq INTEGER`,
  `ALTER TABLE operations ADD COLUMN begin_details_json TEXT`,
  `ALTER TABLE tokens ADD COLUMN outcome_seq INTEGER`,
  `ALTER TABLE calls ADD COLUMN purged_at BIGINT`,
  `CREATE TABLE audit_chain (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    records INTEGER NOT NULL,
    batch_hash TEXT NOT NULL,
    chain_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, seq)
  )`,
  `CREATE INDEX rows_chain ON rows (run_id, chain_seq, chain_ord)`,
  `DROP INDEX node_states_run_node`,
  `CREATE INDEX node_states_chain ON node_states (run_id, chain_seq, chain_ord)`,
  `CREATE INDEX node_states_end ON node_states (run_id, end_seq) WHERE end_seq IS NOT NULL`,
  `CREATE INDEX tokens_chain ON tokens (run_id, chain_seq, chain_ord)`,
  `CREATE INDEX tokens_outcome_seq ON tokens (run_id, outcome_seq) WHERE outcome_seq IS NOT NULL`,
  `CREATE INDEX tokens_unrouted ON tokens (run_id, chain_seq, chain_ord) WHERE outcome IS NULL OR outcome <> 'routed'`,
  `CREATE INDEX routing_events_chain ON routing_events (run_id, chain_seq, chain_ord)`,
  `CREATE INDEX calls_chain ON calls (run_id, chain_seq, chain_ord)`,
  `CREATE INDEX operations_run ON operations (run_id, chain_seq, chain_ord)`,
  `CREATE INDEX nodes_run ON nodes (run_id, position)`,
  `CREATE INDEX runs_started ON runs (started_at)`
]

/** 0010: every kind of node. */
const nodeKinds = ["source", "transform", "gate", "aggregation", "coalesce", "sink"].map((k) => `'${k}'`).join(", ")
const nodesColumns0010 = "node_id, run_id, name, kind, position, config_json, chain_seq, chain_ord"

/** 0008: every terminal outcome a token can have. */
const tokenOutcomes = ["routed", "quarantined", "failed", "completed", "expanded", "forked", "coalesced", "consumed_in_batch"].map((o) => `'${o}'`).join(", ")
const tokensColumns0008 = "token_id, row_id, run_id, created_at, outcome, sink_node_id, completed_at, chain_seq, chain_ord, outcome_seq"
const tokenParents = [
  `CREATE TABLE token_parents (
    token_id TEXT NOT NULL REFERENCES tokens (token_id),
    parent_token_id TEXT NOT NULL REFERENCES tokens (token_id),
    ordinal INTEGER NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    chain_seq INTEGER,
    chain_ord INTEGER,
    PRIMARY KEY (token_id, parent_token_id)
  )`,
  `CREATE INDEX token_parents_parent ON token_parents (parent_token_id)`,
  `CREATE INDEX token_parents_chain ON token_parents (run_id, chain_seq, chain_ord)`
]

export const migrations = Migrator.fromRecord({
  "0001_create_landscape": statements(
    `CREATE TABLE runs (
      run_id TEXT PRIMARY KEY,
      pipeline TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
      started_at BIGINT NOT NULL,
      finished_at BIGINT,
      duration_ms DOUBLE PRECISION,
      config_json TEXT NOT NULL,
      config_hash TEXT NOT NULL,
      telemetry_enabled INTEGER NOT NULL,
      telemetry_granularity TEXT,
      rows_read INTEGER,
      rows_quarantined INTEGER,
      error TEXT
    )`,
    `CREATE TABLE nodes (
      node_id TEXT PRIMARY KEY,
      run_id TEXT NOT NULL REFERENCES runs (run_id),
      name TEXT NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('source', 'transform', 'gate', 'sink')),
      position INTEGER NOT NULL,
      config_json TEXT NOT NULL,
      UNIQUE (run_id, name)
    )`,
    `CREATE TABLE rows (
      row_id TEXT PRIMARY KEY,
      run_id TEXT NOT NULL REFERENCES runs (run_id),
      source_node_id TEXT NOT NULL REFERENCES nodes (node_id),
      row_index INTEGER NOT NULL,
      source_data_json TEXT NOT NULL,
      source_data_hash TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      UNIQUE (run_id, row_index)
    )`,
    `CREATE TABLE tokens (
      token_id TEXT PRIMARY KEY,
      row_id TEXT NOT NULL REFERENCES rows (row_id),
      run_id TEXT NOT NULL REFERENCES runs (run_id),
      created_at BIGINT NOT NULL,
      outcome TEXT CHECK (outcome IN ('routed', 'quarantined')),
      sink_node_id TEXT REFERENCES nodes (node_id),
      completed_at BIGINT
    )`,
    `CREATE TABLE node_states (
      state_id TEXT PRIMARY KEY,
      run_id TEXT NOT NULL REFERENCES runs (run_id),
      token_id TEXT NOT NULL REFERENCES tokens (token_id),
      node_id TEXT NOT NULL REFERENCES nodes (node_id),
      step_index INTEGER NOT NULL,
      attempt INTEGER NOT NULL DEFAULT 1,
      status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
      input_hash TEXT NOT NULL,
      output_hash TEXT,
      error_json TEXT,
      started_at BIGINT NOT NULL,
      completed_at BIGINT,
      duration_ms DOUBLE PRECISION
    )`,
    `CREATE TABLE routing_events (
      routing_id TEXT PRIMARY KEY,
      run_id TEXT NOT NULL REFERENCES runs (run_id),
      state_id TEXT NOT NULL REFERENCES node_states (state_id),
      token_id TEXT NOT NULL REFERENCES tokens (token_id),
      destination TEXT NOT NULL,
      destination_node_id TEXT REFERENCES nodes (node_id),
      created_at BIGINT NOT NULL
    )`,
    `CREATE TABLE operations (
      operation_id TEXT PRIMARY KEY,
      run_id TEXT NOT NULL REFERENCES runs (run_id),
      node_id TEXT NOT NULL REFERENCES nodes (node_id),
      kind TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
      details_json TEXT NOT NULL,
      error TEXT,
      started_at BIGINT NOT NULL,
      completed_at BIGINT,
      duration_ms DOUBLE PRECISION
    )`,
    `CREATE TABLE calls (
      call_id TEXT PRIMARY KEY,
      run_id TEXT NOT NULL REFERENCES runs (run_id),
      node_id TEXT NOT NULL REFERENCES nodes (node_id),
      state_id TEXT REFERENCES node_states (state_id),
      operation_id TEXT REFERENCES operations (operation_id),
      call_type TEXT NOT NULL CHECK (call_type IN ('http', 'llm', 'sql', 'filesystem')),
      status TEXT NOT NULL CHECK (status IN ('success', 'error')),
      request_json TEXT,
      request_hash TEXT,
      response_json TEXT,
      response_hash TEXT,
      attributes_json TEXT NOT NULL,
      error TEXT,
      latency_ms DOUBLE PRECISION NOT NULL,
      created_at BIGINT NOT NULL,
      CHECK ((state_id IS NULL) <> (operation_id IS NULL))
    )`,
    `CREATE INDEX rows_run ON rows (run_id)`,
    `CREATE INDEX tokens_row ON tokens (row_id)`,
    `CREATE INDEX node_states_token ON node_states (token_id)`,
    `CREATE INDEX node_states_run_node ON node_states (run_id, node_id)`,
    `CREATE INDEX routing_events_token ON routing_events (token_id)`,
    `CREATE INDEX calls_state ON calls (state_id)`,
    `CREATE INDEX calls_operation ON calls (operation_id)`
  ),
  /**
   * Runs can end `interrupted` (a signal, or a process found dead by a later open) and record which
   * process owns them (host, pid) with a heartbeat, so a run left `running` by a dead process is
   * found; a token's outcome can be `failed` (its sink write failed).
   */
  "0002_run_owner_and_interrupted": byDialect({
    sqlite: [
      `CREATE TABLE runs_0002 (
        run_id TEXT PRIMARY KEY,
        pipeline TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
        started_at BIGINT NOT NULL,
        finished_at BIGINT,
        duration_ms DOUBLE PRECISION,
        config_json TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        telemetry_enabled INTEGER NOT NULL,
        telemetry_granularity TEXT,
        rows_read INTEGER,
        rows_quarantined INTEGER,
        error TEXT,
        owner_host TEXT,
        owner_pid INTEGER,
        heartbeat_at BIGINT
      )`,
      `INSERT INTO runs_0002 (${runsColumns}) SELECT ${runsColumns} FROM runs`,
      `DROP TABLE runs`,
      `ALTER TABLE runs_0002 RENAME TO runs`,
      `CREATE TABLE tokens_0002 (
        token_id TEXT PRIMARY KEY,
        row_id TEXT NOT NULL REFERENCES rows (row_id),
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        created_at BIGINT NOT NULL,
        outcome TEXT CHECK (outcome IN ('routed', 'quarantined', 'failed')),
        sink_node_id TEXT REFERENCES nodes (node_id),
        completed_at BIGINT
      )`,
      `INSERT INTO tokens_0002 (${tokensColumns}) SELECT ${tokensColumns} FROM tokens`,
      `DROP TABLE tokens`,
      `ALTER TABLE tokens_0002 RENAME TO tokens`,
      `CREATE INDEX tokens_row ON tokens (row_id)`,
      `CREATE INDEX runs_status ON runs (status)`
    ],
    pg: [
      `ALTER TABLE runs DROP CONSTRAINT runs_status_check`,
      `ALTER TABLE runs ADD CONSTRAINT runs_status_check CHECK (status IN ('running', 'completed', 'failed', 'interrupted'))`,
      `ALTER TABLE runs ADD COLUMN owner_host TEXT`,
      `ALTER TABLE runs ADD COLUMN owner_pid INTEGER`,
      `ALTER TABLE runs ADD COLUMN heartbeat_at BIGINT`,
      `ALTER TABLE tokens DROP CONSTRAINT tokens_outcome_check`,
      `ALTER TABLE tokens ADD CONSTRAINT tokens_outcome_check CHECK (outcome IN ('routed', 'quarantined', 'failed'))`,
      `CREATE INDEX runs_status ON runs (status)`
    ]
  }),
  /**
   * The read side and the hash chain (see `chain.ts`): runs record their hash scheme
   * (`canonical_version`, backfilled with the one scheme that ever wrote them), their trace id and
   * final chain value; every audit record stores its place in its run's chain (`chain_seq`, the
   * link; `chain_ord`, its position among the link's records of its kind), and records completed
   * by a later write store that link too (`end_seq`, `outcome_seq`). `audit_chain` holds the links.
   * An operation keeps the details it began with (`begin_details_json`) beside the final ones
   * (`details_json`, replaced when it completes), so both stay checkable. `purged_at` marks payloads
   * deleted by `purge` (their hashes stay); `rows.source_data_json` becomes nullable for it (SQLite
   * rebuilds `rows` for that, as 0002 did for `runs`).
   *
   * Indexes: the chain order of each record kind (replacing `rows_run` and `node_states_run_node`,
   * so rows and node states cost no extra index entry), tokens not routed (quarantined, failed or
   * without outcome: a partial index, empty for the usual routed token), and runs by start time.
   */
  "0003_chain_and_read_side": byDialect({ sqlite: [...rowsPurgeable.sqlite, ...chainAndReadSide], pg: [...rowsPurgeable.pg, ...chainAndReadSide] }),
  /**
   * Hierarchical runs: `parent_run_id`, the run that started this one (an orchestrator run whose
   * step starts a worker run), indexed so a run's children are found without a scan. No foreign
   * key: the parent may live in another Landscape.
   */
  "0004_parent_run": statements(
    `ALTER TABLE runs ADD COLUMN parent_run_id TEXT`,
    `CREATE INDEX runs_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL`
  ),
  /**
   * PostgreSQL: `audit_chain.mark`, numbering links in the order they were written across all runs,
   * the snapshot mark of `query`'s continuation tokens (SQLite has it already: its `rowid`).
   * Existing links are numbered when the column is added; the unique index makes the largest one a
   * lookup.
   */
  "0005_chain_mark": byDialect({
    sqlite: [],
    pg: [
      `ALTER TABLE audit_chain ADD COLUMN mark BIGINT GENERATED ALWAYS AS IDENTITY`,
      `CREATE UNIQUE INDEX audit_chain_mark ON audit_chain (mark)`
    ]
  }),
  /**
   * Distributed runs (`DistributedRun`): one row per partition of a run's source, the lease a
   * worker holds on it (`owner`, `attempt`, `lease_expires_at`) and its checkpoint (`position`, the
   * next source index to read; the committed counts; `state_json`, what the sinks and operations of
   * the current attempt need to be continued). Coordination, not audit: not in the hash chain
   * (the records it points at are). `attempt` grows with every claim: the fencing token that keeps a
   * worker whose lease was taken over from committing.
   */
  "0006_run_partitions": statements(
    `CREATE TABLE run_partitions (
      run_id TEXT NOT NULL REFERENCES runs (run_id),
      partition_index INTEGER NOT NULL,
      partition_count INTEGER NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
      owner TEXT,
      attempt INTEGER NOT NULL DEFAULT 0,
      lease_expires_at BIGINT,
      position BIGINT NOT NULL DEFAULT 0,
      rows_read INTEGER NOT NULL DEFAULT 0,
      rows_quarantined INTEGER NOT NULL DEFAULT 0,
      rows_per_sink_json TEXT NOT NULL DEFAULT '{}',
      state_json TEXT,
      traceparent TEXT,
      updated_at BIGINT NOT NULL,
      completed_at BIGINT,
      PRIMARY KEY (run_id, partition_index)
    )`
  ),
  /**
   * Resume (`Orchestrator.resume`). `run_checkpoints`: a single-process run's checkpoint, written
   * in the transaction of each committed batch: `position`, the next source index to read; the
   * committed counts; `state_json`, what the sinks need to continue their output; `attempt`, 1 for
   * the run, one more for each resume, the fence that refuses the batches of an attempt another
   * process has resumed since. Coordination, not audit: not in the hash chain.
   *
   * `run_resumes`: one row per resume, in the hash chain (its link is `chain_seq`). It keeps how the
   * run had ended before (`previous_*`, the end recorded at link `previous_end_seq`), since resuming
   * reopens the run and its next end replaces those columns of `runs`: `verify` rebuilds the earlier
   * end's fact from here. Likewise the owner before (`previous_owner_*`): the resuming process
   * becomes the run's owner, and the run's first link holds its first owner.
   */
  "0007_run_resume": statements(
    `CREATE TABLE run_checkpoints (
      run_id TEXT PRIMARY KEY REFERENCES runs (run_id),
      attempt INTEGER NOT NULL,
      position BIGINT NOT NULL,
      rows_read INTEGER NOT NULL,
      rows_quarantined INTEGER NOT NULL,
      rows_failed INTEGER NOT NULL,
      rows_per_sink_json TEXT NOT NULL,
      state_json TEXT NOT NULL,
      updated_at BIGINT NOT NULL
    )`,
    `CREATE TABLE run_resumes (
      run_id TEXT NOT NULL REFERENCES runs (run_id),
      attempt INTEGER NOT NULL,
      position BIGINT NOT NULL,
      resumed_at BIGINT NOT NULL,
      previous_status TEXT NOT NULL,
      previous_finished_at BIGINT,
      previous_duration_ms DOUBLE PRECISION,
      previous_rows_read INTEGER,
      previous_rows_quarantined INTEGER,
      previous_error TEXT,
      previous_end_seq INTEGER,
      previous_owner_host TEXT,
      previous_owner_pid INTEGER,
      chain_seq INTEGER NOT NULL,
      PRIMARY KEY (run_id, attempt)
    )`
  ),
  /**
   * Tokens of a DAG (issue 12): a token may have parent tokens (`token_parents`: a row expanded
   * into several, a fork's branches, later a coalesce's inputs), each link in the hash chain; its
   * terminal outcome may also be `expanded` or `forked` (the parent of children), `completed`,
   * `coalesced` or `consumed_in_batch`. A token has one outcome column, and a trigger refuses to
   * change it once set: the database, not only the engine, keeps one terminal outcome per token.
   * SQLite rebuilds `tokens` for the CHECK (as 0002 did), with its indexes.
   */
  "0008_token_lineage": byDialect({
    sqlite: [
      `CREATE TABLE tokens_0008 (
        token_id TEXT PRIMARY KEY,
        row_id TEXT NOT NULL REFERENCES rows (row_id),
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        created_at BIGINT NOT NULL,
        outcome TEXT CHECK (outcome IN (${tokenOutcomes})),
        sink_node_id TEXT REFERENCES nodes (node_id),
        completed_at BIGINT,
        chain_seq INTEGER,
        chain_ord INTEGER,
        outcome_seq INTEGER
      )`,
      `INSERT INTO tokens_0008 (${tokensColumns0008}) SELECT ${tokensColumns0008} FROM tokens`,
      `DROP TABLE tokens`,
      `ALTER TABLE tokens_0008 RENAME TO tokens`,
      `CREATE INDEX tokens_row ON tokens (row_id)`,
      `CREATE INDEX tokens_chain ON tokens (run_id, chain_seq, chain_ord)`,
      `CREATE INDEX tokens_outcome_seq ON tokens (run_id, outcome_seq) WHERE outcome_seq IS NOT NULL`,
      `CREATE INDEX tokens_unrouted ON tokens (run_id, chain_seq, chain_ord) WHERE outcome IS NULL OR outcome <> 'routed'`,
      `CREATE TRIGGER tokens_one_outcome BEFORE UPDATE OF outcome ON tokens
        WHEN OLD.outcome IS NOT NULL AND NEW.outcome IS NOT OLD.outcome
        BEGIN SELECT RAISE(ABORT, 'a token has one terminal outcome: it cannot change once recorded'); END`,
      ...tokenParents
    ],
    pg: [
      `ALTER TABLE tokens DROP CONSTRAINT tokens_outcome_check`,
      `ALTER TABLE tokens ADD CONSTRAINT tokens_outcome_check CHECK (outcome IN (${tokenOutcomes}))`,
      `CREATE FUNCTION sightline_tokens_one_outcome() RETURNS trigger LANGUAGE plpgsql AS '
        BEGIN
          IF OLD.outcome IS NOT NULL AND NEW.outcome IS DISTINCT FROM OLD.outcome THEN
            RAISE EXCEPTION ''a token has one terminal outcome: it cannot change once recorded (token %, %)'', OLD.token_id, OLD.outcome;
          END IF;
          RETURN NEW;
        END'`,
      `CREATE TRIGGER tokens_one_outcome BEFORE UPDATE OF outcome ON tokens FOR EACH ROW EXECUTE FUNCTION sightline_tokens_one_outcome()`,
      ...tokenParents
    ]
  }),
  /**
   * Aggregations (issue 12): `batches`, one per batch an aggregation opened, `open` until it is
   * flushed or fails (`end_seq`: the link that recorded its end, as for node states); and
   * `batch_members`, the tokens buffered into it in order. A token is a member of one batch at
   * most (unique index). A member of an open batch has no outcome yet: it is `buffered`.
   */
  "0009_batches": statements(
    `CREATE TABLE batches (
      batch_id TEXT PRIMARY KEY,
      run_id TEXT NOT NULL REFERENCES runs (run_id),
      node_id TEXT NOT NULL REFERENCES nodes (node_id),
      status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'flushed', 'failed')),
      trigger_reason TEXT CHECK (trigger_reason IN ('count', 'timeout', 'condition', 'end_of_source')),
      state_id TEXT REFERENCES node_states (state_id),
      created_at BIGINT NOT NULL,
      flushed_at BIGINT,
      chain_seq INTEGER,
      chain_ord INTEGER,
      end_seq INTEGER
    )`,
    `CREATE INDEX batches_chain ON batches (run_id, chain_seq, chain_ord)`,
    `CREATE INDEX batches_end ON batches (run_id, end_seq) WHERE end_seq IS NOT NULL`,
    `CREATE TABLE batch_members (
      batch_id TEXT NOT NULL REFERENCES batches (batch_id),
      token_id TEXT NOT NULL REFERENCES tokens (token_id),
      ordinal INTEGER NOT NULL,
      run_id TEXT NOT NULL REFERENCES runs (run_id),
      chain_seq INTEGER,
      chain_ord INTEGER,
      PRIMARY KEY (batch_id, ordinal)
    )`,
    `CREATE UNIQUE INDEX batch_members_token ON batch_members (token_id)`,
    `CREATE INDEX batch_members_chain ON batch_members (run_id, chain_seq, chain_ord)`
  ),
  /**
   * A node's kind may be `aggregation` or `coalesce` (issue 12), the node types of ELSPETH's
   * Landscape: runs recorded before this migration keep theirs (`transform`, as they were hashed).
   * SQLite rebuilds `nodes` for the CHECK (as 0008 did `tokens`), with its index.
   */
  "0010_node_kinds": byDialect({
    sqlite: [
      `CREATE TABLE nodes_0010 (
        node_id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        name TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN (${nodeKinds})),
        position INTEGER NOT NULL,
        config_json TEXT NOT NULL,
        chain_seq INTEGER,
        chain_ord INTEGER,
        UNIQUE (run_id, name)
      )`,
      `INSERT INTO nodes_0010 (${nodesColumns0010}) SELECT ${nodesColumns0010} FROM nodes`,
      `DROP TABLE nodes`,
      `ALTER TABLE nodes_0010 RENAME TO nodes`,
      `CREATE INDEX nodes_run ON nodes (run_id, position)`
    ],
    pg: [
      `ALTER TABLE nodes DROP CONSTRAINT nodes_kind_check`,
      `ALTER TABLE nodes ADD CONSTRAINT nodes_kind_check CHECK (kind IN (${nodeKinds}))`
    ]
  }),
  /**
   * Run statistics (issue 14; `stats.ts`): counts kept up to date by every write, so a run's
   * summary reads a few hundred rows whatever the run's size. Runs recorded before are counted
   * from their records here (once; about a minute for a run of 1,000,000 rows).
   */
  "0011_run_stats": Effect.zipRight(
    statements(
      `CREATE TABLE node_state_stats (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        node_id TEXT NOT NULL,
        status TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        count BIGINT NOT NULL,
        max_ms DOUBLE PRECISION,
        PRIMARY KEY (run_id, node_id, status, bucket)
      )`,
      `CREATE TABLE token_outcome_stats (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        outcome TEXT NOT NULL,
        sink_node_id TEXT NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (run_id, outcome, sink_node_id)
      )`,
      `CREATE TABLE call_stats (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        node_id TEXT NOT NULL,
        call_type TEXT NOT NULL,
        service TEXT NOT NULL,
        status TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        count BIGINT NOT NULL,
        max_ms DOUBLE PRECISION,
        PRIMARY KEY (run_id, node_id, call_type, service, status, bucket)
      )`,
      `CREATE TABLE llm_usage_stats (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        node_id TEXT NOT NULL,
        calls BIGINT NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        total_tokens BIGINT NOT NULL,
        cached_input_tokens BIGINT NOT NULL,
        reasoning_tokens BIGINT NOT NULL,
        cost_usd DOUBLE PRECISION,
        unpriced_calls BIGINT NOT NULL,
        PRIMARY KEY (run_id, node_id)
      )`,
      `CREATE TABLE quarantine_stats (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        node_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        reason TEXT NOT NULL,
        count BIGINT NOT NULL,
        example_row_id TEXT NOT NULL,
        PRIMARY KEY (run_id, node_id, kind, reason)
      )`
    ),
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.flatMap(sql<{ readonly run_id: string }>`SELECT run_id FROM runs ORDER BY started_at`, (runs) => {
        const write = makeStatsWriter(sql)
        return Effect.forEach(runs, (r) => Effect.flatMap(recompute(sql, r.run_id), (stats) => write(stats)), { discard: true })
      }))
  )
})
