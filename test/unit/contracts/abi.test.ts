import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  type AbiEvent,
  type AbiFunction,
  type AbiParameter,
  toEventSelector,
  toFunctionSelector,
} from "viem";
import { describe, expect, it } from "vitest";
import { abis } from "../../../src/eth/abis.js";
import { DEVNET_CONTRACT_NAMES, devnetArtifacts } from "../../../src/eth/artifacts.js";
import { contractId } from "../../../src/eth/deploy.js";

const root = join(import.meta.dirname, "..", "..", "..");
type Entry = AbiFunction | AbiEvent | { type: "error"; name: string; inputs: readonly AbiParameter[] };

// A canonical type string that keeps what selectors drop: tuple layouts and indexed flags.
function typeOf(p: AbiParameter): string {
  if (p.type.startsWith("tuple") && "components" in p) {
    return `(${p.components.map(typeOf).join(",")})${p.type.slice(5)}`;
  }
  return p.type;
}
function shape(e: Entry): string {
  const ins = e.inputs.map((p) => `${typeOf(p)}${"indexed" in p && p.indexed ? " indexed" : ""}`).join(",");
  if (e.type === "function")
    return `${e.name}(${ins}) ${e.stateMutability} -> (${e.outputs.map(typeOf).join(",")})`;
  return `${e.type} ${e.name}(${ins})`;
}
function selector(e: Entry): string {
  if (e.type === "event") return toEventSelector(e);
  if (e.type === "function") return toFunctionSelector(e);
  return toFunctionSelector(`function ${e.name}(${e.inputs.map(typeOf).join(",")})`);
}
function entries(abi: readonly unknown[]): Entry[] {
  return abi.filter((e): e is Entry => ["function", "event", "error"].includes((e as Entry).type));
}

describe("contracts-abi and the compiled devnet contracts", () => {
  const abiFiles = readdirSync(join(root, "contracts-abi")).filter((f) => f.endsWith(".json"));

  it("has one ABI file per devnet contract", () => {
    expect(abiFiles.map((f) => f.replace(/\.json$/, "")).sort()).toEqual([...DEVNET_CONTRACT_NAMES].sort());
  });

  it.each(abiFiles)(
    "every entry of contracts-abi/%s exists in the compiled contract with the same selector",
    (file) => {
      const name = file.replace(/\.json$/, "") as (typeof DEVNET_CONTRACT_NAMES)[number];
      const wanted = entries(JSON.parse(readFileSync(join(root, "contracts-abi", file), "utf8")));
      const compiled = entries(devnetArtifacts[name].abi);
      const bySelector = new Map(compiled.map((e) => [`${e.type}:${selector(e)}`, e]));
      expect(wanted.length).toBeGreaterThan(0);
      for (const entry of wanted) {
        const match = bySelector.get(`${entry.type}:${selector(entry)}`);
        expect(match, `${name}: ${shape(entry)} missing from the devnet contract`).toBeDefined();
        // Same selector is not enough: outputs, mutability and indexed flags decide how results and logs decode.
        expect(shape(match!)).toBe(shape(entry));
      }
    },
  );

  it("src/eth/abis.ts carries exactly contracts-abi/", () => {
    for (const file of abiFiles) {
      const name = file.replace(/\.json$/, "") as keyof typeof abis;
      expect(abis[name]).toEqual(JSON.parse(readFileSync(join(root, "contracts-abi", file), "utf8")));
    }
  });
});

// Selectors and topics of the deployed Arbitrum One contracts, as listed in the protocol fact sheet.
const ARBITRUM_FUNCTIONS: [keyof typeof abis, string, string][] = [
  ["TicketBroker", "fundDepositAndReserve", "0x511f4073"],
  ["TicketBroker", "fundDeposit", "0x6caa736b"],
  ["TicketBroker", "fundReserve", "0x6f9c3c8f"],
  ["TicketBroker", "unlock", "0xa69df4b5"],
  ["TicketBroker", "cancelUnlock", "0xc2c4c2c8"],
  ["TicketBroker", "withdraw", "0x3ccfd60b"],
  ["TicketBroker", "redeemWinningTicket", "0xec8b3cb6"],
  ["TicketBroker", "usedTickets", "0x59a515ba"],
  ["TicketBroker", "getSenderInfo", "0xe1a589da"],
  ["TicketBroker", "unlockPeriod", "0x20d3a0b4"],
  ["TicketBroker", "claimedReserve", "0x4ac826da"],
  ["TicketBroker", "getTicketHash", "0xb03fa864"],
  ["TicketBroker", "claimableReserve", "0x81779f38"],
  ["TicketBroker", "getReserveInfo", "0x5b6333eb"],
  ["TicketBroker", "isUnlockInProgress", "0x121cdcc2"],
  ["TicketBroker", "ticketValidityPeriod", "0x856a2cf8"],
  ["TicketBroker", "fundDepositAndReserveFor", "0x989f789c"],
  ["Controller", "getContract", "0xe16c7d98"],
  ["Controller", "paused", "0x5c975abb"],
  ["RoundsManager", "initializeRound", "0xd4807fb2"],
  ["RoundsManager", "currentRound", "0x8a19c8bc"],
  ["RoundsManager", "currentRoundLocked", "0x6841f253"],
  ["RoundsManager", "lastInitializedRound", "0x8807f36e"],
  ["RoundsManager", "blockHashForRound", "0x3aa4add4"],
  ["RoundsManager", "currentRoundInitialized", "0x219bc76c"],
  ["RoundsManager", "currentRoundStartBlock", "0x8fa148f2"],
  ["RoundsManager", "roundLength", "0x8b649b94"],
  ["RoundsManager", "roundLockAmount", "0xf5b490d5"],
  ["BondingManager", "transcoder", "0x43d3461a"],
  ["BondingManager", "bondWithHint", "0x6bd9add4"],
  ["BondingManager", "unbondWithHint", "0x9500ed9b"],
  ["BondingManager", "rebondWithHint", "0x7fc4606f"],
  ["BondingManager", "rebondFromUnbondedWithHint", "0x0584a373"],
  ["BondingManager", "withdrawStake", "0x25d5971f"],
  ["BondingManager", "withdrawFees", "0xad3b1b47"],
  ["BondingManager", "claimEarnings", "0x24b1babf"],
  ["BondingManager", "rewardWithHint", "0x81871056"],
  ["BondingManager", "reward", "0x228cb733"],
  ["BondingManager", "getTranscoder", "0x5dce9948"],
  ["BondingManager", "transcoderStatus", "0x8b2f1652"],
  ["BondingManager", "transcoderTotalStake", "0x9ef9df94"],
  ["BondingManager", "isActiveTranscoder", "0x08802374"],
  ["BondingManager", "getTranscoderEarningsPoolForRound", "0x24454fc4"],
  ["BondingManager", "getDelegator", "0xa64ad595"],
  ["BondingManager", "delegatorStatus", "0x1544fc67"],
  ["BondingManager", "pendingStake", "0x9d0b2c7a"],
  ["BondingManager", "pendingFees", "0xf595f1cc"],
  ["BondingManager", "getDelegatorUnbondingLock", "0x412f83b6"],
  ["BondingManager", "getTranscoderPoolMaxSize", "0x5a2a75a9"],
  ["BondingManager", "getTranscoderPoolSize", "0x2a4e0d55"],
  ["BondingManager", "getFirstTranscoderInPool", "0x88a6c749"],
  ["BondingManager", "getNextTranscoderInPool", "0x235c9603"],
  ["BondingManager", "getTotalBonded", "0x5c50c356"],
  ["BondingManager", "unbondingPeriod", "0x6cf6d675"],
  ["Minter", "currentMintableTokens", "0x9ae6309a"],
  ["Minter", "inflation", "0xbe0522e0"],
  ["Minter", "inflationChange", "0xa7c83514"],
  ["Minter", "targetBondingRate", "0x821b771f"],
  ["Minter", "getGlobalTotalSupply", "0x5507442d"],
  ["Minter", "depositETH", "0xf6326fb3"],
  ["Minter", "trustedWithdrawETH", "0x20283da9"],
  ["LivepeerToken", "transfer", "0xa9059cbb"],
  ["LivepeerToken", "approve", "0x095ea7b3"],
  ["LivepeerToken", "allowance", "0xdd62ed3e"],
  ["LivepeerToken", "balanceOf", "0x70a08231"],
  ["LivepeerToken", "totalSupply", "0x18160ddd"],
  ["LivepeerTokenFaucet", "request", "0x338cdca1"],
  ["LivepeerTokenFaucet", "nextValidRequest", "0x207f5ce6"],
  ["ServiceRegistry", "setServiceURI", "0x5f11301b"],
  ["ServiceRegistry", "getServiceURI", "0x214c2a4b"],
];

// The fact sheet gives most topics as first 4 and last 2 bytes; NewRound in full.
const ARBITRUM_EVENTS: [keyof typeof abis, string, string][] = [
  ["TicketBroker", "DepositFunded", "0x5159e237…413f"],
  ["TicketBroker", "ReserveFunded", "0xb52b99b9…c850"],
  ["TicketBroker", "Withdrawal", "0xdf273cb6…0deb"],
  ["TicketBroker", "WinningTicketTransfer", "0x8b87351a…649c"],
  ["TicketBroker", "Unlock", "0xf7870c5b…2004"],
  ["TicketBroker", "UnlockCancelled", "0xfa044b7b…78e5"],
  ["TicketBroker", "WinningTicketRedeemed", "0xc389eb51…5ee7"],
  ["TicketBroker", "ReserveClaimed", "0x5c2b3947…ea98"],
  ["Controller", "SetContractInfo", "0xf9a6cf51…cd2d7"],
  ["RoundsManager", "NewRound", "0x22f2fc17c5daf07db2379b3a03a8ef20a183f761097a58fce219c8a14619e786"],
  ["BondingManager", "TranscoderActivated", "0x65d72d78…65e9"],
  ["BondingManager", "TranscoderDeactivated", "0xfee3e693…995c"],
  ["BondingManager", "Unbond", "0x2d5d98d1…4a06"],
  ["BondingManager", "Rebond", "0x9f5b64cc…0c17"],
  ["BondingManager", "WithdrawStake", "0x1340f1a8…dd2e"],
  ["ServiceRegistry", "ServiceURIUpdate", "0xfbb63068…653a4c"],
];

describe("selectors and topics match the deployed Arbitrum One contracts", () => {
  it.each(ARBITRUM_FUNCTIONS)("%s.%s has selector %s", (contract, name, expected) => {
    const fns = (abis[contract] as readonly Entry[]).filter((e) => e.type === "function" && e.name === name);
    expect(fns).toHaveLength(1);
    expect(selector(fns[0]!)).toBe(expected);
  });

  it.each(ARBITRUM_EVENTS)("%s.%s has topic %s", (contract, name, expected) => {
    const events = (abis[contract] as readonly Entry[]).filter((e) => e.type === "event" && e.name === name);
    expect(events).toHaveLength(1);
    const topic = selector(events[0]!);
    const [head, tail] = expected.split("…");
    expect(topic.startsWith(head!)).toBe(true);
    expect(topic.endsWith(tail ?? "")).toBe(true);
    if (tail === undefined) expect(topic).toBe(expected);
  });

  it("uses the deployed tuple layouts for the ticket and getSenderInfo", () => {
    const redeem = abis.TicketBroker.find((e) => e.type === "function" && e.name === "redeemWinningTicket");
    expect(shape(redeem as Entry)).toBe(
      "redeemWinningTicket((address,address,uint256,uint256,uint256,bytes32,bytes),bytes,uint256) nonpayable -> ()",
    );
    const info = abis.TicketBroker.find((e) => e.type === "function" && e.name === "getSenderInfo");
    expect(shape(info as Entry)).toBe("getSenderInfo(address) view -> ((uint256,uint256),(uint256,uint256))");
  });
});

describe("Controller ids", () => {
  it.each([
    ["LivepeerToken", "0x3443e257065fe41dd0e4d1f5a1b73a22a62e300962b57f30cddf41d0f8273ba7"],
    ["ServiceRegistry", "0x79c5d2a4a07754f4bacb0ffba18ac516030ee589ebc89db8627680c4d4cdb230"],
    ["BondingManager", "0x2517d59a36a86548e38734e8ab416f42afff4bca78706a66ad65750dae7f9e37"],
    ["TicketBroker", "0xbd1aa3e8d2464256d7fd3dcf645c16418d5d8c51d971f1ad7d57e7b1b5eee239"],
    ["RoundsManager", "0xe8438ea868df48e3fc21f2f087b993c9b1837dc0f6135064161ce7d7a1701fe8"],
    ["Minter", "0x6e58ad548d72b425ea94c15f453bf26caddb061d82b2551db7fdd3cefe0e9940"],
    ["LivepeerTokenFaucet", "0x5f8d58050c9f37ce30acebdd762a0683b7f2bb88ded15cdd64e219c282603664"],
    ["JobsManager", "0x3d7456535a3155a46f15a2313c3915bd07137ffdc56464f4fc9a82bae7215c2d"],
  ])("contractId(%s) = %s", (name, id) => {
    expect(contractId(name)).toBe(id);
  });
});
