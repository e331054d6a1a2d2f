import type { Abi, Hex } from "viem";
import bondingManager from "../../contracts/build/BondingManager.json" with { type: "json" };
import controller from "../../contracts/build/Controller.json" with { type: "json" };
import livepeerToken from "../../contracts/build/LivepeerToken.json" with { type: "json" };
import livepeerTokenFaucet from "../../contracts/build/LivepeerTokenFaucet.json" with { type: "json" };
import minter from "../../contracts/build/Minter.json" with { type: "json" };
import roundsManager from "../../contracts/build/RoundsManager.json" with { type: "json" };
import serviceRegistry from "../../contracts/build/ServiceRegistry.json" with { type: "json" };
import ticketBroker from "../../contracts/build/TicketBroker.json" with { type: "json" };

/** One compiled devnet contract (contracts/build/<Name>.json, made by scripts/compile-contracts.mjs). */
export interface DevnetArtifact {
  contractName: string;
  abi: Abi;
  bytecode: Hex;
  compiler: string;
}

/** The devnet contracts, by the name they are registered under in the Controller. */
export const DEVNET_CONTRACT_NAMES = [
  "Controller",
  "LivepeerToken",
  "LivepeerTokenFaucet",
  "Minter",
  "RoundsManager",
  "BondingManager",
  "TicketBroker",
  "ServiceRegistry",
] as const;

/** A devnet contract name. */
export type DevnetContractName = (typeof DEVNET_CONTRACT_NAMES)[number];

// JSON imports are typed with plain strings where viem wants literal ABI types; the files are
// generated from solc's output, so the shape is right by construction.
function artifact(json: unknown): DevnetArtifact {
  return json as DevnetArtifact;
}

/** The compiled devnet contracts (ABI and creation bytecode), for deploying a local chain. */
export const devnetArtifacts: Readonly<Record<DevnetContractName, DevnetArtifact>> = {
  Controller: artifact(controller),
  LivepeerToken: artifact(livepeerToken),
  LivepeerTokenFaucet: artifact(livepeerTokenFaucet),
  Minter: artifact(minter),
  RoundsManager: artifact(roundsManager),
  BondingManager: artifact(bondingManager),
  TicketBroker: artifact(ticketBroker),
  ServiceRegistry: artifact(serviceRegistry),
};
