import { type Abi, type Address, type Hex, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, afterEach } from "vitest";
import { abis } from "../../src/eth/abis.js";
import { ANVIL_KEYS } from "./anvil.js";
import { GATEWAY_ON_PORT_0, type LpNodeProcess, stopAllLpNodes } from "./lpNode.js";
import { removeClips } from "./media.js";
import { startTestChain, type TestChain } from "./testChain.js";
import { waitFor } from "./waitFor.js";

// The set-up of paid tests on a devnet: orchestrators registered, senders funded, and the
// arguments of nodes that pay and get paid with tickets there.

/** The stake an orchestrator registers with unless a test says otherwise: 1000 LPT. */
export const ORCH_STAKE = parseEther("1000");

/** How an orchestrator registers: stake, cut and share in go-livepeer's parts per million, URI. */
export interface RegisterOptions {
  /** LPT the deployer gives it and it bonds to itself; default {@link ORCH_STAKE}. */
  stake?: bigint;
  /** The reward cut it keeps; default 0. */
  rewardCut?: bigint;
  /** The fee share it gives delegators; default 1 000 000 (all of it). */
  feeShare?: bigint;
  /** Its ServiceRegistry URI; none set when omitted. */
  uri?: string;
}

/**
 * Make the account of `key` an orchestrator, active from the next round: LPT from the deployer,
 * approve, bond to itself, transcoder(cut, share) and, with a URI, setServiceURI. Returns its address.
 */
export async function registerOrchestrator(
  chain: TestChain,
  key: Hex,
  options: RegisterOptions = {},
): Promise<Address> {
  const stake = options.stake ?? ORCH_STAKE;
  const address = privateKeyToAccount(key).address;
  await chain.send(ANVIL_KEYS[0], "LivepeerToken", "transfer", [address, stake]);
  await chain.send(key, "LivepeerToken", "approve", [chain.dev.contracts.BondingManager, stake]);
  await chain.send(key, "BondingManager", "bond", [stake, address]);
  await chain.send(key, "BondingManager", "transcoder", [
    options.rewardCut ?? 0n,
    options.feeShare ?? 1_000_000n,
  ]);
  if (options.uri) await chain.send(key, "ServiceRegistry", "setServiceURI", [options.uri]);
  return address;
}

/** Fund the TicketBroker deposit and reserve of `key`'s account (it pays both, in ETH). */
export async function fundSender(
  chain: TestChain,
  key: Hex,
  deposit: bigint,
  reserve: bigint,
): Promise<void> {
  await chain.send(key, "TicketBroker", "fundDepositAndReserve", [deposit, reserve], deposit + reserve);
}

/**
 * The hooks of a file whose tests share one chain and spawn nodes on it: every lp-node killed after
 * each test (a failed test leaves none to the next), the clips and the chain (`chain()`, started
 * by the file's beforeAll) after the file.
 */
export function stopNodesAndChain(chain: () => TestChain | undefined): void {
  afterEach(async () => {
    await stopAllLpNodes();
  });
  afterAll(async () => {
    removeClips();
    await chain()?.stop();
  });
}

/** The accounts startPaidChain sets up. */
export interface PaidChainSetup {
  /** Key of the orchestrator registered with the defaults of registerOrchestrator (no URI). */
  orchestrator: Hex;
  /** Key of the sender (gateway or remote signer) funded with `deposit` and `reserve`. */
  sender: Hex;
  deposit: bigint;
  reserve: bigint;
}

/**
 * A test chain with one orchestrator registered and one sender funded, moved on one round so that
 * the orchestrator is active and its reserve allocation counts.
 */
export async function startPaidChain(setup: PaidChainSetup): Promise<TestChain> {
  const chain = await startTestChain();
  try {
    await registerOrchestrator(chain, setup.orchestrator);
    await fundSender(chain, setup.sender, setup.deposit, setup.reserve);
    await chain.nextRound();
    return chain;
  } catch (err) {
    await chain.stop();
    throw err;
  }
}

/** The TicketBroker's getSenderInfo of `sender` now: its deposit and what is left of its reserve. */
async function senderInfo(chain: TestChain, sender: Address): Promise<{ deposit: bigint; reserve: bigint }> {
  const [info, reserve] = (await chain.publicClient.readContract({
    address: chain.dev.contracts.TicketBroker,
    abi: abis.TicketBroker as Abi,
    functionName: "getSenderInfo",
    args: [sender],
  })) as [{ deposit: bigint }, { fundsRemaining: bigint }];
  return { deposit: info.deposit, reserve: reserve.fundsRemaining };
}

/** The TicketBroker deposit of `sender` now. */
export async function senderDeposit(chain: TestChain, sender: Address): Promise<bigint> {
  return (await senderInfo(chain, sender)).deposit;
}

/** What is left of the TicketBroker reserve of `sender` now. */
export async function senderReserve(chain: TestChain, sender: Address): Promise<bigint> {
  return (await senderInfo(chain, sender)).reserve;
}

/** How many WinningTicketRedeemed events the TicketBroker emitted after block `block`. */
export async function redemptionsSince(chain: TestChain, block: bigint): Promise<number> {
  const logs = await chain.publicClient.getContractEvents({
    address: chain.dev.contracts.TicketBroker,
    abi: abis.TicketBroker as Abi,
    eventName: "WinningTicketRedeemed",
    fromBlock: block + 1n,
  });
  return logs.length;
}

/** How a node runs on the test chain as the account of a keystore. */
export interface AccountFlagOptions {
  /** The keystore's password. */
  password: string;
  /** The data directory holding the keystore; left out when the caller passes it another way. */
  datadir?: string;
  /** Add a CLI listener on port 0; default true. */
  cli?: boolean;
}

/** Chain flags, -ethPassword, 1 s block polling, -datadir and (by default) -cliAddr on port 0. */
export function chainNodeFlags(chain: TestChain, options: AccountFlagOptions): string[] {
  return [
    ...chain.flags(),
    "-ethPassword",
    options.password,
    "-blockPollingInterval",
    "1",
    ...(options.datadir === undefined ? [] : ["-datadir", options.datadir]),
    ...(options.cli === false ? [] : ["-cliAddr", "127.0.0.1:0"]),
  ];
}

/**
 * An orchestrator's ticket flags under which every ticket of `face` wins: its EV one wei under the
 * face value (a sender refuses EV >= face value), so winProb is all but 2^256 − 1.
 */
export function winningTicketFlags(face: bigint): string[] {
  return ["-ticketEV", (face - 1n).toString(), "-maxFaceValue", face.toString()];
}

/** A sender's (gateway's, remote signer's) limits for tickets of `face`: one ticket's EV, ten in all. */
export function senderEVFlags(face: bigint): string[] {
  return ["-maxTicketEV", face.toString(), "-maxTotalEV", (face * 10n).toString()];
}

/** What a spawned on-chain node is given beyond its chain account. */
export interface PaidNodeOptions {
  /** The keystore's password. */
  password: string;
  /** Face value of its tickets (see winningTicketFlags and senderEVFlags); none when omitted. */
  face?: bigint;
  /** More flags, after the role's own. */
  extra?: string[];
}

/**
 * Arguments of an orchestrator+transcoder on a devnet as the account in `datadir`: TLS port and
 * CLI on port 0, no availability check, 1 wei a pixel, every ticket of `face` winning.
 */
export function onChainOrchestratorArgs(
  chain: TestChain,
  datadir: string,
  options: PaidNodeOptions,
): string[] {
  return [
    "--mode",
    "orchestrator,transcoder",
    "-serviceAddr",
    "127.0.0.1:0",
    "-startupAvailabilityCheck=false",
    "-pricePerUnit",
    "1",
    ...(options.face === undefined ? [] : winningTicketFlags(options.face)),
    ...(options.extra ?? []),
    ...chainNodeFlags(chain, { password: options.password, datadir }),
  ];
}

/**
 * Arguments of a gateway on a devnet paying from the account in `datadir`: HTTP, RTMP and CLI on
 * port 0, tickets of `face`, and `orchAddr` (host:port) when given (on-chain discovery otherwise).
 */
export function onChainGatewayArgs(
  chain: TestChain,
  datadir: string,
  options: PaidNodeOptions & { orchAddr?: string },
): string[] {
  return [
    ...GATEWAY_ON_PORT_0,
    ...(options.orchAddr === undefined ? [] : ["-orchAddr", options.orchAddr]),
    ...(options.face === undefined ? [] : senderEVFlags(options.face)),
    ...(options.extra ?? []),
    ...chainNodeFlags(chain, { password: options.password, datadir, cli: false }),
  ];
}

/**
 * Arguments of a remote signer on a devnet paying from the account in `datadir`: its API and CLI on
 * port 0, -remoteDiscovery of the orchestrator at `orchAddr` (host:port), callers checked by the
 * webhook at `webhookUrl`, tickets of `face`.
 */
export function onChainSignerArgs(
  chain: TestChain,
  datadir: string,
  options: PaidNodeOptions & { orchAddr: string; webhookUrl: string },
): string[] {
  return [
    "--mode",
    "remote-signer",
    "-remoteDiscovery",
    "-orchAddr",
    options.orchAddr,
    "-httpAddr",
    "127.0.0.1:0",
    "-remoteSignerWebhookUrl",
    options.webhookUrl,
    ...(options.face === undefined ? [] : senderEVFlags(options.face)),
    ...(options.extra ?? []),
    ...chainNodeFlags(chain, { password: options.password, datadir }),
  ];
}

/** Count and total face value of tickets in one state, as a node's /status shows them. */
export interface TicketCounts {
  Count: number;
  FaceValue: string;
}

/** The `Tickets` part of a node's /status: its winning tickets by redemption state. */
export type Tickets = Record<"Pending" | "Submitted" | "Redeemed" | "Failed", TicketCounts>;

/** The winning tickets a spawned node's /status shows now. */
export async function ticketsOf(node: LpNodeProcess): Promise<Tickets> {
  return (await node.status<{ Tickets: Tickets }>()).Tickets;
}

/** Wait (up to 60 s) until `node` shows `count` tickets redeemed. */
export async function waitForRedeemed(node: LpNodeProcess, count: number, what: string): Promise<void> {
  await waitFor(async () => (await ticketsOf(node)).Redeemed?.Count === count, {
    what,
    timeoutMs: 60_000,
    intervalMs: 200,
  });
}

/** Wait until every one of `nodes` has seen block `block` (its /status Round.lastSeenBlock). */
export async function waitForBlockSeen(nodes: LpNodeProcess[], block: bigint, what: string): Promise<void> {
  const seen = async (node: LpNodeProcess) =>
    BigInt((await node.status<{ Round: { lastSeenBlock: string } }>()).Round.lastSeenBlock) >= block;
  await waitFor(
    async () => {
      for (const node of nodes) if (!(await seen(node))) return false;
      return true;
    },
    { what, timeoutMs: 20_000, intervalMs: 100 },
  );
}
