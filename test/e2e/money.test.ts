import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  createPublicClient,
  createWalletClient,
  hexToBytes,
  http,
  type PublicClient,
  parseEther,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ticketBrokerAbi } from "../../src/eth/abis.js";
import { advanceToNextRound, type DevnetDeployment, deployDevnet } from "../../src/eth/deploy.js";
import { encryptKeystore, LIGHT_SCRYPT, writeKeystoreFile } from "../../src/eth/keystore.js";
import { ANVIL_KEYS, type Anvil, startAnvil } from "../helpers/anvil.js";
import { LpNodeProcess, runLpNode } from "../helpers/lpNode.js";
import { tempDir } from "../helpers/tmp.js";

const PASSWORD = "money e2e";
const key = ANVIL_KEYS[3];
const address = privateKeyToAccount(key).address;

let anvil: Anvil;
let publicClient: PublicClient;
let dev: DevnetDeployment;
let datadir: string;

beforeAll(async () => {
  anvil = await startAnvil();
  const transport = http(anvil.url);
  publicClient = createPublicClient({ chain: foundry, transport, pollingInterval: 50 }) as PublicClient;
  const wallet = createWalletClient({
    chain: foundry,
    transport,
    account: privateKeyToAccount(ANVIL_KEYS[0]),
  });
  dev = await deployDevnet({ wallet, publicClient });
  await advanceToNextRound({ wallet, publicClient }, dev.contracts.RoundsManager);
  datadir = tempDir("lp-money-e2e-");
  mkdirSync(join(datadir, "keystore"));
  const json = await encryptKeystore(hexToBytes(key), PASSWORD, { scrypt: LIGHT_SCRYPT });
  await writeKeystoreFile(join(datadir, "keystore"), json);
}, 120_000);

afterAll(async () => {
  await anvil?.stop();
});

const chainFlags = () => [
  "-network",
  "devnet",
  "-ethUrl",
  anvil.url,
  "-ethController",
  dev.controller,
  "-ethPassword",
  PASSWORD,
  "-datadir",
  datadir,
];

const money = (args: string[]) => runLpNode(["money", ...args, ...chainFlags()], {}, 60_000);

describe("lp-node money", () => {
  it("deposit-and-reserve, then sender-info --json shows the amounts", async () => {
    const funded = await money(["deposit-and-reserve", "0.75eth", "2000000000", "--json"]);
    expect(funded.code, funded.stderr).toBe(0);
    const tx = JSON.parse(funded.stdout) as Record<string, unknown>;
    expect(tx).toMatchObject({ op: "deposit-and-reserve", success: true, account: address });
    const receipt = await publicClient.getTransactionReceipt({ hash: tx["txHash"] as `0x${string}` });
    expect(receipt.status).toBe("success");

    const info = await money(["sender-info", "--json"]);
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)).toEqual({
      account: address,
      deposit: parseEther("0.75").toString(),
      withdrawRound: "0",
      reserve: { fundsRemaining: "2000000000", claimedInCurrentRound: "0" },
    });
    // The chain agrees.
    const [s, r] = await publicClient.readContract({
      address: dev.contracts.TicketBroker,
      abi: ticketBrokerAbi,
      functionName: "getSenderInfo",
      args: [address],
    });
    expect([s.deposit, r.fundsRemaining]).toEqual([parseEther("0.75"), 2_000_000_000n]);
    // Text output for people, with the password nowhere.
    const plain = await money(["broker-params"]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toBe(`unlockPeriod     ${dev.params.unlockPeriod} rounds\n`);
    expect(funded.stdout + funded.stderr + info.stderr).not.toContain(PASSWORD);
  });

  it("refuses a bad amount with exit 2 before touching the chain", async () => {
    const before = await publicClient.getTransactionCount({ address });
    const bad = await money(["deposit", "12.5", "--json"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid AMOUNT "12.5": wei has no fractions');
    expect(JSON.parse(bad.stdout)).toMatchObject({ error: { code: "MONEY_BAD_AMOUNT" } });
    const zero = await money(["deposit", "0eth"]);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain("AMOUNT must be greater than 0");
    const unknown = await money(["refund"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown operation "refund"');
    // No account is made up for a money command.
    const nowhere = join(tempDir("lp-money-empty-"), "data");
    const noKeys = await runLpNode(["money", "unlock", ...chainFlags(), "-datadir", nowhere], {}, 60_000);
    expect(noKeys.code).toBe(2);
    expect(noKeys.stderr).toContain(`no keystore at ${join(nowhere, "keystore")}`);
    expect(await publicClient.getTransactionCount({ address })).toBe(before);
  });

  it("a revert exits 1 with the contract's reason", async () => {
    const r = await money(["withdraw"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("withdraw reverted: no unlock request in progress");
  });

  it("a node on the chain serves the money routes on its CLI API", async () => {
    const node = new LpNodeProcess([
      "--mode",
      "orchestrator,transcoder",
      "-serviceAddr",
      "127.0.0.1:0",
      "-cliAddr",
      "127.0.0.1:0",
      "-startupAvailabilityCheck=false",
      "-pricePerUnit",
      "1",
      "-blockPollingInterval",
      "1",
      ...chainFlags(),
    ]);
    try {
      const cli = await node.waitFor((l) => l["listener"] === "cli" && typeof l["addr"] === "string", 30_000);
      const res = await fetch(`http://${cli["addr"]}/senderInfo`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(
        `{"Deposit":${parseEther("0.75")},"WithdrawRound":0,"Reserve":{"FundsRemaining":2000000000,"ClaimedInCurrentRound":0}}`,
      );
      const funded = await fetch(`http://${cli["addr"]}/fundDeposit`, {
        method: "POST",
        body: new URLSearchParams({ amount: "1gwei" }),
      });
      expect(await funded.text()).toBe("fundDeposit success");
    } finally {
      node.child.kill("SIGTERM");
      await node.exited;
    }
  });
});
