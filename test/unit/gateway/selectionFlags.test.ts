import http from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { chainSelection } from "../../../src/gateway/OnChainOrchestrators.js";
import { jobCapabilities } from "../../../src/gateway/OrchestratorClient.js";
import { StaticOrchestrators } from "../../../src/gateway/OrchestratorList.js";
import { OrchestratorPool } from "../../../src/gateway/OrchestratorPool.js";
import { PerfScores, parsePerfScores } from "../../../src/gateway/PerfScores.js";
import { DEFAULT_SELECTION_WEIGHTS, ProbabilitySelection } from "../../../src/gateway/selection.js";
import { HttpClient } from "../../../src/http/client.js";
import type { Logger } from "../../../src/logger/logger.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { PRESETS } from "../../../src/media/profiles.js";
import type { PaymentSession } from "../../../src/payments/GatewayPayments.js";
import { Rat } from "../../../src/payments/rat.js";
import { type OrchestratorInfo, OrchestratorInfoSchema } from "../../../src/protocol/gen/lp_rpc_pb.js";
import { ManualClock } from "../../helpers/clock.js";
import { ok, problems } from "../../helpers/config.js";

const A = "0x000000000000000000000000000000000000000a";
const B = "0x000000000000000000000000000000000000000b";
const C = "0x000000000000000000000000000000000000000c";
const price = (pricePerUnit: bigint) => ({ pricePerUnit, pixelsPerUnit: 1n });
const noStake = new Map<string, bigint>();

/** A logger that records warn messages. */
function recordingLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger = {
    warn: (_o: unknown, msg: string) => warnings.push(msg),
    debug: () => {},
    info: () => {},
    error: () => {},
    child: () => logger,
  } as unknown as Logger;
  return { logger, warnings };
}

describe("ProbabilitySelection filters (go-livepeer selection_algorithm.go step 1 and 2)", () => {
  const cands = [
    { address: A, price: price(200n) },
    { address: B, price: price(300n) },
  ];

  it("-ignoreMaxPriceIfNeeded keeps every candidate when none is under the ceiling, and only then", () => {
    const strict = new ProbabilitySelection(DEFAULT_SELECTION_WEIGHTS, { random: () => 0.99 });
    expect(strict.select(cands, noStake, Rat.of(100n))).toBeNull();
    const lenient = new ProbabilitySelection(
      DEFAULT_SELECTION_WEIGHTS,
      { random: () => 0.99 },
      {
        ignoreMaxPriceIfNeeded: true,
      },
    );
    expect(lenient.select(cands, noStake, Rat.of(100n))).toBe(B);
    // One under the ceiling: the filter applies as usual, whatever the draw.
    const mixed = [...cands, { address: C, price: price(50n) }];
    expect(lenient.select(mixed, noStake, Rat.of(100n))).toBe(C);
  });

  it("-minPerfScore drops low scores when scores are known; keeps all with a warning when none pass", () => {
    const { logger, warnings } = recordingLogger();
    const sel = new ProbabilitySelection(
      DEFAULT_SELECTION_WEIGHTS,
      { random: () => 0, logger },
      {
        minPerfScore: 0.5,
      },
    );
    const c = [
      { address: A, price: price(1n) },
      { address: B, price: price(1n) },
      { address: C, price: price(1n) },
    ];
    // A scores too low, C has no score (counts as 0): only B is left.
    expect(
      sel.select(
        c,
        noStake,
        null,
        new Map([
          [A, 0.4],
          [B, 0.5],
        ]),
      ),
    ).toBe(B);
    expect(warnings).toEqual([]);
    // Nobody passes: all kept (r = 0 takes the first), with a warning.
    expect(sel.select(c, noStake, null, new Map([[A, 0.1]]))).toBe(A);
    expect(warnings).toEqual(["no orchestrator has at least -minPerfScore; selecting among all of them"]);
    // Unknown scores (none fetched yet): no filter.
    expect(sel.select(c, noStake, null, new Map())).toBe(A);
    expect(sel.select(c, noStake, null, null)).toBe(A);
    // The perf filter runs before the price filter.
    expect(sel.select(c.slice(0, 2), noStake, Rat.of(1n), new Map([[B, 0.9]]))).toBe(B);
  });
});

describe("chainSelection", () => {
  it("hands the live perf scores and the ceiling to the algorithm on every choice", () => {
    const alg = new ProbabilitySelection(
      DEFAULT_SELECTION_WEIGHTS,
      { random: () => 0 },
      { minPerfScore: 0.5 },
    );
    let scores = new Map([[B, 0.9]]);
    const sel = chainSelection(
      alg,
      { stakes: () => noStake, observed: () => {} },
      () => null,
      silentLogger(),
      () => scores,
    );
    const c = [
      { address: A, price: price(1n) },
      { address: B, price: price(1n) },
    ];
    expect(sel.choose(c)).toBe(B);
    scores = new Map([[A, 0.9]]);
    expect(sel.choose(c)).toBe(A);
  });
});

describe("parsePerfScores", () => {
  it("reads the region's scores by lower-case address and skips malformed entries", () => {
    const body = JSON.stringify({
      [A.toUpperCase().replace("0X", "0x")]: { FRA: { score: 0.9, latency: 1 }, MDW: { score: 0.2 } },
      [B]: { FRA: { score: "high" } },
      [C]: { MDW: { score: 0.7 } },
      "not-an-address": { FRA: { score: 1 } },
      "0x000000000000000000000000000000000000000d": null,
    });
    expect([...parsePerfScores(body, "fra")]).toEqual([[A, 0.9]]);
    expect([...parsePerfScores(body, "MDW")].sort()).toEqual([
      [A, 0.2],
      [C, 0.7],
    ]);
  });

  it("refuses an answer that is not a JSON object, without quoting it", () => {
    expect(() => parsePerfScores("<html>secret-ish</html>", "FRA")).toThrow(
      "perf stats answer is not valid JSON",
    );
    expect(() => parsePerfScores("[1,2]", "FRA")).toThrow("not a JSON object");
    expect(() => parsePerfScores("null", "FRA")).toThrow("not a JSON object");
  });
});

describe("PerfScores against a local HTTP server", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A server whose answer the test sets; "hang" never answers. */
  async function statsServer() {
    let answer: { status: number; body: string } | "hang" = { status: 200, body: "{}" };
    let requests = 0;
    const server = http.createServer((_req, res) => {
      requests += 1;
      if (answer === "hang") return;
      res.writeHead(answer.status, { "content-type": "application/json" }).end(answer.body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanups.push(
      () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    );
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/scores.json`,
      set: (a: typeof answer) => {
        answer = a;
      },
      get requests() {
        return requests;
      },
    };
  }

  it("fetches at start and every 10 minutes; bad answers keep the last good scores", async () => {
    const srv = await statsServer();
    const http = new HttpClient({ insecureTls: false });
    cleanups.push(() => http.close());
    const clock = new ManualClock();
    const { logger, warnings } = recordingLogger();
    const perf = new PerfScores(
      { url: srv.url, region: "FRA", timeoutMs: 300, maxBytes: 1000 },
      { http, logger, clock },
    );
    cleanups.push(() => perf.stop());
    srv.set({ status: 200, body: JSON.stringify({ [A]: { FRA: { score: 0.8 } } }) });
    // Start waits for the first answer.
    await perf.start();
    expect(perf.scores().get(A)).toBe(0.8);
    expect(srv.requests).toBe(1);

    const tick = async () => {
      await clock.advance(10 * 60 * 1000);
      await perf.refresh();
    };
    // Garbage JSON, an error status, an oversize answer and a timeout: each logged, scores kept.
    srv.set({ status: 200, body: "garbage{" });
    await tick();
    srv.set({ status: 500, body: "{}" });
    await tick();
    srv.set({ status: 200, body: JSON.stringify({ [B]: { FRA: { score: 1 } }, pad: "x".repeat(2000) }) });
    await tick();
    srv.set("hang");
    await tick();
    expect(srv.requests).toBe(5);
    expect(perf.scores().get(A)).toBe(0.8);
    expect(perf.scores().has(B)).toBe(false);
    expect(warnings).toEqual(
      Array(4).fill("unable to fetch orchestrator perf scores; keeping the last ones"),
    );

    // A good answer replaces them.
    srv.set({ status: 200, body: JSON.stringify({ [B]: { FRA: { score: 0.3 } } }) });
    await tick();
    expect([...perf.scores()]).toEqual([[B, 0.3]]);
    await perf.stop();
    await clock.advance(60 * 60 * 1000);
    expect(srv.requests).toBe(6);
  });
});

describe("OrchestratorPool -extraNodes and -ignoreMaxPriceIfNeeded", () => {
  const caps = jobCapabilities([{ ...PRESETS["P240p30fps16x9"]! }]);
  const info = (uri: string, opts: { nodes?: string[]; price?: bigint } = {}): OrchestratorInfo =>
    create(OrchestratorInfoSchema, {
      transcoder: uri,
      capabilities: caps,
      nodes: opts.nodes ?? [],
      priceInfo: { pricePerUnit: opts.price ?? 1n, pixelsPerUnit: 1n },
      ticketParams: { recipient: new Uint8Array(20) },
      authToken: { token: new Uint8Array(32), sessionId: `s-${uri}`, expiration: 4_000_000_000n },
    });

  async function discover(clock: ManualClock, p: OrchestratorPool) {
    let done = false;
    const r = p.refresh().finally(() => {
      done = true;
    });
    while (!done) await clock.advance(50);
    await r;
    return p.known.map((s) => s.uri).sort();
  }

  it("queries up to N advertised nodes not seen yet, one level deep only", async () => {
    const answers: Record<string, OrchestratorInfo> = {
      "https://a:1": info("a", {
        nodes: ["https://b:1", "not a url at all", "https://a:1", "n1:2", "https://n2:3", "https://n3:4"],
      }),
      "https://b:1": info("b", { nodes: ["https://n1:2"] }),
      "https://n1:2": info("n1", { nodes: ["https://deep:9"] }),
      "https://n2:3": info("n2"),
      "https://n3:4": info("n3"),
      "https://deep:9": info("deep"),
    };
    const run = async (extraNodes: number) => {
      const clock = new ManualClock();
      const calls: string[] = [];
      const client = {
        getInfo: (uri: string) =>
          new Promise<OrchestratorInfo>((resolve, reject) =>
            clock.setTimeout(() => {
              calls.push(uri);
              const a = answers[uri];
              if (a) resolve(a);
              else reject(new Error("unknown"));
            }, 100),
          ),
      };
      const p = new OrchestratorPool(
        {
          list: new StaticOrchestrators(["https://a:1", "https://b:1"]),
          caps,
          discoveryTimeoutMs: 500,
          extraNodes,
        },
        { client, logger: silentLogger(), clock },
      );
      return { known: await discover(clock, p), calls: calls.sort() };
    };
    expect(await run(0)).toEqual({
      known: ["https://a:1", "https://b:1"],
      calls: ["https://a:1", "https://b:1"],
    });
    // a's list: b is a candidate already, garbage and itself are skipped; n1 and n2 fill N = 2.
    // b advertises n1 too: asked once. n1's own nodes (deep) are never followed.
    const two = await run(2);
    expect(two.known).toEqual(["https://a:1", "https://b:1", "https://n1:2", "https://n2:3"]);
    expect(two.calls).toEqual(["https://a:1", "https://b:1", "https://n1:2", "https://n2:3"]);
  });

  it("uses orchestrators above the ceiling only when none is under it, with -ignoreMaxPriceIfNeeded", async () => {
    const MAX = 10n;
    /** Payments refusing prices above MAX unless told to ignore the ceiling. */
    const payments = {
      started: [] as string[],
      async refusal(i: OrchestratorInfo, opts: { ignoreMaxPrice?: boolean } = {}) {
        if (!opts.ignoreMaxPrice && i.priceInfo!.pricePerUnit > MAX) return "price is above -maxPricePerUnit";
        return i.transcoder === "broken" ? "invalid ticket params" : null;
      },
      aboveMaxPrice: (i: OrchestratorInfo) => i.priceInfo!.pricePerUnit > MAX,
      startSession(uri: string) {
        payments.started.push(uri);
        return { uri } as unknown as PaymentSession;
      },
      endSession() {},
    };
    const run = async (prices: Record<string, bigint>, ignoreMaxPriceIfNeeded: boolean) => {
      const clock = new ManualClock();
      payments.started = [];
      const { logger, warnings } = recordingLogger();
      const client = {
        getInfo: (uri: string) =>
          new Promise<OrchestratorInfo>((resolve) =>
            clock.setTimeout(
              () => resolve(info(uri.includes("broken") ? "broken" : uri, { price: prices[uri]! })),
              100,
            ),
          ),
      };
      const p = new OrchestratorPool(
        {
          list: new StaticOrchestrators(Object.keys(prices)),
          caps,
          discoveryTimeoutMs: 500,
          ignoreMaxPriceIfNeeded,
        },
        { client, logger, clock, payments },
      );
      const known = await discover(clock, p);
      return { known, started: payments.started.sort(), warnings };
    };
    const expensive = { "https://x:1": 50n, "https://y:1": 60n, "https://broken:1": 70n };
    expect((await run(expensive, false)).known).toEqual([]);
    const all = await run(expensive, true);
    // Those refused only for their price are used; the one with bad params is not.
    expect(all.known).toEqual(["https://x:1", "https://y:1"]);
    expect(all.started).toEqual(["https://x:1", "https://y:1"]);
    expect(all.warnings).toContain(
      "no orchestrator is priced at or under -maxPricePerUnit; -ignoreMaxPriceIfNeeded uses those above it",
    );
    // One under the ceiling: the expensive ones stay out.
    const mixed = await run({ ...expensive, "https://cheap:1": 5n }, true);
    expect(mixed.known).toEqual(["https://cheap:1"]);
    expect(mixed.started).toEqual(["https://cheap:1"]);
  });
});

describe("gateway selection flags in the config", () => {
  const onChain = [
    "-gateway",
    "-network",
    "devnet",
    "-ethUrl",
    "http://x",
    "-ethController",
    `0x${"0".repeat(39)}1`,
  ];

  it("reach the gateway's config: defaults, given values, the region upper-cased", () => {
    const d = ok(onChain).gateway!;
    expect([d.extraNodes, d.ignoreMaxPriceIfNeeded, d.minPerfScore, d.orchPerfStatsUrl, d.region]).toEqual([
      0,
      false,
      0,
      "",
      "",
    ]);
    const g = ok([
      ...onChain,
      "-extraNodes",
      "3",
      "-ignoreMaxPriceIfNeeded",
      "-minPerfScore",
      "0.6",
      "-orchPerfStatsUrl",
      "https://stats.example/scores.json",
      "-region",
      "fra",
    ]).gateway!;
    expect([g.extraNodes, g.ignoreMaxPriceIfNeeded, g.minPerfScore, g.orchPerfStatsUrl, g.region]).toEqual([
      3,
      true,
      0.6,
      "https://stats.example/scores.json",
      "FRA",
    ]);
    // -extraNodes acts offchain too.
    expect(ok(["-gateway", "-extraNodes", "2"]).gateway?.extraNodes).toBe(2);
  });

  it("refuse bad values, warn when the perf flags cannot act, and say they do nothing offchain", () => {
    expect(problems(["-gateway", "-extraNodes", "-1"])).toContain(
      "-extraNodes must be at least 0, provided -1",
    );
    expect(
      ok(["-orchestrator", "-transcoder", "-serviceAddr", "127.0.0.1:8935", "-extraNodes", "2"]).warnings,
    ).toContain("-extraNodes has no effect without the gateway role");
    expect(problems([...onChain, "-minPerfScore", "-0.5"])).toContain(
      "-minPerfScore must be a number at least 0, provided -0.5",
    );
    expect(problems([...onChain, "-orchPerfStatsUrl", "ftp://x/y", "-region", "FRA"])).toContain(
      "-orchPerfStatsUrl must be an http:// or https:// URL, provided ftp://x/y",
    );
    const half = ok([...onChain, "-orchPerfStatsUrl", "http://s/x", "-minPerfScore", "0.5"]);
    expect(half.warnings).toContain("-orchPerfStatsUrl and -region work only together; perf scores are off");
    expect(half.warnings).toContain("-minPerfScore has no effect without -orchPerfStatsUrl and -region");
    expect(half.gateway?.orchPerfStatsUrl).toBe("");
    const off = ok(["-gateway", "-ignoreMaxPriceIfNeeded", "-minPerfScore", "1", "-region", "FRA"]).warnings;
    for (const f of ["ignoreMaxPriceIfNeeded", "minPerfScore", "region"])
      expect(off).toContain(`-${f} has no effect with -network offchain`);
  });
});
