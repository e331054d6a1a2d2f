import { type Address, getAddress, type Hash, type Hex } from "viem";
import { LpError } from "../errors/LpError.js";
import { type Migration, migrate, type SqliteDb } from "../storage/db.js";
import { ticketHash } from "./ticket.js";
import type { SignedTicket } from "./types.js";

/** Where a winning ticket is on its way to the chain. */
export type TicketState = "pending" | "submitted" | "redeemed" | "failed";

/** A stored winning ticket and its redemption state. */
export interface StoredTicket {
  /** Insertion order: the order a sender's tickets are redeemed in. */
  id: number;
  hash: Hash;
  ticket: SignedTicket;
  state: TicketState;
  /** Every redemption transaction sent for it (replacements included), oldest first. */
  txHashes: Hash[];
  txNonce: number | null;
  /** The transaction that redeemed it (state redeemed). */
  redeemTxHash: Hash | null;
  redeemBlock: bigint | null;
  /** Why it failed (state failed). */
  reason: string | null;
  createdAt: number;
  updatedAt: number;
}

/** Counts and face values for /status. */
export interface TicketStats {
  pending: { count: number; faceValue: bigint };
  submitted: { count: number; faceValue: bigint };
  redeemed: { count: number; faceValue: bigint };
  failed: { count: number; faceValue: bigint };
}

interface Row {
  id: number;
  hash: string;
  sender: string;
  recipient: string;
  face_value: string;
  win_prob: string;
  sender_nonce: number;
  recipient_rand_hash: string;
  recipient_rand: string;
  sig: string;
  creation_round: string;
  creation_round_block_hash: string;
  params_expiration_block: string;
  price_num: string;
  price_den: string;
  state: TicketState;
  tx_hashes: string;
  tx_nonce: number | null;
  redeem_tx_hash: string | null;
  redeem_block: string | null;
  reason: string | null;
  created_at: number;
  updated_at: number;
}

const COMPONENT = "ticketStore";

// Amounts are decimal TEXT: exact for any uint256, unlike SQLite's 64-bit integers.
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "winning ticket queue",
    up: (db) =>
      db.exec(`
        CREATE TABLE winning_tickets (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          hash TEXT NOT NULL UNIQUE,
          sender TEXT NOT NULL,
          recipient TEXT NOT NULL,
          face_value TEXT NOT NULL,
          win_prob TEXT NOT NULL,
          sender_nonce INTEGER NOT NULL,
          recipient_rand_hash TEXT NOT NULL,
          recipient_rand TEXT NOT NULL,
          sig TEXT NOT NULL,
          creation_round TEXT NOT NULL,
          creation_round_block_hash TEXT NOT NULL,
          params_expiration_block TEXT NOT NULL,
          price_num TEXT NOT NULL,
          price_den TEXT NOT NULL,
          state TEXT NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'submitted', 'redeemed', 'failed')),
          tx_hashes TEXT NOT NULL DEFAULT '[]',
          tx_nonce INTEGER,
          redeem_tx_hash TEXT,
          redeem_block TEXT,
          reason TEXT,
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL
        );
        CREATE INDEX idx_winning_tickets_state_sender ON winning_tickets (state, sender, id);
      `),
  },
];

/**
 * The orchestrator's durable queue of winning tickets in SQLite (go-livepeer common/db.go's
 * ticketQueue, with an explicit state per ticket): a ticket is committed before store() resolves,
 * one row per ticket hash, and it moves pending → submitted → redeemed or failed, never back from
 * redeemed. Survives restarts: reopening the same database gives the same queue.
 */
export class TicketStore {
  private readonly insert;
  private readonly byHash;
  private readonly bySenderState;
  private readonly sendersStmt;
  private readonly setState;
  private readonly statsStmt;

  private constructor(
    private readonly db: SqliteDb,
    private readonly hashOf: (t: SignedTicket) => Hash,
    private readonly now: () => number,
  ) {
    this.insert = db.prepare(
      `INSERT INTO winning_tickets (hash, sender, recipient, face_value, win_prob, sender_nonce,
         recipient_rand_hash, recipient_rand, sig, creation_round, creation_round_block_hash,
         params_expiration_block, price_num, price_den, created_at, updated_at)
       VALUES (@hash, @sender, @recipient, @face_value, @win_prob, @sender_nonce, @recipient_rand_hash,
         @recipient_rand, @sig, @creation_round, @creation_round_block_hash, @params_expiration_block,
         @price_num, @price_den, @now, @now)
       ON CONFLICT (hash) DO NOTHING`,
    );
    this.byHash = db.prepare("SELECT * FROM winning_tickets WHERE hash = ?");
    this.bySenderState = db.prepare(
      "SELECT * FROM winning_tickets WHERE state = ? AND sender = ? ORDER BY id",
    );
    this.sendersStmt = db.prepare(
      "SELECT DISTINCT sender FROM winning_tickets WHERE state IN ('pending', 'submitted') ORDER BY sender",
    );
    this.setState = db.prepare(
      `UPDATE winning_tickets SET state = @to, reason = @reason, redeem_tx_hash = @tx, redeem_block = @block,
         updated_at = @now WHERE hash = @hash AND state IN (SELECT value FROM json_each(@from))`,
    );
    this.statsStmt = db.prepare("SELECT state, face_value FROM winning_tickets");
  }

  /** Migrates the schema in `db` and returns the store; `hashOf` defaults to the ticket hash. */
  static open(
    db: SqliteDb,
    options: { hashOf?: (t: SignedTicket) => Hash; now?: () => number } = {},
  ): TicketStore {
    migrate(db, COMPONENT, MIGRATIONS);
    return new TicketStore(
      db,
      options.hashOf ?? ((t) => ticketHash(t).toLowerCase() as Hash),
      options.now ?? Date.now,
    );
  }

  /**
   * Stores a winning ticket durably (committed with synchronous=FULL when this resolves): the caller
   * acknowledges the payment only afterwards. A ticket already stored is not stored twice
   * (`inserted` false), whatever its state.
   */
  async store(ticket: SignedTicket): Promise<{ hash: Hash; inserted: boolean }> {
    const hash = this.hashOf(ticket);
    const info = this.insert.run({
      hash,
      sender: getAddress(ticket.sender),
      recipient: getAddress(ticket.recipient),
      face_value: ticket.faceValue.toString(),
      win_prob: ticket.winProb.toString(),
      sender_nonce: ticket.senderNonce,
      recipient_rand_hash: ticket.recipientRandHash.toLowerCase(),
      recipient_rand: ticket.recipientRand.toString(),
      sig: ticket.sig.toLowerCase(),
      creation_round: ticket.creationRound.toString(),
      creation_round_block_hash: ticket.creationRoundBlockHash.toLowerCase(),
      params_expiration_block: ticket.paramsExpirationBlock.toString(),
      price_num: ticket.pricePerPixel.num.toString(),
      price_den: ticket.pricePerPixel.den.toString(),
      now: this.now(),
    });
    return { hash, inserted: info.changes === 1 };
  }

  /** The hash this store files `ticket` under (what store() returns and get() takes). */
  keyOf(ticket: SignedTicket): Hash {
    return this.hashOf(ticket);
  }

  /** The stored ticket with this hash, or null. */
  get(hash: Hash): StoredTicket | null {
    const row = this.byHash.get(hash.toLowerCase()) as Row | undefined;
    return row === undefined ? null : fromRow(row);
  }

  /** Senders with tickets pending or submitted (checksummed). */
  activeSenders(): Address[] {
    return (this.sendersStmt.all() as { sender: string }[]).map((r) => r.sender as Address);
  }

  /** A sender's tickets in a state, in the order they were stored. */
  list(state: TicketState, sender: Address): StoredTicket[] {
    return (this.bySenderState.all(state, getAddress(sender)) as Row[]).map(fromRow);
  }

  /** Every ticket in a state, in the order they were stored. */
  listAll(state: TicketState): StoredTicket[] {
    return (
      this.db.prepare("SELECT * FROM winning_tickets WHERE state = ? ORDER BY id").all(state) as Row[]
    ).map(fromRow);
  }

  /**
   * Claims a pending ticket for sending (pending → submitted), committed before any transaction
   * goes out so that a crash afterwards is reconciled instead of sending again. False if the ticket
   * was not pending.
   */
  markSubmitted(hash: Hash): boolean {
    return this.transition(hash, ["pending"], "submitted", {});
  }

  /** Records a transaction sent (or replaced) for a submitted ticket, before waiting for its receipt. */
  recordTx(hash: Hash, txHash: Hash, nonce: number): void {
    const tx = this.db.transaction(() => {
      const row = this.byHash.get(hash.toLowerCase()) as Row | undefined;
      if (row === undefined) throw noTicket(hash);
      const hashes = JSON.parse(row.tx_hashes) as string[];
      if (!hashes.includes(txHash.toLowerCase())) hashes.push(txHash.toLowerCase());
      this.db
        .prepare("UPDATE winning_tickets SET tx_hashes = ?, tx_nonce = ?, updated_at = ? WHERE hash = ?")
        .run(JSON.stringify(hashes), nonce, this.now(), row.hash);
    });
    tx.immediate();
  }

  /** A submitted ticket whose transaction surely never reached the chain goes back to pending. */
  markPending(hash: Hash): boolean {
    return this.transition(hash, ["submitted"], "pending", {});
  }

  /** Records a successful redemption (only after its receipt); false if already redeemed or unknown. */
  markRedeemed(hash: Hash, txHash: Hash, block: bigint): boolean {
    return this.transition(hash, ["pending", "submitted", "failed"], "redeemed", { tx: txHash, block });
  }

  /** Gives up on a ticket with a reason; a redeemed ticket stays redeemed. */
  markFailed(hash: Hash, reason: string): boolean {
    return this.transition(hash, ["pending", "submitted"], "failed", { reason });
  }

  /** Counts and face-value sums per state (exact bigints), for /status. */
  stats(): TicketStats {
    const out: TicketStats = {
      pending: { count: 0, faceValue: 0n },
      submitted: { count: 0, faceValue: 0n },
      redeemed: { count: 0, faceValue: 0n },
      failed: { count: 0, faceValue: 0n },
    };
    for (const row of this.statsStmt.iterate() as Iterable<{ state: TicketState; face_value: string }>) {
      out[row.state].count++;
      out[row.state].faceValue += BigInt(row.face_value);
    }
    return out;
  }

  private transition(
    hash: Hash,
    from: TicketState[],
    to: TicketState,
    extra: { reason?: string; tx?: Hash; block?: bigint },
  ): boolean {
    const info = this.setState.run({
      hash: hash.toLowerCase(),
      from: JSON.stringify(from),
      to,
      reason: extra.reason ?? null,
      tx: extra.tx?.toLowerCase() ?? null,
      block: extra.block?.toString() ?? null,
      now: this.now(),
    });
    return info.changes === 1;
  }
}

function noTicket(hash: Hash): LpError {
  return new LpError("TICKET_NOT_STORED", `no stored ticket with hash ${hash}`);
}

function fromRow(row: Row): StoredTicket {
  return {
    id: row.id,
    hash: row.hash as Hash,
    ticket: {
      recipient: row.recipient as Address,
      sender: row.sender as Address,
      faceValue: BigInt(row.face_value),
      winProb: BigInt(row.win_prob),
      senderNonce: row.sender_nonce,
      recipientRandHash: row.recipient_rand_hash as Hex,
      recipientRand: BigInt(row.recipient_rand),
      sig: row.sig as Hex,
      creationRound: BigInt(row.creation_round),
      creationRoundBlockHash: row.creation_round_block_hash as Hex,
      paramsExpirationBlock: BigInt(row.params_expiration_block),
      pricePerPixel: { num: BigInt(row.price_num), den: BigInt(row.price_den) },
    },
    state: row.state,
    txHashes: JSON.parse(row.tx_hashes) as Hash[],
    txNonce: row.tx_nonce,
    redeemTxHash: row.redeem_tx_hash as Hash | null,
    redeemBlock: row.redeem_block === null ? null : BigInt(row.redeem_block),
    reason: row.reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
