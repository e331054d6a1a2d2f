import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { jobCapabilities } from "../../../src/gateway/OrchestratorClient.js";
import { StaticOrchestrators } from "../../../src/gateway/OrchestratorList.js";
import { OrchestratorPool, parseOrchAddrs } from "../../../src/gateway/OrchestratorPool.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { PRESETS } from "../../../src/media/profiles.js";
import { type OrchestratorInfo, OrchestratorInfoSchema } from "../../../src/protocol/gen/lp_rpc_pb.js";
import { ManualClock } from "../../helpers/clock.js";

const caps = jobCapabilities([{ ...PRESETS["P240p30fps16x9"]! }]);

/**
 * Orchestrators that answer GetOrchestrator after a delay on the manual clock (null: never),
 * with a token expiring at `expiresAt` (seconds).
 */
function fakeClient(clock: ManualClock, delays: Record<string, number | null>) {
  const calls: string[] = [];
  let expiresAt = clock.now() / 1000 + 1800;
  const client = {
    getInfo(uri: string): Promise<OrchestratorInfo> {
      calls.push(uri);
      const delay = delays[uri];
      return new Promise((resolve, reject) => {
        if (delay === null || delay === undefined) return;
        if (delay < 0) {
          clock.setTimeout(() => reject(new Error("connection refused")), -delay);
          return;
        }
        clock.setTimeout(
          () =>
            resolve(
              create(OrchestratorInfoSchema, {
                transcoder: uri,
                capabilities: caps,
                authToken: {
                  token: new Uint8Array(32),
                  sessionId: `s-${uri}`,
                  expiration: BigInt(Math.floor(expiresAt)),
                },
              }),
            ),
          delay,
        );
      });
    },
  };
  return { client, calls, setExpiry: (s: number) => (expiresAt = s) };
}

function pool(clock: ManualClock, uris: string[], client: ReturnType<typeof fakeClient>["client"]) {
  return new OrchestratorPool(
    { list: new StaticOrchestrators(uris), caps, discoveryTimeoutMs: 500 },
    { client, logger: silentLogger(), clock },
  );
}

/** Run select() while the clock moves in `step` ms steps; returns the pick and when it came. */
async function selectWhileTicking(
  clock: ManualClock,
  p: OrchestratorPool,
  exclude = new Set<string>(),
  last: string | null = null,
  step = 50,
) {
  const start = clock.now();
  let done = false;
  const picked = p.select(exclude, last).finally(() => {
    done = true;
  });
  while (!done && clock.now() - start < 20_000) await clock.advance(step);
  return { picked: await picked, afterMs: clock.now() - start };
}

describe("OrchestratorPool with a manual clock", () => {
  it("picks the lowest latency, keeps the last one while it works, and skips excluded ones", async () => {
    const clock = new ManualClock();
    const { client } = fakeClient(clock, { "https://a:1": 300, "https://b:2": 100, "https://c:3": 200 });
    const p = pool(clock, ["https://a:1", "https://b:2", "https://c:3"], client);
    const first = await selectWhileTicking(clock, p);
    expect(first.picked?.uri).toBe("https://b:2");
    expect(p.known.map((k) => [k.uri, k.latencyMs])).toEqual(
      expect.arrayContaining([
        ["https://a:1", 300],
        ["https://b:2", 100],
        ["https://c:3", 200],
      ]),
    );
    expect((await p.select(new Set(), "https://a:1"))?.uri).toBe("https://a:1");
    expect((await p.select(new Set(["https://b:2"]), null))?.uri).toBe("https://c:3");
  });

  it("waits the discovery timeout, doubling it while nobody answered, up to 6 s", async () => {
    const clock = new ManualClock();
    // Answers at 700 ms: the 500 ms wait finds nothing and doubles; the answer is taken at 1.5 s.
    const slow = fakeClient(clock, { "https://a:1": 700, "https://dead:1": null });
    const r1 = await selectWhileTicking(clock, pool(clock, ["https://a:1", "https://dead:1"], slow.client));
    expect(r1.picked?.uri).toBe("https://a:1");
    expect(r1.afterMs).toBe(1500);
    // Nobody answers: the wait ends at the 6 s cap with no session.
    const none = fakeClient(clock, { "https://dead:1": null });
    const r2 = await selectWhileTicking(clock, pool(clock, ["https://dead:1"], none.client));
    expect(r2.picked).toBeNull();
    expect(r2.afterMs).toBe(6000);
    // Everyone answered (here: refused) before the wait: no waiting at all.
    const refused = fakeClient(clock, { "https://x:1": -10 });
    const r3 = await selectWhileTicking(
      clock,
      pool(clock, ["https://x:1"], refused.client),
      new Set(),
      null,
      10,
    );
    expect(r3.picked).toBeNull();
    expect(r3.afterMs).toBe(10);
  });

  it("suspends a failing orchestrator for a number of refreshes, then takes it back", async () => {
    const clock = new ManualClock();
    const { client, calls } = fakeClient(clock, { "https://a:1": 100, "https://b:2": 200 });
    const p = pool(clock, ["https://a:1", "https://b:2"], client);
    expect((await selectWhileTicking(clock, p)).picked?.uri).toBe("https://a:1");
    p.suspend("https://a:1", 2);
    expect(p.isSuspended("https://a:1")).toBe(true);
    expect(p.suspendedList()).toEqual(["https://a:1"]);
    // Only b is left; a was dropped from the pool and stays suspended through one refresh.
    expect((await p.select(new Set(), "https://a:1"))?.uri).toBe("https://b:2");
    const once = p.refresh();
    await clock.advance(1000);
    await once;
    expect(p.isSuspended("https://a:1")).toBe(true);
    expect((await p.select(new Set(), null))?.uri).toBe("https://b:2");
    // The second refresh after the suspension ends it; discovery brings a back.
    const again = p.refresh();
    await clock.advance(1000);
    await again;
    expect(p.isSuspended("https://a:1")).toBe(false);
    expect((await p.select(new Set(), null))?.uri).toBe("https://a:1");
    expect(calls.filter((u) => u === "https://a:1").length).toBeGreaterThanOrEqual(2);
  });

  it("refreshes an auth token in its last 3 minutes, and suspends the orchestrator when that fails", async () => {
    const clock = new ManualClock();
    const delays: Record<string, number | null> = { "https://a:1": 100 };
    const fake = fakeClient(clock, delays);
    const p = pool(clock, ["https://a:1"], fake.client);
    fake.setExpiry(clock.now() / 1000 + 1800);
    expect((await selectWhileTicking(clock, p)).picked?.uri).toBe("https://a:1");
    const before = fake.calls.length;
    // 28 min later the token has 2 min left: the next select asks again.
    await clock.advance(28 * 60_000);
    fake.setExpiry(clock.now() / 1000 + 1800);
    const r = await selectWhileTicking(clock, p);
    expect(r.picked?.uri).toBe("https://a:1");
    expect(fake.calls.length).toBe(before + 1);
    expect(Number(r.picked!.info.authToken!.expiration)).toBeGreaterThan(clock.now() / 1000 + 1700);
    // Another 28 min and the refresh fails: suspended, nothing to select.
    await clock.advance(28 * 60_000);
    delays["https://a:1"] = -10;
    expect((await selectWhileTicking(clock, p)).picked).toBeNull();
    expect(p.isSuspended("https://a:1")).toBe(true);
  });
});

describe("parseOrchAddrs", () => {
  it("adds https:// and the default port 8935", () => {
    expect(parseOrchAddrs("a.example, http://b:1 ,https://c")).toEqual([
      "https://a.example:8935",
      "http://b:1",
      "https://c:8935",
    ]);
  });
});
