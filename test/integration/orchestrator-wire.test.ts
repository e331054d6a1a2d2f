import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { grpcClients } from "../helpers/grpcClient.js";
import { h1request, h2request } from "../helpers/h2.js";
import { EchoTranscoder, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { decodeResult, P240, P360, SegData, segmentHeaders } from "../helpers/wireClient.js";

let orch: RunningOrchestrator;
let grpc: ReturnType<typeof grpcClients>;
const transcoder = new EchoTranscoder();

beforeAll(async () => {
  orch = await startOrchestrator(transcoder, ["-maxSessions", "3"]);
  grpc = grpcClients(`127.0.0.1:${orch.port}`);
});
// go-livepeer keeps a session for 70 s of idleness; end them so each test starts with full capacity.
afterEach(() => {
  for (const sid of new Set(transcoder.jobs.map((j) => j.sessionId))) {
    if (sid !== undefined) orch.orchestrator.endSession(sid);
  }
});
afterAll(async () => {
  grpc.close();
  await orch.stop();
});

describe("one TLS port: gRPC and HTTP", () => {
  it("answers GetOrchestrator to a plain grpc-js client with go-livepeer's offchain info", async () => {
    const info = await grpc.getOrchestrator({ address: Buffer.alloc(20), sig: Buffer.alloc(0) });
    expect(info.transcoder).toBe(orch.uri);
    expect(info.address).toEqual(Buffer.alloc(20));
    expect(info.auth_token.session_id).toMatch(/^[0-9a-f]{8}$/);
    expect(info.auth_token.token.length).toBe(32);
    const exp = Number(info.auth_token.expiration);
    expect(exp - Date.now() / 1000).toBeGreaterThan(29 * 60);
    expect(exp - Date.now() / 1000).toBeLessThanOrEqual(30 * 60 + 1);
    expect(info.capabilities.version).toMatch(/^\d+\.\d+\.\d+/);
    // H.264, MPEG-TS and the auth token: a standard go-livepeer job fits.
    const bits = BigInt(info.capabilities.bitstring[0]);
    expect(bits & 0x1003n).toBe(0x1003n);
    expect(Object.keys(info.capabilities.capacities).length).toBeGreaterThan(0);
    const second = await grpc.getOrchestrator({});
    expect(second.auth_token.session_id).not.toBe(info.auth_token.session_id);
  });

  it("answers Ping with an empty value offchain", async () => {
    const pong = await grpc.ping(Buffer.from("hello"));
    expect(pong.value.length).toBe(0);
  });

  it("rejects EndTranscodingSession with a forged token and accepts a real one", async () => {
    const info = await grpc.getOrchestrator({});
    await expect(
      grpc.endTranscodingSession({ auth_token: { ...info.auth_token, token: Buffer.alloc(32) } }),
    ).rejects.toMatchObject({ code: 2, details: "Invalid auth token" });
    await expect(grpc.endTranscodingSession({ auth_token: info.auth_token })).resolves.toEqual({});
  });

  it("serves /healthz over HTTP/2 and HTTP/1.1 on the same port", async () => {
    const h2 = await h2request(orch.uri, "/healthz");
    expect(h2.status).toBe(200);
    const h1 = await h1request(`${orch.uri}/healthz`);
    expect(h1.status).toBe(200);
    expect(h1.alpn).not.toBe("h2");
    const missing = await h2request(orch.uri, "/nope");
    expect(missing.status).toBe(404);
  });
});

describe("POST /segment", () => {
  it("answers 200 first and then a TranscodeResult with URLs that serve the renditions", async () => {
    const info = await grpc.getOrchestrator({});
    const data = Buffer.from("not really video, echoed by the test transcoder");
    const res = await h2request(orch.uri, "/segment", {
      method: "POST",
      headers: segmentHeaders(info.auth_token, { seq: 5, data, profiles: [P240, P360] }),
      body: data,
    });
    expect(res.status).toBe(200);
    const result = decodeResult(res.body);
    expect(result.seq).toBe(5);
    expect(result.result).toBe("data");
    const sid = info.auth_token.session_id;
    expect(result.data.segments.map((s: { url: string }) => s.url)).toEqual([
      `${orch.uri}/stream/${sid}/P240p30fps16x9/5.ts`,
      `${orch.uri}/stream/${sid}/P360p30fps16x9/5.ts`,
    ]);
    expect(result.data.segments.map((s: { pixels: number }) => s.pixels)).toEqual([426 * 240, 640 * 360]);
    expect(result.info.authToken.sessionId).toBe(sid);
    const job = transcoder.jobs.at(-1)!;
    expect(job.sessionId).toBe(sid);
    expect(job.durationMs).toBe(2000);
    expect(job.profiles.map((p) => p.name)).toEqual(["P240p30fps16x9", "P360p30fps16x9"]);
    const dl = await h2request(orch.uri, `/stream/${sid}/P240p30fps16x9/5.ts`);
    expect(dl.status).toBe(200);
    expect(dl.headers["content-type"]).toBe("video/mp2t");
    expect(dl.headers["access-control-allow-origin"]).toBe("*");
    expect(dl.body.equals(data)).toBe(true);
    expect((await h2request(orch.uri, `/stream/${sid}/P240p30fps16x9/6.ts`)).status).toBe(404);
  });

  it("sends the headers before the transcode finishes", async () => {
    const info = await grpc.getOrchestrator({});
    const data = Buffer.from("slow");
    transcoder.delayMs = 600;
    try {
      const res = await h2request(orch.uri, "/segment", {
        method: "POST",
        headers: segmentHeaders(info.auth_token, { seq: 1, data, profiles: [P240] }),
        body: data,
      });
      expect(res.status).toBe(200);
      expect(res.bodyMs - res.headersMs).toBeGreaterThanOrEqual(400);
    } finally {
      transcoder.delayMs = 0;
    }
  });

  it("reports a transcode failure in TranscodeResult.error", async () => {
    const info = await grpc.getOrchestrator({});
    const data = Buffer.from("x");
    transcoder.failWith = "ZeroSegments";
    try {
      const res = await h2request(orch.uri, "/segment", {
        method: "POST",
        headers: segmentHeaders(info.auth_token, { seq: 2, data, profiles: [P240] }),
        body: data,
      });
      expect(res.status).toBe(200);
      const result = decodeResult(res.body);
      expect(result.result).toBe("error");
      expect(result.error).toBe("ZeroSegments");
    } finally {
      transcoder.failWith = null;
    }
  });

  it("accepts a segment over HTTP/1.1 too", async () => {
    const info = await grpc.getOrchestrator({});
    const data = Buffer.from("h1 body");
    const res = await h1request(`${orch.uri}/segment`, {
      method: "POST",
      headers: segmentHeaders(info.auth_token, { seq: 3, data, profiles: [P240] }),
      body: data,
    });
    expect(res.status).toBe(200);
    expect(decodeResult(res.body).result).toBe("data");
  });
});

describe("bad input on /segment", () => {
  async function send(headers: Record<string, string>, body: Buffer | string = "x") {
    const res = await h2request(orch.uri, "/segment", { method: "POST", headers, body });
    return { status: res.status, text: res.body.toString() };
  }
  async function token() {
    return (await grpc.getOrchestrator({})).auth_token;
  }

  it("garbage payment header: 402", async () => {
    const h = segmentHeaders(await token(), { seq: 1, data: Buffer.from("x"), profiles: [P240] });
    expect(await send({ ...h, "livepeer-payment": "***" })).toMatchObject({
      status: 402,
      text: expect.stringMatching(/^base64 decode error/),
    });
    expect(
      await send({ ...h, "livepeer-payment": Buffer.from([0xff, 0xff]).toString("base64") }),
    ).toMatchObject({
      status: 402,
      text: expect.stringMatching(/^protobuf unmarshal error/),
    });
  });

  it("garbage base64 or protobuf in Livepeer-Segment: 403", async () => {
    expect(await send({ "livepeer-segment": "!!!", "livepeer-payment": "" })).toEqual({
      status: 403,
      text: "ErrorSegEncoding\n",
    });
    const garbage = Buffer.from([0x0a, 0x7f, 0x01]).toString("base64");
    const r = await send({ "livepeer-segment": garbage, "livepeer-payment": "" });
    expect(r.status).toBe(403);
    expect(r.text.length).toBeGreaterThan(1);
  });

  it("unknown format, encoder profile or codec: 403 with go-livepeer's text", async () => {
    const t = await token();
    const data = Buffer.from("x");
    for (const [field, text] of [
      ["format", "unrecognized profile output format"],
      ["profile", "unrecognized encoder profile"],
      ["encoder", "unrecognized video codec"],
    ] as const) {
      const h = segmentHeaders(t, { seq: 1, data, profiles: [{ ...P240, [field]: 9 }] });
      expect(await send(h, data)).toEqual({ status: 403, text: `${text}\n` });
    }
  });

  it("negative or ten-minute duration: 403 invalid duration", async () => {
    const t = await token();
    const data = Buffer.from("x");
    for (const durationMs of [-1, 600_000]) {
      expect(await send(segmentHeaders(t, { seq: 1, data, profiles: [P240], durationMs }), data)).toEqual({
        status: 403,
        text: "invalid duration\n",
      });
    }
  });

  it("missing, forged or expired auth token: 403", async () => {
    const t = await token();
    const data = Buffer.from("x");
    const h = segmentHeaders(t, { seq: 1, data, profiles: [P240] });
    const seg = SegData.decode(Buffer.from(h["livepeer-segment"]!, "base64"));
    // biome-ignore lint/suspicious/noExplicitAny: protobufjs message
    (seg as any).authToken = null;
    const noToken = Buffer.from(SegData.encode(seg).finish()).toString("base64");
    expect(await send({ ...h, "livepeer-segment": noToken }, data)).toEqual({
      status: 403,
      text: "missing auth token\n",
    });
    const forged = segmentHeaders({ ...t, token: Buffer.alloc(32, 1) }, { seq: 1, data, profiles: [P240] });
    expect(await send(forged, data)).toEqual({ status: 403, text: "invalid auth token\n" });
    const expired = segmentHeaders({ ...t, expiration: 1000 }, { seq: 1, data, profiles: [P240] });
    expect(await send(expired, data)).toEqual({ status: 403, text: "invalid auth token\n" });
  });

  it("incompatible capabilities: 403", async () => {
    const t = await token();
    const data = Buffer.from("x");
    const h = segmentHeaders(t, { seq: 1, data, profiles: [P240], caps: { bitstring: [1 << 20] } });
    expect(await send(h, data)).toEqual({ status: 403, text: "incompatible capabilities\n" });
  });

  it("wrong hash: 403 Forbidden", async () => {
    const h = segmentHeaders(await token(), { seq: 1, data: Buffer.from("one body"), profiles: [P240] });
    expect(await send(h, "another body")).toEqual({ status: 403, text: "Forbidden\n" });
  });

  it("declared body over the limit: 500 before reading it", async () => {
    const res = await h1request(`${orch.uri}/segment`, {
      method: "POST",
      headers: {
        ...segmentHeaders(await token(), { seq: 1, data: Buffer.from("x"), profiles: [P240] }),
        "content-length": "300000001",
      },
      body: "x",
    }).catch((err: Error) => ({ status: -1, body: Buffer.from(err.message) }));
    expect(res.status).toBe(500);
  });

  it("huge headers are refused by the HTTP layer", async () => {
    const res = await h2request(orch.uri, "/segment", {
      method: "POST",
      headers: { "livepeer-segment": "A".repeat(200_000), "livepeer-payment": "" },
      body: "x",
    }).catch((err: Error) => ({ status: -1, body: Buffer.from(err.message) }));
    expect(res.status).not.toBe(200);
  });

  it("more sessions than capacity: 403 OrchestratorCapped, and GetOrchestrator says so", async () => {
    const data = Buffer.from("cap");
    const tokens = [await token(), await token(), await token(), await token()];
    for (let i = 0; i < 3; i++) {
      const h = segmentHeaders(tokens[i], { seq: i, data, profiles: [P240] });
      expect((await send(h, data)).status).toBe(200);
    }
    // A session that already holds a slot still gets in.
    expect((await send(segmentHeaders(tokens[0], { seq: 8, data, profiles: [P240] }), data)).status).toBe(
      200,
    );
    const h = segmentHeaders(tokens[3], { seq: 9, data, profiles: [P240] });
    expect(await send(h, data)).toEqual({ status: 403, text: "OrchestratorCapped\n" });
    // grpc-message is percent-encoded; grpc-go decodes it fully, grpc-js only with decodeURI.
    const err = await grpc.getOrchestrator({}).then(
      () => null,
      (e: { code: number; details: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(decodeURIComponent(err?.details ?? "")).toBe("Invalid orchestrator request: OrchestratorCapped");
  });

  it("still answers Ping after all of that", async () => {
    expect((await grpc.ping(Buffer.from("x"))).value.length).toBe(0);
  });
});
