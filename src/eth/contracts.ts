import {
  type Address,
  type GetContractReturnType,
  getContract,
  type Hex,
  keccak256,
  type PublicClient,
  toBytes,
  zeroAddress,
} from "viem";
import {
  bondingManagerAbi,
  controllerAbi,
  livepeerTokenAbi,
  livepeerTokenFaucetAbi,
  minterAbi,
  roundsManagerAbi,
  serviceRegistryAbi,
  ticketBrokerAbi,
} from "./abis.js";
import { EthError, EthRevertError, toEthError } from "./errors.js";

/** The Controller key of a contract name: keccak256 of its UTF-8 bytes (livepeer/protocol's contractId). */
export function controllerKey(name: string): Hex {
  return keccak256(toBytes(name));
}

/** Addresses of the protocol contracts the node uses, as the Controller registers them. */
export interface ContractAddresses {
  Controller: Address;
  LivepeerToken: Address;
  BondingManager: Address;
  TicketBroker: Address;
  RoundsManager: Address;
  Minter: Address;
  ServiceRegistry: Address;
  /** Only on test networks. */
  LivepeerTokenFaucet: Address | null;
  /** The AI ServiceRegistry (same ABI as ServiceRegistry), where the network has one. */
  AIServiceRegistry: Address | null;
}

/** Names that must resolve to a non-zero address for the node to start. */
const REQUIRED = [
  "LivepeerToken",
  "BondingManager",
  "TicketBroker",
  "RoundsManager",
  "Minter",
  "ServiceRegistry",
] as const;

/** Options of resolveContracts. */
export interface ResolveOptions {
  /** The AI ServiceRegistry address of the network preset; otherwise it is looked up in the Controller. */
  aiServiceRegistry?: Address | undefined;
}

/**
 * Reads the protocol contract addresses from Controller.getContract(keccak256(name)), as go-livepeer's
 * eth/client.go setContracts does. TicketBroker falls back to its older name "JobsManager". A required
 * name with no address gives ETH_CONTRACT_NOT_REGISTERED; RPC faults give ETH_RPC_*.
 */
export async function resolveContracts(
  client: PublicClient,
  controller: Address,
  options: ResolveOptions = {},
): Promise<ContractAddresses> {
  const lookup = async (name: string): Promise<Address | null> => {
    try {
      const address = await client.readContract({
        address: controller,
        abi: controllerAbi,
        functionName: "getContract",
        args: [controllerKey(name)],
      });
      return address === zeroAddress ? null : address;
    } catch (err) {
      const e = toEthError(err, `Controller.getContract("${name}")`);
      // A contract that is not a Controller rejects the call: say which flag is wrong.
      if (e instanceof EthRevertError) {
        throw new EthError(
          "ETH_CONTRACT_NOT_REGISTERED",
          `-ethController ${controller} is not a Livepeer Controller (getContract reverted)`,
          { cause: err },
        );
      }
      throw e;
    }
  };
  const names = [...REQUIRED, "JobsManager", "LivepeerTokenFaucet", "AIServiceRegistry"] as const;
  const found = await Promise.all(names.map((n) => lookup(n)));
  const byName = new Map<string, Address | null>(names.map((n, i) => [n, found[i] ?? null]));
  if (byName.get("TicketBroker") === null) byName.set("TicketBroker", byName.get("JobsManager") ?? null);
  const missing = REQUIRED.filter((n) => byName.get(n) === null);
  if (missing.length > 0) {
    throw new EthError(
      "ETH_CONTRACT_NOT_REGISTERED",
      `Controller ${controller} has no address for ${missing.join(", ")}: is -ethController the Livepeer Controller of this chain?`,
    );
  }
  const get = (n: (typeof REQUIRED)[number]) => byName.get(n) as Address;
  return {
    Controller: controller,
    LivepeerToken: get("LivepeerToken"),
    BondingManager: get("BondingManager"),
    TicketBroker: get("TicketBroker"),
    RoundsManager: get("RoundsManager"),
    Minter: get("Minter"),
    ServiceRegistry: get("ServiceRegistry"),
    LivepeerTokenFaucet: byName.get("LivepeerTokenFaucet") ?? null,
    AIServiceRegistry: options.aiServiceRegistry ?? byName.get("AIServiceRegistry") ?? null,
  };
}

type Handle<A extends readonly unknown[]> = GetContractReturnType<A, PublicClient>;

/** Typed read handles (viem contract instances) over the resolved addresses. */
export interface ContractHandles {
  controller: Handle<typeof controllerAbi>;
  livepeerToken: Handle<typeof livepeerTokenAbi>;
  bondingManager: Handle<typeof bondingManagerAbi>;
  ticketBroker: Handle<typeof ticketBrokerAbi>;
  roundsManager: Handle<typeof roundsManagerAbi>;
  minter: Handle<typeof minterAbi>;
  serviceRegistry: Handle<typeof serviceRegistryAbi>;
  livepeerTokenFaucet: Handle<typeof livepeerTokenFaucetAbi> | null;
  aiServiceRegistry: Handle<typeof serviceRegistryAbi> | null;
}

/** Builds the typed handles for a resolved address set. */
export function contractHandles(client: PublicClient, addresses: ContractAddresses): ContractHandles {
  return {
    controller: getContract({ address: addresses.Controller, abi: controllerAbi, client }),
    livepeerToken: getContract({ address: addresses.LivepeerToken, abi: livepeerTokenAbi, client }),
    bondingManager: getContract({ address: addresses.BondingManager, abi: bondingManagerAbi, client }),
    ticketBroker: getContract({ address: addresses.TicketBroker, abi: ticketBrokerAbi, client }),
    roundsManager: getContract({ address: addresses.RoundsManager, abi: roundsManagerAbi, client }),
    minter: getContract({ address: addresses.Minter, abi: minterAbi, client }),
    serviceRegistry: getContract({ address: addresses.ServiceRegistry, abi: serviceRegistryAbi, client }),
    livepeerTokenFaucet:
      addresses.LivepeerTokenFaucet === null
        ? null
        : getContract({ address: addresses.LivepeerTokenFaucet, abi: livepeerTokenFaucetAbi, client }),
    aiServiceRegistry:
      addresses.AIServiceRegistry === null
        ? null
        : getContract({ address: addresses.AIServiceRegistry, abi: serviceRegistryAbi, client }),
  };
}
