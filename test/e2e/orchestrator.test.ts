import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { probe } from "../../src/media/probe.js";
import { grpcClients } from "../helpers/grpcClient.js";
import { h2request } from "../helpers/h2.js";
import { LpNodeProcess } from "../helpers/lpNode.js";
import { makeClip } from "../helpers/media.js";
import { tempDir } from "../helpers/tmp.js";
import { waitFor } from "../helpers/waitFor.js";
import { decodeResult, P240, P360, segmentHeaders } from "../helpers/wireClient.js";

const SECRET = "e2e-secret";
const running: LpNodeProcess[] = [];
let clip: Buffer;

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.kill()));
});
beforeAll(() => {
  clip = readFileSync(makeClip({ width: 640, height: 360, seconds: 2 }));
});

const tmp = () => tempDir("lp-e2e-");

function spawnNode(args: string[]): LpNodeProcess {
  const p = new LpNodeProcess([...args, "-cliAddr", "127.0.0.1:0", "-datadir", tmp()]);
  running.push(p);
  return p;
}

async function orchPort(p: LpNodeProcess): Promise<number> {
  const line = await p.waitFor((l) => l["msg"] === "orchestrator TLS port listening");
  return Number(String(line["addr"]).split(":").pop());
}

async function statusOf(p: LpNodeProcess) {
  const port = await p.cliPort();
  return (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as Record<string, unknown>;
}

async function transcodeThrough(port: number, seq: number, profiles = [P240, P360]) {
  const grpc = grpcClients(`127.0.0.1:${port}`);
  try {
    const info = await grpc.getOrchestrator({});
    const res = await h2request(`https://127.0.0.1:${port}`, "/segment", {
      method: "POST",
      headers: segmentHeaders(info.auth_token, { seq, data: clip, profiles }),
      body: clip,
      timeoutMs: 60_000,
    });
    expect(res.status).toBe(200);
    return { info, result: decodeResult(res.body) };
  } finally {
    grpc.close();
  }
}

async function checkRendition(url: string, w: number, h: number, pixels: number) {
  const dl = await h2request(new URL(url).origin, new URL(url).pathname);
  expect(dl.status).toBe(200);
  const f = join(tmp(), "r.ts");
  writeFileSync(f, dl.body);
  const p = await probe(f, { countFrames: true });
  expect(p.video).toMatchObject({ codec: "h264", width: w, height: h });
  expect(p.durationSec).toBeGreaterThan(1.8);
  expect(p.durationSec).toBeLessThan(2.3);
  expect(pixels).toBe(p.video!.frames * w * h);
}

describe("orchestrator with a local transcoder (spawned lp-node)", () => {
  it("discovers, takes a real segment and serves correct renditions", async () => {
    const o = spawnNode([
      "--mode",
      "orchestrator,transcoder",
      "-serviceAddr",
      "127.0.0.1:0",
      "-httpAddr",
      "127.0.0.1:0",
    ]);
    const port = await orchPort(o);
    const { info, result } = await transcodeThrough(port, 3);
    expect(info.transcoder).toBe(`https://127.0.0.1:${port}`);
    expect(result.result).toBe("data");
    const [a, b] = result.data.segments;
    await checkRendition(a.url, 426, 240, a.pixels);
    await checkRendition(b.url, 640, 360, b.pixels);
    const status = await statusOf(o);
    expect(status["LocalTranscoding"]).toBe(true);
    o.child.kill("SIGTERM");
    expect((await o.exited).code).toBe(0);
  });

  it("reports a non-video body as a transcode error and keeps serving", async () => {
    const o = spawnNode([
      "--mode",
      "orchestrator,transcoder",
      "-serviceAddr",
      "127.0.0.1:0",
      "-httpAddr",
      "127.0.0.1:0",
    ]);
    const port = await orchPort(o);
    const grpc = grpcClients(`127.0.0.1:${port}`);
    const info = await grpc.getOrchestrator({});
    const junk = Buffer.alloc(4000, 7);
    const res = await h2request(`https://127.0.0.1:${port}`, "/segment", {
      method: "POST",
      headers: segmentHeaders(info.auth_token, { seq: 1, data: junk, profiles: [P240] }),
      body: junk,
    });
    expect(decodeResult(res.body).error).toBe("Invalid data found when processing input");
    expect((await grpc.ping(Buffer.from("x"))).value.length).toBe(0);
    grpc.close();
  });
});

describe("orchestrator with remote transcoder processes", () => {
  it("serves segments through transcoders, survives losing one mid-segment, and takes it back", async () => {
    const o = spawnNode([
      "--mode",
      "orchestrator",
      "-orchSecret",
      SECRET,
      "-serviceAddr",
      "127.0.0.1:0",
      "-httpAddr",
      "127.0.0.1:0",
      "-maxSessions",
      "auto",
    ]);
    const port = await orchPort(o);
    const tArgs = [
      "--mode",
      "transcoder",
      "-orchAddr",
      `127.0.0.1:${port}`,
      "-orchSecret",
      SECRET,
      "-maxSessions",
      "4",
    ];
    const t1 = spawnNode(tArgs);
    const t2 = spawnNode(tArgs);
    await waitFor(async () => (await statusOf(o))["RegisteredTranscodersNumber"] === 2, { intervalMs: 100 });
    const status = await statusOf(o);
    expect(status["RegisteredTranscoders"]).toEqual([
      expect.objectContaining({ Capacity: 4 }),
      expect.objectContaining({ Capacity: 4 }),
    ]);

    // Kill whichever transcoder receives the task, while it works on it.
    const pending = transcodeThrough(port, 1);
    const holder = await Promise.race(
      [t1, t2].map((t) => t.waitFor((l) => l["msg"] === "task received", 30_000).then(() => t)),
    );
    holder.child.kill("SIGKILL");
    const { result } = await pending;
    expect(result.result).toBe("data");
    await checkRendition(result.data.segments[0].url, 426, 240, result.data.segments[0].pixels);
    await waitFor(async () => (await statusOf(o))["RegisteredTranscodersNumber"] === 1, { intervalMs: 100 });

    const t3 = spawnNode(tArgs);
    await t3.waitFor((l) => l["msg"] === "registering with orchestrator");
    await waitFor(async () => (await statusOf(o))["RegisteredTranscodersNumber"] === 2, { intervalMs: 100 });
  });

  it("a transcoder with the wrong secret exits non-zero with a clear message", async () => {
    const o = spawnNode([
      "--mode",
      "orchestrator",
      "-orchSecret",
      SECRET,
      "-serviceAddr",
      "127.0.0.1:0",
      "-httpAddr",
      "127.0.0.1:0",
    ]);
    const port = await orchPort(o);
    const t = spawnNode([
      "--mode",
      "transcoder",
      "-orchAddr",
      `127.0.0.1:${port}`,
      "-orchSecret",
      "not-the-secret",
    ]);
    const { code } = await t.exited;
    expect(code).toBe(1);
    expect(t.stderr).toContain("invalid secret");
    expect(t.stderr).not.toContain("not-the-secret");
  });
});
