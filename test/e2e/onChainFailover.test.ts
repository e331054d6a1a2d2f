import { type Abi, type Address, type Hex, parseEther, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { beforeAll, describe, expect, it } from "vitest";
import { abis } from "../../src/eth/abis.js";
import { ANVIL_KEYS } from "../helpers/anvil.js";
import { LpNodeProcess } from "../helpers/lpNode.js";
import { makeClip, probeFrames, tempFile } from "../helpers/media.js";
import {
  fundSender,
  onChainGatewayArgs,
  onChainOrchestratorArgs,
  registerOrchestrator,
  stopNodesAndChain,
} from "../helpers/paidChain.js";
import { pushRtmp } from "../helpers/rtmp.js";
import { keystoreDataDir, startTestChain, type TestChain } from "../helpers/testChain.js";
import { waitFor } from "../helpers/waitFor.js";

// Two spawned lp-node orchestrators registered on a devnet and a spawned gateway that finds them
// there (no -orchAddr). The chain mines a block a second (anvil's interval mining, as the devnet
// cluster does) and the orchestrators initialise rounds and call reward on their own. The one the
// stream is on is SIGKILLed in the middle of the stream: the stream carries on on the other, every
// rendition playlist is whole, and each orchestrator called reward exactly once in every round it
// lived through from start to end.
//
// A round is 50 blocks (50 s at one block a second): to see three rounds begin without waiting
// minutes, the test skips to three blocks before a round's end (anvil_mine) once everything it
// wanted from that round has happened; the round change itself comes from the interval-mined
// blocks and the nodes' -initializeRound.

const PASSWORD = "correct horse";
const FACE = parseEther("0.01");
const DEPOSIT = parseEther("10");
const PROFILE = "P144p30fps16x9";
const CLIP_SECONDS = 18;
const [, orchKeyA, orchKeyB, gatewayKey] = ANVIL_KEYS;
let chain: TestChain;

beforeAll(async () => {
  chain = await startTestChain();
}, 60_000);
stopNodesAndChain(() => chain);

const rpc = (method: string, params: unknown[] = []) =>
  (chain.publicClient.request as unknown as (a: { method: string; params: unknown[] }) => Promise<unknown>)({
    method,
    params,
  });
const head = () => chain.publicClient.getBlockNumber({ cacheTime: 0 });
const roundsRead = <T>(functionName: string, blockNumber?: bigint) =>
  chain.publicClient.readContract({
    address: chain.dev.contracts.RoundsManager,
    abi: abis.RoundsManager as Abi,
    functionName,
    ...(blockNumber === undefined ? {} : { blockNumber }),
  }) as Promise<T>;

/** Mines (anvil_mine) up to three blocks before the current round ends; returns that round. */
async function skipToRoundEnd(): Promise<bigint> {
  const [round, start, length] = await Promise.all([
    roundsRead<bigint>("currentRound"),
    roundsRead<bigint>("currentRoundStartBlock"),
    roundsRead<bigint>("roundLength"),
  ]);
  const toMine = start + length - 3n - (await head());
  if (toMine > 0n) await rpc("anvil_mine", [toHex(toMine)]);
  return round;
}

/** Waits until `round` is the current round and initialised (by the orchestrators, not the test). */
async function roundInitialized(round: bigint): Promise<void> {
  await waitFor(
    async () =>
      (await roundsRead<bigint>("currentRound")) === round &&
      (await roundsRead<boolean>("currentRoundInitialized")),
    { what: `round ${round} initialised`, timeoutMs: 30_000, intervalMs: 200 },
  );
}

/** Every Reward event since `fromBlock`, each with the round of the block it landed in. */
async function rewards(fromBlock: bigint): Promise<{ transcoder: Address; round: bigint }[]> {
  const events = await chain.publicClient.getContractEvents({
    address: chain.dev.contracts.BondingManager,
    abi: abis.BondingManager as Abi,
    eventName: "Reward",
    fromBlock,
  });
  return Promise.all(
    events.map(async (e) => ({
      transcoder: (e.args as { transcoder: Address }).transcoder,
      round: await roundsRead<bigint>("currentRound", e.blockNumber!),
    })),
  );
}

/** Waits until each of `transcoders` has a Reward event in `round`. */
async function rewardedIn(round: bigint, transcoders: Address[], fromBlock: bigint): Promise<void> {
  await waitFor(
    async () => {
      const got = (await rewards(fromBlock)).filter((r) => r.round === round);
      return transcoders.every((t) => got.some((r) => r.transcoder === t));
    },
    {
      what: `reward called in round ${round} by ${transcoders.join(", ")}`,
      timeoutMs: 30_000,
      intervalMs: 250,
    },
  );
}

async function startOrchestrator(
  key: Hex,
): Promise<{ key: Hex; node: LpNodeProcess; uri: string; address: Address }> {
  const node = new LpNodeProcess(
    onChainOrchestratorArgs(chain, await keystoreDataDir(key, PASSWORD, "lp-failover-"), {
      password: PASSWORD,
      // Every ticket wins: the money path runs on each session.
      face: FACE,
      // No -reward: a registered orchestrator calls reward on its own, as go-livepeer decides.
      extra: ["-initializeRound", "-initializeRoundMaxDelay", "1s"],
    }),
  );
  const port = await node.orchestratorPort();
  return { key, node, uri: `https://127.0.0.1:${port}`, address: privateKeyToAccount(key).address };
}

interface StreamStatus {
  orchestrator: string | null;
  segmentsOk: number;
  segmentsFailed: number;
  segmentsRetried: number;
  ended: boolean;
  orchestratorsKnown: string[];
  suspended: string[];
  pool: { Url: string; SegmentsOk: number; SegmentsFailed: number }[];
}

describe("an on-chain gateway when one of two on-chain orchestrators dies mid-stream", () => {
  it("keeps the stream going on the other with whole playlists, and each orchestrator calls reward once in every round it lived through", async () => {
    const fromBlock = await head();
    // Registered (bonded, transcoder) before they start, so they decide to call reward by themselves.
    for (const key of [orchKeyA, orchKeyB]) await registerOrchestrator(chain, key);
    await fundSender(chain, gatewayKey, DEPOSIT, parseEther("1"));
    const clip = makeClip({ seconds: CLIP_SECONDS, width: 320, height: 240, format: "mp4" });

    // Both start in round r0, in which they are not active yet (bonded this round).
    const r0 = await roundsRead<bigint>("currentRound");
    const spawnedAt = await head();
    const orchs = await Promise.all([startOrchestrator(orchKeyA), startOrchestrator(orchKeyB)]);
    for (const o of orchs) await chain.send(o.key, "ServiceRegistry", "setServiceURI", [o.uri]);
    await Promise.all(orchs.map((o) => o.node.cliAddr()));
    expect(await roundsRead<bigint>("currentRound")).toBe(r0);

    // From here a block a second, as on the cluster; the nodes initialise each round themselves.
    await rpc("evm_setIntervalMining", [1]);
    await skipToRoundEnd();
    await roundInitialized(r0 + 1n);
    await rewardedIn(
      r0 + 1n,
      orchs.map((o) => o.address),
      fromBlock,
    );

    const gw = new LpNodeProcess(
      onChainGatewayArgs(chain, await keystoreDataDir(gatewayKey, PASSWORD, "lp-failover-"), {
        password: PASSWORD,
        face: FACE,
        extra: ["-transcodingOptions", PROFILE],
      }),
    );
    const httpAddr = await gw.gatewayHttpAddr();
    const rtmpAddr = await gw.listenAddr("RTMP server listening");
    const gatewayStatus = () =>
      gw.status<{
        RegisteredOrchestrators: { Address: string; ServiceURI: string; Active: boolean }[];
        Streams: Record<string, StreamStatus>;
      }>();
    // The gateway found both on chain.
    await waitFor(
      async () =>
        (await gatewayStatus()).RegisteredOrchestrators.filter((o) => o.Active)
          .map((o) => o.ServiceURI)
          .sort()
          .join() ===
        orchs
          .map((o) => o.uri)
          .sort()
          .join(),
      { what: "both orchestrators in the gateway's registry", timeoutMs: 20_000, intervalMs: 200 },
    );

    // Round r0 + 1 is over for both (each lived through all of it); the stream runs in r0 + 2.
    await skipToRoundEnd();
    await roundInitialized(r0 + 2n);
    await rewardedIn(
      r0 + 2n,
      orchs.map((o) => o.address),
      fromBlock,
    );

    const pushing = pushRtmp(`rtmp://${rtmpAddr}/live/failover`, clip);
    // A few segments in, the orchestrator the stream is on dies as soon as it logs a transcoded
    // segment: its reply may be on the wire or not yet sent, so the gateway can lose that segment
    // there and must get it done elsewhere.
    const transcoded = (l: Record<string, unknown>) => l["msg"] === "segment transcoded" && l["seqNo"] === 3;
    const waits = orchs.map((o) => o.node.waitFor(transcoded, 40_000).then(() => o));
    // Only one of them transcodes the stream: the other's wait times out later, unheard.
    for (const w of waits) w.catch(() => {});
    const dead = await Promise.race(waits);
    dead.node.child.kill("SIGKILL");
    const live = orchs.find((o) => o !== dead)!;
    await dead.node.kill();
    const killedAt = await head();
    expect(await roundsRead<bigint>("currentRound")).toBe(r0 + 2n);

    const push = await pushing;
    expect(push.code, push.stderr).toBe(0);
    const stream = await waitFor(
      async () => {
        const s = (await gatewayStatus()).Streams["failover"];
        return s?.ended ? s : null;
      },
      { what: "the stream to end", timeoutMs: 30_000, intervalMs: 200 },
    );
    // No segment failed for good: the one that was on the dead orchestrator went to the other.
    const segments = CLIP_SECONDS / 2;
    expect(stream.segmentsOk).toBe(segments);
    expect(stream.segmentsFailed).toBe(0);
    expect(stream.segmentsRetried).toBeGreaterThanOrEqual(1);
    expect(stream.orchestrator).toBe(live.uri);
    // The dead one is out of the stream's pool (suspended, or gone once discovery found it down).
    expect(stream.orchestratorsKnown).toEqual([live.uri]);
    expect(stream.suspended).not.toContain(live.uri);
    expect(stream.pool.find((p) => p.Url === live.uri)!.SegmentsOk).toBeGreaterThanOrEqual(1);
    expect(
      gw.lines.some(
        (l) => l["msg"] === "segment failed" && l["orchestrator"] === dead.uri && l["retryable"] === true,
      ),
    ).toBe(true);

    // Every rendition playlist is complete: ended, the live window the last six segments in
    // order, and every segment served.
    const master = await (await fetch(`http://${httpAddr}/stream/failover.m3u8`)).text();
    for (const rendition of ["source", PROFILE]) {
      expect(master).toContain(`failover/${rendition}.m3u8`);
      const pl = await (await fetch(`http://${httpAddr}/stream/failover/${rendition}.m3u8`)).text();
      expect(pl).toContain("#EXT-X-ENDLIST");
      expect(pl).toContain(`#EXT-X-MEDIA-SEQUENCE:${segments - 6}`);
      expect(pl.split("\n").filter((l) => l.startsWith("/stream/"))).toEqual(
        Array.from({ length: 6 }, (_, i) => `/stream/failover/${rendition}/${segments - 6 + i}.ts`),
      );
      for (let i = 0; i < segments; i++) {
        const res = await fetch(`http://${httpAddr}/stream/failover/${rendition}/${i}.ts`);
        expect(res.status, `${rendition} segment ${i}`).toBe(200);
        const data = Buffer.from(await res.arrayBuffer());
        // Transcoded by the orchestrator killed later (the first) and by the survivor (the last):
        // 144p's width, the 4:3 source's aspect kept, as go-livepeer scales.
        if (rendition === PROFILE && (i === 0 || i === segments - 1)) {
          const frames = probeFrames(tempFile(data, ".ts"));
          expect(frames.length, `${rendition} segment ${i}`).toBeGreaterThan(0);
          expect(frames[0]).toMatchObject({ width: 256, height: 192 });
        } else expect(data.byteLength).toBeGreaterThan(0);
      }
    }

    // The survivor alone starts round r0 + 3 and calls reward in it.
    await skipToRoundEnd();
    await roundInitialized(r0 + 3n);
    await rewardedIn(r0 + 3n, [live.address], fromBlock);
    const endedAt = await head();
    expect(live.node.child.exitCode).toBeNull();

    // Rounds each lived through whole: started after it spawned, ended before it died (or now).
    const [length, start] = await Promise.all([
      roundsRead<bigint>("roundLength"),
      roundsRead<bigint>("currentRoundStartBlock"),
    ]);
    const startOf = (r: bigint) => start - (r0 + 3n - r) * length;
    const wholeRounds = (from: bigint, to: bigint) =>
      [r0, r0 + 1n, r0 + 2n, r0 + 3n].filter((r) => startOf(r) > from && startOf(r + 1n) <= to);
    expect(wholeRounds(spawnedAt, killedAt)).toEqual([r0 + 1n]);
    expect(wholeRounds(spawnedAt, endedAt)).toEqual([r0 + 1n, r0 + 2n]);

    const all = await rewards(fromBlock);
    const count = (t: Address, r: bigint) => all.filter((e) => e.transcoder === t && e.round === r).length;
    expect(count(dead.address, r0 + 1n)).toBe(1);
    expect(count(live.address, r0 + 1n)).toBe(1);
    expect(count(live.address, r0 + 2n)).toBe(1);
    expect(count(live.address, r0 + 3n)).toBe(1);
    // Never in the round they were not active yet, never twice in a round, none from the dead one after it died.
    for (const o of orchs) expect(count(o.address, r0)).toBe(0);
    expect(count(dead.address, r0 + 2n)).toBeLessThanOrEqual(1);
    expect(count(dead.address, r0 + 3n)).toBe(0);
    expect(all.every((e) => orchs.some((o) => o.address === e.transcoder))).toBe(true);
  }, 150_000);
});
