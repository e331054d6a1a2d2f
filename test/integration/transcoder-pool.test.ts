import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/logger/logger.js";
import { TranscoderWorker } from "../../src/transcoder/TranscoderWorker.js";
import { grpcClients } from "../helpers/grpcClient.js";
import { h2request } from "../helpers/h2.js";
import {
  EchoTranscoder,
  ORCH_SECRET,
  type RunningOrchestrator,
  startOrchestrator,
} from "../helpers/orchestrator.js";
import { waitFor } from "../helpers/waitFor.js";
import { decodeResult, P240, P360, segmentHeaders } from "../helpers/wireClient.js";

let orch: RunningOrchestrator;
let grpc: ReturnType<typeof grpcClients>;
const workers: TranscoderWorker[] = [];

function worker(transcoder: EchoTranscoder, opts: { secret?: string; capacity?: number } = {}) {
  const fatal: Error[] = [];
  const w = new TranscoderWorker(
    {
      orchAddr: `127.0.0.1:${orch.port}`,
      secret: opts.secret ?? ORCH_SECRET,
      capacity: opts.capacity ?? 2,
      initialBackoffMs: 100,
    },
    { logger: silentLogger(), transcoder, fatal: (e) => fatal.push(e) },
  );
  workers.push(w);
  return { w, fatal };
}

/** Poll until `cond` holds (the shared waitFor, at 20 ms steps). */
const until = (cond: () => boolean, ms = 10_000) => waitFor(cond, { timeoutMs: ms, intervalMs: 20 });

const registered = () => orch.node.status().RegisteredTranscodersNumber;

const usedSessions = new Set<string>();

async function sendSegment(seq: number, token?: unknown, profiles = [P240, P360]) {
  // biome-ignore lint/suspicious/noExplicitAny: grpc-js decoded message
  const auth: any = token ?? (await grpc.getOrchestrator({})).auth_token;
  usedSessions.add(auth.session_id);
  const data = Buffer.from(`segment ${seq}`);
  const res = await h2request(orch.uri, "/segment", {
    method: "POST",
    headers: segmentHeaders(auth, { seq, data, profiles, durationMs: 500 }),
    body: data,
    timeoutMs: 60_000,
  });
  return { status: res.status, result: res.status === 200 ? decodeResult(res.body) : null, auth, data };
}

beforeAll(async () => {
  orch = await startOrchestrator(null, ["-maxSessions", "auto"]);
  grpc = grpcClients(`127.0.0.1:${orch.port}`);
});
afterEach(async () => {
  for (const sid of usedSessions) orch.orchestrator.endSession(sid);
  usedSessions.clear();
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await until(() => registered() === 0);
});
afterAll(async () => {
  grpc.close();
  await orch.stop();
});

describe("remote transcoders", () => {
  it("with none registered, the orchestrator advertises no transcoding and maxSessions auto is 0", async () => {
    await expect(grpc.getOrchestrator({})).rejects.toMatchObject({ code: 2 });
  });

  it("refuses a wrong secret as fatal", async () => {
    const { w, fatal } = worker(new EchoTranscoder(), { secret: "wrong" });
    await w.start();
    await until(() => fatal.length > 0);
    expect(fatal[0]!.message).toMatch(/invalid secret/);
    expect(registered()).toBe(0);
  });

  it("sends segments through registered transcoders, one session sticking to one transcoder", async () => {
    const a = new EchoTranscoder();
    const b = new EchoTranscoder();
    await worker(a).w.start();
    await worker(b).w.start();
    await until(() => registered() === 2);
    const status = orch.node.status();
    expect(status.RegisteredTranscoders.map((t) => t.Capacity)).toEqual([2, 2]);
    const info = await grpc.getOrchestrator({});
    expect(BigInt(info.capabilities.bitstring[0]) & 1n).toBe(1n);
    const first = await sendSegment(1, info.auth_token);
    expect(first.result.result).toBe("data");
    expect(first.result.data.segments).toHaveLength(2);
    expect(first.result.data.segments[1].pixels).toBe(640 * 360);
    const dl = await h2request(orch.uri, new URL(first.result.data.segments[0].url).pathname);
    expect(dl.body.toString()).toBe("segment 1");
    for (let seq = 2; seq <= 4; seq++)
      expect((await sendSegment(seq, info.auth_token)).result.result).toBe("data");
    const counts = [a.jobs.length, b.jobs.length].sort();
    expect(counts).toEqual([0, 4]);
    // A second session goes to the less loaded transcoder.
    expect((await sendSegment(1)).result.result).toBe("data");
    expect(a.jobs.length).toBeGreaterThan(0);
    expect(b.jobs.length).toBeGreaterThan(0);
    expect(
      orch.node
        .status()
        .RegisteredTranscoders.map((t) => t.Load)
        .sort(),
    ).toEqual([1, 1]);
  });

  it("a transcoder lost mid-task: the segment still succeeds on the other, and a restarted one rejoins", async () => {
    const slow = new EchoTranscoder();
    slow.delayMs = 5000;
    const fast = new EchoTranscoder();
    const s = worker(slow);
    await s.w.start();
    await until(() => registered() === 1);
    const pending = sendSegment(1);
    await until(() => slow.active === 1);
    await worker(fast).w.start();
    await until(() => registered() === 2);
    await s.w.stop(); // disconnects while holding the task
    const res = await pending;
    expect(res.result.result).toBe("data");
    expect(fast.jobs).toHaveLength(1);
    await until(() => registered() === 1);
    const again = worker(new EchoTranscoder());
    await again.w.start();
    await until(() => registered() === 2);
  });

  it("a transcoder that takes too long is dropped and the task retried on another", async () => {
    const slow = new EchoTranscoder();
    slow.delayMs = 60_000;
    const fast = new EchoTranscoder();
    await worker(slow).w.start();
    await until(() => registered() === 1);
    const pending = sendSegment(1);
    await until(() => slow.active === 1);
    await worker(fast).w.start();
    await until(() => registered() === 2);
    // After go-livepeer's max(8 s, 4 x duration) the slow one is dropped and the task retried.
    const res = await pending;
    expect(res.result.result).toBe("data");
    expect(fast.jobs).toHaveLength(1);
    expect(slow.jobs).toHaveLength(1);
    await until(() => registered() === 1);
  }, 30_000);

  it("a transcoder that stops drains first: the task it holds finishes and its result reaches the gateway", async () => {
    const slow = new EchoTranscoder();
    slow.delayMs = 1500;
    const { w } = worker(slow);
    await w.start();
    await until(() => registered() === 1);
    const pending = sendSegment(1);
    await until(() => slow.active === 1);
    await w.drain(AbortSignal.timeout(10_000));
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.result.result).toBe("data");
    expect(res.result.data.segments).toHaveLength(2);
    expect(slow.jobs).toHaveLength(1);
    await w.stop();
  });

  it("a transcoder that reports an error fails the segment with its text", async () => {
    const t = new EchoTranscoder();
    t.failWith = "Invalid data found when processing input";
    await worker(t).w.start();
    await until(() => registered() === 1);
    const res = await sendSegment(1);
    expect(res.result.result).toBe("error");
    expect(res.result.error).toBe("Invalid data found when processing input");
  });
});

describe("the wire, with an independent client", () => {
  it("streams NotifySegment to a grpc-js transcoder and takes a hand-built multipart result", async () => {
    const call = grpc.transcoder.RegisterTranscoder({
      secret: ORCH_SECRET,
      capacity: 1,
      capabilities: { bitstring: [0x1003 | (1 << 2)], capacities: { 0: 1 }, version: "0.9.1" },
    });
    // biome-ignore lint/suspicious/noExplicitAny: grpc-js decoded message
    const notes: any[] = [];
    call.on("data", (m: unknown) => notes.push(m));
    call.on("error", () => {});
    await until(() => registered() === 1);
    const pending = sendSegment(7, undefined, [P240]);
    await until(() => notes.length === 1);
    const n = notes[0];
    expect(n.url).toMatch(new RegExp(`^${orch.uri}/stream/[0-9a-f]{8}/7\\.tempfile$`));
    expect(Buffer.from(n.profiles).toString()).toBe("invalid");
    expect(n.orchId).toBe("offchain");
    expect(Buffer.from(n.segData.hash)).toEqual(Buffer.alloc(32));
    expect(n.segData.fullProfiles[0].name).toBe("P240p30fps16x9");
    const src = await h2request(orch.uri, new URL(n.url).pathname);
    expect(src.body.toString()).toBe("segment 7");

    const boundary = "9259515bf7025a291b00";
    const body = Buffer.from(
      `--${boundary}\r\nContent-Length: 4\r\nContent-Type: video/mp2t\r\nPixels: 999\r\n\r\nREND\r\n--${boundary}--\r\n`,
    );
    const base = {
      authorization: "Livepeer-Transcoder-1.0",
      credentials: ORCH_SECRET,
      "content-type": `multipart/mixed; boundary=${boundary}`,
      pixels: "123",
    };
    const post = (headers: Record<string, string>) =>
      h2request(orch.uri, "/transcodeResults", { method: "POST", headers, body });
    expect((await post({ ...base, taskid: String(n.taskId), authorization: "nope" })).status).toBe(401);
    expect((await post({ ...base, taskid: String(n.taskId), credentials: "wrong" })).status).toBe(401);
    expect((await post({ ...base, taskid: "x" })).status).toBe(400);
    expect((await post({ ...base, taskid: "424242" })).status).toBe(404);
    const noType = await post({ ...base, taskid: String(n.taskId), "content-type": "" });
    expect(noType.status).toBe(415);
    expect(noType.body.toString()).toBe("mime: no media type\n");
    const ok = await post({ ...base, taskid: String(n.taskId) });
    expect(ok.status).toBe(200);
    const res = await pending;
    expect(res.result.result).toBe("data");
    expect(res.result.data.segments[0].pixels).toBe(999);
    // The task is done: a second post for it is refused.
    expect((await post({ ...base, taskid: String(n.taskId) })).status).toBe(404);
    call.cancel();
    await until(() => registered() === 0);
  });

  it("refuses zero capacity", async () => {
    const call = grpc.transcoder.RegisterTranscoder({ secret: ORCH_SECRET, capacity: 0 });
    const err = await new Promise<{ code: number; details: string }>((resolve) => call.on("error", resolve));
    expect(err.code).toBe(2);
    expect(err.details).toBe("zero capacity");
  });
});
