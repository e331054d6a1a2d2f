import { type Address, encodeAbiParameters, encodeEventTopics, type Hex, zeroAddress } from "viem";
import { describe, expect, it } from "vitest";
import { roundsManagerAbi, ticketBrokerAbi } from "../../../src/eth/abis.js";
import {
  createEventDecoder,
  createLogDecoder,
  type RawLog,
  WATCHED_EVENTS,
  WATCHED_TOPICS,
} from "../../../src/eth/events.js";

const BROKER: Address = "0x00000000000000000000000000000000000000b0";
const ROUNDS: Address = "0x00000000000000000000000000000000000000a0";
const OTHER: Address = "0x00000000000000000000000000000000000000ee";
const SENDER: Address = "0x1111111111111111111111111111111111111111";

function rawLog(address: Address, topics: Hex[], data: Hex): RawLog {
  return {
    address,
    topics,
    data,
    blockNumber: "0x7",
    blockHash: `0x${"ab".repeat(32)}`,
    transactionHash: `0x${"cd".repeat(32)}`,
    transactionIndex: "0x0",
    logIndex: "0x2",
  };
}

function depositFunded(address: Address, amount: bigint): RawLog {
  const topics = encodeEventTopics({
    abi: ticketBrokerAbi,
    eventName: "DepositFunded",
    args: { sender: SENDER },
  });
  return rawLog(address, topics as Hex[], encodeAbiParameters([{ type: "uint256" }], [amount]));
}

describe("watched event topics", () => {
  it("are go-livepeer's 13, with the deployed contracts' topic0 values", () => {
    expect(WATCHED_EVENTS.map((e) => e.eventName).sort()).toEqual(
      [
        "Unbond",
        "Rebond",
        "WithdrawStake",
        "NewRound",
        "DepositFunded",
        "ReserveFunded",
        "Withdrawal",
        "WinningTicketTransfer",
        "Unlock",
        "UnlockCancelled",
        "TranscoderActivated",
        "TranscoderDeactivated",
        "ServiceURIUpdate",
      ].sort(),
    );
    expect(new Set(WATCHED_TOPICS).size).toBe(13);
    const topic = (name: string) => WATCHED_EVENTS.find((e) => e.eventName === name)!.topic;
    expect(topic("NewRound")).toBe("0x22f2fc17c5daf07db2379b3a03a8ef20a183f761097a58fce219c8a14619e786");
    // The reference gives the others as prefix…suffix.
    const known: [string, string, string][] = [
      ["DepositFunded", "0x5159e237", "413f"],
      ["ReserveFunded", "0xb52b99b9", "c850"],
      ["Withdrawal", "0xdf273cb6", "0deb"],
      ["WinningTicketTransfer", "0x8b87351a", "649c"],
      ["Unlock", "0xf7870c5b", "2004"],
      ["UnlockCancelled", "0xfa044b7b", "78e5"],
      ["TranscoderActivated", "0x65d72d78", "65e9"],
      ["TranscoderDeactivated", "0xfee3e693", "995c"],
      ["Unbond", "0x2d5d98d1", "4a06"],
      ["Rebond", "0x9f5b64cc", "0c17"],
      ["WithdrawStake", "0x1340f1a8", "dd2e"],
      ["ServiceURIUpdate", "0xfbb63068", "653a4c"],
    ];
    for (const [name, head, tail] of known) {
      expect(topic(name).startsWith(head), name).toBe(true);
      expect(topic(name).endsWith(tail), name).toBe(true);
    }
  });
});

describe("event decoders", () => {
  it("decode their contract's logs with position and removed flag", () => {
    const decode = createEventDecoder("TicketBroker", BROKER);
    const event = decode({ ...depositFunded(BROKER, 5n), removed: true });
    expect(event).toMatchObject({
      contract: "TicketBroker",
      eventName: "DepositFunded",
      args: { sender: SENDER, amount: 5n },
      address: BROKER,
      blockNumber: 7n,
      logIndex: 2,
      removed: true,
    });
  });

  it("drop logs from any other address, and events they do not watch", () => {
    expect(createEventDecoder("TicketBroker", BROKER)(depositFunded(OTHER, 5n))).toBeNull();
    // A watched topic of another contract is not this decoder's business.
    const newRound = rawLog(
      BROKER,
      encodeEventTopics({ abi: roundsManagerAbi, eventName: "NewRound", args: { round: 3n } }) as Hex[],
      encodeAbiParameters([{ type: "bytes32" }], [`0x${"11".repeat(32)}`]),
    );
    expect(createEventDecoder("TicketBroker", BROKER)(newRound)).toBeNull();
    expect(createEventDecoder("RoundsManager", ROUNDS)({ ...newRound, address: ROUNDS })).toMatchObject({
      eventName: "NewRound",
      args: { round: 3n },
    });
  });

  it("drop a log of the right address and topic whose data does not fit the ABI", () => {
    const bad = { ...depositFunded(BROKER, 1n), data: "0x1234" as Hex };
    expect(createEventDecoder("TicketBroker", BROKER)(bad)).toBeNull();
  });

  it("a log decoder over several contracts routes by address; unknown contracts are dropped", () => {
    const decode = createLogDecoder({ TicketBroker: BROKER, RoundsManager: zeroAddress });
    expect(decode(depositFunded(BROKER, 9n))?.contract).toBe("TicketBroker");
    expect(decode(depositFunded(OTHER, 9n))).toBeNull();
    expect(createLogDecoder({})(depositFunded(BROKER, 9n))).toBeNull();
  });
});
