import { createServer, type Socket } from "node:net";
import {
  type Account,
  createPublicClient,
  createWalletClient,
  http,
  type PublicClient,
  parseEther,
  zeroAddress,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bondingManagerAbi, livepeerTokenAbi, serviceRegistryAbi } from "../../../src/eth/abis.js";
import { ChainClient } from "../../../src/eth/ChainClient.js";
import { controllerKey } from "../../../src/eth/contracts.js";
import {
  advanceToNextRound,
  contractId,
  type DevnetDeployment,
  deployDevnet,
} from "../../../src/eth/deploy.js";
import { EthError } from "../../../src/eth/errors.js";
import { type ChainConfig, chainConfigFromOptions } from "../../../src/eth/networks.js";
import { TxManager } from "../../../src/eth/TxManager.js";
import { ANVIL_KEYS, type Anvil, startAnvil } from "../../helpers/anvil.js";

const [deployerKey, orchKey] = ANVIL_KEYS;
const deployer = privateKeyToAccount(deployerKey);
const orch = privateKeyToAccount(orchKey);

let anvil: Anvil;
let publicClient: PublicClient;
let dev: DevnetDeployment;

function config(overrides: { network?: string; ethUrl?: string; ethController?: string } = {}): ChainConfig {
  const { config, problems } = chainConfigFromOptions({
    network: overrides.network ?? "devnet",
    ethUrl: overrides.ethUrl ?? anvil.url,
    ethController: overrides.ethController ?? dev.controller,
    blockPollingInterval: 0.05,
    transactionTimeoutMs: 10_000,
  });
  expect(problems).toEqual([]);
  return config!;
}

async function deployOn(url: string): Promise<DevnetDeployment> {
  const wallet = createWalletClient({ account: deployer, chain: foundry, transport: http(url) });
  const pc = createPublicClient({ chain: foundry, transport: http(url) }) as PublicClient;
  return deployDevnet({ wallet, publicClient: pc });
}

function txManager(client: ChainClient, account: Account & { signTransaction: unknown }): TxManager {
  return new TxManager(
    {
      chainId: client.chainId,
      maxGasPrice: null,
      gasLimit: null,
      txTimeoutMs: 10_000,
      maxReplacements: 1,
      pollIntervalMs: 20,
    },
    { publicClient: client.publicClient, account: account as never },
  );
}

async function expectEthError(promise: Promise<unknown>, code: string): Promise<EthError> {
  const err = await promise.then(
    () => {
      throw new Error(`expected ${code}, got success`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EthError);
  expect((err as EthError).code, (err as Error).message).toBe(code);
  // One line, for the operator.
  expect((err as Error).message).not.toContain("\n");
  return err as EthError;
}

beforeAll(async () => {
  anvil = await startAnvil();
  publicClient = createPublicClient({ chain: foundry, transport: http(anvil.url) }) as PublicClient;
  dev = await deployOn(anvil.url);
});

afterAll(async () => {
  await anvil?.stop();
});

describe("ChainClient on a devnet", () => {
  it("resolves every contract through the Controller", async () => {
    const client = await ChainClient.connect({ config: config() });
    expect(client.chainId).toBe(31337);
    expect(client.addresses).toEqual({
      Controller: dev.controller,
      LivepeerToken: dev.contracts.LivepeerToken,
      BondingManager: dev.contracts.BondingManager,
      TicketBroker: dev.contracts.TicketBroker,
      RoundsManager: dev.contracts.RoundsManager,
      Minter: dev.contracts.Minter,
      ServiceRegistry: dev.contracts.ServiceRegistry,
      LivepeerTokenFaucet: dev.contracts.LivepeerTokenFaucet,
      AIServiceRegistry: null,
    });
    // The keys are the protocol's (keccak256 of the name), e.g. LivepeerToken's from reference 7.1.
    expect(controllerKey("LivepeerToken")).toBe(
      "0x3443e257065fe41dd0e4d1f5a1b73a22a62e300962b57f30cddf41d0f8273ba7",
    );
    expect(controllerKey("JobsManager")).toBe(contractId("JobsManager"));
  });

  it("reads rounds, balances, senders and the transcoder pool", async () => {
    const client = await ChainClient.connect({ config: config() });
    const wallet = createWalletClient({ account: deployer, chain: foundry, transport: http(anvil.url) });
    const round = await advanceToNextRound({ wallet, publicClient }, dev.contracts.RoundsManager);

    const info = await client.roundInfo();
    expect(info.currentRound).toBe(round);
    expect(info.roundLength).toBe(50n);
    expect(info.initialized).toBe(true);
    expect(info.locked).toBe(false);
    expect(info.lastInitializedRound).toBe(round);
    expect(await client.currentRound()).toBe(round);
    expect(await client.blockHashForRound(round)).not.toBe(`0x${"0".repeat(64)}`);
    expect(await client.ethBalance(orch.address)).toBe(parseEther("10000"));
    expect(await client.tokenBalance(deployer.address)).toBe(dev.params.deployerSupply);
    expect(await client.senderInfo(orch.address)).toEqual({
      deposit: 0n,
      withdrawRound: 0n,
      reserve: { fundsRemaining: 0n, claimedInCurrentRound: 0n },
    });
    expect((await client.transcoderInfo(orch.address)).status).toBe("Not Registered");
    expect(await client.transcoderPool()).toEqual([]);

    // Register an orchestrator with the node's own transaction manager, then read it back.
    const deployerTx = txManager(client, deployer);
    const orchTx = txManager(client, orch);
    const stake = parseEther("100");
    await deployerTx.writeContract({
      address: client.addresses.LivepeerToken,
      abi: livepeerTokenAbi,
      functionName: "transfer",
      args: [orch.address, stake],
    });
    await orchTx.writeContract({
      address: client.addresses.LivepeerToken,
      abi: livepeerTokenAbi,
      functionName: "approve",
      args: [client.addresses.BondingManager, stake],
    });
    expect(await client.allowance(orch.address, client.addresses.BondingManager)).toBe(stake);
    await orchTx.writeContract({
      address: client.addresses.BondingManager,
      abi: bondingManagerAbi,
      functionName: "bond",
      args: [stake, orch.address],
    });
    await orchTx.writeContract({
      address: client.addresses.BondingManager,
      abi: bondingManagerAbi,
      functionName: "transcoder",
      args: [100_000n, 50_000n],
    });
    await orchTx.writeContract({
      address: client.addresses.ServiceRegistry,
      abi: serviceRegistryAbi,
      functionName: "setServiceURI",
      args: ["https://127.0.0.1:8935"],
    });

    const t = await client.transcoderInfo(orch.address);
    expect(t).toMatchObject({
      status: "Registered",
      rewardCut: 100_000n,
      feeShare: 50_000n,
      totalStake: stake,
      activationRound: round + 1n,
      lastRewardRound: 0n,
      cumulativeRewards: 0n,
      cumulativeFees: 0n,
      lastFeeRound: 0n,
      active: false,
      serviceURI: "https://127.0.0.1:8935",
    });
    expect(await client.serviceURI(orch.address)).toBe("https://127.0.0.1:8935");
    expect(await client.transcoderPool()).toEqual([{ address: orch.address, totalStake: stake }]);
    expect(await client.delegatorInfo(orch.address)).toMatchObject({
      bondedAmount: stake,
      fees: 0n,
      delegateAddress: orch.address,
      delegatedAmount: stake,
      startRound: round + 1n,
      nextUnbondingLockId: 0n,
    });
    await expectEthError(client.serviceURI(orch.address, true), "ETH_CONTRACT_NOT_REGISTERED");
  });

  it("refuses a chain whose id is not the named network's", async () => {
    const err = await expectEthError(
      ChainClient.connect({ config: config({ network: "arbitrum-one-mainnet" }) }),
      "ETH_CHAIN_ID_MISMATCH",
    );
    expect(err.message).toContain("42161");
    expect(err.message).toContain("31337");
  });

  it("refuses a Controller address with no code", async () => {
    const err = await expectEthError(
      ChainClient.connect({
        config: config({ ethController: "0x000000000000000000000000000000000000dEaD" }),
      }),
      "ETH_CONTROLLER_NO_CODE",
    );
    expect(err.message).toContain("0x000000000000000000000000000000000000dEaD");
  });

  it("refuses a Controller that misses a protocol contract", async () => {
    // A second devnet whose Controller then forgets BondingManager.
    const empty = await deployOn(anvil.url);
    const wallet = createWalletClient({ account: deployer, chain: foundry, transport: http(anvil.url) });
    const controllerAbi = [
      {
        type: "function",
        name: "setContractInfo",
        stateMutability: "nonpayable",
        inputs: [
          { name: "_id", type: "bytes32" },
          { name: "_contractAddress", type: "address" },
          { name: "_gitCommitHash", type: "bytes20" },
        ],
        outputs: [],
      },
    ] as const;
    const hash = await wallet.writeContract({
      address: empty.controller,
      abi: controllerAbi,
      functionName: "setContractInfo",
      args: [contractId("BondingManager"), zeroAddress, "0x0000000000000000000000000000000000000000"],
    });
    await publicClient.waitForTransactionReceipt({ hash });
    const err = await expectEthError(
      ChainClient.connect({ config: config({ ethController: empty.controller }) }),
      "ETH_CONTRACT_NOT_REGISTERED",
    );
    expect(err.message).toContain("BondingManager");
  });

  it("refuses a contract that is not a Controller", async () => {
    const err = await expectEthError(
      ChainClient.connect({ config: config({ ethController: dev.contracts.LivepeerToken }) }),
      "ETH_CONTRACT_NOT_REGISTERED",
    );
    expect(err.message).toContain("is not a Livepeer Controller");
  });

  it("connects over a WebSocket URL too", async () => {
    const client = await ChainClient.connect({
      config: config({ ethUrl: anvil.url.replace("http:", "ws:") }),
    });
    try {
      expect(client.addresses.BondingManager).toBe(dev.contracts.BondingManager);
      expect(await client.currentChainId()).toBe(31337);
      expect(await client.blockNumber()).toBeGreaterThan(0n);
    } finally {
      await client.close();
    }
  });

  it("says clearly when the RPC does not answer at start", async () => {
    const port = await freePort();
    const err = await expectEthError(
      ChainClient.connect({ config: config({ ethUrl: `http://127.0.0.1:${port}/secret-api-key` }) }),
      "ETH_RPC_UNAVAILABLE",
    );
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.message).not.toContain("secret-api-key");
  });

  it("gives up on an RPC that accepts connections but never answers", async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const err = await expectEthError(
        ChainClient.connect({ config: config({ ethUrl: `http://127.0.0.1:${port}` }), rpcTimeoutMs: 300 }),
        "ETH_RPC_UNAVAILABLE",
      );
      expect(err.message).toContain("did not answer");
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe("an RPC that goes away and comes back", () => {
  it("fails reads and sends with typed errors while down, and works again after a restart on the same port", async () => {
    const first = await startAnvil();
    const port = first.port;
    let second: Anvil | undefined;
    try {
      const deployed = await deployOn(first.url);
      const client = await ChainClient.connect({
        config: config({ ethUrl: first.url, ethController: deployed.controller }),
        rpcTimeoutMs: 2_000,
      });
      const tx = txManager(client, orch);
      expect(await client.currentRound()).toBeGreaterThanOrEqual(0n);

      first.kill();
      await first.stop();

      const readErr = await expectEthError(client.currentRound(), "ETH_RPC_UNAVAILABLE");
      expect(readErr.message).toContain("RoundsManager.currentRound");
      expect(readErr.retryable).toBe(true);
      await expectEthError(client.ethBalance(orch.address), "ETH_RPC_UNAVAILABLE");
      await expectEthError(
        tx.writeContract({
          address: client.addresses.LivepeerToken,
          abi: livepeerTokenAbi,
          functionName: "approve",
          args: [client.addresses.BondingManager, 1n],
        }),
        "ETH_RPC_UNAVAILABLE",
      );

      // A fresh chain on the same port; the same deployer and nonces give the same addresses.
      second = await startAnvil({ port });
      const redeployed = await deployOn(`http://127.0.0.1:${port}`);
      expect(redeployed.controller).toBe(deployed.controller);
      expect(await client.currentRound()).toBeGreaterThanOrEqual(0n);
      expect(await client.ethBalance(orch.address)).toBe(parseEther("10000"));
      const sent = await tx.writeContract({
        address: client.addresses.LivepeerToken,
        abi: livepeerTokenAbi,
        functionName: "approve",
        args: [client.addresses.BondingManager, 1n],
      });
      expect(sent.nonce).toBe(0);
      expect(sent.receipt.status).toBe("success");
    } finally {
      await first.stop();
      await second?.stop();
    }
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** anvil on a given port (startAnvil always picks a free one), resolved once it listens. */
