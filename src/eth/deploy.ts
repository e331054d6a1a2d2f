import {
  type Abi,
  type Account,
  type Address,
  type Chain,
  getContractAddress,
  type Hash,
  type Hex,
  keccak256,
  type PublicClient,
  parseEther,
  type Transport,
  toBytes,
  toHex,
  type WalletClient,
} from "viem";
import { roundsManagerAbi } from "./abis.js";
import { type DevnetContractName, devnetArtifacts } from "./artifacts.js";

/**
 * Protocol parameters of a devnet. The defaults are the livepeer/protocol "gethDev" values that
 * go-livepeer's devtool chain uses (rounds of 50 blocks, 10% lock window, 7-round unbonding,
 * 50 active transcoders, 50-round ticket unlock, tickets valid 2 rounds).
 */
export interface DevnetParams {
  /** Blocks per round. */
  roundLength: number;
  /** Lock window at the end of a round, parts per million of roundLength. */
  roundLockAmount: number;
  /** Rounds between unbond and withdrawStake. */
  unbondingPeriod: number;
  /** Size of the active transcoder pool. */
  numActiveTranscoders: number;
  /** Rounds between a ticket sender's unlock and withdraw. */
  unlockPeriod: number;
  /** Rounds a ticket stays redeemable after its creation round. */
  ticketValidityPeriod: number;
  /** Minter inflation per round, parts per million of the supply. */
  inflation: number;
  /** Step by which inflation moves each round toward the target bonding rate. */
  inflationChange: number;
  /** Target bonding rate, parts per million. */
  targetBondingRate: number;
  /** LPT (wei) the faucet sends per request. */
  faucetRequestAmount: bigint;
  /** Hours between two requests of one (non-whitelisted) address. */
  faucetRequestWaitHours: number;
  /** LPT (wei) minted to the faucet. */
  faucetSupply: bigint;
  /** LPT (wei) minted to the deployer, for funding accounts directly. */
  deployerSupply: bigint;
}

/** go-livepeer's devnet ("gethDev") parameters. */
export const DEVNET_PARAMS: Readonly<DevnetParams> = {
  roundLength: 50,
  roundLockAmount: 100_000,
  unbondingPeriod: 7,
  numActiveTranscoders: 50,
  unlockPeriod: 50,
  ticketValidityPeriod: 2,
  inflation: 137,
  inflationChange: 3,
  targetBondingRate: 500_000,
  faucetRequestAmount: parseEther("10"),
  faucetRequestWaitHours: 1,
  faucetSupply: parseEther("6343700"),
  deployerSupply: parseEther("500000"),
};

/** What deployDevnet made: every contract's address and the block the last setup transaction landed in. */
export interface DevnetDeployment {
  controller: Address;
  contracts: Record<DevnetContractName, Address>;
  deployer: Address;
  params: DevnetParams;
  blockNumber: bigint;
}

/** The accounts and client deployDevnet works through; `wallet` signs (the Controller owner). */
export interface DevnetClients {
  wallet: WalletClient<Transport, Chain, Account>;
  publicClient: PublicClient;
}

/** Options of deployDevnet. */
export interface DeployDevnetOptions {
  params?: Partial<DevnetParams>;
  /** Unpause the Controller at the end (default true); the Controller starts paused. */
  unpause?: boolean;
  /** Called once per step, for progress lines. */
  onStep?: (step: string) => void;
}

/** The Controller key of a contract name: keccak256 of its UTF-8 bytes. */
export function contractId(name: string): Hex {
  return keccak256(toBytes(name));
}

const NO_COMMIT = "0x0000000000000000000000000000000000000000" as const;
// Explicit gas limits: no estimation round trips, and transactions that depend on earlier ones
// can be sent before those are mined (a chain with interval mining). anvil charges only gas used.
const DEPLOY_GAS = 6_000_000n;
const CALL_GAS = 500_000n;

/**
 * Deploys the devnet contract set, registers it in a new Controller (TicketBroker also as
 * "JobsManager", the name the Minter checks), sets the parameters, grants the Minter the LPT
 * minter role, funds the faucet and the deployer, and unpauses. Mirrors livepeer/protocol's
 * deploy script for gethDev, without proxies, governance or the treasury.
 */
export async function deployDevnet(
  clients: DevnetClients,
  options: DeployDevnetOptions = {},
): Promise<DevnetDeployment> {
  const { wallet, publicClient } = clients;
  const params: DevnetParams = { ...DEVNET_PARAMS, ...options.params };
  const step = options.onStep ?? (() => {});
  const deployer = wallet.account.address;
  let nonce = await publicClient.getTransactionCount({ address: deployer, blockTag: "pending" });
  const sent: { label: string; hash: Hash }[] = [];

  const deploy = async (name: DevnetContractName, args: readonly unknown[]): Promise<Address> => {
    const { abi, bytecode } = devnetArtifacts[name];
    const address = getContractAddress({ from: deployer, nonce: BigInt(nonce) });
    const hash = await wallet.deployContract({ abi, bytecode, args, nonce: nonce++, gas: DEPLOY_GAS });
    sent.push({ label: `deploy ${name}`, hash });
    return address;
  };
  const call = async (
    label: string,
    address: Address,
    abi: Abi,
    functionName: string,
    args: readonly unknown[],
  ) => {
    const hash = await wallet.writeContract({
      address,
      abi,
      functionName,
      args,
      nonce: nonce++,
      gas: CALL_GAS,
    });
    sent.push({ label, hash });
  };

  step("deploying contracts");
  const controller = await deploy("Controller", []);
  const contracts: Record<DevnetContractName, Address> = {
    Controller: controller,
    Minter: await deploy("Minter", [
      controller,
      BigInt(params.inflation),
      BigInt(params.inflationChange),
      BigInt(params.targetBondingRate),
    ]),
    LivepeerToken: await deploy("LivepeerToken", []),
    TicketBroker: await deploy("TicketBroker", [controller]),
    BondingManager: await deploy("BondingManager", [controller]),
    RoundsManager: await deploy("RoundsManager", [controller]),
    ServiceRegistry: await deploy("ServiceRegistry", [controller]),
    LivepeerTokenFaucet: zeroAddress(),
  };
  contracts.LivepeerTokenFaucet = await deploy("LivepeerTokenFaucet", [
    contracts.LivepeerToken,
    params.faucetRequestAmount,
    BigInt(params.faucetRequestWaitHours),
  ]);

  step("registering contracts in the Controller");
  const controllerAbi = devnetArtifacts.Controller.abi;
  const registrations: [string, Address][] = [
    ["Minter", contracts.Minter],
    ["LivepeerToken", contracts.LivepeerToken],
    ["TicketBroker", contracts.TicketBroker],
    ["JobsManager", contracts.TicketBroker],
    ["BondingManager", contracts.BondingManager],
    ["RoundsManager", contracts.RoundsManager],
    ["ServiceRegistry", contracts.ServiceRegistry],
    ["LivepeerTokenFaucet", contracts.LivepeerTokenFaucet],
  ];
  for (const [name, address] of registrations) {
    await call(`register ${name}`, controller, controllerAbi, "setContractInfo", [
      contractId(name),
      address,
      NO_COMMIT,
    ]);
  }

  step("setting protocol parameters");
  const bm = devnetArtifacts.BondingManager.abi;
  const rm = devnetArtifacts.RoundsManager.abi;
  const tb = devnetArtifacts.TicketBroker.abi;
  await call("setUnbondingPeriod", contracts.BondingManager, bm, "setUnbondingPeriod", [
    BigInt(params.unbondingPeriod),
  ]);
  await call("setNumActiveTranscoders", contracts.BondingManager, bm, "setNumActiveTranscoders", [
    BigInt(params.numActiveTranscoders),
  ]);
  await call("setRoundLength", contracts.RoundsManager, rm, "setRoundLength", [BigInt(params.roundLength)]);
  await call("setRoundLockAmount", contracts.RoundsManager, rm, "setRoundLockAmount", [
    BigInt(params.roundLockAmount),
  ]);
  await call("setUnlockPeriod", contracts.TicketBroker, tb, "setUnlockPeriod", [BigInt(params.unlockPeriod)]);
  await call("setTicketValidityPeriod", contracts.TicketBroker, tb, "setTicketValidityPeriod", [
    BigInt(params.ticketValidityPeriod),
  ]);

  step("minting the initial LPT supply");
  const lpt = devnetArtifacts.LivepeerToken.abi;
  const minterRole = keccak256(toBytes("MINTER_ROLE"));
  await call("grant MINTER_ROLE to the Minter", contracts.LivepeerToken, lpt, "grantRole", [
    minterRole,
    contracts.Minter,
  ]);
  await call("grant MINTER_ROLE to the deployer", contracts.LivepeerToken, lpt, "grantRole", [
    minterRole,
    deployer,
  ]);
  await call("mint the faucet supply", contracts.LivepeerToken, lpt, "mint", [
    contracts.LivepeerTokenFaucet,
    params.faucetSupply,
  ]);
  await call("mint the deployer supply", contracts.LivepeerToken, lpt, "mint", [
    deployer,
    params.deployerSupply,
  ]);

  if (options.unpause ?? true) {
    step("unpausing the Controller");
    await call("unpause", controller, controllerAbi, "unpause", []);
  }

  let blockNumber = 0n;
  for (const { label, hash } of sent) {
    const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    if (receipt.status !== "success") throw new Error(`devnet deployment failed at "${label}" (tx ${hash})`);
    blockNumber = receipt.blockNumber;
  }
  return { controller, contracts, deployer, params, blockNumber };
}

/**
 * Mines blocks (anvil_mine) up to the start of the next round and initialises it; returns that round.
 * For local chains only: it relies on anvil's mining RPC.
 */
export async function advanceToNextRound(clients: DevnetClients, roundsManager: Address): Promise<bigint> {
  const { wallet, publicClient } = clients;
  const read = <F extends "roundLength" | "currentRoundStartBlock" | "currentRound">(functionName: F) =>
    publicClient.readContract({ address: roundsManager, abi: roundsManagerAbi, functionName });
  const [length, start, block] = await Promise.all([
    read("roundLength"),
    read("currentRoundStartBlock"),
    // No cache: viem reuses a block number for a polling interval, and one stale block would
    // make the round's first block be skipped.
    publicClient.getBlockNumber({ cacheTime: 0 }),
  ]);
  // eth_call runs against the latest mined block, so mine up to the block before the next round
  // starts: the initializeRound transaction itself lands in the first block of the round.
  const toMine = start + length - block - 1n;
  // anvil_mine is not in viem's public RPC schema, hence the untyped request.
  const request = publicClient.request as unknown as (args: {
    method: string;
    params: unknown[];
  }) => Promise<unknown>;
  if (toMine > 0n) await request({ method: "anvil_mine", params: [toHex(toMine)] });
  const hash = await wallet.writeContract({
    address: roundsManager,
    abi: roundsManagerAbi,
    functionName: "initializeRound",
    gas: CALL_GAS,
  });
  const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  if (receipt.status !== "success") throw new Error(`initializeRound failed (tx ${hash})`);
  return read("currentRound");
}

function zeroAddress(): Address {
  return "0x0000000000000000000000000000000000000000";
}
