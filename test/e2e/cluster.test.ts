import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type Address, createPublicClient, http, type PublicClient, parseEther } from "viem";
import { foundry } from "viem/chains";
import { afterAll, describe, expect, it } from "vitest";
import { bondingManagerAbi, ticketBrokerAbi } from "../../src/eth/abis.js";
import { isAlive } from "../../src/utils/process.js";
import type { DevnetDoc } from "../helpers/devnetDoc.js";
import { spawnLpNode } from "../helpers/lpNode.js";
import { makeClip, removeClips } from "../helpers/media.js";
import { pushRtmp } from "../helpers/rtmp.js";
import { tempDir } from "../helpers/tmp.js";
import { waitFor } from "../helpers/waitFor.js";

// `lp-node devnet --cluster` as a CI user runs it: one command, a paid stream through it, and the
// money on chain afterwards.

interface ClusterDoc {
  gateway: { address: Address; rtmp: string; http: string; cli: string; log: string };
  orchestrators: { address: Address; serviceURI: string; cli: string; log: string }[];
  devnet: Omit<DevnetDoc, "flags">;
}

type Tickets = Record<"Pending" | "Submitted" | "Redeemed" | "Failed", { Count: number; FaceValue: string }>;

// A failed test leaves no cluster behind: the setup file's stopAllLpNodes kills the spawned
// devnet, and its nodes and anvil follow by their parent-death signal.
afterAll(() => {
  removeClips();
});

const getJson = async <T>(url: string): Promise<T> => (await (await fetch(url)).json()) as T;

describe("lp-node devnet --cluster", () => {
  it("runs a paid cluster: a 20 s stream is paid with tickets, the winners are redeemed and move exactly their face values, reward is called once a round, and SIGTERM leaves no process", async () => {
    const dir = tempDir("lp-cluster-");
    const { child, stdout, stderr, exited } = spawnLpNode([
      "devnet",
      "--cluster",
      "--dir",
      dir,
      "--port",
      "0",
      "--free-ports",
      "--transcoding-options",
      "P240p30fps16x9",
    ]);
    // The clip is made while the cluster starts.
    const clip = makeClip({ seconds: 20, width: 320, height: 240, format: "mp4" });
    const docPath = join(dir, "cluster.json");
    await waitFor(() => statSync(docPath, { throwIfNoEntry: false }) !== undefined, {
      what: `cluster.json (stderr so far:\n${stderr()})`,
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    const doc = JSON.parse(readFileSync(docPath, "utf8")) as ClusterDoc;
    expect(statSync(docPath).mode & 0o777).toBe(0o600);
    expect(doc.orchestrators).toHaveLength(2);
    expect(doc.devnet.chainId).toBe(31337);
    expect(doc.devnet.accounts.map((a) => a.address)).toEqual([
      ...doc.orchestrators.map((o) => o.address),
      doc.gateway.address,
    ]);
    for (const o of doc.orchestrators) expect(o.serviceURI).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(doc.gateway.rtmp).toMatch(/^rtmp:\/\/127\.0\.0\.1:\d+$/);
    expect(stdout()).toContain(`${doc.gateway.http}/stream/<stream>.m3u8`);
    for (const node of [doc.gateway, ...doc.orchestrators]) expect(stdout()).toContain(`${node.cli}/status`);
    // Every node answers /status once cluster.json is there.
    for (const node of [doc.gateway, ...doc.orchestrators]) {
      expect((await fetch(`${node.cli}/status`)).status).toBe(200);
    }

    const publicClient = createPublicClient({
      chain: foundry,
      transport: http(doc.devnet.rpcUrl),
    }) as PublicClient;
    const c = doc.devnet.contracts;
    // The orchestrators are registered with their service URIs and active from the start.
    for (const o of doc.orchestrators) {
      expect(
        await publicClient.readContract({
          address: c.BondingManager!,
          abi: bondingManagerAbi,
          functionName: "isActiveTranscoder",
          args: [o.address],
        }),
      ).toBe(true);
    }

    const push = await pushRtmp(`${doc.gateway.rtmp}/live/paid`, clip);
    expect(push.code, push.stderr).toBe(0);
    type GatewayStatus = {
      Streams: Record<
        string,
        { segmentsOk: number; segmentsFailed: number; ended: boolean; payment: unknown }
      >;
    };
    const stream = await waitFor(
      async () => {
        const s = (await getJson<GatewayStatus>(`${doc.gateway.cli}/status`)).Streams["paid"];
        return s?.ended ? s : null;
      },
      { what: "the stream to end", timeoutMs: 20_000, intervalMs: 200 },
    );
    expect(stream.segmentsOk).toBe(10);
    expect(stream.segmentsFailed).toBe(0);
    expect(stream.payment).not.toBeNull();

    // Every rendition playlist is complete: ended, its live window the last six of the ten
    // segments, and every one of the ten served.
    const master = await (await fetch(`${doc.gateway.http}/stream/paid.m3u8`)).text();
    for (const rendition of ["source", "P240p30fps16x9"]) {
      expect(master).toContain(`paid/${rendition}.m3u8`);
      const pl = await (await fetch(`${doc.gateway.http}/stream/paid/${rendition}.m3u8`)).text();
      expect(pl).toContain("#EXT-X-ENDLIST");
      expect(pl).toContain("#EXT-X-MEDIA-SEQUENCE:4");
      expect(pl.split("\n").filter((l) => l.startsWith("/stream/"))).toEqual(
        [4, 5, 6, 7, 8, 9].map((i) => `/stream/paid/${rendition}/${i}.ts`),
      );
      for (let i = 0; i < 10; i++) {
        const res = await fetch(`${doc.gateway.http}/stream/paid/${rendition}/${i}.ts`);
        expect(res.status, `${rendition} segment ${i}`).toBe(200);
        expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(0);
      }
    }

    // Each orchestrator redeems every ticket it won once the ticket's params expire (40 blocks).
    const tickets = () =>
      Promise.all(
        doc.orchestrators.map(async (o) => (await getJson<{ Tickets: Tickets }>(`${o.cli}/status`)).Tickets),
      );
    const won = (await tickets()).reduce(
      (n, t) => n + t.Pending.Count + t.Submitted.Count + t.Redeemed.Count + t.Failed.Count,
      0,
    );
    // 10 segments at 1 ticket or more each, winning 1 in 2: several winners (none is a 2^-10 chance).
    expect(won).toBeGreaterThanOrEqual(1);
    const redeemed = await waitFor(
      async () => {
        const all = await tickets();
        return all.every((t) => t.Pending.Count === 0 && t.Submitted.Count === 0) ? all : null;
      },
      { what: "every winning ticket redeemed", timeoutMs: 70_000, intervalMs: 500 },
    );
    expect(redeemed.reduce((n, t) => n + t.Failed.Count, 0)).toBe(0);
    expect(redeemed.reduce((n, t) => n + t.Redeemed.Count, 0)).toBe(won);

    const events = await publicClient.getContractEvents({
      address: c.TicketBroker!,
      abi: ticketBrokerAbi,
      eventName: "WinningTicketRedeemed",
      fromBlock: 0n,
    });
    expect(events).toHaveLength(won);
    const total = events.reduce((sum, e) => sum + e.args.faceValue!, 0n);
    // The gateway's deposit fell by exactly the redeemed face values...
    const [sender] = await publicClient.readContract({
      address: c.TicketBroker!,
      abi: ticketBrokerAbi,
      functionName: "getSenderInfo",
      args: [doc.gateway.address],
    });
    expect(sender.deposit).toBe(parseEther("100") - total);
    // ...and each orchestrator's fees rose by exactly the face values of the tickets it redeemed.
    for (const [i, o] of doc.orchestrators.entries()) {
      const mine = events
        .filter((e) => e.args.recipient === o.address)
        .reduce((sum, e) => sum + e.args.faceValue!, 0n);
      expect(mine).toBe(BigInt(redeemed[i]!.Redeemed.FaceValue));
      expect(
        await publicClient.readContract({
          address: c.BondingManager!,
          abi: bondingManagerAbi,
          functionName: "pendingFees",
          args: [o.address, 0n],
        }),
      ).toBe(mine);
    }

    // Reward: every orchestrator called it, never twice in one round.
    const rewards = await publicClient.getContractEvents({
      address: c.BondingManager!,
      abi: bondingManagerAbi,
      eventName: "Reward",
      fromBlock: 0n,
    });
    const perRound = new Map<string, number>();
    for (const e of rewards) {
      const key = `${e.args.transcoder} ${e.blockNumber / BigInt(doc.devnet.roundLength)}`;
      perRound.set(key, (perRound.get(key) ?? 0) + 1);
    }
    expect([...perRound.values()].every((n) => n === 1)).toBe(true);
    for (const o of doc.orchestrators) {
      expect(rewards.some((e) => e.args.transcoder === o.address)).toBe(true);
    }

    // SIGTERM stops every node, then the chain: no process is left.
    const pids = [...stderr().matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(4); // anvil and three nodes
    child.kill("SIGTERM");
    expect((await exited).code).toBe(0);
    for (const pid of pids) expect(isAlive(pid), `pid ${pid}`).toBe(false);
  }, 150_000);
});
