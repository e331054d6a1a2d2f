import { type Address, getAddress, type Hash, type Hex } from "viem";
import { type Migration, migrate, type SqliteDb } from "../storage/db.js";
import { ticketHash } from "./ticket.js";
import type { SignedTicket } from "./types.js";

/** Where a ticket in the outbox is: waiting to be handed over, or refused by the redeemer for good. */
export type OutboxState = "pending" | "refused";

/** One winning ticket kept until the redeemer has it. */
export interface OutboxEntry {
  id: number;
  hash: Hash;
  ticket: SignedTicket;
  state: OutboxState;
  attempts: number;
  lastError: string | null;
  createdAt: number;
}

/** Counts and face values of the outbox, for /status. */
export interface OutboxStats {
  pending: { count: number; faceValue: bigint };
  refused: { count: number; faceValue: bigint };
  /** Tickets handed over since this process started. */
  delivered: { count: number; faceValue: bigint };
}

interface Row {
  id: number;
  hash: string;
  ticket: string;
  state: OutboxState;
  attempts: number;
  last_error: string | null;
  created_at: number;
}

const COMPONENT = "redeemerOutbox";

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "winning tickets waiting for the redeemer",
    up: (db) =>
      db.exec(`
        CREATE TABLE redeemer_outbox (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          hash TEXT NOT NULL UNIQUE,
          sender TEXT NOT NULL,
          face_value TEXT NOT NULL,
          ticket TEXT NOT NULL,
          state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'refused')),
          attempts INTEGER NOT NULL DEFAULT 0,
          last_error TEXT,
          created_at INTEGER NOT NULL
        );
      `),
  },
];

/** JSON of a signed ticket with its bigints as decimal strings. */
function encode(t: SignedTicket): string {
  return JSON.stringify({
    ...t,
    faceValue: t.faceValue.toString(),
    winProb: t.winProb.toString(),
    creationRound: t.creationRound.toString(),
    paramsExpirationBlock: t.paramsExpirationBlock.toString(),
    recipientRand: t.recipientRand.toString(),
    pricePerPixel: { num: t.pricePerPixel.num.toString(), den: t.pricePerPixel.den.toString() },
  });
}

function decode(text: string): SignedTicket {
  const o = JSON.parse(text) as Record<string, unknown> & { pricePerPixel: { num: string; den: string } };
  return {
    recipient: o["recipient"] as Address,
    sender: o["sender"] as Address,
    faceValue: BigInt(o["faceValue"] as string),
    winProb: BigInt(o["winProb"] as string),
    senderNonce: o["senderNonce"] as number,
    recipientRandHash: o["recipientRandHash"] as Hex,
    creationRound: BigInt(o["creationRound"] as string),
    creationRoundBlockHash: o["creationRoundBlockHash"] as Hex,
    paramsExpirationBlock: BigInt(o["paramsExpirationBlock"] as string),
    pricePerPixel: { num: BigInt(o.pricePerPixel.num), den: BigInt(o.pricePerPixel.den) },
    sig: o["sig"] as Hex,
    recipientRand: BigInt(o["recipientRand"] as string),
  };
}

/**
 * The orchestrator's durable outbox of winning tickets bound for a remote redeemer (SQLite, the
 * node's database, synchronous FULL): a ticket is committed here before the payment that carried
 * it is acknowledged, and leaves only once the redeemer has acknowledged it. go-livepeer hands
 * tickets over in a goroutine and drops them when the redeemer is unreachable; this keeps them
 * across redeemer outages and orchestrator restarts.
 */
export class Outbox {
  private readonly insert;
  private readonly remove;
  private readonly pendingStmt;
  private readonly failStmt;
  private readonly refuseStmt;
  private readonly statsStmt;
  private readonly delivered = { count: 0, faceValue: 0n };

  private constructor(
    db: SqliteDb,
    private readonly now: () => number,
  ) {
    this.insert = db.prepare(
      `INSERT INTO redeemer_outbox (hash, sender, face_value, ticket, created_at)
       VALUES (?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`,
    );
    this.remove = db.prepare("DELETE FROM redeemer_outbox WHERE hash = ?");
    this.pendingStmt = db.prepare("SELECT * FROM redeemer_outbox WHERE state = 'pending' ORDER BY id");
    this.failStmt = db.prepare(
      "UPDATE redeemer_outbox SET attempts = attempts + 1, last_error = ? WHERE hash = ?",
    );
    this.refuseStmt = db.prepare(
      "UPDATE redeemer_outbox SET state = 'refused', attempts = attempts + 1, last_error = ? WHERE hash = ?",
    );
    this.statsStmt = db.prepare("SELECT state, face_value FROM redeemer_outbox");
  }

  /** Migrates the outbox's table in `db` and returns it. */
  static open(db: SqliteDb, options: { now?: () => number } = {}): Outbox {
    migrate(db, COMPONENT, MIGRATIONS);
    return new Outbox(db, options.now ?? Date.now);
  }

  /** Commits a ticket (once per ticket hash); `inserted` is false when it was already there. */
  add(ticket: SignedTicket): { hash: Hash; inserted: boolean } {
    const hash = ticketHash(ticket).toLowerCase() as Hash;
    const info = this.insert.run(
      hash,
      getAddress(ticket.sender),
      ticket.faceValue.toString(),
      encode(ticket),
      this.now(),
    );
    return { hash, inserted: info.changes === 1 };
  }

  /** Tickets still to hand over, oldest first. */
  pending(): OutboxEntry[] {
    return (this.pendingStmt.all() as Row[]).map((r) => ({
      id: r.id,
      hash: r.hash as Hash,
      ticket: decode(r.ticket),
      state: r.state,
      attempts: r.attempts,
      lastError: r.last_error,
      createdAt: r.created_at,
    }));
  }

  /** The redeemer has the ticket: it leaves the outbox. */
  markDelivered(hash: Hash, faceValue: bigint): void {
    if (this.remove.run(hash).changes === 1) {
      this.delivered.count++;
      this.delivered.faceValue += faceValue;
    }
  }

  /** A hand-over failed for a reason that may pass (the redeemer is down): tried again later. */
  failed(hash: Hash, reason: string): void {
    this.failStmt.run(reason, hash);
  }

  /** The redeemer refused the ticket for good (another recipient, malformed): kept for the operator, not retried. */
  refused(hash: Hash, reason: string): void {
    this.refuseStmt.run(reason, hash);
  }

  /** Pending and refused counts with face values, and what was delivered since start. */
  stats(): OutboxStats {
    const out: OutboxStats = {
      pending: { count: 0, faceValue: 0n },
      refused: { count: 0, faceValue: 0n },
      delivered: { ...this.delivered },
    };
    for (const row of this.statsStmt.iterate() as Iterable<{ state: OutboxState; face_value: string }>) {
      out[row.state].count++;
      out[row.state].faceValue += BigInt(row.face_value);
    }
    return out;
  }
}
