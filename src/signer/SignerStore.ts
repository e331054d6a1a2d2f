/**
 * What the remote signer must remember across restarts, in the node's SQLite file: the last
 * sequence number it issued per state id (so that a replayed state is refused after a restart too)
 * and the last ticket nonce it used per ticket-params session (so that two states paying one
 * orchestrator session never reuse a nonce, which the orchestrator would refuse as a replay).
 *
 * Bounded by one rule: a row is dropped once it has not been used for `maxAgeMs` (24 h), and the
 * oldest rows are dropped first when there are more than `maxEntries`. Dropping is always safe:
 * a state older than `maxAgeMs` is refused by its signed LastUpdate, and a state whose row was
 * dropped is unknown and refused too (its gateway starts a new state). Ticket params are valid
 * for far less than a day, so a dropped nonce row belongs to params no orchestrator accepts.
 */
import { closeDatabase, type Migration, migrate, openDatabase, type SqliteDb } from "../storage/db.js";
import type { ReplayStore } from "./state.js";

const COMPONENT = "remote-signer";

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "remote signer: issued state sequence numbers and used ticket nonces",
    up(db) {
      db.exec(
        "CREATE TABLE signer_states (stateId TEXT PRIMARY KEY, seq INTEGER NOT NULL, " +
          "usedAt INTEGER NOT NULL); " +
          "CREATE INDEX signer_states_usedAt ON signer_states (usedAt); " +
          "CREATE TABLE signer_nonces (pmSession TEXT PRIMARY KEY, lastNonce INTEGER NOT NULL, " +
          "usedAt INTEGER NOT NULL); " +
          "CREATE INDEX signer_nonces_usedAt ON signer_nonces (usedAt);",
      );
    },
  },
];

/** A state or nonce row unused this long is dropped, and a state this old is refused. */
export const SIGNER_STATE_MAX_AGE_MS = 24 * 3600_000;
/** Most rows kept per table (about 100 bytes each with the index). */
export const SIGNER_STORE_MAX_ENTRIES = 1_000_000;
/** Expired rows are swept at most this often. */
const PRUNE_EVERY_MS = 60_000;

/** Options of the signer store. */
export interface SignerStoreOptions {
  /** The node's data folder; the tables live in its lpnode.sqlite3. */
  datadir: string;
  /** ":memory:" for a throwaway store (tests). */
  fileName?: string;
  maxAgeMs?: number;
  maxEntries?: number;
}

/** The remote signer's persistent replay and nonce records (see the file comment). */
export class SignerStore implements ReplayStore {
  private db: SqliteDb | null = null;
  private lastPrune = -Infinity;
  readonly maxAgeMs: number;
  private readonly maxEntries: number;

  constructor(
    private readonly options: SignerStoreOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.maxAgeMs = options.maxAgeMs ?? SIGNER_STATE_MAX_AGE_MS;
    this.maxEntries = options.maxEntries ?? SIGNER_STORE_MAX_ENTRIES;
  }

  /** Open the database and apply the migrations; idempotent. */
  open(): this {
    if (this.db) return this;
    const db = openDatabase(this.options.datadir, { fileName: this.options.fileName });
    try {
      migrate(db, COMPONENT, MIGRATIONS);
    } catch (err) {
      closeDatabase(db);
      throw err;
    }
    this.db = db;
    this.prune();
    return this;
  }

  /** Close the database; safe to call twice. */
  close(): void {
    const db = this.db;
    this.db = null;
    if (db) closeDatabase(db);
  }

  private get conn(): SqliteDb {
    if (!this.db) throw new Error("the remote signer's store is not open");
    return this.db;
  }

  /** The last sequence number issued for `stateId`, or null when this signer does not know it. */
  lastSequence(stateId: string): number | null {
    const row = this.conn.prepare("SELECT seq FROM signer_states WHERE stateId = ?").get(stateId) as
      | { seq: number }
      | undefined;
    return row ? Number(row.seq) : null;
  }

  /** Record that `seq` was just issued for `stateId` (committed before the answer leaves). */
  recordIssued(stateId: string, seq: number): void {
    this.conn
      .prepare(
        "INSERT INTO signer_states (stateId, seq, usedAt) VALUES (?, ?, ?) " +
          "ON CONFLICT(stateId) DO UPDATE SET seq = excluded.seq, usedAt = excluded.usedAt",
      )
      .run(stateId, seq, this.now());
    this.maybePrune();
  }

  /** States used at or after `sinceMs`. */
  activeSince(sinceMs: number): number {
    const row = this.conn
      .prepare("SELECT COUNT(*) AS n FROM signer_states WHERE usedAt >= ?")
      .get(sinceMs) as {
      n: number;
    };
    return Number(row.n);
  }

  /**
   * Reserve `n` nonces of a ticket-params session after max(`from`, the last one used); returns
   * the last nonce before them. Synchronous, so concurrent payments never share a nonce.
   */
  reserveNonces(pmSession: string, from: number, n: number): number {
    const db = this.conn;
    return db
      .transaction(() => {
        const row = db.prepare("SELECT lastNonce FROM signer_nonces WHERE pmSession = ?").get(pmSession) as
          | { lastNonce: number }
          | undefined;
        const start = Math.max(from, row ? Number(row.lastNonce) : 0);
        db.prepare(
          "INSERT INTO signer_nonces (pmSession, lastNonce, usedAt) VALUES (?, ?, ?) " +
            "ON CONFLICT(pmSession) DO UPDATE SET lastNonce = excluded.lastNonce, usedAt = excluded.usedAt",
        ).run(pmSession, start + n, this.now());
        return start;
      })
      .immediate();
  }

  /** Drop rows unused for maxAgeMs, then the oldest beyond maxEntries; returns how many went. */
  prune(): number {
    const db = this.conn;
    this.lastPrune = this.now();
    const cutoff = this.lastPrune - this.maxAgeMs;
    let dropped = 0;
    for (const table of ["signer_states", "signer_nonces"]) {
      dropped += db.prepare(`DELETE FROM ${table} WHERE usedAt < ?`).run(cutoff).changes;
      const { n } = db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number };
      if (n > this.maxEntries)
        dropped += db
          .prepare(`DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} ORDER BY usedAt LIMIT ?)`)
          .run(n - this.maxEntries).changes;
    }
    return dropped;
  }

  private maybePrune(): void {
    if (this.now() - this.lastPrune >= PRUNE_EVERY_MS) this.prune();
  }
}
