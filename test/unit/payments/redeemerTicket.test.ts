import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { bytesToHex, type Hex, hexToBytes } from "viem";
import { describe, expect, it } from "vitest";
import { Signer } from "../../../src/eth/signer.js";
import { Outbox } from "../../../src/payments/Outbox.js";
import { fromWireTicket, toWireTicket } from "../../../src/payments/redeemerTicket.js";
import { SigVerifier } from "../../../src/payments/sig.js";
import { MAX_WIN_PROB, recipientRandHashOf, ticketHash } from "../../../src/payments/ticket.js";
import type { SignedTicket } from "../../../src/payments/types.js";
import { TicketSchema } from "../../../src/protocol/gen/redeemer_pb.js";
import { closeDatabase, openDatabase } from "../../../src/storage/db.js";
import { tempDir } from "../../helpers/tmp.js";

const sender = Signer.fromPrivateKey(`0x${"11".repeat(32)}` as Hex);
const RECIPIENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const verifier = new SigVerifier();

async function ticket(over: Partial<SignedTicket> = {}, nonce = 7): Promise<SignedTicket> {
  const rand = 123456789n + BigInt(nonce);
  const t = {
    recipient: RECIPIENT,
    sender: sender.address,
    faceValue: 10n ** 16n,
    winProb: MAX_WIN_PROB,
    senderNonce: nonce,
    recipientRandHash: recipientRandHashOf(rand),
    creationRound: 5n,
    creationRoundBlockHash: `0x${"ab".repeat(32)}` as Hex,
    paramsExpirationBlock: 1234n,
    pricePerPixel: { num: 0n, den: 1n },
    ...over,
  } as const;
  const sig = bytesToHex(await sender.signHash(hexToBytes(ticketHash(t))));
  return { ...t, sig, recipientRand: rand, ...over };
}

/** The ticket after a trip through the wire bytes. */
const trip = (t: SignedTicket) => fromBinary(TicketSchema, toBinary(TicketSchema, toWireTicket(t)));

describe("net.Ticket for the redeemer", () => {
  it("round-trips a signed winning ticket through the wire", async () => {
    const t = await ticket();
    expect(fromWireTicket(trip(t), RECIPIENT, verifier)).toEqual(t);
  });

  it("refuses another recipient with go-livepeer's text, and bad sizes, forged signatures, wrong rands and losers", async () => {
    const t = await ticket();
    const other = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
    expect(() => fromWireTicket(trip(t), other, verifier)).toThrow(
      `invalid ticket recipient ${RECIPIENT.toLowerCase()}, expected ${other}`,
    );
    type W = ReturnType<typeof trip>;
    const cases: [string, (w: W) => void][] = [
      ["sender must be 20 bytes, got 19", (w) => Object.assign(w, { sender: w.sender.subarray(1) })],
      ["sender is the zero address", (w) => Object.assign(w, { sender: new Uint8Array(20) })],
      [
        "sig must be 65 bytes, got 64",
        (w) => Object.assign(w.senderParams!, { sig: w.senderParams!.sig.subarray(1) }),
      ],
      [
        "face_value is longer than 32 bytes",
        (w) => Object.assign(w.ticketParams!, { faceValue: new Uint8Array(33).fill(1) }),
      ],
      [
        "recipient_rand_hash must be 32 bytes",
        (w) => Object.assign(w.ticketParams!, { recipientRandHash: new Uint8Array(31) }),
      ],
      ["no expiration_params", (w) => Object.assign(w, { expirationParams: undefined })],
      [
        "invalid ticket signature",
        (w) => Object.assign(w.senderParams!, { senderNonce: w.senderParams!.senderNonce + 1 }),
      ],
      ["invalid recipientRand", (w) => Object.assign(w, { recipientRand: new Uint8Array([1]) })],
    ];
    for (const [text, mutate] of cases) {
      const w = trip(t);
      mutate(w);
      expect(() => fromWireTicket(w, RECIPIENT, verifier), text).toThrow(text);
    }
    const loser = await ticket({ winProb: 0n });
    expect(() => fromWireTicket(trip(loser), RECIPIENT, verifier)).toThrow("ticket did not win");
  });
});

describe("the redeemer outbox", () => {
  it("keeps tickets across a reopen, once each, in order, until delivered or refused", async () => {
    const dir = tempDir("lp-outbox-");
    const a = await ticket({}, 1);
    const b = await ticket({}, 2);
    let db = openDatabase(dir);
    let box = Outbox.open(db);
    expect(box.add(a).inserted).toBe(true);
    expect(box.add(b).inserted).toBe(true);
    expect(box.add(a).inserted).toBe(false);
    closeDatabase(db);
    db = openDatabase(dir);
    box = Outbox.open(db);
    const pending = box.pending();
    expect(pending.map((e) => e.ticket)).toEqual([a, b]);
    box.failed(pending[0]!.hash, "down");
    expect(box.pending()[0]!.attempts).toBe(1);
    box.markDelivered(pending[0]!.hash, a.faceValue);
    box.refused(pending[1]!.hash, "invalid ticket recipient");
    expect(box.pending()).toEqual([]);
    expect(box.stats()).toEqual({
      pending: { count: 0, faceValue: 0n },
      refused: { count: 1, faceValue: b.faceValue },
      delivered: { count: 1, faceValue: a.faceValue },
    });
    closeDatabase(db);
  });
});
