import {
  type AbiEvent,
  type Address,
  type ContractEventArgsFromTopics,
  type ContractEventName,
  decodeEventLog,
  type Hex,
  toEventSelector,
} from "viem";
import { bondingManagerAbi, roundsManagerAbi, serviceRegistryAbi, ticketBrokerAbi } from "./abis.js";

// The events go-livepeer's watchers react to (go-livepeer eth/watchers/topics.go), by contract.
// Anything else the contracts emit is not fetched at all: eth_getLogs asks for these topic0s only.
const WATCHED = {
  BondingManager: {
    abi: bondingManagerAbi,
    events: ["Unbond", "Rebond", "WithdrawStake", "TranscoderActivated", "TranscoderDeactivated"],
  },
  RoundsManager: { abi: roundsManagerAbi, events: ["NewRound"] },
  TicketBroker: {
    abi: ticketBrokerAbi,
    events: [
      "DepositFunded",
      "ReserveFunded",
      "Withdrawal",
      "WinningTicketTransfer",
      "Unlock",
      "UnlockCancelled",
    ],
  },
  ServiceRegistry: { abi: serviceRegistryAbi, events: ["ServiceURIUpdate"] },
} as const;

type Watched = typeof WATCHED;
/** A contract whose events the block watcher fetches and decodes. */
export type WatchedContract = keyof Watched;
/** The names of the events watched on contract C. */
export type WatchedEventName<C extends WatchedContract> = Watched[C]["events"][number];

/** The contracts whose events are watched. */
export const WATCHED_CONTRACTS = Object.keys(WATCHED) as WatchedContract[];

/** Where a log sits on the chain, and whether a reorg took it back (removed). */
export interface LogPosition {
  address: Address;
  blockNumber: bigint;
  blockHash: Hex;
  transactionHash: Hex;
  transactionIndex: number;
  logIndex: number;
  /** True when the block holding this log left the canonical chain: undo what the log did. */
  removed: boolean;
}

type ArgsOf<C extends WatchedContract, N extends string> =
  N extends ContractEventName<Watched[C]["abi"]> ? ContractEventArgsFromTopics<Watched[C]["abi"], N> : never;

/** One watched event, decoded: a union discriminated by `contract` and `eventName`. */
export type WatchedEvent = {
  [C in WatchedContract]: {
    [N in WatchedEventName<C>]: LogPosition & { contract: C; eventName: N; args: ArgsOf<C, N> };
  }[WatchedEventName<C>];
}[WatchedContract];

/** A log as eth_getLogs returns it (hex quantities); the form the watcher fetches and stores. */
export interface RawLog {
  address: Hex;
  topics: Hex[];
  data: Hex;
  blockNumber: Hex;
  blockHash: Hex;
  transactionHash: Hex;
  transactionIndex: Hex;
  logIndex: Hex;
  removed?: boolean;
}

function eventAbi(contract: WatchedContract, name: string): AbiEvent {
  const item = (WATCHED[contract].abi as readonly { type: string; name?: string }[]).find(
    (entry) => entry.type === "event" && entry.name === name,
  );
  if (!item) throw new Error(`event ${contract}.${name} is missing from the ABI`);
  return item as AbiEvent;
}

/** Every watched event with its topic0, in go-livepeer's order of contracts. */
export const WATCHED_EVENTS: readonly { contract: WatchedContract; eventName: string; topic: Hex }[] =
  WATCHED_CONTRACTS.flatMap((contract) =>
    WATCHED[contract].events.map((eventName) => ({
      contract,
      eventName,
      topic: toEventSelector(eventAbi(contract, eventName)),
    })),
  );

/** The 13 topic0 values go-livepeer's block watcher asks eth_getLogs for (no address filter). */
export const WATCHED_TOPICS: readonly Hex[] = WATCHED_EVENTS.map((e) => e.topic);

/** Decodes the logs of one contract's watched events; `null` for any other log. */
export type EventDecoder = (log: RawLog) => WatchedEvent | null;

/**
 * A decoder for one contract at one address (go-livepeer's per-watcher EventDecoder): logs from
 * any other address are dropped, since the topic-only filter also returns other contracts' logs
 * with the same event signatures (any ERC-20 style clone, a second registry).
 */
export function createEventDecoder(contract: WatchedContract, address: Address): EventDecoder {
  const own = address.toLowerCase();
  const topics = new Map<string, AbiEvent>(
    WATCHED[contract].events.map((name) => {
      const abi = eventAbi(contract, name);
      return [toEventSelector(abi), abi];
    }),
  );
  return (log) => {
    if (log.address.toLowerCase() !== own) return null;
    const abi = log.topics[0] === undefined ? undefined : topics.get(log.topics[0].toLowerCase());
    if (!abi) return null;
    let decoded: { eventName: string; args: unknown };
    try {
      decoded = decodeEventLog({
        abi: [abi],
        data: log.data,
        topics: log.topics as [Hex, ...Hex[]],
        strict: true,
      });
    } catch {
      // A log from our contract that does not fit its ABI cannot be acted on; drop it.
      return null;
    }
    return {
      contract,
      eventName: decoded.eventName,
      args: decoded.args,
      address,
      blockNumber: BigInt(log.blockNumber),
      blockHash: log.blockHash,
      transactionHash: log.transactionHash,
      transactionIndex: Number(log.transactionIndex),
      logIndex: Number(log.logIndex),
      removed: log.removed === true,
    } as WatchedEvent;
  };
}

/** The addresses of the watched contracts; a contract left out has all its logs dropped. */
export type WatchedAddresses = Partial<Record<WatchedContract, Address>>;

/** Decodes a log with whichever contract's decoder claims it; `null` when none does. */
export function createLogDecoder(addresses: WatchedAddresses): EventDecoder {
  const decoders = WATCHED_CONTRACTS.flatMap((contract) => {
    const address = addresses[contract];
    return address ? [createEventDecoder(contract, address)] : [];
  });
  return (log) => {
    for (const decode of decoders) {
      const event = decode(log);
      if (event) return event;
    }
    return null;
  };
}
