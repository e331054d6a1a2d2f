import { keccak_256 } from "@noble/hashes/sha3.js";
import {
  type Address,
  bytesToHex,
  encodeFunctionData,
  encodePacked,
  type Hex,
  keccak256,
  stringToBytes,
  zeroAddress,
} from "viem";
import { describe, expect, it } from "vitest";
import { isLpError } from "../../../src/errors/LpError.js";
import { ticketBrokerAbi } from "../../../src/eth/abis.js";
import { Rat } from "../../../src/payments/rat.js";
import {
  auxData,
  batchTickets,
  hasRedeemableAuxData,
  isWinningTicket,
  MAX_WIN_PROB,
  minimalBytes,
  newTicket,
  recipientRandHashOf,
  redeemWinningTicketArgs,
  ticketEV,
  ticketHash,
  ticketPreimage,
  toContractTicket,
  winProbRat,
} from "../../../src/payments/ticket.js";
import type { Ticket, TicketBatch, TicketParams } from "../../../src/payments/types.js";

const ZERO_HASH: Hex = `0x${"0".repeat(64)}`;
const FOO = keccak256(stringToBytes("foo"));
const M = MAX_WIN_PROB;

function zeroTicket(over: Partial<Ticket> = {}): Ticket {
  return {
    recipient: zeroAddress,
    sender: zeroAddress,
    faceValue: 0n,
    winProb: 0n,
    senderNonce: 0,
    recipientRandHash: ZERO_HASH,
    creationRound: 0n,
    creationRoundBlockHash: ZERO_HASH,
    paramsExpirationBlock: 0n,
    pricePerPixel: Rat.ZERO,
    ...over,
  };
}

describe("ticket hash (vectors 11.A, go-livepeer TestHash)", () => {
  const cases: Array<[string, Partial<Ticket>, Hex]> = [
    [
      "nonce MaxUint32",
      { senderNonce: 4294967295 },
      "0xe1393fc7f6de093780674022f96cb8e3872235167d037c04d554e58c0e63d280",
    ],
    ["nonce 1", { senderNonce: 1 }, "0xce0918ba94518293e9712effbe5fca4f1f431089833a5b8c257cb1e024595f68"],
    [
      "fv 1 wp 500",
      { faceValue: 1n, winProb: 500n },
      "0x87ef13f2d37e4d5352a01d3c77b8179d80e0887f1953bfabfd0bfd7b0f689ddd",
    ],
    [
      "fv 500 wp 1",
      { faceValue: 500n, winProb: 1n },
      "0xaa4b35071043587992ac8b9dd1b2cf1d8311130e6458cf0b2342484e21af5f5b",
    ],
    [
      "recipient",
      { recipient: "0x73AEd7b5dEb30222fa896f399d46cC99c7BEe57F" },
      "0x81e353ae39046e2b77b9f996abbaeed527fda559b61ef90f299c4499dd508ccc",
    ],
    [
      "recipientRandHash",
      { recipientRandHash: FOO },
      "0xbe5eaf9a49a39540b9bb02f1a21904f61324a29819e2c032824bfaa10c100b17",
    ],
    [
      "creation round 10 and keccak(foo)",
      { creationRound: 10n, creationRoundBlockHash: FOO },
      "0xe502907c16036ab3d11b78c5a2e93c20f3d6415c67f91de4ed01348182b3b2e2",
    ],
  ];
  for (const [name, fields, want] of cases) {
    it(name, () => {
      expect(ticketHash(zeroTicket(fields))).toBe(want);
    });
  }

  it("uses the 168-byte preimage only for empty auxData, 232 otherwise", () => {
    expect(ticketPreimage(zeroTicket()).length).toBe(168);
    expect(ticketPreimage(zeroTicket({ creationRound: 10n, creationRoundBlockHash: FOO })).length).toBe(232);
  });

  it("matches viem's encodePacked of the contract's getTicketHash", () => {
    const t = zeroTicket({
      recipient: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
      sender: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
      faceValue: 777n,
      winProb: 666n,
      senderNonce: 3,
      recipientRandHash: FOO,
      creationRound: 3500n,
      creationRoundBlockHash: keccak256(stringToBytes("block")),
    });
    const packed = encodePacked(
      ["address", "address", "uint256", "uint256", "uint256", "bytes32", "bytes"],
      [t.recipient, t.sender, t.faceValue, t.winProb, 3n, t.recipientRandHash, bytesToHex(auxData(t))],
    );
    expect(ticketHash(t)).toBe(keccak256(packed));
  });

  it("protocol test helper ticket (11.L): faceValue 777, winProb 666", () => {
    const t = zeroTicket({ faceValue: 777n, winProb: 666n, creationRound: 10n, creationRoundBlockHash: FOO });
    expect(ticketHash(t)).toBe("0x9e25084fdd8bf26c3014eb2742a5b6e4f6d9a00ac075c702aac2a0e5919e5ebd");
  });

  it("refuses fields it cannot encode with a typed error", () => {
    const bad: Array<Partial<Ticket>> = [
      { recipient: "0x1234" as Address },
      { sender: "nothex" as Address },
      { faceValue: -1n },
      { winProb: M + 1n },
      { senderNonce: 2 ** 32 },
      { senderNonce: -1 },
      { senderNonce: 1.5 },
      { recipientRandHash: "0x12" as Hex },
      { creationRound: -1n, creationRoundBlockHash: FOO },
    ];
    for (const fields of bad) {
      let err: unknown;
      try {
        ticketHash(zeroTicket(fields));
      } catch (e) {
        err = e;
      }
      expect(
        isLpError(err, "TICKET_ENCODING"),
        JSON.stringify(fields, (_k, v) => String(v)),
      ).toBe(true);
    }
  });
});

describe("auxData (vectors 11.B, TestAuxData)", () => {
  const blk: Hex = "0x7624778dedc75f8b322b9fa1632a610d40b85e106c7d9bf0e743a9ce291b9c6f";
  const word5 = `${"0".repeat(63)}5`;
  it("round 0 with a real hash is 64 bytes", () => {
    expect(bytesToHex(auxData({ creationRound: 0n, creationRoundBlockHash: blk }))).toBe(
      `0x${"0".repeat(64)}${blk.slice(2)}`,
    );
  });
  it("a zero hash with round 5 is 64 bytes", () => {
    expect(bytesToHex(auxData({ creationRound: 5n, creationRoundBlockHash: ZERO_HASH }))).toBe(
      `0x${word5}${"0".repeat(64)}`,
    );
  });
  it("both zero is empty (go-livepeer's quirk) and cannot be redeemed", () => {
    const p = { creationRound: 0n, creationRoundBlockHash: ZERO_HASH };
    expect(auxData(p).length).toBe(0);
    expect(hasRedeemableAuxData(p)).toBe(false);
    expect(toContractTicket(zeroTicket()).auxData).toBe("0x");
  });
  it("a normal one is round ‖ hash", () => {
    const p = { creationRound: 5n, creationRoundBlockHash: blk };
    expect(bytesToHex(auxData(p))).toBe(`0x${word5}${blk.slice(2)}`);
    expect(hasRedeemableAuxData(p)).toBe(true);
    expect(bytesToHex(auxData(p))).toBe(encodePacked(["uint256", "bytes32"], [5n, blk]));
  });
});

describe("EV and winProbRat (vectors 11.C)", () => {
  it("EV", () => {
    expect(ticketEV(1000n, M / 2n).floatString(0)).toBe("500");
    expect(ticketEV(1000n, 0n).floatString(0)).toBe("0");
    expect(ticketEV(1000n, M).floatString(0)).toBe("1000");
    expect(ticketEV(0n, M / 2n).floatString(0)).toBe("0");
    expect(ticketEV(1000n, M).toString()).toBe("1000/1");
  });
  it("winProbRat", () => {
    expect(winProbRat(M / 2n).floatString(1)).toBe("0.5");
    expect(winProbRat(M / 4n).floatString(2)).toBe("0.25");
    expect(winProbRat(0n).floatString(0)).toBe("0");
    expect(winProbRat(M).floatString(0)).toBe("1");
  });
});

describe("winning check (section 2, vector 11.E)", () => {
  const sig = stringToBytes("foo");
  it("keccak(sig ‖ uint256(rand)) compared strictly with winProb", () => {
    const h = BigInt(bytesToHex(keccak_256(new Uint8Array([...sig, ...new Uint8Array(31), 10]))));
    expect(h).toBe(0x212117bf5ec66d480ab4d362ce2f1ae19d6b5df92c5f8633bcecf62bfaea6810n);
    expect(isWinningTicket(sig, 10n, 0n)).toBe(false);
    expect(isWinningTicket(sig, 10n, M)).toBe(true);
    expect(isWinningTicket(sig, 10n, h)).toBe(false);
    expect(isWinningTicket(sig, 10n, h + 1n)).toBe(true);
    expect(isWinningTicket(bytesToHex(sig), 10n, h + 1n)).toBe(true);
  });
  it("recipientRandHash of 10 and of 5", () => {
    expect(recipientRandHashOf(10n)).toBe(
      "0xc65a7bb8d6351c1cf70c95a316cc6a92839c986682d98bc35f958f4883f9d2a8",
    );
    expect(recipientRandHashOf(5n)).toBe(
      "0x036b6384b5eca791c62761152d0c79bb0604c104a5fb6f4eb0703f3154bb3db0",
    );
  });
});

// Section 11.N: the end-to-end vector.
const SENDER: Address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const RECIPIENT: Address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const WIN_PROB_N = 771947261582107969490473233391252719021799897770937093596383896000000000n;
const RAND_N = 0x2c4502db41b80ff79eb138d36940af26b26ddccb42dfd9dd50f9e12d41c65634n;
const params: TicketParams = {
  recipient: RECIPIENT,
  faceValue: 1200000000000000n,
  winProb: WIN_PROB_N,
  recipientRandHash: "0x087dbb67c2d1ef95d1b9621260af13030fea8777ef4e9912e5e33e4e64ec7c13",
  seed: BigInt(keccak256(stringToBytes("seed"))),
  expirationBlock: 20000040n,
  pricePerPixel: Rat.of(101n, 100n),
  expirationParams: { creationRound: 3500n, creationRoundBlockHash: keccak256(stringToBytes("block")) },
};

describe("end-to-end vector 11.N", () => {
  it("hashes nonce 1 and 2 tickets", () => {
    expect(ticketHash(newTicket(params, params.expirationParams, SENDER, 1))).toBe(
      "0x730a17849744bcc5c2e0dce8dca95b98d92232e92cafdf67bfb5d80d461ccc13",
    );
    expect(ticketHash(newTicket(params, params.expirationParams, SENDER, 2))).toBe(
      "0xfd4fcdb5039eba6f2ff70fc3a2a0699f4aa13f2637d795f92c72303540f01c75",
    );
    const always = { ...params, winProb: M };
    expect(ticketHash(newTicket(always, params.expirationParams, SENDER, 1))).toBe(
      "0x27377e1f23ed724e0b2b2c9bd869d0e49b412b5678269974151a8a88dd36a09b",
    );
  });

  it("decides the wins as the vector says", () => {
    const s1: Hex =
      "0xa2465d1ee49145e7fb38e30cb6d16d34d9ba214645b55ae3c602b3fef7bfc1470e03ce5834ff1616baacc1e6a9c0811c794ec0e7a64681f782b1b42d0eac96341b";
    const s2: Hex =
      "0x6e413bb4dfa353c02ddc16237b4893d9b59ed397cdd003b2660829852ee9a0111c63b1e0a8150a5e9226c607141c0fe0255f2657c5acfadd610863cb20d954141c";
    const s3: Hex =
      "0x717188fc603f082d1af106ca6d2324a7e55180bbba8eed2ee7b695207184aa7e2431bdebcbbb9f1572fcebd50bc38cc29fab5bc11e4c1b1c3e1b82f4015537801b";
    expect(isWinningTicket(s1, RAND_N, WIN_PROB_N)).toBe(false);
    expect(isWinningTicket(s2, RAND_N, WIN_PROB_N)).toBe(false);
    expect(isWinningTicket(s3, RAND_N, M)).toBe(true);
  });

  it("encodes redeemWinningTicket calldata byte for byte", () => {
    const ticket = newTicket({ ...params, winProb: M }, params.expirationParams, SENDER, 1);
    const sig: Hex =
      "0x717188fc603f082d1af106ca6d2324a7e55180bbba8eed2ee7b695207184aa7e2431bdebcbbb9f1572fcebd50bc38cc29fab5bc11e4c1b1c3e1b82f4015537801b";
    const args = redeemWinningTicketArgs({ ...ticket, sig, recipientRand: RAND_N });
    expect(args[0].senderNonce).toBe(1n);
    const data = encodeFunctionData({ abi: ticketBrokerAbi, functionName: "redeemWinningTicket", args });
    expect(data.slice(0, 10)).toBe("0xec8b3cb6");
    expect((data.length - 2) / 2).toBe(548);
    expect(keccak256(data)).toBe("0xb614874e80db2e03766c8118d824c9a75334ce5564b673ea129c4794831b1735");
  });
});

describe("batches (TicketBatch.Tickets)", () => {
  it("expands one ticket per sender params entry with the batch's round, expiry and price", () => {
    const batch: TicketBatch = {
      params,
      expirationParams: { creationRound: 3501n, creationRoundBlockHash: FOO },
      sender: SENDER,
      senderParams: [
        { senderNonce: 1, sig: "0x01" },
        { senderNonce: 2, sig: "0x02" },
        { senderNonce: 3, sig: "0x03" },
      ],
    };
    const out = batchTickets(batch);
    expect(out.map((t) => [t.ticket.senderNonce, t.sig])).toEqual([
      [1, "0x01"],
      [2, "0x02"],
      [3, "0x03"],
    ]);
    for (const { ticket } of out) {
      expect(ticket).toMatchObject({
        recipient: RECIPIENT,
        sender: SENDER,
        faceValue: params.faceValue,
        winProb: params.winProb,
        recipientRandHash: params.recipientRandHash,
        creationRound: 3501n,
        creationRoundBlockHash: FOO,
        paramsExpirationBlock: 20000040n,
      });
      expect(Rat.from(ticket.pricePerPixel).toString()).toBe("101/100");
    }
    expect(batchTickets({ ...batch, senderParams: [] })).toEqual([]);
  });
});

describe("minimalBytes (big.Int.Bytes)", () => {
  it("is empty for 0 and unpadded otherwise", () => {
    expect(minimalBytes(0n).length).toBe(0);
    expect(bytesToHex(minimalBytes(1n))).toBe("0x01");
    expect(bytesToHex(minimalBytes(0x100n))).toBe("0x0100");
    expect(bytesToHex(minimalBytes(-0x65n))).toBe("0x65");
  });
});
