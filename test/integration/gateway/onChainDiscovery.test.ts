import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Writable } from "node:stream";
import Database from "better-sqlite3";
import { type Hex, parseEther } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { resolveConfig } from "../../../src/config/resolve.js";
import { gatewayRole } from "../../../src/gateway/role.js";
import { createLogger } from "../../../src/logger/logger.js";
import { LpNode } from "../../../src/node/LpNode.js";
import { Rat } from "../../../src/payments/rat.js";
import { DB_FILE_NAME } from "../../../src/storage/db.js";
import { ANVIL_KEYS } from "../../helpers/anvil.js";
import { makeClip, removeClips } from "../../helpers/media.js";
import { EchoTranscoder, type RunningOrchestrator, startOrchestrator } from "../../helpers/orchestrator.js";
import {
  chainNodeFlags,
  fundSender,
  onChainGatewayArgs,
  registerOrchestrator,
  winningTicketFlags,
} from "../../helpers/paidChain.js";
import { keystoreDataDir, setBalance, startTestChain, type TestChain } from "../../helpers/testChain.js";
import { waitFor } from "../../helpers/waitFor.js";

// A gateway on a devnet with no -orchAddr finds its orchestrators in BondingManager's pool and
// the ServiceRegistry: A (cheap, real) and B (real, priced above the gateway's maximum) are active
// with URIs, C is active with no URI, D registered a round later and is not active yet. Only A
// is used; the registry is cached in the gateway's SQLite file and survives a restart.

const PASSWORD = "correct horse";
const FACE = parseEther("0.01");
const DEPOSIT = parseEther("10");
const [, aKey, bKey, gatewayKey] = ANVIL_KEYS;
const cKey = generatePrivateKey();
const dKey = generatePrivateKey();
const addr = (k: Hex) => privateKeyToAccount(k).address.toLowerCase();

let chain: TestChain;
const orchs: RunningOrchestrator[] = [];
const nodes: LpNode[] = [];

const register = (key: Hex, stake: bigint, uri?: string) => registerOrchestrator(chain, key, { stake, uri });

async function orchestrator(key: Hex, pricePerUnit: string): Promise<RunningOrchestrator> {
  const o = await startOrchestrator(
    new EchoTranscoder(),
    [
      ...chainNodeFlags(chain, { password: PASSWORD, cli: false }),
      "-startupAvailabilityCheck=false",
      "-pricePerUnit",
      pricePerUnit,
      ...winningTicketFlags(FACE),
    ],
    {},
    { datadir: await keystoreDataDir(key, PASSWORD, "lp-disc-") },
  );
  orchs.push(o);
  return o;
}

async function gateway(datadir: string, extra = ["-maxPricePerUnit", "100"]): Promise<LpNode> {
  const r = resolveConfig(
    onChainGatewayArgs(chain, datadir, {
      password: PASSWORD,
      face: FACE,
      extra,
    }),
    { env: {}, readFile: () => null },
  );
  if (r.kind !== "ok") throw new Error(`bad config: ${JSON.stringify(r)}`);
  const node = new LpNode(r.config, {
    logger: createLogger({ level: "debug", pretty: false, destination: sink }),
    roles: { gateway: gatewayRole },
  });
  nodes.push(node);
  await node.start();
  return node;
}

interface Status {
  OrchestratorPool: string[];
  RegisteredOrchestrators: {
    Address: string;
    ServiceURI: string;
    PricePerPixel: string | null;
    Active: boolean;
  }[];
  GatewayHTTPPort: number;
  Streams: Record<string, { orchestrator: string; orchestratorsKnown: string[]; segmentsOk: number }>;
}
const status = async (node: LpNode) =>
  (await (await fetch(`http://127.0.0.1:${node.cliPort}/status`)).json()) as Status;

/** Every log line of the gateways, parsed. */
const logged: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk, _enc, done) {
    for (const line of String(chunk).split("\n")) if (line) logged.push(JSON.parse(line));
    done();
  },
});

let uriA: string;
let uriB: string;

beforeAll(async () => {
  chain = await startTestChain();
  for (const k of [cKey, dKey]) await setBalance(chain, privateKeyToAccount(k).address, parseEther("100"));
  const [a, b] = [await orchestrator(aKey, "1"), await orchestrator(bKey, "1000")];
  uriA = a.uri;
  uriB = b.uri;
  await register(aKey, parseEther("3000"), uriA);
  await register(bKey, parseEther("2000"), uriB);
  await register(cKey, parseEther("1000"));
  await fundSender(chain, gatewayKey, DEPOSIT, parseEther("1"));
  await seenByOrchestrators(await chain.nextRound());
  // Registered in this round: active from the next one.
  await register(dKey, parseEther("500"), "https://127.0.0.1:1");
}, 120_000);

/** Wait until every orchestrator follows `round` (its reserve allocation counts the new pool). */
async function seenByOrchestrators(round: bigint): Promise<void> {
  await waitFor(async () => {
    for (const o of orchs) {
      const s = (await (await fetch(`http://127.0.0.1:${o.node.cliPort}/status`)).json()) as {
        Round: { lastInitialized: string };
      };
      if (s.Round.lastInitialized !== round.toString()) return false;
    }
    return true;
  });
}

afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop();
});
afterAll(async () => {
  for (const o of orchs.splice(0)) await o.stop();
  removeClips();
  await chain?.stop();
});

describe("on-chain discovery", () => {
  it("uses only active orchestrators with a URI, skips the one priced above -maxPricePerUnit, and caches the registry across a restart", async () => {
    const datadir = await keystoreDataDir(gatewayKey, PASSWORD, "lp-disc-gw-");
    const gw = await gateway(datadir);
    const s = await status(gw);
    expect(new Set(s.OrchestratorPool)).toEqual(new Set([uriA, uriB]));
    const rows = new Map(s.RegisteredOrchestrators.map((r) => [r.Address, r]));
    expect([...rows.keys()].sort()).toEqual([aKey, bKey, cKey, dKey].map(addr).sort());
    expect(rows.get(addr(aKey))).toMatchObject({ ServiceURI: uriA, Active: true });
    expect(rows.get(addr(bKey))).toMatchObject({ ServiceURI: uriB, Active: true });
    expect(rows.get(addr(cKey))).toMatchObject({ ServiceURI: "", Active: false });
    expect(rows.get(addr(dKey))).toMatchObject({ Active: false });

    const clip = readFileSync(makeClip({ seconds: 2, width: 320, height: 240 }));
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`http://127.0.0.1:${s.GatewayHTTPPort}/live/disc/${i}.ts`, {
        method: "POST",
        body: clip,
      });
      expect(res.status, await res.text()).toBe(200);
    }
    // A second stream meets the overpriced orchestrator again: its skip was logged once, at warn.
    const res2 = await fetch(`http://127.0.0.1:${s.GatewayHTTPPort}/live/disc2/0.ts`, {
      method: "POST",
      body: clip,
    });
    expect(res2.status).toBe(200);
    const skips = logged.filter((l) => l["msg"] === "skipping orchestrator" && l["orchestrator"] === uriB);
    expect(skips.map((l) => l["level"])).toEqual([40, 20]);
    expect(String(skips[0]!["reason"])).toMatch(/above -maxPricePerUnit 100/);
    const after = await status(gw);
    expect(after.Streams["disc"]).toMatchObject({
      orchestrator: uriA,
      orchestratorsKnown: [uriA],
      segmentsOk: 2,
    });
    // Prices from the orchestrators' GetOrchestrator answers (the overpriced one's too), as quoted:
    // -pricePerUnit plus the auto-adjusted ticket overhead.
    const prices = await waitFor(async () => {
      const r = new Map((await status(gw)).RegisteredOrchestrators.map((x) => [x.Address, x.PricePerPixel]));
      const [pa, pb] = [r.get(addr(aKey)), r.get(addr(bKey))];
      return pa && pb ? { a: Rat.parse(pa), b: Rat.parse(pb) } : null;
    });
    expect(prices.a.gte(1n) && prices.a.lte(100n)).toBe(true);
    expect(prices.b.gt(100n)).toBe(true);
    await gw.stop();

    const file = new Database(join(datadir, DB_FILE_NAME), { readonly: true });
    const stored = file.prepare("SELECT ethereumAddr, createdAt, stake FROM orchestrators").all() as {
      ethereumAddr: string;
      createdAt: number;
      stake: string;
    }[];
    file.close();
    expect(stored).toHaveLength(4);
    expect(stored.find((r) => r.ethereumAddr === addr(aKey))?.stake).toBe(parseEther("3000").toString());

    // Restarted on the same data folder: the same rows (created before), A and B listed at once.
    const again = await gateway(datadir);
    const s2 = await status(again);
    expect(new Set(s2.OrchestratorPool)).toEqual(new Set([uriA, uriB]));
    const file2 = new Database(join(datadir, DB_FILE_NAME), { readonly: true });
    const created = file2.prepare("SELECT ethereumAddr, createdAt FROM orchestrators").all() as {
      ethereumAddr: string;
      createdAt: number;
    }[];
    file2.close();
    expect(new Map(created.map((r) => [r.ethereumAddr, r.createdAt]))).toEqual(
      new Map(stored.map((r) => [r.ethereumAddr, r.createdAt])),
    );

    // The next round activates D: its row turns active (its URI answers nothing, so it is never used).
    await seenByOrchestrators(await chain.nextRound());
    await waitFor(
      async () =>
        (await status(again)).RegisteredOrchestrators.find((r) => r.Address === addr(dKey))?.Active === true,
      { timeoutMs: 30_000 },
    );
    expect(new Set((await status(again)).OrchestratorPool)).toEqual(
      new Set([uriA, uriB, "https://127.0.0.1:1"]),
    );
  }, 120_000);

  it("-ignoreMaxPriceIfNeeded streams through orchestrators above the ceiling when none is under it", async () => {
    const gw = await gateway(await keystoreDataDir(gatewayKey, PASSWORD, "lp-disc-ign-"), [
      "-maxPricePerUnit",
      "0.5",
      "-ignoreMaxPriceIfNeeded",
    ]);
    const s = await status(gw);
    const clip = readFileSync(makeClip({ seconds: 2, width: 320, height: 240 }));
    const res = await fetch(`http://127.0.0.1:${s.GatewayHTTPPort}/live/ign/0.ts`, {
      method: "POST",
      body: clip,
    });
    expect(res.status, await res.text()).toBe(200);
    expect([uriA, uriB]).toContain((await status(gw)).Streams["ign"]?.orchestrator);
    expect(
      logged.filter(
        (l) =>
          l["msg"] ===
          "no orchestrator is priced at or under -maxPricePerUnit; -ignoreMaxPriceIfNeeded uses those above it",
      ),
    ).toHaveLength(1);
  }, 60_000);

  it("-minPerfScore selects by the scores -orchPerfStatsUrl serves for -region", async () => {
    // A holds more stake, but only B scores high enough in FRA.
    const scores = {
      [addr(aKey)]: { FRA: { score: 0.1 }, MDW: { score: 1 } },
      [addr(bKey)]: { FRA: { score: 0.9 } },
    };
    let requests = 0;
    const server = http.createServer((_req, res) => {
      requests += 1;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(scores));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/scores`;
      const gw = await gateway(await keystoreDataDir(gatewayKey, PASSWORD, "lp-disc-perf-"), [
        "-maxPricePerUnit",
        "10000",
        "-orchPerfStatsUrl",
        url,
        "-region",
        "fra",
        "-minPerfScore",
        "0.5",
      ]);
      expect(requests).toBe(1);
      const s = await status(gw);
      const clip = readFileSync(makeClip({ seconds: 2, width: 320, height: 240 }));
      // Without the filter each stream would draw B with P = 0.43 (stake and chance): 6 in a row is 0.6 %.
      for (const stream of ["perf1", "perf2", "perf3", "perf4", "perf5", "perf6"]) {
        const res = await fetch(`http://127.0.0.1:${s.GatewayHTTPPort}/live/${stream}/0.ts`, {
          method: "POST",
          body: clip,
        });
        expect(res.status, await res.text()).toBe(200);
        expect((await status(gw)).Streams[stream]?.orchestrator).toBe(uriB);
      }
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  }, 60_000);
});
