import { create } from "@bufbuild/protobuf";
import { type Address, bytesToHex, type Hex, hexToBytes, keccak256, toHex } from "viem";
import { describe, expect, it } from "vitest";
import { recoverHashSigner, Signer } from "../../../src/eth/signer.js";
import { Rat } from "../../../src/payments/rat.js";
import {
  isTicketParamsExpired,
  parseSenderOptions,
  paymentMessage,
  Sender,
  type SenderInfo,
  type SenderOptions,
  type SenderTime,
  TICKET_PARAMS_EXPIRED,
  ticketParamsFromWire,
} from "../../../src/payments/Sender.js";
import { batchTickets, MAX_WIN_PROB, ticketHashBytes } from "../../../src/payments/ticket.js";
import type { TicketParams } from "../../../src/payments/types.js";
import {
  PriceInfoSchema,
  TicketExpirationParamsSchema,
  TicketParamsSchema,
} from "../../../src/protocol/gen/lp_rpc_pb.js";
import { decodePaymentHeader, encodePaymentHeader } from "../../../src/protocol/segment.js";

const KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80" as Hex;
const RECIPIENT = "0x73AEd7b5dEb30222fa896f399d46cC99c7BEe57F" as Address;
const BLOCK_HASH_5 = `0x05${"00".repeat(31)}` as Hex;

interface Fixture {
  sender: Sender;
  signer: Signer;
  info: SenderInfo;
  time: SenderTime;
  infoCalls: number;
}

/** go-livepeer's defaultSender: deposit 100000, reserve 10, maxEV 100, maxTotalEV 100, multiplier 2, round 5. */
function defaultSender(overrides: Partial<SenderOptions> = {}): Fixture {
  const signer = Signer.fromPrivateKey(KEY);
  const fx = {
    signer,
    info: {
      deposit: 100000n,
      withdrawRound: 0n,
      reserve: { fundsRemaining: 10n, claimedInCurrentRound: 0n },
    },
    time: { lastSeenL1Block: 0n, lastInitializedRound: 5n, lastInitializedBlockHash: BLOCK_HASH_5 },
    infoCalls: 0,
  } as Fixture;
  fx.sender = new Sender(
    { maxEV: Rat.of(100), maxTotalEV: Rat.of(100), depositMultiplier: 2, ...overrides },
    {
      signer,
      funds: {
        senderInfo: async (addr) => {
          expect(addr).toBe(signer.address);
          fx.infoCalls++;
          return fx.info;
        },
      },
      time: () => fx.time,
    },
  );
  return fx;
}

let randCounter = 0;
function defaultParams(over: Partial<TicketParams> = {}): TicketParams {
  return {
    recipient: RECIPIENT,
    faceValue: 0n,
    winProb: 0n,
    recipientRandHash: keccak256(toHex(`rand-${randCounter++}`)),
    seed: 0n,
    expirationBlock: 100n,
    pricePerPixel: Rat.of(1),
    expirationParams: { creationRound: 0n, creationRoundBlockHash: `0x${"00".repeat(32)}` },
    ...over,
  };
}

async function errorOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

describe("Sender sessions and batches (reference 11.G)", () => {
  it("starts a session keyed by recipientRandHash and numbers tickets from 1", async () => {
    const { sender, signer } = defaultSender();
    const params = defaultParams();
    const id = sender.startSession(params);
    expect(id).toBe(params.recipientRandHash.toLowerCase());
    expect(sender.nonce(id)).toBe(0);
    const one = await sender.createTicketBatch(id, 1);
    expect(one.senderParams.map((p) => p.senderNonce)).toEqual([1]);
    expect(one.sender).toBe(signer.address);
    expect(sender.nonce(id)).toBe(1);
  });

  it("signs each ticket of a batch of 4 over its own hash, with nonces 1..4", async () => {
    const { sender, signer } = defaultSender();
    const id = sender.startSession(defaultParams());
    const batch = await sender.createTicketBatch(id, 4);
    expect(batch.senderParams.map((p) => p.senderNonce)).toEqual([1, 2, 3, 4]);
    const tickets = batchTickets(batch);
    for (const { ticket, sig } of tickets) {
      expect(await recoverHashSigner(ticketHashBytes(ticket), hexToBytes(sig))).toBe(signer.address);
    }
    // Distinct nonces give distinct signatures.
    expect(new Set(tickets.map((t) => t.sig)).size).toBe(4);
  });

  it("uses its own round and block hash when the params carry none, and the params' otherwise", async () => {
    const { sender } = defaultSender();
    const own = await sender.createTicketBatch(sender.startSession(defaultParams()), 1);
    expect(own.expirationParams).toEqual({ creationRound: 5n, creationRoundBlockHash: BLOCK_HASH_5 });

    const theirHash = keccak256(toHex("foo"));
    const theirs = await sender.createTicketBatch(
      sender.startSession(
        defaultParams({ expirationParams: { creationRound: 10n, creationRoundBlockHash: theirHash } }),
      ),
      1,
    );
    expect(theirs.expirationParams).toEqual({ creationRound: 10n, creationRoundBlockHash: theirHash });

    // Round set but hash zero: still the sender's own.
    const half = await sender.createTicketBatch(
      sender.startSession(
        defaultParams({
          expirationParams: { creationRound: 10n, creationRoundBlockHash: `0x${"00".repeat(32)}` },
        }),
      ),
      1,
    );
    expect(half.expirationParams.creationRound).toBe(5n);
  });

  it("gives concurrent batches on one session disjoint nonces", async () => {
    const { sender } = defaultSender();
    const id = sender.startSession(defaultParams());
    const [a, b] = await Promise.all([sender.createTicketBatch(id, 2), sender.createTicketBatch(id, 2)]);
    const nonces = [...a.senderParams, ...b.senderParams].map((p) => p.senderNonce).sort();
    expect(nonces).toEqual([1, 2, 3, 4]);
  });

  it("restarts nonces on a new session, continues them with startSessionWithNonce, forgets on cleanup", async () => {
    const { sender } = defaultSender();
    const params = defaultParams();
    const id = sender.startSession(params);
    await sender.createTicketBatch(id, 3);
    sender.startSession(params);
    expect((await sender.createTicketBatch(id, 1)).senderParams[0]!.senderNonce).toBe(1);
    sender.startSessionWithNonce(params, 41);
    expect((await sender.createTicketBatch(id, 1)).senderParams[0]!.senderNonce).toBe(42);
    sender.cleanupSession(id);
    expect(sender.sessionCount).toBe(0);
    const err = await errorOf(sender.createTicketBatch(id, 1));
    expect(err.message).toBe(`error loading session: ${Buffer.from(id).toString("hex")}`);
    expect(() => sender.ev(id)).toThrow(/error loading session/);
  });

  it("reports the session's ticket EV exactly", () => {
    const { sender } = defaultSender();
    const id = sender.startSession(defaultParams({ faceValue: 1000n, winProb: MAX_WIN_PROB / 2n }));
    expect(sender.ev(id).floatString(0)).toBe("500");
    expect(sender.ev(id).eq(Rat.of(1000n * (MAX_WIN_PROB / 2n), MAX_WIN_PROB))).toBe(true);
  });

  it("wraps a signing failure with go-livepeer's text", async () => {
    const fx = defaultSender();
    const sender = new Sender(
      { maxEV: Rat.of(100), maxTotalEV: Rat.of(100), depositMultiplier: 2 },
      {
        signer: { address: fx.signer.address, signHash: async () => Promise.reject(new Error("locked")) },
        funds: { senderInfo: () => fx.info },
        time: () => fx.time,
      },
    );
    const id = sender.startSession(defaultParams());
    const err = await errorOf(sender.createTicketBatch(id, 1));
    expect(err.message).toBe(`error signing ticket for session: ${id}: locked`);
  });

  it("accepts a hex signature from the signer as is", async () => {
    const fx = defaultSender();
    const sig = `0x${"ab".repeat(65)}` as Hex;
    const sender = new Sender(
      { maxEV: Rat.of(100), maxTotalEV: Rat.of(100), depositMultiplier: 2 },
      {
        signer: { address: fx.signer.address, signHash: async () => sig },
        funds: { senderInfo: () => fx.info },
        time: () => fx.time,
      },
    );
    const batch = await sender.createTicketBatch(sender.startSession(defaultParams()), 2);
    expect(batch.senderParams.map((p) => p.sig)).toEqual([sig, sig]);
  });

  it("refuses negative or fractional batch sizes; a batch of 0 is empty", async () => {
    const { sender } = defaultSender();
    const id = sender.startSession(defaultParams());
    await expect(sender.createTicketBatch(id, -1)).rejects.toThrow(/batch size/);
    await expect(sender.createTicketBatch(id, 1.5)).rejects.toThrow(/batch size/);
    expect((await sender.createTicketBatch(id, 0)).senderParams).toEqual([]);
    expect(sender.nonce(id)).toBe(0);
  });
});

describe("Sender.validateTicketParams (reference 3.4, 11.G)", () => {
  const halfWin = MAX_WIN_PROB / 2n;

  it("refuses nil params and an expiration block of 0", async () => {
    const { sender } = defaultSender();
    expect((await errorOf(sender.validateTicketParams(null))).message).toBe("ticketParams is nil");
    expect((await errorOf(sender.validateTicketParams(defaultParams({ expirationBlock: 0n })))).message).toBe(
      "ticketParams expiration block is 0",
    );
  });

  it("refuses params expiring within one block of the last seen L1 block", async () => {
    const fx = defaultSender();
    fx.time = { ...fx.time, lastSeenL1Block: 100n };
    for (const block of [1n, 99n, 100n, 101n]) {
      const err = await errorOf(fx.sender.validateTicketParams(defaultParams({ expirationBlock: block })));
      expect(err.message).toBe(TICKET_PARAMS_EXPIRED);
      expect(isTicketParamsExpired(err)).toBe(true);
    }
    await fx.sender.validateTicketParams(defaultParams({ expirationBlock: 102n }));
    await fx.sender.validateTicketParams(defaultParams({ expirationBlock: 105n }));
    // A batch on expired params is refused too, and consumes no nonce.
    const id = fx.sender.startSession(defaultParams({ expirationBlock: 101n }));
    await expect(fx.sender.createTicketBatch(id, 1)).rejects.toThrow(TICKET_PARAMS_EXPIRED);
    expect(fx.sender.nonce(id)).toBe(0);
  });

  it("accepts zero-EV params without reading the funds", async () => {
    const fx = defaultSender();
    fx.info = { ...fx.info, deposit: 0n };
    await fx.sender.validateTicketParams(defaultParams());
    expect(fx.infoCalls).toBe(0);
  });

  it("refuses winProb = 2^256-1 as a face value too low (go-livepeer quirk)", async () => {
    const { sender } = defaultSender({ maxEV: Rat.of(1000) });
    const err = await errorOf(
      sender.validateTicketParams(defaultParams({ faceValue: 1000n, winProb: MAX_WIN_PROB })),
    );
    expect(err.message).toBe("ticket faceValue too low faceValue=1000");
  });

  it("refuses a ticket EV over -maxTicketEV and a batch EV over -maxTotalEV", async () => {
    const params = defaultParams({ faceValue: 202n, winProb: halfWin });
    const a = defaultSender({ maxEV: Rat.of(1) });
    expect((await errorOf(a.sender.validateTicketParams(params))).message).toBe(
      "ticket EV 101.00000 > max ticket EV 1.00000",
    );
    const b = defaultSender({ maxEV: Rat.of(150), maxTotalEV: Rat.of(200) });
    await b.sender.validateTicketParams(params);
    const id = b.sender.startSession(params);
    expect((await errorOf(b.sender.createTicketBatch(id, 2))).message).toBe(
      "total ticket EV 202.00000 for 2 tickets > max total ticket EV 200.00000",
    );
    expect(b.sender.nonce(id)).toBe(0);
    expect((await b.sender.createTicketBatch(id, 1)).senderParams).toHaveLength(1);
  });

  it("checks the deposit against faceValue / depositMultiplier", async () => {
    const params = defaultParams({ faceValue: 1111n, winProb: 100n });
    const fx = defaultSender();
    fx.info = { ...fx.info, deposit: 0n };
    expect((await errorOf(fx.sender.validateTicketParams(params))).message).toBe("no sender deposit");
    fx.info = { ...fx.info, deposit: 1n };
    expect((await errorOf(fx.sender.validateTicketParams(params))).message).toBe(
      "ticket faceValue 1111 > max faceValue 0",
    );
    fx.info = { ...fx.info, deposit: 2221n };
    expect((await errorOf(fx.sender.validateTicketParams(params))).message).toBe(
      "ticket faceValue 1111 > max faceValue 1110",
    );
    fx.info = { ...fx.info, deposit: 2224n };
    await fx.sender.validateTicketParams(params);
  });

  it("refuses a sender whose funds unlock soon or whose reserve is empty", async () => {
    const params = defaultParams({ faceValue: 1111n, winProb: 100n });
    const fx = defaultSender();
    for (const withdrawRound of [2n, 4n, 5n, 6n]) {
      fx.info = { ...fx.info, withdrawRound };
      const err = await errorOf(fx.sender.validateTicketParams(params));
      expect(err.message).toBe("unable to validate sender: deposit and reserve is set to unlock soon");
      expect((err as { code?: string }).code).toBe("SENDER_VALIDATION");
    }
    for (const withdrawRound of [0n, 7n, 100n]) {
      fx.info = { ...fx.info, withdrawRound };
      await fx.sender.validateTicketParams(params);
    }
    fx.info = { ...fx.info, withdrawRound: 0n, reserve: { fundsRemaining: 0n, claimedInCurrentRound: 0n } };
    expect((await errorOf(fx.sender.validateTicketParams(params))).message).toBe("no sender reserve");
  });

  it("passes the funds source's error through and signs nothing", async () => {
    let signed = 0;
    const sender = new Sender(
      { maxEV: Rat.of(100), maxTotalEV: Rat.of(100), depositMultiplier: 2 },
      {
        signer: {
          address: RECIPIENT,
          signHash: async () => {
            signed++;
            return new Uint8Array(65);
          },
        },
        funds: { senderInfo: async () => Promise.reject(new Error("rpc down")) },
        time: () => ({
          lastSeenL1Block: 0n,
          lastInitializedRound: 5n,
          lastInitializedBlockHash: BLOCK_HASH_5,
        }),
      },
    );
    const id = sender.startSession(defaultParams({ faceValue: 1111n, winProb: 100n }));
    await expect(sender.createTicketBatch(id, 3)).rejects.toThrow("rpc down");
    expect(signed).toBe(0);
    expect(sender.nonce(id)).toBe(0);
  });
});

describe("parseSenderOptions", () => {
  it("reads go-livepeer's defaults and rational values", () => {
    const d = parseSenderOptions();
    expect(d.maxEV.eq(3000000000000n)).toBe(true);
    expect(d.maxTotalEV.eq(20000000000000n)).toBe(true);
    expect(d.depositMultiplier).toBe(1);
    const o = parseSenderOptions({ maxTicketEV: "1/3", maxTotalEV: "2.5", depositMultiplier: "4" });
    expect(o.maxEV.eq(Rat.of(1, 3))).toBe(true);
    expect(o.maxTotalEV.eq(Rat.of(5, 2))).toBe(true);
    expect(o.depositMultiplier).toBe(4);
    expect(parseSenderOptions({ maxTicketEV: "0" }).maxEV.sign()).toBe(0);
  });

  it("refuses bad values with go-livepeer's texts", () => {
    expect(() => parseSenderOptions({ maxTicketEV: "abcd" })).toThrow(
      "-maxTicketEV must be a valid rational number, but abcd provided. Restart the node with a valid value for -maxTicketEV",
    );
    expect(() => parseSenderOptions({ maxTicketEV: "-1" })).toThrow(
      "-maxTicketEV must not be negative, but -1 provided. Restart the node with a valid value for -maxTicketEV",
    );
    expect(() => parseSenderOptions({ maxTotalEV: "-5" })).toThrow(
      "-maxTotalEV must not be negative, but -5 provided. Restart the node with a valid value for -maxTotalEV",
    );
    expect(() => parseSenderOptions({ maxTotalEV: "x" })).toThrow(
      /-maxTotalEV must be a valid rational number/,
    );
    for (const dm of [0, -1, "0", "abc", 1.5]) {
      expect(() => parseSenderOptions({ depositMultiplier: dm })).toThrow(
        `-depositMultiplier must be greater than 0, but ${dm} provided. Restart the node with a valid value for -depositMultiplier`,
      );
    }
  });

  it("the constructor refuses negative limits and a zero multiplier", () => {
    const deps = {
      signer: { address: RECIPIENT, signHash: async () => new Uint8Array(65) },
      funds: {
        senderInfo: () => ({
          deposit: 0n,
          withdrawRound: 0n,
          reserve: { fundsRemaining: 0n, claimedInCurrentRound: 0n },
        }),
      },
      time: () => ({ lastSeenL1Block: 0n, lastInitializedRound: 0n, lastInitializedBlockHash: BLOCK_HASH_5 }),
    };
    expect(
      () => new Sender({ maxEV: Rat.of(-1), maxTotalEV: Rat.of(1), depositMultiplier: 1 }, deps),
    ).toThrow();
    expect(
      () => new Sender({ maxEV: Rat.of(1), maxTotalEV: Rat.of(1), depositMultiplier: 0 }, deps),
    ).toThrow();
  });
});

describe("wire forms", () => {
  it("reads an orchestrator's TicketParams and price, and refuses malformed fields", () => {
    const hash = keccak256(toHex("foo"));
    const wire = create(TicketParamsSchema, {
      recipient: hexToBytes(RECIPIENT),
      faceValue: new Uint8Array([0x01, 0x00]),
      winProb: new Uint8Array([0xff]),
      recipientRandHash: hexToBytes(hash),
      seed: new Uint8Array(0),
      expirationBlock: new Uint8Array([0x64]),
      expirationParams: create(TicketExpirationParamsSchema, {
        creationRound: 10n,
        creationRoundBlockHash: hexToBytes(hash),
      }),
    });
    const p = ticketParamsFromWire(wire, create(PriceInfoSchema, { pricePerUnit: 10n, pixelsPerUnit: 4n }));
    expect(p.recipient).toBe(RECIPIENT);
    expect([p.faceValue, p.winProb, p.seed, p.expirationBlock]).toEqual([256n, 255n, 0n, 100n]);
    expect(p.recipientRandHash).toBe(hash);
    expect(p.expirationParams).toEqual({ creationRound: 10n, creationRoundBlockHash: hash });
    expect(Rat.from(p.pricePerPixel).eq(Rat.of(5, 2))).toBe(true);

    const bare = ticketParamsFromWire(
      create(TicketParamsSchema, { ...wire, expirationParams: undefined }),
      undefined,
    );
    expect(bare.expirationParams.creationRound).toBe(0n);
    expect(Rat.from(bare.pricePerPixel).sign()).toBe(0);

    expect(() =>
      ticketParamsFromWire(create(TicketParamsSchema, { ...wire, recipient: new Uint8Array(19) }), undefined),
    ).toThrow("ticket params recipient must be 20 bytes");
    expect(() =>
      ticketParamsFromWire(
        create(TicketParamsSchema, { ...wire, faceValue: new Uint8Array(33).fill(1) }),
        undefined,
      ),
    ).toThrow("ticket params faceValue is longer than 32 bytes");
    expect(() =>
      ticketParamsFromWire(
        create(TicketParamsSchema, { ...wire, recipientRandHash: new Uint8Array(5) }),
        undefined,
      ),
    ).toThrow("ticket params recipientRandHash must be 32 bytes");
  });

  it("builds the Livepeer-Payment message from a batch, and a ticketless one", async () => {
    const { sender, signer } = defaultSender();
    const params = defaultParams({ faceValue: 1111n, winProb: 100n, seed: 7n });
    const batch = await sender.createTicketBatch(sender.startSession(params), 2);
    const decoded = decodePaymentHeader(
      encodePaymentHeader(paymentMessage(signer.address, batch, { pricePerUnit: 3n, pixelsPerUnit: 2n })),
    );
    expect(bytesToHex(decoded.sender)).toBe(signer.address.toLowerCase());
    expect(decoded.expectedPrice?.pricePerUnit).toBe(3n);
    expect(decoded.expectedPrice?.pixelsPerUnit).toBe(2n);
    const tp = decoded.ticketParams!;
    expect(bytesToHex(tp.faceValue)).toBe("0x0457");
    expect(bytesToHex(tp.winProb)).toBe("0x64");
    expect(bytesToHex(tp.seed)).toBe("0x07");
    expect(bytesToHex(tp.expirationBlock)).toBe("0x64");
    expect(tp.expirationParams).toBeUndefined();
    expect(decoded.expirationParams?.creationRound).toBe(5n);
    expect(bytesToHex(decoded.expirationParams!.creationRoundBlockHash)).toBe(BLOCK_HASH_5);
    expect(decoded.ticketSenderParams.map((t) => t.senderNonce)).toEqual([1, 2]);
    expect(bytesToHex(decoded.ticketSenderParams[0]!.sig)).toBe(batch.senderParams[0]!.sig);
    // Round trip: the orchestrator's view of the params is the gateway's.
    const back = ticketParamsFromWire(tp, decoded.expectedPrice);
    expect(back.faceValue).toBe(1111n);
    expect(back.recipientRandHash).toBe(params.recipientRandHash);

    const none = decodePaymentHeader(
      encodePaymentHeader(paymentMessage(signer.address, null, { pricePerUnit: 1n, pixelsPerUnit: 1n })),
    );
    expect(none.ticketParams).toBeUndefined();
    expect(none.ticketSenderParams).toEqual([]);
    expect(none.expectedPrice?.pricePerUnit).toBe(1n);
  });
});
