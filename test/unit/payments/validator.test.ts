import { type Address, bytesToHex, type Hex, keccak256, stringToBytes, toBytes } from "viem";
import { describe, expect, it } from "vitest";
import { LpError } from "../../../src/errors/LpError.js";
import { Signer } from "../../../src/eth/signer.js";
import { Rat } from "../../../src/payments/rat.js";
import { RecipientRandSource } from "../../../src/payments/recipientRand.js";
import { SigVerifier } from "../../../src/payments/sig.js";
import {
  MAX_WIN_PROB,
  newTicket,
  recipientRandHashOf,
  ticketHashBytes,
} from "../../../src/payments/ticket.js";
import { TicketParamsMaker } from "../../../src/payments/ticketParams.js";
import type { Ticket, TicketParams } from "../../../src/payments/types.js";
import {
  MAX_SENDER_NONCES,
  SenderNonceTracker,
  TicketValidator,
  type TicketValidatorOptions,
  validateTicket,
} from "../../../src/payments/validator.js";

const ZERO: Address = "0x0000000000000000000000000000000000000000";
const ZERO_HASH: Hex = `0x${"0".repeat(64)}`;
// anvil accounts 0 (sender) and 1 (recipient), 2 (someone else).
const senderKey = Signer.fromPrivateKey("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
const recipientKey = Signer.fromPrivateKey(
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
);
const otherKey = Signer.fromPrivateKey("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a");
const SENDER = senderKey.address;
const RECIPIENT = recipientKey.address;

async function setup(
  opts: {
    winProb?: bigint;
    options?: Partial<TicketValidatorOptions>;
    maxNonces?: number;
    validateSender?: (s: Address) => void | Promise<void>;
  } = {},
) {
  const clock = {
    state: {
      lastSeenL1Block: 1000n,
      lastInitializedRound: 10n,
      lastInitializedBlockHash: keccak256(stringToBytes("round 10")),
      preLastInitializedBlockHash: keccak256(stringToBytes("round 9")),
    },
  };
  const rand = new RecipientRandSource();
  const maker = new TicketParamsMaker(
    { recipient: RECIPIENT, ev: 1000n, redeemGas: 350_000n },
    { clock, gasPrice: () => 1n, maxFloat: () => 10n ** 18n, rand },
  );
  const issued = await maker.ticketParams(SENDER, Rat.of(3n, 2n));
  const params: TicketParams = opts.winProb === undefined ? issued : { ...issued, winProb: opts.winProb };
  const nonces = new SenderNonceTracker(opts.maxNonces === undefined ? {} : { maxNonces: opts.maxNonces });
  const validator = new TicketValidator(
    { recipient: RECIPIENT, ...opts.options },
    {
      verifier: new SigVerifier(),
      rand,
      clock,
      nonces,
      senders: opts.validateSender ? { validateSender: opts.validateSender } : null,
    },
  );
  const make = async (nonce: number, signer = senderKey, over: Partial<Ticket> = {}) => {
    const ticket = { ...newTicket(params, params.expirationParams, SENDER, nonce), ...over };
    const sig = bytesToHex(await signer.signHash(ticketHashBytes(ticket)));
    return { ticket, sig };
  };
  return { clock, rand, params, issued, nonces, validator, make };
}

describe("TicketValidator.receiveTicket: go-livepeer's checks, order and texts", () => {
  it("accepts a good ticket and returns the rand", async () => {
    const { validator, make, rand, params } = await setup();
    const { ticket, sig } = await make(1);
    const res = await validator.receiveTicket(ticket, sig, params.seed);
    expect(res.error).toBeNull();
    expect(res.won).toBe(false);
    expect(res.sessionID).toBeNull();
    expect(recipientRandHashOf(res.recipientRand!)).toBe(params.recipientRandHash);
    expect(res.recipientRand).toBe(validator.recipientRand(ticket, params.seed));
    void rand;
  });

  it("a winProb raised by the sender breaks the HMAC: never a winner", async () => {
    const { validator, make, issued } = await setup();
    const { ticket, sig } = await make(1);
    const res = await validator.receiveTicket({ ...ticket, winProb: MAX_WIN_PROB }, sig, issued.seed);
    expect(res.error?.message).toBe("invalid recipientRand for ticket recipientRandHash");
    expect(res.won).toBe(false);
  });

  it("sender validation (unlocking soon) is fatal and comes first", async () => {
    const { validator, make, params } = await setup({
      validateSender: (s) => {
        throw new LpError("SENDER_UNLOCKING", `deposit and reserve for sender ${s} is set to unlock soon`);
      },
    });
    const { ticket, sig } = await make(1);
    const res = await validator.receiveTicket({ ...ticket, recipient: ZERO }, sig, params.seed);
    expect(res.error?.message).toBe(`deposit and reserve for sender ${SENDER} is set to unlock soon`);
    expect(res.error?.code).toBe("TICKET_SENDER_VALIDATION");
    expect(res.error?.fatal).toBe(true);
    expect(res.recipientRand).toBeNull();
  });

  it("an async sender check that passes lets the ticket through", async () => {
    let asked: Address | null = null;
    const { validator, make, params } = await setup({
      validateSender: async (s) => {
        asked = s;
      },
    });
    const { ticket, sig } = await make(1);
    expect((await validator.receiveTicket(ticket, sig, params.seed)).error).toBeNull();
    expect(asked).toBe(SENDER);
  });

  it("wrong recipient: fatal 'invalid ticket recipient'", async () => {
    const { validator, make, params } = await setup();
    const { ticket, sig } = await make(1, senderKey, { recipient: otherKey.address });
    const res = await validator.receiveTicket({ ...ticket, sender: ZERO }, sig, params.seed);
    expect(res.error).toMatchObject({
      code: "TICKET_RECIPIENT",
      message: "invalid ticket recipient",
      fatal: true,
    });
  });

  it("recipient compares case-insensitively (checksummed or not)", async () => {
    const { validator, make, params } = await setup();
    const { ticket, sig } = await make(1);
    const res = await validator.receiveTicket(
      { ...ticket, recipient: ticket.recipient.toLowerCase() as Address },
      sig,
      params.seed,
    );
    expect(res.error).toBeNull();
  });

  it("zero sender: fatal 'invalid ticket sender'", async () => {
    const { validator, make, params } = await setup();
    const { ticket, sig } = await make(1);
    const res = await validator.receiveTicket({ ...ticket, sender: ZERO, faceValue: 1n }, sig, params.seed);
    expect(res.error).toMatchObject({ code: "TICKET_SENDER", message: "invalid ticket sender", fatal: true });
  });

  it("any field changed from what was issued, or another seed: fatal recipientRand error", async () => {
    const { validator, make, params } = await setup();
    const { ticket, sig } = await make(1);
    const changed: Array<[Partial<Ticket>, bigint]> = [
      [{ faceValue: ticket.faceValue + 1n }, params.seed],
      [{ winProb: ticket.winProb + 1n }, params.seed],
      [{ paramsExpirationBlock: ticket.paramsExpirationBlock + 1n }, params.seed],
      [{ pricePerPixel: Rat.of(1n, 1n) }, params.seed],
      [{ creationRound: ticket.creationRound - 1n }, params.seed],
      [{ creationRoundBlockHash: ZERO_HASH }, params.seed],
      [{ sender: otherKey.address }, params.seed],
      [{ recipientRandHash: ZERO_HASH }, params.seed],
      [{}, params.seed + 1n],
      [{ creationRound: -1n }, params.seed], // cannot even be encoded
    ];
    for (const [over, seed] of changed) {
      const res = await validator.receiveTicket({ ...ticket, ...over }, sig, seed);
      expect(
        res.error,
        JSON.stringify(over, (_k, v) => String(v)),
      ).toMatchObject({
        code: "TICKET_RECIPIENT_RAND",
        message: "invalid recipientRand for ticket recipientRandHash",
        fatal: true,
      });
      expect(res.recipientRand).toBeNull();
    }
  });

  it("the price is compared reduced: 6/4 is the 3/2 that was quoted", async () => {
    const { validator, make, params } = await setup();
    const { ticket, sig } = await make(1);
    const res = await validator.receiveTicket(
      { ...ticket, pricePerPixel: { num: 6n, den: 4n } },
      sig,
      params.seed,
    );
    expect(res.error).toBeNull();
  });

  it("bad signatures: non-fatal 'invalid ticket signature', not recorded, never a winner", async () => {
    const { validator, make, params, nonces } = await setup({ winProb: undefined });
    const good = await make(1);
    const foreign = await make(1, otherKey);
    const highS = toBytes(good.sig);
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const s = BigInt(bytesToHex(highS.subarray(32, 64)));
    highS.set(toBytes(`0x${(n - s).toString(16).padStart(64, "0")}`), 32);
    highS[64] = highS[64] === 27 ? 28 : 27;
    const sigs: Hex[] = [
      foreign.sig,
      bytesToHex(stringToBytes("foo")),
      bytesToHex(highS),
      good.sig.slice(0, -2) as Hex,
      "0xnothex" as Hex,
      `${good.sig.slice(0, -2)}00` as Hex,
    ];
    for (const sig of sigs) {
      const res = await validator.receiveTicket(good.ticket, sig, params.seed);
      expect(res.error, sig).toMatchObject({
        code: "TICKET_SIGNATURE",
        message: "invalid ticket signature",
        fatal: false,
      });
      expect(res.won).toBe(false);
    }
    expect(nonces.size).toBe(0);
    // A ticket signed with a changed nonce does not verify for the nonce it claims.
    const res = await validator.receiveTicket({ ...good.ticket, senderNonce: 2 }, good.sig, params.seed);
    expect(res.error?.message).toBe("invalid ticket signature");
    expect((await validator.receiveTicket(good.ticket, good.sig, params.seed)).error).toBeNull();
  });

  it("replay of a nonce: non-fatal 'already seen' with the checksummed sender", async () => {
    const { validator, make, params } = await setup();
    const { ticket, sig } = await make(7);
    expect((await validator.receiveTicket(ticket, sig, params.seed)).error).toBeNull();
    const again = await validator.receiveTicket(ticket, sig, params.seed);
    expect(again.error).toMatchObject({
      code: "TICKET_NONCE_SEEN",
      message: `invalid ticket senderNonce: already seen sender=${SENDER} nonce=7`,
      fatal: false,
    });
    // Nonces need not increase, only differ.
    const lower = await make(3);
    expect((await validator.receiveTicket(lower.ticket, lower.sig, params.seed)).error).toBeNull();
  });

  it("a replayed winner is still reported as won (the store dedupes), with the error", async () => {
    const { clock, rand, nonces } = await setup();
    // Issue params by hand with winProb max so that the HMAC covers it.
    const maker = new TicketParamsMaker(
      { recipient: RECIPIENT, ev: 1000n, redeemGas: 0n },
      { clock, gasPrice: () => 0n, maxFloat: () => 1000n, rand },
    );
    const params = await maker.ticketParams(SENDER, Rat.ONE);
    expect(params.winProb).toBe(MAX_WIN_PROB);
    const validator = new TicketValidator(
      { recipient: RECIPIENT },
      { verifier: new SigVerifier(), rand, clock, nonces },
    );
    const ticket = newTicket(params, params.expirationParams, SENDER, 1);
    const sig = bytesToHex(await senderKey.signHash(ticketHashBytes(ticket)));
    const first = await validator.receiveTicket(ticket, sig, params.seed);
    expect(first).toMatchObject({
      won: true,
      sessionID: params.recipientRandHash.toLowerCase(),
      error: null,
    });
    const second = await validator.receiveTicket(ticket, sig, params.seed);
    expect(second.won).toBe(true);
    expect(second.error?.code).toBe("TICKET_NONCE_SEEN");
    expect(second.recipientRand).toBe(first.recipientRand);
  });

  it("the nonce cap: 'too many values' once a recipientRand holds the maximum", async () => {
    const { validator, make, params } = await setup({ maxNonces: 3 });
    for (const n of [1, 2, 3]) {
      const t = await make(n);
      expect((await validator.receiveTicket(t.ticket, t.sig, params.seed)).error).toBeNull();
    }
    const t = await make(4);
    expect((await validator.receiveTicket(t.ticket, t.sig, params.seed)).error).toMatchObject({
      code: "TICKET_NONCE_LIMIT",
      message: `invalid ticket senderNonce: too many values sender=${SENDER} nonce=4`,
      fatal: false,
    });
  });

  it("expired params: non-fatal 'TicketParams expired', won still reported", async () => {
    const { validator, make, params, clock } = await setup();
    const { ticket, sig } = await make(1);
    clock.state.lastSeenL1Block = params.expirationBlock;
    const res = await validator.receiveTicket(ticket, sig, params.seed);
    expect(res.error).toMatchObject({
      code: "TICKET_PARAMS_EXPIRED",
      message: "TicketParams expired",
      fatal: false,
    });
    clock.state.lastSeenL1Block = params.expirationBlock - 1n;
    const t2 = await make(2);
    expect((await validator.receiveTicket(t2.ticket, t2.sig, params.seed)).error).toBeNull();
  });

  it("a creation round the broker would call expired is refused (ours), unless turned off", async () => {
    const on = await setup();
    const a = await on.make(1);
    on.clock.state.lastInitializedRound = a.ticket.creationRound + 1n;
    expect((await on.validator.receiveTicket(a.ticket, a.sig, on.params.seed)).error).toBeNull();
    on.clock.state.lastInitializedRound = a.ticket.creationRound + 2n;
    const b = await on.make(2);
    expect((await on.validator.receiveTicket(b.ticket, b.sig, on.params.seed)).error).toMatchObject({
      code: "TICKET_CREATION_ROUND",
      message: "invalid ticket creation round",
      fatal: false,
    });
    const off = await setup({ options: { ticketValidityPeriod: null } });
    const c = await off.make(1);
    off.clock.state.lastInitializedRound = c.ticket.creationRound + 5n;
    expect((await off.validator.receiveTicket(c.ticket, c.sig, off.params.seed)).error).toBeNull();
  });

  it("never throws on garbage fields", async () => {
    const { validator, make, params } = await setup();
    const { ticket, sig } = await make(1);
    const garbage: Array<Partial<Ticket>> = [
      { recipient: "0x12" as Address },
      { sender: "garbage" as Address },
      { faceValue: -5n },
      { winProb: MAX_WIN_PROB + 10n },
      { senderNonce: 2 ** 40 },
      { recipientRandHash: "0x1234" as Hex },
      { creationRoundBlockHash: "0x" as Hex },
      { pricePerPixel: { num: 1n, den: 0n } },
    ];
    for (const g of garbage) {
      const res = await validator.receiveTicket({ ...ticket, ...g }, sig, params.seed);
      expect(
        res.error,
        JSON.stringify(g, (_k, v) => String(v)),
      ).not.toBeNull();
      expect(res.won).toBe(false);
    }
  });
});

describe("validateTicket (vector 11.E, go-livepeer validator_test)", () => {
  const recipient: Address = "0x73AEd7b5dEb30222fa896f399d46cC99c7BEe57F";
  const sender: Address = "0xA69cdA26600c155cF2c150964Bdb5371ac3f606F";
  const sig = bytesToHex(stringToBytes("foo"));
  const rand = 10n;
  const base: Ticket = {
    recipient,
    sender,
    faceValue: 0n,
    winProb: 0n,
    senderNonce: 0,
    recipientRandHash: "0xc65a7bb8d6351c1cf70c95a316cc6a92839c986682d98bc35f958f4883f9d2a8",
    creationRound: 0n,
    creationRoundBlockHash: ZERO_HASH,
    paramsExpirationBlock: 0n,
    pricePerPixel: Rat.ZERO,
  };
  const yes = { verify: () => true };
  const no = { verify: () => false };

  it("goes recipient, sender, rand, signature, then valid", () => {
    expect(
      validateTicket(recipient, { ...base, recipient: sender, sender: ZERO }, sig, rand, no)?.message,
    ).toBe("invalid ticket recipient");
    expect(
      validateTicket(recipient, { ...base, sender: ZERO, recipientRandHash: ZERO_HASH }, sig, rand, no)
        ?.message,
    ).toBe("invalid ticket sender");
    expect(validateTicket(recipient, { ...base, recipientRandHash: ZERO_HASH }, sig, rand, no)?.message).toBe(
      "invalid recipientRand for ticket recipientRandHash",
    );
    expect(validateTicket(recipient, base, sig, rand, no)?.message).toBe("invalid ticket signature");
    expect(validateTicket(recipient, base, sig, rand, yes)).toBeNull();
  });
});

describe("SenderNonceTracker", () => {
  it("holds go-livepeer's 600 nonces per recipientRand, separately per rand", () => {
    const t = new SenderNonceTracker();
    expect(MAX_SENDER_NONCES).toBe(600);
    for (let n = 1; n <= 600; n++) expect(t.record(1n, SENDER, n, 50n)).toBeNull();
    expect(t.record(1n, SENDER, 601, 50n)?.code).toBe("TICKET_NONCE_LIMIT");
    expect(t.record(1n, SENDER, 600, 50n)?.code).toBe("TICKET_NONCE_SEEN");
    expect(t.count(1n)).toBe(600);
    expect(t.record(2n, SENDER, 1, 60n)).toBeNull();
  });

  it("forgets a recipientRand once an L1 block reaches its params' expiration", () => {
    const t = new SenderNonceTracker();
    t.record(1n, SENDER, 1, 50n);
    t.record(2n, SENDER, 1, 60n);
    expect(t.onL1Block(49n)).toBe(0);
    expect(t.onL1Block(50n)).toBe(1);
    expect(t.size).toBe(1);
    expect(t.record(1n, SENDER, 1, 50n)).toBeNull();
    expect(t.record(2n, SENDER, 1, 60n)?.code).toBe("TICKET_NONCE_SEEN");
  });
});
