import type { Address, Hash, Hex } from "viem";
import { afterEach, describe, expect, it } from "vitest";
import { isLpError } from "../../../src/errors/LpError.js";
import { TicketStore } from "../../../src/payments/TicketStore.js";
import { MAX_WIN_PROB, ticketHash } from "../../../src/payments/ticket.js";
import type { SignedTicket } from "../../../src/payments/types.js";
import {
  closeDatabase,
  type Migration,
  migrate,
  openDatabase,
  type SqliteDb,
  schemaVersion,
} from "../../../src/storage/db.js";
import { tempDir } from "../../helpers/tmp.js";

const SENDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" as Address;
const OTHER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC" as Address;
const RECIPIENT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" as Address;
const TX1 = `0x${"a1".repeat(32)}` as Hash;
const TX2 = `0x${"b2".repeat(32)}` as Hash;

const open: SqliteDb[] = [];
afterEach(() => {
  for (const db of open.splice(0)) closeDatabase(db);
});

function db(dir = tempDir()): { db: SqliteDb; dir: string } {
  const d = openDatabase(dir);
  open.push(d);
  return { db: d, dir };
}

function ticket(nonce: number, fields: Partial<SignedTicket> = {}): SignedTicket {
  return {
    recipient: RECIPIENT,
    sender: SENDER,
    // Above 2^64: SQLite integers would not hold it.
    faceValue: 10n ** 30n + BigInt(nonce),
    winProb: MAX_WIN_PROB,
    senderNonce: nonce,
    recipientRandHash: `0x${"11".repeat(32)}` as Hex,
    creationRound: 4321n,
    creationRoundBlockHash: `0x${"22".repeat(32)}` as Hex,
    paramsExpirationBlock: 123_456_789n,
    pricePerPixel: { num: 7n, den: 3n },
    sig: `0x${"33".repeat(64)}1b` as Hex,
    recipientRand: 2n ** 255n + 12345n,
    ...fields,
  };
}

describe("TicketStore", () => {
  it("stores a winning ticket with every field exact and returns it by hash", async () => {
    const store = TicketStore.open(db().db);
    const t = ticket(1);
    const { hash, inserted } = await store.store(t);
    expect(inserted).toBe(true);
    expect(hash).toBe(ticketHash(t).toLowerCase());
    const got = store.get(hash)!;
    expect(got.ticket).toEqual(t);
    expect(got.state).toBe("pending");
    expect(got.txHashes).toEqual([]);
    expect(store.get(`0x${"00".repeat(32)}` as Hash)).toBeNull();
  });

  it("never keeps two rows for one ticket hash, whatever its state", async () => {
    const store = TicketStore.open(db().db);
    const t = ticket(1);
    const { hash } = await store.store(t);
    expect((await store.store(t)).inserted).toBe(false);
    store.markSubmitted(hash);
    store.markRedeemed(hash, TX1, 10n);
    expect((await store.store({ ...t })).inserted).toBe(false);
    expect(store.get(hash)?.state).toBe("redeemed");
    expect(store.stats().redeemed.count).toBe(1);
    expect(store.stats().pending.count).toBe(0);
  });

  it("moves pending → submitted → redeemed, records every transaction, and never leaves redeemed", async () => {
    const store = TicketStore.open(db().db);
    const { hash } = await store.store(ticket(1));
    expect(store.markSubmitted(hash)).toBe(true);
    expect(store.markSubmitted(hash)).toBe(false);
    store.recordTx(hash, TX1, 7);
    store.recordTx(hash, TX2, 7);
    store.recordTx(hash, TX1, 7);
    expect(store.get(hash)).toMatchObject({ state: "submitted", txHashes: [TX1, TX2], txNonce: 7 });
    expect(store.markRedeemed(hash, TX2, 99n)).toBe(true);
    expect(store.get(hash)).toMatchObject({ state: "redeemed", redeemTxHash: TX2, redeemBlock: 99n });
    expect(store.markRedeemed(hash, TX1, 100n)).toBe(false);
    expect(store.markFailed(hash, "late")).toBe(false);
    expect(store.markPending(hash)).toBe(false);
    expect(store.get(hash)).toMatchObject({ state: "redeemed", redeemTxHash: TX2, reason: null });
  });

  it("fails a ticket with its reason; a submitted ticket may go back to pending", async () => {
    const store = TicketStore.open(db().db);
    const a = (await store.store(ticket(1))).hash;
    const b = (await store.store(ticket(2))).hash;
    store.markSubmitted(a);
    expect(store.markPending(a)).toBe(true);
    expect(store.get(a)?.state).toBe("pending");
    expect(store.markFailed(b, "ticket is expired")).toBe(true);
    expect(store.get(b)).toMatchObject({ state: "failed", reason: "ticket is expired" });
    expect(() => store.recordTx(`0x${"00".repeat(32)}` as Hash, TX1, 1)).toThrow(/no stored ticket/);
  });

  it("lists tickets per sender and state in the order stored, and the senders with work left", async () => {
    const store = TicketStore.open(db().db);
    const h: Hash[] = [];
    for (const [n, sender] of [
      [3, SENDER],
      [1, OTHER],
      [2, SENDER],
      [4, SENDER],
    ] as const)
      h.push((await store.store(ticket(n, { sender }))).hash);
    store.markSubmitted(h[3]!);
    expect(store.list("pending", SENDER).map((t) => t.ticket.senderNonce)).toEqual([3, 2]);
    expect(store.list("pending", SENDER.toLowerCase() as Address).length).toBe(2);
    expect(store.list("submitted", SENDER).map((t) => t.ticket.senderNonce)).toEqual([4]);
    expect(store.activeSenders().sort()).toEqual([SENDER, OTHER].sort());
    store.markFailed(h[1]!, "x");
    expect(store.activeSenders()).toEqual([SENDER]);
  });

  it("sums counts and face values per state exactly, for /status", async () => {
    const store = TicketStore.open(db().db);
    const hashes: Hash[] = [];
    for (let n = 1; n <= 4; n++) hashes.push((await store.store(ticket(n))).hash);
    store.markSubmitted(hashes[0]!);
    store.markRedeemed(hashes[0]!, TX1, 1n);
    store.markFailed(hashes[1]!, "x");
    const fv = (n: number) => 10n ** 30n + BigInt(n);
    expect(store.stats()).toEqual({
      pending: { count: 2, faceValue: fv(3) + fv(4) },
      submitted: { count: 0, faceValue: 0n },
      redeemed: { count: 1, faceValue: fv(1) },
      failed: { count: 1, faceValue: fv(2) },
    });
  });

  it("survives a restart: a reopened file has the same tickets, states and transactions", async () => {
    const first = db();
    const store = TicketStore.open(first.db);
    const a = (await store.store(ticket(1))).hash;
    const b = (await store.store(ticket(2))).hash;
    store.markSubmitted(b);
    store.recordTx(b, TX1, 3);
    // A crash: no orderly close of the first connection before the second opens the file.
    const again = TicketStore.open(db(first.dir).db);
    expect(again.get(a)?.state).toBe("pending");
    expect(again.get(b)).toMatchObject({ state: "submitted", txHashes: [TX1], txNonce: 3 });
    expect(again.get(b)?.ticket).toEqual(ticket(2));
    expect((await again.store(ticket(1))).inserted).toBe(false);
  });

  it("opens the database in WAL mode with synchronous commits and records its schema version", () => {
    const { db: d } = db();
    TicketStore.open(d);
    expect(d.pragma("journal_mode", { simple: true })).toBe("wal");
    // 2 = FULL: a commit is on disk before store() resolves.
    expect(d.pragma("synchronous", { simple: true })).toBe(2);
    expect(schemaVersion(d, "ticketStore")).toBe(1);
    // Opening again applies nothing twice.
    TicketStore.open(d);
    expect(schemaVersion(d, "ticketStore")).toBe(1);
  });
});

describe("migrations", () => {
  const steps: Migration[] = [
    { version: 1, description: "a", up: (d) => d.exec("CREATE TABLE a (x INTEGER)") },
    { version: 2, description: "b", up: (d) => d.exec("ALTER TABLE a ADD COLUMN y TEXT") },
  ];

  it("applies only the steps newer than the recorded version", () => {
    const { db: d } = db();
    expect(migrate(d, "demo", steps.slice(0, 1))).toBe(1);
    d.prepare("INSERT INTO a (x) VALUES (1)").run();
    expect(migrate(d, "demo", steps)).toBe(2);
    expect(d.prepare("SELECT x, y FROM a").all()).toEqual([{ x: 1, y: null }]);
    expect(schemaVersion(d, "demo")).toBe(2);
  });

  it("rolls a failed step back with its version and says which step failed", () => {
    const { db: d } = db();
    const bad: Migration[] = [
      steps[0]!,
      {
        version: 2,
        description: "broken",
        up: (x) => {
          x.exec("CREATE TABLE half (z INTEGER)");
          x.exec("NOT SQL");
        },
      },
    ];
    expect(() => migrate(d, "demo", bad)).toThrow(/demo migration 2 \(broken\) failed/);
    expect(schemaVersion(d, "demo")).toBe(1);
    expect(d.prepare("SELECT name FROM sqlite_master WHERE name = 'half'").get()).toBeUndefined();
  });

  it("refuses a database written by a newer schema", () => {
    const { db: d } = db();
    migrate(d, "demo", steps);
    let err: unknown;
    try {
      migrate(d, "demo", steps.slice(0, 1));
    } catch (e) {
      err = e;
    }
    expect(isLpError(err, "DB_SCHEMA_TOO_NEW")).toBe(true);
  });
});
