import { type Address, encodePacked, type Hex, keccak256, maxUint256, parseEther, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bondingManagerAbi, roundsManagerAbi, serviceRegistryAbi } from "../../../src/eth/abis.js";
import { Chain } from "../../../src/eth/Chain.js";
import { chainConfigFromOptions } from "../../../src/eth/networks.js";
import {
  accountStatus,
  activateOrchestrator,
  bond,
  claimEarnings,
  initializeRound,
  type OrchestratorStakingHooks,
  rebond,
  registeredOrchestrators,
  requestTokens,
  reward,
  StakingError,
  setOrchestratorConfig,
  stakingRoutes,
  transferTokens,
  unbond,
  withdrawFees,
  withdrawStake,
} from "../../../src/eth/staking.js";
import { CliServer } from "../../../src/http/cliServer.js";
import { silentLogger } from "../../../src/logger/logger.js";
import type { NodeStatus } from "../../../src/node/status.js";
import { ANVIL_KEYS } from "../../helpers/anvil.js";
import { fundSender } from "../../helpers/paidChain.js";
import { keystoreDataDir, startTestChain, type TestChain } from "../../helpers/testChain.js";

// One devnet. O (ANVIL_KEYS[1]) becomes an orchestrator through the operations; D (ANVIL_KEYS[2])
// delegates to it. Both act through a started Chain over a keystore, as a node does. Every refusal
// is checked to send nothing: the account's nonce does not move.

const PASSWORD = "staking test";
const O = privateKeyToAccount(ANVIL_KEYS[1]).address;
const D = privateKeyToAccount(ANVIL_KEYS[2]).address;
const STRANGER = privateKeyToAccount(ANVIL_KEYS[3]).address;
const LPT = (n: string) => parseEther(n);

let t: TestChain;
let chainO: Chain;
let chainD: Chain;
let cli: CliServer;
let base: string;
const prices: [string, string][] = [];

async function startChain(key: Hex): Promise<Chain> {
  const datadir = await keystoreDataDir(key, PASSWORD, "lp-staking-");
  const { config, problems } = chainConfigFromOptions({
    network: "devnet",
    ethUrl: t.anvil.url,
    ethController: t.dev.controller,
    blockPollingInterval: 0.05,
    transactionTimeoutMs: 10_000,
  });
  expect(problems).toEqual([]);
  const chain = new Chain(
    { chain: config!, account: { ethAcctAddr: "", ethPassword: PASSWORD, ethKeystorePath: "" } },
    { logger: silentLogger(), datadir, prompt: null },
  );
  await chain.start(new AbortController().signal);
  return chain;
}

const nonce = (address: Address) => t.publicClient.getTransactionCount({ address, blockTag: "pending" });

/** Runs `fn`, expects a StakingError matching `message`, and that `address` sent nothing. */
async function refusedWithoutTx(address: Address, fn: () => Promise<unknown>, message: RegExp) {
  const before = await nonce(address);
  const err = await fn().then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, String(message)).toBeInstanceOf(StakingError);
  expect((err as Error).message).toMatch(message);
  expect(await nonce(address)).toBe(before);
}

const rm = <F extends "currentRoundStartBlock" | "roundLength" | "currentRound">(functionName: F) =>
  t.publicClient.readContract({
    address: t.dev.contracts.RoundsManager,
    abi: roundsManagerAbi,
    functionName,
  });
const mine = (n: bigint) =>
  n > 0n
    ? (t.publicClient.request as unknown as (a: { method: string; params: unknown[] }) => Promise<unknown>)({
        method: "anvil_mine",
        params: [toHex(n)],
      })
    : Promise.resolve();
const block = () => t.publicClient.getBlockNumber({ cacheTime: 0 });
/** Mines into the current round's lock window (its last 10 %: the last 5 of 50 blocks). */
async function intoLockWindow() {
  const [start, length, now] = await Promise.all([rm("currentRoundStartBlock"), rm("roundLength"), block()]);
  await mine(start + length - 3n - now);
}
/** Mines to the next round without initialising it. */
async function intoUninitialisedRound() {
  const [start, length, now] = await Promise.all([rm("currentRoundStartBlock"), rm("roundLength"), block()]);
  await mine(start + length - now);
}
const transcoder = (a: Address) =>
  t.publicClient.readContract({
    address: t.dev.contracts.BondingManager,
    abi: bondingManagerAbi,
    functionName: "getTranscoder",
    args: [a],
  });
const uriOf = (a: Address) =>
  t.publicClient.readContract({
    address: t.dev.contracts.ServiceRegistry,
    abi: serviceRegistryAbi,
    functionName: "getServiceURI",
    args: [a],
  });

beforeAll(async () => {
  t = await startTestChain();
  chainO = await startChain(ANVIL_KEYS[1]);
  chainD = await startChain(ANVIL_KEYS[2]);
  const hooks: OrchestratorStakingHooks = {
    address: O,
    setPrice: async (ppu, px) => {
      prices.push([ppu, px]);
    },
  };
  cli = new CliServer(
    { addr: { host: "127.0.0.1", port: 0 }, verbosity: 3 },
    {
      logger: silentLogger(),
      status: () => ({}) as NodeStatus,
      routes: stakingRoutes(chainO, { orchestrator: () => hooks }),
    },
  );
  await cli.start();
  base = `http://127.0.0.1:${cli.port}`;
}, 120_000);

afterAll(async () => {
  await cli?.stop();
  await chainO?.stop();
  await chainD?.stop();
  await t?.stop();
});

const post = (path: string, form: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: "POST", body: new URLSearchParams(form) });

describe("staking operations on a devnet", () => {
  it("gets LPT from the faucet once, then is refused until the wait is over", async () => {
    const before = await chainO.client.tokenBalance(O);
    const r = await requestTokens(chainO);
    expect(r.steps.map((s) => s.op)).toEqual(["requestTokens"]);
    expect((await chainO.client.tokenBalance(O)) - before).toBe(t.dev.params.faucetRequestAmount);
    await refusedWithoutTx(O, () => requestTokens(chainO), /the faucet gives .* more LPT after/);
  });

  it("refuses to activate with too little LPT, no stake, a locked or uninitialised round", async () => {
    const settings = { rewardCut: 100_000n, feeShare: 950_000n, serviceURI: "https://127.0.0.1:8935" };
    await refusedWithoutTx(
      O,
      () => activateOrchestrator(chainO, { ...settings, amount: LPT("5000") }),
      /insufficient LPT balance: .* has 10 LPT, needs 5000 LPT/,
    );
    await refusedWithoutTx(O, () => activateOrchestrator(chainO, settings), /has no stake/);
    await t.send(ANVIL_KEYS[0], "LivepeerToken", "transfer", [O, LPT("1000")]);
    await intoLockWindow();
    await refusedWithoutTx(
      O,
      () => activateOrchestrator(chainO, { ...settings, amount: LPT("500") }),
      /^current round is locked$/,
    );
    await intoUninitialisedRound();
    await refusedWithoutTx(
      O,
      () => activateOrchestrator(chainO, { ...settings, amount: LPT("500") }),
      /current round is not initialized/,
    );
    // Initialising the round is an operation too; a second call is refused.
    const r = await initializeRound(chainO);
    expect(r.steps.map((s) => s.op)).toEqual(["initializeRound"]);
    await refusedWithoutTx(O, () => initializeRound(chainO), /round \d+ is already initialized/);
  });

  it("activates: approve, bond to itself, transcoder(cut, share), service URI", async () => {
    const r = await activateOrchestrator(chainO, {
      rewardCut: 100_000n,
      feeShare: 950_000n,
      serviceURI: "https://127.0.0.1:8935",
      amount: LPT("500"),
    });
    expect(r.steps.map((s) => s.op)).toEqual(["approve", "bond", "transcoder", "setServiceURI"]);
    expect(r.warnings).toEqual([expect.stringMatching(/not a public address/)]);
    const info = await chainO.client.transcoderInfo(O);
    expect(info.status).toBe("Registered");
    expect(info.rewardCut).toBe(100_000n);
    expect(info.feeShare).toBe(950_000n);
    expect(info.totalStake).toBe(LPT("500"));
    expect(await uriOf(O)).toBe("https://127.0.0.1:8935");
    await refusedWithoutTx(
      O,
      () => activateOrchestrator(chainO, { rewardCut: 0n, feeShare: 0n, serviceURI: "https://a.example:1" }),
      /^orchestrator already registered$/,
    );
    const pool = await registeredOrchestrators(chainO);
    expect(pool.map((p) => [p.address, p.serviceURI])).toEqual([[O, "https://127.0.0.1:8935"]]);
  });

  it("rewards once when active, and changes the commission only outside the lock window and after reward", async () => {
    await refusedWithoutTx(O, () => reward(chainO), /is not an active orchestrator in round/);
    await t.nextRound();
    await refusedWithoutTx(
      O,
      () => setOrchestratorConfig(chainO, { rewardCut: 200_000n, feeShare: 900_000n }),
      /caller can't be active or must have already called reward for the current round/,
    );
    const stakeBefore = (await transcoder(O))[0];
    const r = await reward(chainO);
    expect(r.steps.map((s) => s.op)).toEqual(["reward"]);
    expect((await transcoder(O))[0]).toBe(await rm("currentRound"));
    expect(stakeBefore).not.toBe(await rm("currentRound"));
    await refusedWithoutTx(O, () => reward(chainO), /reward was already called for round/);
    // The service URI changes at any time; the same one sends nothing.
    const u = await setOrchestratorConfig(chainO, { serviceURI: "https://orch.example.com:8935" });
    expect(u.steps.map((s) => s.op)).toEqual(["setServiceURI"]);
    expect(await uriOf(O)).toBe("https://orch.example.com:8935");
    const same = await setOrchestratorConfig(chainO, { serviceURI: "https://orch.example.com:8935/" });
    expect(same.steps).toEqual([]);
    await intoLockWindow();
    await refusedWithoutTx(
      O,
      () => setOrchestratorConfig(chainO, { rewardCut: 200_000n, feeShare: 900_000n }),
      /^current round is locked$/,
    );
    await t.nextRound();
    await reward(chainO);
    const c = await setOrchestratorConfig(chainO, { rewardCut: 200_000n, feeShare: 900_000n });
    expect(c.steps.map((s) => s.op)).toEqual(["transcoder"]);
    const info = await chainO.client.transcoderInfo(O);
    expect([info.rewardCut, info.feeShare]).toEqual([200_000n, 900_000n]);
    await refusedWithoutTx(
      O,
      () => setOrchestratorConfig(chainO, { rewardCut: 1n }),
      /must be given together/,
    );
  });

  it("transfers LPT, and a delegator bonds, unbonds, rebonds and withdraws with every refusal checked first", async () => {
    await refusedWithoutTx(O, () => transferTokens(chainO, D, LPT("100000")), /insufficient LPT balance/);
    const tr = await transferTokens(chainO, D, LPT("100"));
    expect(tr.steps.map((s) => s.op)).toEqual(["transfer"]);
    expect(await chainD.client.tokenBalance(D)).toBe(LPT("100"));

    await refusedWithoutTx(D, () => bond(chainD, LPT("10"), STRANGER), /is not a registered orchestrator/);
    await refusedWithoutTx(D, () => bond(chainD, LPT("1000"), O), /insufficient LPT balance/);
    await refusedWithoutTx(O, () => bond(chainO, LPT("1"), D), /is not a registered orchestrator/);
    const b = await bond(chainD, LPT("50"), O);
    expect(b.steps.map((s) => s.op)).toEqual(["approve", "bond"]);
    expect((await chainD.client.delegatorInfo(D)).bondedAmount).toBe(LPT("50"));
    expect((await chainO.client.transcoderInfo(O)).totalStake).toBeGreaterThan(LPT("550"));
    // A fresh bond counts from the next round: unbonding waits for it.
    await refusedWithoutTx(
      D,
      () => unbond(chainD, LPT("10")),
      /caller must be bonded: the bond is pending until round/,
    );
    await t.nextRound();
    await refusedWithoutTx(D, () => unbond(chainD, LPT("51")), /amount is greater than bonded amount/);
    const u = await unbond(chainD, LPT("20"));
    expect(u.steps.map((s) => s.op)).toEqual(["unbond"]);
    let status = await accountStatus(chainD);
    expect(status.unbondingLocks).toEqual([
      { id: 0n, amount: LPT("20"), withdrawRound: (await rm("currentRound")) + 7n },
    ]);
    await refusedWithoutTx(
      D,
      () => withdrawStake(chainD, 0n),
      /withdraw round must be before or equal to the current round/,
    );
    await refusedWithoutTx(D, () => withdrawStake(chainD, 9n), /invalid unbonding lock ID 9/);
    await refusedWithoutTx(D, () => rebond(chainD, 9n), /invalid unbonding lock ID 9/);
    const rb = await rebond(chainD, 0n);
    expect(rb.steps.map((s) => s.op)).toEqual(["rebond"]);
    status = await accountStatus(chainD);
    expect(status.unbondingLocks).toEqual([]);
    expect(status.delegator.bondedAmount).toBeGreaterThanOrEqual(LPT("50"));
    await unbond(chainD, LPT("5"));
    for (let i = 0; i < 7; i++) await t.nextRound();
    const before = await chainD.client.tokenBalance(D);
    const w = await withdrawStake(chainD, 1n);
    expect(w.steps.map((s) => s.op)).toEqual(["withdrawStake"]);
    expect((await chainD.client.tokenBalance(D)) - before).toBe(LPT("5"));
    // Claiming folds the rounds' rewards into the bond.
    const c = await claimEarnings(chainD);
    expect(c.steps.map((s) => s.op)).toEqual(["claimEarnings"]);
    expect((await chainD.client.delegatorInfo(D)).lastClaimRound).toBe(await rm("currentRound"));
    // No fees were earned (no tickets redeemed): nothing to withdraw.
    await refusedWithoutTx(D, () => withdrawFees(chainD), /no fees to withdraw/);
    await refusedWithoutTx(D, () => withdrawFees(chainD, 1n), /insufficient fees to withdraw/);
  }, 60_000);

  it("withdraws fees earned from a redeemed winning ticket", async () => {
    // The deployer plays a gateway: deposit, then a ticket to O that always wins, redeemed by O.
    await fundSender(t, ANVIL_KEYS[0], LPT("1"), LPT("1"));
    const round = await rm("currentRound");
    const blockHash = await t.publicClient.readContract({
      address: t.dev.contracts.RoundsManager,
      abi: roundsManagerAbi,
      functionName: "blockHashForRound",
      args: [round],
    });
    const ticket = {
      recipient: O,
      sender: privateKeyToAccount(ANVIL_KEYS[0]).address,
      faceValue: LPT("0.06"),
      winProb: maxUint256,
      senderNonce: 1n,
      recipientRandHash: keccak256(encodePacked(["uint256"], [5n])),
      auxData: encodePacked(["uint256", "bytes32"], [round, blockHash]),
    };
    const hash = keccak256(
      encodePacked(
        ["address", "address", "uint256", "uint256", "uint256", "bytes32", "bytes"],
        [
          ticket.recipient,
          ticket.sender,
          ticket.faceValue,
          ticket.winProb,
          ticket.senderNonce,
          ticket.recipientRandHash,
          ticket.auxData,
        ],
      ),
    );
    const sig = await privateKeyToAccount(ANVIL_KEYS[0]).signMessage({ message: { raw: hash } });
    await t.send(ANVIL_KEYS[1], "TicketBroker", "redeemWinningTicket", [ticket, sig, 5n]);
    const status = await accountStatus(chainO);
    expect(status.delegator.pendingFees).toBeGreaterThan(0n);
    await refusedWithoutTx(
      O,
      () => withdrawFees(chainO, status.delegator.pendingFees + 1n),
      /insufficient fees to withdraw/,
    );
    const before = await chainO.client.ethBalance(O);
    const w = await withdrawFees(chainO);
    expect(w.amount).toBe(status.delegator.pendingFees);
    const receipt = await t.publicClient.getTransactionReceipt({ hash: w.steps[0]!.hash });
    const gas = receipt.gasUsed * receipt.effectiveGasPrice;
    expect((await chainO.client.ethBalance(O)) - before).toBe(w.amount - gas);
    await refusedWithoutTx(O, () => withdrawFees(chainO), /no fees to withdraw/);
  });

  it("rebonds a fully unbonded account's lock to an orchestrator it names", async () => {
    const chainS = await startChain(ANVIL_KEYS[3]);
    try {
      await t.send(ANVIL_KEYS[0], "LivepeerToken", "transfer", [STRANGER, LPT("10")]);
      await bond(chainS, LPT("10"), O);
      await t.nextRound();
      await unbond(chainS, LPT("10"));
      const [lock] = (await accountStatus(chainS)).unbondingLocks;
      expect(lock?.amount).toBe(LPT("10"));
      expect((await accountStatus(chainS)).delegator.status).toBe("Unbonded");
      await refusedWithoutTx(STRANGER, () => rebond(chainS, lock!.id), /give the orchestrator to rebond to/);
      await refusedWithoutTx(STRANGER, () => rebond(chainS, lock!.id, D), /is not a registered orchestrator/);
      const r = await rebond(chainS, lock!.id, O);
      expect(r.steps.map((s) => s.op)).toEqual(["rebondFromUnbonded"]);
      const d = await chainS.client.delegatorInfo(STRANGER);
      expect([d.delegateAddress, d.bondedAmount]).toEqual([O, LPT("10")]);
    } finally {
      await chainS.stop();
    }
  });

  it("refuses to unbond with no bond at all", async () => {
    const chainS = await startChain(ANVIL_KEYS[3]);
    try {
      // The rebond above counts from the next round.
      await t.nextRound();
      await unbond(chainS, LPT("10"));
      await refusedWithoutTx(STRANGER, () => unbond(chainS, LPT("1")), /has no bonded stake to unbond/);
      await refusedWithoutTx(STRANGER, () => reward(chainS), /not an active orchestrator/);
    } finally {
      await chainS.stop();
    }
  });
});

describe("the CLI API's staking routes", () => {
  it("answers go-livepeer's missing-param text, 400 with a code for bad input, and sends nothing", async () => {
    const before = await nonce(O);
    let res = await post("/bond", { amount: "1" });
    expect([res.status, await res.text()]).toEqual([400, "missing form param: toAddr"]);
    res = await post("/activateOrchestrator", {
      blockRewardCut: "200",
      feeShare: "1",
      serviceURI: "https://a.example:1",
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("x-lp-error-code")).toBe("STAKING_BAD_INPUT");
    expect(await res.text()).toMatch(/invalid blockRewardCut "200"/);
    res = await post("/activateOrchestrator", {
      blockRewardCut: "10",
      feeShare: "1",
      serviceURI: "https://a.example:1",
      pricePerUnit: "1",
      pixelsPerUnit: "1",
    });
    expect([res.status, await res.text()]).toEqual([400, "orchestrator already registered"]);
    expect(res.headers.get("x-lp-error-code")).toBe("STAKING_REFUSED");
    expect(prices).toEqual([]);
    res = await fetch(`${base}/bond`);
    expect(res.status).toBe(405);
    expect(await nonce(O)).toBe(before);
  });

  it("sets the service URI and price through /setOrchestratorConfig and lists the pool", async () => {
    const res = await post("/setOrchestratorConfig", {
      serviceURI: "https://orch2.example.com:8935",
      pricePerUnit: "1200",
      pixelsPerUnit: "3",
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { success: boolean; transactions: { op: string }[] };
    expect(body.success).toBe(true);
    expect(body.transactions.map((s: { op: string }) => s.op)).toEqual(["setServiceURI"]);
    expect(prices).toEqual([["1200", "3"]]);
    expect(await uriOf(O)).toBe("https://orch2.example.com:8935");
    const list = await (await fetch(`${base}/registeredOrchestrators`)).text();
    expect(list).toMatch(new RegExp(`"Address":"${O}","ServiceURI":"https://orch2.example.com:8935"`));
    expect(list).toMatch(/"DelegatedStake":\d{21,}/);
    // livepeer_cli reads these into go-livepeer's types.Transcoder and prints PricePerPixel, a
    // big.Rat (cmd/livepeer_cli/wizard_bond.go): it must be there, "0" when the price is unknown
    // (server/handlers.go registeredOrchestratorsHandler).
    const pool = JSON.parse(list) as { PricePerPixel: unknown }[];
    expect(pool.length).toBeGreaterThan(0);
    for (const o of pool) expect(o.PricePerPixel).toBe("0");
    // server/handlers.go orchestratorInfoHandler: {Transcoder, PriceInfo}.
    const info = (await (await fetch(`${base}/orchestratorInfo`)).json()) as {
      Transcoder: { Address: string; PricePerPixel: unknown };
      PriceInfo: unknown;
    };
    expect(info.Transcoder.Address).toBe(O);
    expect(Object.keys(info)).toEqual(["Transcoder", "PriceInfo"]);
    // livepeer_cli calls /reward with GET (cmd/livepeer_cli/wizard_transcoder.go callReward).
    const rewarded = await fetch(`${base}/reward`);
    expect(rewarded.status, await rewarded.text()).toBe(200);
    expect((await transcoder(O))[0]).toBe(await rm("currentRound"));
    // A HEAD (a link checker, a proxy) does not send a transaction.
    const before = await nonce(O);
    expect((await fetch(`${base}/reward`, { method: "HEAD" })).status).toBe(405);
    expect(await nonce(O)).toBe(before);
    expect(await (await fetch(`${base}/currentRound`)).text()).toBe(String(await rm("currentRound")));
    // livepeer_cli reads /contractAddresses into map[string]common.Address (wizard_stats.go), which
    // refuses null: every value is an address, go-livepeer's keys among them.
    const addrs = (await (await fetch(`${base}/contractAddresses`)).json()) as Record<string, unknown>;
    for (const k of [
      "Controller",
      "LivepeerToken",
      "LivepeerTokenFaucet",
      "TicketBroker",
      "RoundsManager",
      "BondingManager",
      "Minter",
    ])
      expect(addrs).toHaveProperty(k);
    for (const v of Object.values(addrs)) expect(v).toMatch(/^0x[0-9a-fA-F]{40}$/);
  });
});
