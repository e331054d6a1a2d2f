import { readFileSync } from "node:fs";
import http2 from "node:http2";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/logger/logger.js";
import { ChildProcesses } from "../../src/media/ffmpeg/runFfmpeg.js";
import { LocalTranscoder, type TranscodeJob, type TranscodeResult } from "../../src/media/transcoder.js";
import { isAlive } from "../../src/utils/process.js";
import { grpcClients } from "../helpers/grpcClient.js";
import { h2request } from "../helpers/h2.js";
import {
  closedWithin,
  H2_PREFACE,
  h2frame,
  rawTcp,
  type TrickleOutcome,
  tlsSocket,
  trickleH1,
  trickleH2,
} from "../helpers/hostile.js";
import { FFMPEG, FFPROBE, makeClip } from "../helpers/media.js";
import { EchoTranscoder, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { tempDir } from "../helpers/tmp.js";
import { waitFor } from "../helpers/waitFor.js";
import { decodeResult, P240, segmentHeaders } from "../helpers/wireClient.js";

/** Bounds used to judge that the server acted; far above the limits configured below. */
const GENEROUS_MS = 15_000;

describe("slow uploads on /segment", () => {
  let orch: RunningOrchestrator;
  let grpc: ReturnType<typeof grpcClients>;
  const transcoder = new EchoTranscoder();
  beforeAll(async () => {
    orch = await startOrchestrator(transcoder, ["-maxSessions", "2"], {
      upload: { minUploadMs: 1500, maxUploadsPerSession: 2 },
    });
    grpc = grpcClients(`127.0.0.1:${orch.port}`);
  });
  afterEach(() => {
    for (const sid of new Set(transcoder.jobs.map((j) => j.sessionId!))) orch.orchestrator.endSession(sid);
  });
  afterAll(async () => {
    grpc.close();
    await orch.stop();
  });
  const token = async () => (await grpc.getOrchestrator({})).auth_token;
  /** Headers of a 1000-byte, 100 ms segment: the upload bound is then the configured 1.5 s floor. */
  const slowHeaders = async (seq: number) =>
    segmentHeaders(await token(), { seq, data: Buffer.alloc(1000, 1), profiles: [P240], durationMs: 100 });

  it("trickling bodies take no session slot, a real gateway still transcodes, the slow ones are cut off", async () => {
    // More slow uploaders than sessions, over HTTP/2 and HTTP/1.1, each with its own auth token.
    const slow: { outcome: Promise<TrickleOutcome>; stop: () => void }[] = [];
    for (let i = 0; i < 3; i++) slow.push(trickleH2(orch.uri, "/segment", await slowHeaders(i), 1000));
    for (let i = 0; i < 2; i++)
      slow.push(await trickleH1(orch.port, "/segment", await slowHeaders(10 + i), 1000));
    try {
      // Give every slow upload time to reach the handler (and, before the fix, take a slot).
      await new Promise((r) => setTimeout(r, 300));
      const data = Buffer.from("a real segment");
      const res = await h2request(orch.uri, "/segment", {
        method: "POST",
        headers: segmentHeaders(await token(), { seq: 1, data, profiles: [P240] }),
        body: data,
      });
      expect(res.status).toBe(200);
      expect(decodeResult(res.body).result).toBe("data");
      const outcomes = await Promise.race([
        Promise.all(slow.map((s) => s.outcome)),
        new Promise<null>((r) => setTimeout(() => r(null), GENEROUS_MS)),
      ]);
      expect(outcomes, "slow uploads still open").not.toBeNull();
      for (const o of outcomes!) {
        // A clear answer (408) when the connection could carry one, never a 200.
        expect(o.status === 408 || o.status === null).toBe(true);
        if (o.status === 408) expect(o.body).toMatch(/upload took too long/);
      }
      expect(outcomes!.some((o) => o.status === 408)).toBe(true);
      // Nothing was held: with one session taken by that gateway, another new one still fits.
      const again = await h2request(orch.uri, "/segment", {
        method: "POST",
        headers: segmentHeaders(await token(), { seq: 2, data, profiles: [P240] }),
        body: data,
      });
      expect(again.status).toBe(200);
    } finally {
      for (const s of slow) s.stop();
    }
  });

  it("caps concurrent uploads per auth token with 429", async () => {
    const t = await token();
    const h = segmentHeaders(t, { seq: 1, data: Buffer.alloc(1000, 1), profiles: [P240], durationMs: 100 });
    const slow = [trickleH2(orch.uri, "/segment", h, 1000), trickleH2(orch.uri, "/segment", h, 1000)];
    try {
      await new Promise((r) => setTimeout(r, 300));
      const data = Buffer.from("third upload, same token");
      const third = await h2request(orch.uri, "/segment", {
        method: "POST",
        headers: segmentHeaders(t, { seq: 2, data, profiles: [P240] }),
        body: data,
      });
      expect(third.status).toBe(429);
      expect(third.body.toString()).toBe("too many concurrent uploads for this session\n");
      // Another session is not affected.
      const other = await h2request(orch.uri, "/segment", {
        method: "POST",
        headers: segmentHeaders(await token(), { seq: 3, data, profiles: [P240] }),
        body: data,
      });
      expect(other.status).toBe(200);
    } finally {
      for (const s of slow) s.stop();
    }
    // Once the slow ones are gone, the token may upload again.
    const data = Buffer.from("after");
    await waitFor(async () => {
      const res = await h2request(orch.uri, "/segment", {
        method: "POST",
        headers: segmentHeaders(t, { seq: 4, data, profiles: [P240] }),
        body: data,
      });
      return res.status === 200;
    });
  });
});

describe("memory held by uploads in flight", () => {
  let orch: RunningOrchestrator;
  let grpc: ReturnType<typeof grpcClients>;
  const transcoder = new EchoTranscoder();
  beforeAll(async () => {
    orch = await startOrchestrator(transcoder, [], {
      upload: { minUploadMs: 60_000, maxInFlightUploadBytes: 10_000 },
    });
    grpc = grpcClients(`127.0.0.1:${orch.port}`);
  });
  afterAll(async () => {
    grpc.close();
    await orch.stop();
  });

  it("refuses uploads beyond the in-flight byte budget with 503, whatever their tokens", async () => {
    const token = async () => (await grpc.getOrchestrator({})).auth_token;
    const big = Buffer.alloc(4000, 1);
    const slow = [];
    for (let i = 0; i < 2; i++) {
      const h = segmentHeaders(await token(), { seq: i, data: big, profiles: [P240] });
      slow.push(trickleH2(orch.uri, "/segment", h, big.length));
    }
    try {
      // 8000 of 10000 bytes are reserved: another 4000 do not fit, a small segment does.
      await waitFor(async () => {
        const res = await h2request(orch.uri, "/segment", {
          method: "POST",
          headers: segmentHeaders(await token(), { seq: 5, data: big, profiles: [P240] }),
          body: big,
        });
        return res.status === 503 ? res : null;
      });
      const small = Buffer.from("small");
      const ok = await h2request(orch.uri, "/segment", {
        method: "POST",
        headers: segmentHeaders(await token(), { seq: 6, data: small, profiles: [P240] }),
        body: small,
      });
      expect(ok.status).toBe(200);
    } finally {
      for (const s of slow) s.stop();
    }
    // The reservations go with the uploads.
    await waitFor(async () => {
      const res = await h2request(orch.uri, "/segment", {
        method: "POST",
        headers: segmentHeaders(await token(), { seq: 7, data: big, profiles: [P240] }),
        body: big,
      });
      return res.status === 200;
    });
    for (const sid of new Set(transcoder.jobs.map((j) => j.sessionId!))) orch.orchestrator.endSession(sid);
  });
});

describe("slowloris and connections per address", () => {
  let orch: RunningOrchestrator;
  beforeAll(async () => {
    orch = await startOrchestrator(new EchoTranscoder(), [], {
      connection: { headersTimeoutMs: 1000, maxConnectionsPerIp: 40 },
    });
  });
  afterAll(async () => {
    await orch.stop();
  });

  it("closes HTTP/1.1 connections whose headers never end", async () => {
    const sockets = await Promise.all(Array.from({ length: 10 }, () => tlsSocket(orch.port, "http/1.1")));
    for (const s of sockets) s.write("POST /segment HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
    const closed = await Promise.all(sockets.map((s) => closedWithin(s, GENEROUS_MS)));
    expect(closed.every(Boolean)).toBe(true);
  });

  it("closes an HTTP/1.1 keep-alive connection that stalls in its second request's headers", async () => {
    const s = await tlsSocket(orch.port, "http/1.1");
    let text = "";
    s.on("data", (c: Buffer) => {
      text += c.toString();
    });
    s.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    await waitFor(() => text.includes("200 OK"));
    s.write("GET /healthz HTTP/1.1\r\nHost: 1");
    expect(await closedWithin(s, GENEROUS_MS)).toBe(true);
  });

  it("closes HTTP/2 connections that never complete a request's headers", async () => {
    const sockets = await Promise.all(Array.from({ length: 10 }, () => tlsSocket(orch.port, "h2")));
    for (const s of sockets) {
      // Preface, empty SETTINGS, then a HEADERS frame that announces 100 bytes and sends 5.
      s.write(Buffer.concat([H2_PREFACE, h2frame(0x4, 0, 0, Buffer.alloc(0))]));
      s.write(h2frame(0x1, 0x4, 1, Buffer.from([0x82, 0x87, 0x84, 0x41, 0x8a]), 100));
    }
    const closed = await Promise.all(sockets.map((s) => closedWithin(s, GENEROUS_MS)));
    expect(closed.every(Boolean)).toBe(true);
    // Honest clients are served throughout.
    expect((await h2request(orch.uri, "/healthz")).status).toBe(200);
  });

  it("keeps an HTTP/2 session that made a request open past the header timeout", async () => {
    const session = http2.connect(orch.uri, { rejectUnauthorized: false });
    try {
      const status = await new Promise<number>((done, fail) => {
        const req = session.request({ ":path": "/healthz" });
        req.on("response", (h) => done(Number(h[":status"])));
        req.on("error", fail);
        req.end();
      });
      expect(status).toBe(200);
      await new Promise((r) => setTimeout(r, 2000));
      expect(session.closed || session.destroyed).toBe(false);
    } finally {
      session.destroy();
    }
  });

  it("refuses connections beyond the per-address cap and frees them when they close", async () => {
    const sockets = Array.from({ length: 50 }, () => rawTcp(orch.port));
    try {
      // Ten over the cap of 40 are closed by the server at once (TLS never starts).
      await waitFor(() => sockets.filter((s) => s.destroyed).length >= 10, { what: "refusals" });
      await expect(h2request(orch.uri, "/healthz", { timeoutMs: 5000 })).rejects.toThrow();
    } finally {
      for (const s of sockets) s.destroy();
    }
    // Room again once they are gone.
    await waitFor(async () => (await h2request(orch.uri, "/healthz", { timeoutMs: 5000 })).status === 200);
  });
});

describe("gRPC message size", () => {
  let orch: RunningOrchestrator;
  let grpc: ReturnType<typeof grpcClients>;
  beforeAll(async () => {
    orch = await startOrchestrator(new EchoTranscoder());
    grpc = grpcClients(`127.0.0.1:${orch.port}`);
  });
  afterAll(async () => {
    grpc.close();
    await orch.stop();
  });

  it("refuses a GetOrchestrator over 4 MiB with RESOURCE_EXHAUSTED and stays responsive", async () => {
    const err = await grpc
      .getOrchestrator({ address: Buffer.alloc(20), sig: Buffer.alloc(5 * 1024 * 1024) })
      .then(
        () => null,
        (e: { code: number }) => e,
      );
    expect(err?.code).toBe(8); // RESOURCE_EXHAUSTED
    expect((await grpc.ping(Buffer.from("x"))).value.length).toBe(0);
    const info = await grpc.getOrchestrator({ sig: Buffer.alloc(1024 * 1024) });
    expect(info.transcoder).toBe(orch.uri);
  });

  it("answers from the declared length, without waiting for (or buffering) the body", async () => {
    const session = http2.connect(orch.uri, { rejectUnauthorized: false });
    session.on("error", () => {});
    try {
      const req = session.request({
        ":method": "POST",
        ":path": "/net.Orchestrator/GetOrchestrator",
        "content-type": "application/grpc",
        te: "trailers",
      });
      req.on("error", () => {});
      // An envelope announcing 64 MiB, of which only a few bytes ever come.
      const head = Buffer.alloc(5);
      head.writeUInt32BE(64 * 1024 * 1024, 1);
      req.write(Buffer.concat([head, Buffer.alloc(16)]));
      const status = await new Promise<string | undefined>((done) => {
        req.on("response", (h) => {
          if (h["grpc-status"] !== undefined) done(String(h["grpc-status"]));
        });
        req.on("trailers", (t) => done(String(t["grpc-status"])));
        req.on("close", () => done(undefined));
      });
      expect(status).toBe("8");
    } finally {
      session.destroy();
    }
  });
});

/** The real engine, recording how each job ended. */
class WatchedTranscoder {
  readonly engine: LocalTranscoder;
  readonly children = new ChildProcesses();
  readonly outcomes: { aborted: boolean; error: string | null }[] = [];
  constructor(workDir: string) {
    this.engine = new LocalTranscoder(
      { ffmpegPath: FFMPEG, ffprobePath: FFPROBE, workDir, children: this.children, capabilities: [] },
      { logger: silentLogger() },
    );
  }
  async transcode(job: TranscodeJob): Promise<TranscodeResult> {
    try {
      const out = await this.engine.transcode(job);
      this.outcomes.push({ aborted: job.signal?.aborted ?? false, error: null });
      return out;
    } catch (err) {
      this.outcomes.push({ aborted: job.signal?.aborted ?? false, error: (err as Error).message });
      throw err;
    }
  }
  capabilities(): number[] {
    return new EchoTranscoder().capabilities();
  }
  capacity(): number | null {
    return null;
  }
}

describe("a gateway that goes away over HTTP/2", () => {
  let orch: RunningOrchestrator;
  let grpc: ReturnType<typeof grpcClients>;
  let watched: WatchedTranscoder;
  let clip: Buffer;
  beforeAll(async () => {
    watched = new WatchedTranscoder(tempDir());
    orch = await startOrchestrator(watched);
    grpc = grpcClients(`127.0.0.1:${orch.port}`);
    // Enough work that ffmpeg is still running when the gateway leaves.
    clip = readFileSync(makeClip({ width: 1280, height: 720, seconds: 6 }));
  });
  afterAll(async () => {
    grpc.close();
    await orch.stop();
  });

  for (const how of ["resets its stream", "closes its session"] as const) {
    it(`${how}: the transcode is cancelled and its ffmpeg killed`, async () => {
      const before = watched.outcomes.length;
      const info = await grpc.getOrchestrator({});
      const profiles = [1, 2, 3].map((i) => ({
        ...P240,
        name: `big${i}`,
        width: 1280,
        height: 720,
        bitrate: 4_000_000,
      }));
      const session = http2.connect(orch.uri, { rejectUnauthorized: false });
      session.on("error", () => {});
      const req = session.request({
        ":method": "POST",
        ":path": "/segment",
        ...segmentHeaders(info.auth_token, { seq: 1, data: clip, profiles, durationMs: 6000 }),
      });
      req.on("error", () => {});
      const status = await new Promise<number>((done) => {
        req.on("response", (h) => done(Number(h[":status"])));
        req.end(clip);
      });
      expect(status).toBe(200);
      const [pid] = await waitFor(() => {
        const pids = watched.children.pids();
        return pids.length > 0 ? pids : null;
      });
      expect(isAlive(pid!)).toBe(true);
      if (how === "resets its stream") req.close(http2.constants.NGHTTP2_CANCEL);
      else session.destroy();
      await waitFor(() => watched.outcomes.length > before, { what: "the transcode to end" });
      expect(watched.outcomes.at(-1)).toEqual({ aborted: true, error: "transcode cancelled" });
      await waitFor(() => !isAlive(pid!), { what: `ffmpeg ${pid} to be gone` });
      expect(watched.children.size).toBe(0);
      session.destroy();
    });
  }
});
