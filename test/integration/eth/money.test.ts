import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  createPublicClient,
  createWalletClient,
  hexToBytes,
  http,
  type PublicClient,
  parseEther,
  parseGwei,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ticketBrokerAbi } from "../../../src/eth/abis.js";
import { Chain } from "../../../src/eth/Chain.js";
import { advanceToNextRound, type DevnetDeployment, deployDevnet } from "../../../src/eth/deploy.js";
import { EthRevertError } from "../../../src/eth/errors.js";
import { encryptKeystore, LIGHT_SCRYPT, writeKeystoreFile } from "../../../src/eth/keystore.js";
import {
  cancelUnlock,
  fundDeposit,
  fundDepositAndReserve,
  MoneyError,
  moneyRoutes,
  parseAmount,
  senderInfo,
  ticketBrokerParams,
  unlock,
  withdraw,
} from "../../../src/eth/money.js";
import { chainConfigFromOptions } from "../../../src/eth/networks.js";
import { CliServer } from "../../../src/http/cliServer.js";
import { silentLogger } from "../../../src/logger/logger.js";
import type { NodeStatus } from "../../../src/node/status.js";
import { ANVIL_KEYS, type Anvil, startAnvil } from "../../helpers/anvil.js";
import { tempDir } from "../../helpers/tmp.js";

const PASSWORD = "money test";
const deployer = privateKeyToAccount(ANVIL_KEYS[0]);
const gatewayKey = ANVIL_KEYS[2];
const gateway = privateKeyToAccount(gatewayKey);

let anvil: Anvil;
let publicClient: PublicClient;
let dev: DevnetDeployment;
let chain: Chain;
let cli: CliServer;
let base: string;

const wallet = () =>
  createWalletClient({ chain: foundry, transport: http(anvil.url), account: deployer, pollingInterval: 50 });
const nextRound = () => advanceToNextRound({ wallet: wallet(), publicClient }, dev.contracts.RoundsManager);
const nonce = () => publicClient.getTransactionCount({ address: gateway.address, blockTag: "latest" });
const onChain = () =>
  publicClient.readContract({
    address: dev.contracts.TicketBroker,
    abi: ticketBrokerAbi,
    functionName: "getSenderInfo",
    args: [gateway.address],
  });

beforeAll(async () => {
  anvil = await startAnvil();
  publicClient = createPublicClient({
    chain: foundry,
    transport: http(anvil.url),
    pollingInterval: 50,
  }) as PublicClient;
  dev = await deployDevnet({ wallet: wallet(), publicClient });
  await nextRound();
  const datadir = tempDir("lp-money-");
  mkdirSync(join(datadir, "keystore"));
  const json = await encryptKeystore(hexToBytes(gatewayKey), PASSWORD, { scrypt: LIGHT_SCRYPT });
  await writeKeystoreFile(join(datadir, "keystore"), json);
  const { config, problems } = chainConfigFromOptions({
    network: "devnet",
    ethUrl: anvil.url,
    ethController: dev.controller,
    blockPollingInterval: 0.05,
    transactionTimeoutMs: 10_000,
  });
  expect(problems).toEqual([]);
  chain = new Chain(
    { chain: config!, account: { ethAcctAddr: "", ethPassword: PASSWORD, ethKeystorePath: "" } },
    { logger: silentLogger(), datadir, prompt: null },
  );
  await chain.start(new AbortController().signal);
  cli = new CliServer(
    { addr: { host: "127.0.0.1", port: 0 }, verbosity: 3 },
    { logger: silentLogger(), status: () => ({}) as NodeStatus, routes: moneyRoutes(chain) },
  );
  await cli.start();
  base = `http://127.0.0.1:${cli.port}`;
}, 120_000);

afterAll(async () => {
  await cli?.stop();
  await chain?.stop();
  await anvil?.stop();
});

const post = (path: string, form: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: "POST", body: new URLSearchParams(form) });
const text = async (res: Response) => ({ status: res.status, body: await res.text() });

describe("parseAmount", () => {
  it("takes wei integers and decimals with eth or gwei, exactly", () => {
    expect(parseAmount("1000", "x")).toBe(1000n);
    expect(parseAmount("0.5eth", "x")).toBe(parseEther("0.5"));
    expect(parseAmount("1.25 ETH", "x")).toBe(parseEther("1.25"));
    expect(parseAmount("10gwei", "x")).toBe(parseGwei("10"));
    expect(parseAmount("0.000000001eth", "x")).toBe(1_000_000_000n);
    expect(parseAmount("0", "x")).toBe(0n);
  });

  it("refuses anything else, naming the parameter", () => {
    for (const bad of [
      "",
      "-1",
      "1.5",
      "1e18",
      "0x10",
      "abc",
      "1 btc",
      "0.1gwei0",
      "1.0000000000000000001eth",
    ]) {
      expect(() => parseAmount(bad, "depositAmount"), bad).toThrow(MoneyError);
      expect(() => parseAmount(bad, "depositAmount"), bad).toThrow(/invalid depositAmount/);
    }
    expect(() => parseAmount("2".repeat(80), "x")).toThrow(/above uint256/);
    expect(() => parseAmount("1".repeat(200), "x")).toThrow(/too long/);
  });
});

describe("money operations on the devnet", () => {
  it("funds deposit and reserve, adds to the deposit, and reads it all back", async () => {
    await fundDepositAndReserve(chain, parseEther("1"), parseEther("2"));
    await fundDeposit(chain, parseEther("0.5"));
    const [s, r] = await onChain();
    expect(s.deposit).toBe(parseEther("1.5"));
    expect(r.fundsRemaining).toBe(parseEther("2"));
    expect(await senderInfo(chain)).toEqual({
      deposit: parseEther("1.5"),
      withdrawRound: 0n,
      reserve: { fundsRemaining: parseEther("2"), claimedInCurrentRound: 0n },
    });
    expect(await ticketBrokerParams(chain)).toEqual({ unlockPeriod: BigInt(dev.params.unlockPeriod) });
  });

  it("refuses zero amounts before sending anything", async () => {
    const before = await nonce();
    await expect(fundDeposit(chain, 0n)).rejects.toThrow(new MoneyError("amount must be greater than 0"));
    await expect(fundDepositAndReserve(chain, 0n, 0n)).rejects.toBeInstanceOf(MoneyError);
    expect(await nonce()).toBe(before);
  });

  it("surfaces the TicketBroker's revert reasons", async () => {
    const err = await cancelUnlock(chain).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EthRevertError);
    expect((err as EthRevertError).reason).toBe("no unlock request in progress");
    await expect(withdraw(chain)).rejects.toThrow("no unlock request in progress");
  });

  it("unlock starts the period, cancelUnlock ends it", async () => {
    await unlock(chain);
    const round = (await chain.client.roundInfo()).currentRound;
    expect((await senderInfo(chain)).withdrawRound).toBe(round + BigInt(dev.params.unlockPeriod));
    await expect(unlock(chain)).rejects.toThrow("unlock already initiated");
    await cancelUnlock(chain);
    expect((await onChain())[0].withdrawRound).toBe(0n);
  });
});

describe("the CLI API's money routes", () => {
  it("funds through POST and shows go-livepeer's JSON", async () => {
    const before = await onChain();
    expect(
      await text(await post("/fundDepositAndReserve", { depositAmount: "0.25eth", reserveAmount: "1000" })),
    ).toEqual({ status: 200, body: "fundDepositAndReserve success" });
    expect(await text(await post("/fundDeposit", { amount: "5gwei" }))).toEqual({
      status: 200,
      body: "fundDeposit success",
    });
    const [s, r] = await onChain();
    expect(s.deposit - before[0].deposit).toBe(parseEther("0.25") + parseGwei("5"));
    expect(r.fundsRemaining - before[1].fundsRemaining).toBe(1000n);
    const info = await fetch(`${base}/senderInfo`);
    expect(info.headers.get("content-type")).toMatch(/^application\/json/);
    // Exact big integers as bare numbers, as Go's encoding/json writes *big.Int.
    expect(await info.text()).toBe(
      `{"Deposit":${s.deposit},"WithdrawRound":0,"Reserve":{"FundsRemaining":${r.fundsRemaining},"ClaimedInCurrentRound":0}}`,
    );
    expect(await text(await fetch(`${base}/ticketBrokerParams`))).toEqual({
      status: 200,
      body: `{"UnlockPeriod":${dev.params.unlockPeriod}}`,
    });
  });

  it("refuses bad, zero and missing amounts with 400 and changes nothing", async () => {
    const before = await nonce();
    const cases: [string, Record<string, string>, RegExp][] = [
      ["/fundDeposit", {}, /^missing form param: amount$/],
      ["/fundDeposit", { amount: "lots" }, /^invalid amount "lots"/],
      ["/fundDeposit", { amount: "0" }, /^amount must be greater than 0$/],
      ["/fundDeposit", { amount: "-5" }, /^invalid amount/],
      ["/fundDepositAndReserve", { depositAmount: "1" }, /^missing form param: reserveAmount$/],
      ["/fundDepositAndReserve", { depositAmount: "1.5", reserveAmount: "1" }, /^invalid depositAmount/],
      ["/fundDepositAndReserve", { depositAmount: "0", reserveAmount: "0eth" }, /cannot both be 0/],
    ];
    for (const [path, form, want] of cases) {
      const r = await text(await post(path, form));
      expect(r.status, `${path} ${JSON.stringify(form)}`).toBe(400);
      expect(r.body).toMatch(want);
    }
    expect(await nonce()).toBe(before);
    // State changes are POST only.
    expect((await fetch(`${base}/fundDeposit?amount=1`)).status).toBe(405);
    expect((await fetch(`${base}/withdraw`)).status).toBe(405);
  });

  it("a revert is 500 with its reason", async () => {
    expect(await text(await post("/cancelUnlock"))).toEqual({
      status: 500,
      body: "cancelUnlock reverted: no unlock request in progress",
    });
  });

  it("unlock, then withdraw after the unlock period pays deposit and reserve back", async () => {
    // 50 rounds of mining is slow: shorten the period with the owner's setter, as an operator's devnet can.
    const hash = await wallet().writeContract({
      address: dev.contracts.TicketBroker,
      abi: ticketBrokerAbi,
      functionName: "setUnlockPeriod",
      args: [1n],
    });
    await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    expect(await text(await fetch(`${base}/ticketBrokerParams`))).toMatchObject({
      body: `{"UnlockPeriod":1}`,
    });

    const [s, r] = await onChain();
    const funds = s.deposit + r.fundsRemaining;
    expect(funds).toBeGreaterThan(0n);
    expect(await text(await post("/unlock"))).toEqual({ status: 200, body: "unlock success" });
    const round = (await chain.client.roundInfo()).currentRound;
    expect((await onChain())[0].withdrawRound).toBe(round + 1n);
    expect(await text(await post("/withdraw"))).toEqual({
      status: 500,
      body: "withdraw reverted: account is locked",
    });

    await nextRound();
    const balanceBefore = await publicClient.getBalance({ address: gateway.address });
    expect(await text(await post("/withdraw"))).toEqual({ status: 200, body: "withdraw success" });
    const [after, reserveAfter] = await onChain();
    expect(after.deposit).toBe(0n);
    expect(reserveAfter.fundsRemaining).toBe(0n);
    const gained = (await publicClient.getBalance({ address: gateway.address })) - balanceBefore;
    // Everything came back, less the gas of one transaction.
    expect(gained).toBeLessThanOrEqual(funds);
    expect(gained).toBeGreaterThan(funds - parseEther("0.01"));
    expect(await text(await fetch(`${base}/senderInfo`))).toEqual({
      status: 200,
      // The TicketBroker leaves withdrawRound as it was after a withdraw.
      body: `{"Deposit":0,"WithdrawRound":${round + 1n},"Reserve":{"FundsRemaining":0,"ClaimedInCurrentRound":0}}`,
    });
  });
});
