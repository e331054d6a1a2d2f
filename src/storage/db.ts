import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { LpError } from "../errors/LpError.js";

/** The node's SQLite file in its data folder (go-livepeer keeps lpdb.sqlite3 there). */
export const DB_FILE_NAME = "lpnode.sqlite3";
/** How long a statement waits for another connection's write lock before failing. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/** A better-sqlite3 connection. */
export type SqliteDb = Database.Database;

/** One schema step of a component; versions start at 1 and never change once released. */
export interface Migration {
  version: number;
  /** Shown in errors and logs. */
  description: string;
  up(db: SqliteDb): void;
}

/** Options of openDatabase. */
export interface OpenDatabaseOptions {
  /** File name inside the data folder (default lpnode.sqlite3); ":memory:" for a throwaway database. */
  fileName?: string;
  busyTimeoutMs?: number;
}

/**
 * Opens (creating it and the folder if needed) the node's SQLite database in `dataDir` in WAL mode
 * with synchronous=FULL, so that a committed write survives a crash or power loss before the
 * caller acknowledges anything, and with a busy timeout for a second connection on the same file.
 */
export function openDatabase(dataDir: string, options: OpenDatabaseOptions = {}): SqliteDb {
  const fileName = options.fileName ?? DB_FILE_NAME;
  const path = fileName === ":memory:" ? fileName : join(dataDir, fileName);
  let db: SqliteDb;
  try {
    if (fileName !== ":memory:") mkdirSync(dataDir, { recursive: true });
    db = new Database(path, { timeout: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS });
  } catch (err) {
    throw new LpError("DB_OPEN_FAILED", `cannot open the database ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    db.pragma("journal_mode = WAL");
    // NORMAL in WAL mode may lose the last commits on power loss; a stored winning ticket must not be.
    db.pragma("synchronous = FULL");
    db.pragma("foreign_keys = ON");
    db.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (" +
        "component TEXT NOT NULL, version INTEGER NOT NULL, description TEXT NOT NULL, " +
        "applied_at INTEGER NOT NULL, PRIMARY KEY (component, version))",
    );
  } catch (err) {
    db.close();
    throw new LpError("DB_OPEN_FAILED", `cannot set up the database ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return db;
}

/** The highest schema version of `component` applied to `db` (0 for none). */
export function schemaVersion(db: SqliteDb, component: string): number {
  const row = db
    .prepare("SELECT MAX(version) AS v FROM schema_migrations WHERE component = ?")
    .get(component) as { v: number | null };
  return row.v ?? 0;
}

/**
 * Applies the migrations of `component` newer than its recorded version, each in its own transaction
 * together with its version row, so a crash mid-migration leaves the previous version intact. A
 * database newer than this code (a downgrade) is refused rather than written with an old schema.
 */
export function migrate(db: SqliteDb, component: string, migrations: readonly Migration[]): number {
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  sorted.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new LpError("DB_MIGRATION_INVALID", `${component}: migration versions must be 1..n in order`);
    }
  });
  const current = schemaVersion(db, component);
  const latest = sorted.length;
  if (current > latest) {
    throw new LpError(
      "DB_SCHEMA_TOO_NEW",
      `the database's ${component} schema is version ${current}, newer than this lp-node knows (${latest}); use a newer lp-node or another data folder`,
    );
  }
  const record = db.prepare(
    "INSERT INTO schema_migrations (component, version, description, applied_at) VALUES (?, ?, ?, ?)",
  );
  for (const m of sorted.slice(current)) {
    try {
      db.transaction(() => {
        m.up(db);
        record.run(component, m.version, m.description, Date.now());
      }).immediate();
    } catch (err) {
      throw new LpError(
        "DB_MIGRATION_FAILED",
        `${component} migration ${m.version} (${m.description}) failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  return latest;
}

/** Closes the connection (checkpointing the WAL); safe to call twice. */
export function closeDatabase(db: SqliteDb): void {
  if (db.open) db.close();
}
