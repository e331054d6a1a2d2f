import { readFileSync } from "node:fs";
import { parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { beforeAll, describe, expect, it } from "vitest";
import { ANVIL_KEYS } from "../helpers/anvil.js";
import { GATEWAY_ON_PORT_0, LpNodeProcess } from "../helpers/lpNode.js";
import { makeClip } from "../helpers/media.js";
import { chainNodeFlags, fundSender, stopNodesAndChain } from "../helpers/paidChain.js";
import { keystoreDataDir, startTestChain, type TestChain } from "../helpers/testChain.js";
import { waitFor } from "../helpers/waitFor.js";

// A gateway on a devnet with an account that has nothing at the TicketBroker: it starts, says
// why it cannot pay, refuses streams with that reason, and streams once the account is funded.

const PASSWORD = "correct horse";
const gatewayKey = ANVIL_KEYS[2];
const gatewayAddress = privateKeyToAccount(gatewayKey).address;

let chain: TestChain;
let datadir: string;

beforeAll(async () => {
  chain = await startTestChain();
  datadir = await keystoreDataDir(gatewayKey, PASSWORD, "lp-gwpay-");
});

stopNodesAndChain(() => chain);

describe("a gateway on a devnet", () => {
  it("without deposit and reserve refuses to stream with go-livepeer's reason, and streams once funded", async () => {
    const gw = new LpNodeProcess([
      ...GATEWAY_ON_PORT_0,
      "-orchAddr",
      "127.0.0.1:9",
      ...chainNodeFlags(chain, { password: PASSWORD, datadir, cli: false }),
    ]);
    const refused = await gw.waitFor(
      (l) => String(l["msg"]).startsWith("the gateway cannot pay orchestrators"),
      30_000,
    );
    expect(refused).toMatchObject({ sender: gatewayAddress, reason: "no sender reserve" });
    const httpAddr = await gw.gatewayHttpAddr();
    const status = () => gw.status();
    expect((await status())["Sender"]).toMatchObject({
      address: gatewayAddress,
      deposit: "0",
      reserve: "0",
      canPay: false,
      problem: "no sender reserve",
    });
    const clip = readFileSync(makeClip({ seconds: 1 }));
    const push = () => fetch(`http://${httpAddr}/live/paid/0.ts`, { method: "POST", body: clip });
    const res = await push();
    expect(res.status).toBe(503);
    expect((await res.text()).trim()).toBe("cannot pay for transcoding: no sender reserve");

    await fundSender(chain, gatewayKey, parseEther("1"), parseEther("1"));
    // The gateway reads its funds again (new blocks, and a stream that asks), then takes the stream.
    await waitFor(
      async () => {
        const r = await push();
        return !(await r.text()).startsWith("cannot pay for transcoding");
      },
      { what: "the funded gateway to accept the stream", timeoutMs: 30_000, intervalMs: 500 },
    );
    expect((await status())["Sender"]).toMatchObject({
      deposit: parseEther("1").toString(),
      reserve: parseEther("1").toString(),
      canPay: true,
    });
  });
});
