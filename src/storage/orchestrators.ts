import { type Migration, migrate, type SqliteDb } from "./db.js";

const COMPONENT = "orchestrators";

// go-livepeer keeps price and stake as int64 fixed point (price x1000, LPT x100000), which loses
// precision and overflows for large stakes: here they are exact decimal text (a wei/pixel
// rational "num/den", the stake in wei), and so are rounds: a registered orchestrator's
// deactivationRound is the contracts' "never" value 2^256 - 1, beyond SQLite's integers.
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "orchestrators: the gateway's cache of the on-chain orchestrator registry",
    up(db) {
      db.exec(
        "CREATE TABLE orchestrators (" +
          "ethereumAddr TEXT PRIMARY KEY, " +
          "createdAt INTEGER NOT NULL, " +
          "updatedAt INTEGER NOT NULL, " +
          "serviceURI TEXT, " +
          "pricePerPixel TEXT, " +
          "activationRound TEXT, " +
          "deactivationRound TEXT, " +
          "stake TEXT)",
      );
    },
  },
];

/** One row of the orchestrators table. */
export interface OrchestratorRow {
  /** Lower-case 0x address (the BondingManager pool member). */
  ethereumAddr: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
  updatedAt: number;
  serviceURI: string | null;
  /** Wei per pixel as a reduced rational "num/den" (or an integer), from its GetOrchestrator answer. */
  pricePerPixel: string | null;
  activationRound: bigint | null;
  deactivationRound: bigint | null;
  /** Total stake in wei. */
  stake: bigint | null;
}

/** What an upsert may change; an absent field keeps the stored value (go-livepeer's UpdateOrch). */
export interface OrchestratorUpdate {
  ethereumAddr: string;
  serviceURI?: string;
  pricePerPixel?: string;
  activationRound?: bigint;
  deactivationRound?: bigint;
  stake?: bigint;
}

interface RawRow {
  ethereumAddr: string;
  createdAt: number;
  updatedAt: number;
  serviceURI: string | null;
  pricePerPixel: string | null;
  activationRound: string | null;
  deactivationRound: string | null;
  stake: string | null;
}

const big = (v: string | null): bigint | null => (v === null ? null : BigInt(v));

/**
 * The gateway's on-chain discovery cache in the node's SQLite file (go-livepeer common/db.go's
 * orchestrators table): the registry's members with their service URI, rounds, stake and last
 * quoted price, so a restarted gateway has candidates before the chain answers.
 */
export class OrchestratorStore {
  private constructor(
    private readonly db: SqliteDb,
    private readonly now: () => number,
  ) {}

  /** Apply the table's migrations to `db` and wrap it. */
  static open(db: SqliteDb, now: () => number = Date.now): OrchestratorStore {
    migrate(db, COMPONENT, MIGRATIONS);
    return new OrchestratorStore(db, now);
  }

  /** Insert or update one orchestrator; updatedAt is always refreshed. */
  upsert(u: OrchestratorUpdate): void {
    const now = this.now();
    this.db
      .prepare(
        "INSERT INTO orchestrators (ethereumAddr, createdAt, updatedAt, serviceURI, pricePerPixel, activationRound, deactivationRound, stake) " +
          "VALUES (@addr, @now, @now, @uri, @price, @act, @deact, @stake) " +
          "ON CONFLICT(ethereumAddr) DO UPDATE SET updatedAt = @now, " +
          "serviceURI = COALESCE(@uri, serviceURI), pricePerPixel = COALESCE(@price, pricePerPixel), " +
          "activationRound = COALESCE(@act, activationRound), deactivationRound = COALESCE(@deact, deactivationRound), " +
          "stake = COALESCE(@stake, stake)",
      )
      .run({
        addr: u.ethereumAddr.toLowerCase(),
        now,
        uri: u.serviceURI ?? null,
        price: u.pricePerPixel ?? null,
        act: u.activationRound === undefined ? null : u.activationRound.toString(),
        deact: u.deactivationRound === undefined ? null : u.deactivationRound.toString(),
        stake: u.stake === undefined ? null : u.stake.toString(),
      });
  }

  /** Every row, by address. */
  all(): OrchestratorRow[] {
    const rows = this.db.prepare("SELECT * FROM orchestrators ORDER BY ethereumAddr").all() as RawRow[];
    return rows.map((r) => ({
      ethereumAddr: r.ethereumAddr,
      createdAt: Number(r.createdAt),
      updatedAt: Number(r.updatedAt),
      serviceURI: r.serviceURI,
      pricePerPixel: r.pricePerPixel,
      activationRound: big(r.activationRound),
      deactivationRound: big(r.deactivationRound),
      stake: r.stake === null ? null : BigInt(r.stake),
    }));
  }

  /**
   * Rows active in `round` (activationRound <= round < deactivationRound) updated at or after
   * `since` (go-livepeer: the last day), by address.
   */
  active(round: bigint, since: number): OrchestratorRow[] {
    return this.all().filter(
      (r) =>
        r.updatedAt >= since &&
        r.activationRound !== null &&
        r.activationRound <= round &&
        (r.deactivationRound === null || round < r.deactivationRound),
    );
  }
}
