import type { Address, Hex } from "viem";

/** devnet.json as `lp-node devnet` documents it for CI scripts, written out here rather than imported. */
export interface DevnetDoc {
  chainId: number;
  rpcUrl: string;
  controller: Address;
  contracts: Record<string, Address>;
  roundLength: number;
  accounts: { address: Address; privateKey: Hex; keystore: string; password: string }[];
  flags: string[];
}
