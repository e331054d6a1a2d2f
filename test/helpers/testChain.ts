import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  type Abi,
  createPublicClient,
  createWalletClient,
  type Hex,
  hexToBytes,
  http,
  type PublicClient,
  parseEther,
  type TransactionReceipt,
  toHex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { abis } from "../../src/eth/abis.js";
import { advanceToNextRound, type DevnetDeployment, deployDevnet } from "../../src/eth/deploy.js";
import { encryptKeystore, LIGHT_SCRYPT, writeKeystoreFile } from "../../src/eth/keystore.js";
import { ANVIL_KEYS, type Anvil, startAnvil } from "./anvil.js";
import { tempDir } from "./tmp.js";

/** A fresh anvil with the devnet contracts deployed and round 1 initialised, and ways to drive it. */
export interface TestChain {
  anvil: Anvil;
  publicClient: PublicClient;
  dev: DevnetDeployment;
  /** Send a contract call from the account of `key` and require success. */
  send(
    key: Hex,
    name: keyof typeof abis,
    fn: string,
    args?: unknown[],
    value?: bigint,
  ): Promise<TransactionReceipt>;
  /** Mine to the next round and initialise it (as the deployer). */
  nextRound(): Promise<bigint>;
  /** The node flags for this chain: -network devnet, -ethUrl, -ethController. */
  flags(): string[];
  stop(): Promise<void>;
}

/** Start anvil, deploy the devnet contracts as ANVIL_KEYS[0] and initialise round 1. */
export async function startTestChain(): Promise<TestChain> {
  const anvil = await startAnvil();
  const transport = http(anvil.url);
  const publicClient = createPublicClient({ chain: foundry, transport, pollingInterval: 50 }) as PublicClient;
  const walletFor = (key: Hex) =>
    createWalletClient({ chain: foundry, transport, account: privateKeyToAccount(key) });
  const deployer = walletFor(ANVIL_KEYS[0]);
  try {
    const dev = await deployDevnet({ wallet: deployer, publicClient });
    const nextRound = () =>
      advanceToNextRound({ wallet: deployer, publicClient }, dev.contracts.RoundsManager);
    await nextRound();
    return {
      anvil,
      publicClient,
      dev,
      async send(key, name, fn, args = [], value) {
        const hash = await walletFor(key).writeContract({
          address: dev.contracts[name],
          abi: abis[name] as Abi,
          functionName: fn,
          args,
          value,
        } as never);
        const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 });
        if (receipt.status !== "success") throw new Error(`${name}.${fn} reverted`);
        return receipt;
      },
      nextRound,
      flags: () => ["-network", "devnet", "-ethUrl", anvil.url, "-ethController", dev.controller],
      stop: () => anvil.stop(),
    };
  } catch (err) {
    await anvil.stop();
    throw err;
  }
}

/** A data directory whose keystore holds `key` (light scrypt) under `password`, as an operator's would. */
export async function keystoreDataDir(key: Hex, password: string, prefix = "lp-chain-"): Promise<string> {
  const datadir = tempDir(prefix);
  mkdirSync(join(datadir, "keystore"));
  const json = await encryptKeystore(hexToBytes(key), password, { scrypt: LIGHT_SCRYPT });
  await writeKeystoreFile(join(datadir, "keystore"), json);
  return datadir;
}

/** Give `address` a balance of `wei` ETH on anvil (default 100 ETH), e.g. a generated key's account. */
export async function setBalance(
  chain: TestChain,
  address: string,
  wei: bigint = parseEther("100"),
): Promise<void> {
  const rpc = chain.publicClient.request as unknown as (a: {
    method: string;
    params: unknown[];
  }) => Promise<unknown>;
  await rpc({ method: "anvil_setBalance", params: [address, toHex(wei)] });
}
