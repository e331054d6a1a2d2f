import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveConfig } from "../../../src/config/resolve.js";
import { gatewayRole } from "../../../src/gateway/role.js";
import { parseContentType, parseMultipart } from "../../../src/http/multipart.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { LpNode } from "../../../src/node/LpNode.js";
import { GATEWAY_ON_PORT_0 } from "../../helpers/lpNode.js";
import { makeClip, removeClips, stripTsPid } from "../../helpers/media.js";
import { EchoTranscoder, type RunningOrchestrator, startOrchestrator } from "../../helpers/orchestrator.js";
import { RawRtmpClient } from "../../helpers/rtmp.js";

let o1: RunningOrchestrator;
let o2: RunningOrchestrator;
let gw: LpNode;
let base: string;
const t1 = new EchoTranscoder();
const t2 = new EchoTranscoder();

/** The streams of all tests here share two orchestrators: room for a session each. */
const ORCH_ARGS = ["-maxSessions", "50"];

/** Data directories the gateways made, removed in afterAll. */
const dataDirs: string[] = [];

async function startGateway(orchs: string[], discovery: string[] = ["-orchAddr", orchs.join(",")]) {
  const datadir = mkdtempSync(join(tmpdir(), "lp-gw-"));
  dataDirs.push(datadir);
  const r = resolveConfig(
    [
      ...GATEWAY_ON_PORT_0,
      ...discovery,
      "-datadir",
      datadir,
      // Every test opens its own streams; the default limit (10) would refuse the later ones.
      "-maxSessions",
      "50",
    ],
    { env: {}, readFile: () => null },
  );
  if (r.kind !== "ok") throw new Error(JSON.stringify(r));
  let port = 0;
  const node = new LpNode(r.config, {
    logger: silentLogger(),
    roles: { gateway: async (c, ctx) => gatewayRole(c, ctx) },
  });
  await node.start();
  port = node.status()["GatewayHTTPPort"] as number;
  return { node, base: `http://127.0.0.1:${port}` };
}

/** A real 1 s MPEG-TS segment; a marker after its last packet tells segments apart. */
let TS: Buffer;
const seg = (marker: string) => Buffer.concat([TS, Buffer.from(marker)]);
const tail = async (res: Response | Promise<Response>, n: number) =>
  Buffer.from(await (await res).arrayBuffer())
    .subarray(-n)
    .toString();

const push = (mid: string, seq: number, marker: string, headers: Record<string, string> = {}) =>
  fetch(`${base}/live/${mid}/${seq}.ts`, {
    method: "POST",
    body: seg(marker),
    headers: { "content-duration": "2000", ...headers },
  });

beforeAll(async () => {
  TS = readFileSync(makeClip({ width: 160, height: 120, seconds: 1 }));
  o1 = await startOrchestrator(t1, ORCH_ARGS);
  o2 = await startOrchestrator(t2, ORCH_ARGS);
  ({ node: gw, base } = await startGateway([`127.0.0.1:${o1.port}`, `127.0.0.1:${o2.port}`]));
});
afterAll(async () => {
  removeClips();
  await gw.stop();
  await o1.stop();
  await o2.stop();
  for (const d of dataDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("HTTP push through orchestrators", () => {
  it("returns the renditions as multipart/mixed in go-livepeer's layout", async () => {
    const res = await push("mpart", 12, "segment twelve", { accept: "multipart/mixed" });
    expect(res.status).toBe(200);
    const ct = parseContentType(res.headers.get("content-type") ?? "");
    if ("error" in ct) throw new Error(ct.error);
    expect(ct.type).toBe("multipart/mixed");
    const parts = parseMultipart(Buffer.from(await res.arrayBuffer()), ct.params["boundary"]!);
    expect(parts.map((p) => p.headers["rendition-name"])).toEqual(["P240p30fps16x9", "P360p30fps16x9"]);
    expect(parts[0]!.headers["content-type"]).toBe('video/mp2t; name="P240p30fps16x9_12.ts"');
    expect(parts[0]!.headers["content-disposition"]).toBe('attachment; filename="P240p30fps16x9_12.ts"');
    expect(parts[0]!.body.subarray(-14).toString()).toBe("segment twelve");
  });

  it("serves master and media playlists and segments", async () => {
    for (let i = 0; i < 8; i++) expect((await push("hls", i, `seg ${i}`)).status).toBe(200);
    const master = await (await fetch(`${base}/stream/hls.m3u8`)).text();
    expect(master).toContain("BANDWIDTH=600000,RESOLUTION=426x240\nhls/P240p30fps16x9.m3u8");
    expect(master).toContain("hls/source.m3u8");
    const media = await fetch(`${base}/stream/hls/P360p30fps16x9.m3u8`);
    expect(media.headers.get("content-type")).toBe("application/x-mpegURL");
    expect(media.headers.get("access-control-allow-origin")).toBe("*");
    const text = await media.text();
    expect(text).toContain("#EXT-X-MEDIA-SEQUENCE:2");
    expect(text.match(/#EXTINF:2\.000,/g)).toHaveLength(6);
    expect(text).toContain("/stream/hls/P360p30fps16x9/7.ts");
    expect(await tail(fetch(`${base}/stream/hls/P360p30fps16x9/7.ts`), 5)).toBe("seg 7");
    expect((await fetch(`${base}/stream/hls/P360p30fps16x9/99.ts`)).status).toBe(404);
  });

  it("loses no segment when an orchestrator goes away mid-stream", async () => {
    const gwStatus = () => gw.status();
    for (let i = 0; i < 3; i++) expect((await push("survive", i, `s${i}`)).status).toBe(200);
    const used = (gwStatus()["Streams"] as Record<string, { orchestrator: string }>)["survive"]!.orchestrator;
    const victim = used === o1.uri ? o1 : o2;
    await victim.stop();
    for (let i = 3; i < 6; i++) expect((await push("survive", i, `s${i}`)).status).toBe(200);
    const text = await (await fetch(`${base}/stream/survive/P240p30fps16x9.m3u8`)).text();
    for (let i = 0; i < 6; i++) expect(text).toContain(`/stream/survive/P240p30fps16x9/${i}.ts`);
    const st = (gwStatus()["Streams"] as Record<string, { orchestrator: string; segmentsRetried: number }>)[
      "survive"
    ]!;
    expect(st.orchestrator).not.toBe(used);
    expect(st.segmentsRetried).toBeGreaterThanOrEqual(1);
    // Bring it back for the next tests.
    if (victim === o1) o1 = await startOrchestrator(t1, ORCH_ARGS);
    else o2 = await startOrchestrator(t2, ORCH_ARGS);
  });

  it("answers bad pushes with clear errors and keeps working", async () => {
    expect((await fetch(`${base}/live/x/1.flv`, { method: "POST", body: "x" })).status).toBe(400);
    expect(await (await fetch(`${base}/live/x/1.flv`, { method: "POST", body: "x" })).text()).toBe(
      "ignoring file extension: .flv\n",
    );
    expect((await fetch(`${base}/live/x/1.ts`)).status).toBe(405);
    expect((await fetch(`${base}/live/1.ts`, { method: "POST", body: "x" })).status).toBe(400);
    const sliced = await push("slice", 1, "x", { "content-slice-from": "500" });
    expect(sliced.status).toBe(400);
    expect(await sliced.text()).toMatch(/slicing is not supported yet/);
    // Bodies that are not segments, audio-only segments and unknown codecs: 422 before any work.
    const junk = await fetch(`${base}/live/junk/1.ts`, { method: "POST", body: "not a segment" });
    expect(junk.status).toBe(422);
    expect(await junk.text()).toBe("Error getting codec info url=/live/junk/1.ts\n");
    const audio = readFileSync(makeClip({ seconds: 1, video: false }));
    expect((await fetch(`${base}/live/junk/2.ts`, { method: "POST", body: audio })).status).toBe(422);
    const mpeg2 = readFileSync(makeClip({ seconds: 1, width: 160, height: 120, videoCodec: "mpeg2video" }));
    const unknown = await fetch(`${base}/live/junk/3.ts`, { method: "POST", body: mpeg2 });
    expect(unknown.status).toBe(422);
    expect(await unknown.text()).toBe("Unknown input stream codec=mpeg2video\n");
    expect(gw.status()["Manifests"]).not.toHaveProperty("junk");
    const bad = await push("cfg", 1, "x", { "livepeer-transcode-configuration": "{nope" });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/^failed to parse transcode config header/);
    expect(
      (await push("cfg", 1, "x", { "livepeer-transcode-configuration": '{"presets":["P144p30fps16x9"]}' }))
        .status,
    ).toBe(200);
    expect(await (await fetch(`${base}/stream/cfg.m3u8`)).text()).toContain("cfg/P144p30fps16x9.m3u8");
  });

  it("passes a segment without video frames through as every rendition (lpms bypass)", async () => {
    const before = t1.jobs.length + t2.jobs.length;
    const noFrames = stripTsPid(TS, 0x100);
    const res = await fetch(`${base}/live/zero/0.ts`, {
      method: "POST",
      body: noFrames,
      headers: { accept: "multipart/mixed" },
    });
    expect(res.status).toBe(200);
    expect(t1.jobs.length + t2.jobs.length).toBe(before);
    const body = Buffer.from(await (await fetch(`${base}/stream/zero/P240p30fps16x9/0.ts`)).arrayBuffer());
    expect(body.equals(noFrames)).toBe(true);
  });

  it("a non-retryable orchestrator error gives 422 without retries", async () => {
    t1.failWith = "TranscoderInvalidVideo";
    t2.failWith = "TranscoderInvalidVideo";
    try {
      const res = await push("nonretry", 1, "x");
      expect(res.status).toBe(422);
      expect(await res.text()).toBe("TranscoderInvalidVideo\n");
    } finally {
      t1.failWith = null;
      t2.failWith = null;
    }
  });
});

/** A raw HTTP/1.1 POST whose path is sent as is (fetch would resolve `..` and `%2E%2E`). */
function rawPost(path: string, body: Buffer, headers: Record<string, string> = {}) {
  const u = new URL(base);
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: "POST", headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("hostile pushes", () => {
  const jobs = () => t1.jobs.length + t2.jobs.length;
  const suspended = () => gw.status()["SuspendedOrchestrators"] as string[];

  it("refuses sequence numbers beyond 2^53 or uint64, and negative ones, with 400 and no orchestrator blamed", async () => {
    const before = jobs();
    const suspendedBefore = suspended();
    for (const seq of ["9007199254740993", "18446744073709551616", "-1", "99999999999999999999999"]) {
      const res = await rawPost(`/live/seqs/${seq}.ts`, seg("x"));
      expect(res.status, seq).toBe(400);
      expect(res.text, seq).toMatch(/^Bad sequence number/);
    }
    expect(jobs()).toBe(before);
    expect(suspended()).toEqual(suspendedBefore);
    expect(gw.status()["Manifests"]).not.toHaveProperty("seqs");
    // The largest safe sequence number still works.
    expect((await rawPost("/live/seqs/9007199254740991.ts", seg("x"))).status).toBe(200);
  });

  it("refuses manifest IDs that are not one plain path segment", async () => {
    for (const path of [
      "/live/a/b/1.ts",
      "/live/a%2Fb/1.ts",
      "/live/a%2fb/1.ts",
      "/live/.hidden/1.ts",
      "/live/../1.ts",
      "/live/%2E%2E/1.ts",
      "/live/a%0Ab/1.ts",
      "/live/a%00b/1.ts",
      "/live//1.ts",
      `/live/${"m".repeat(200)}/1.ts`,
    ]) {
      const res = await rawPost(path, seg("x"));
      expect(res.status, path).toBe(400);
      expect(res.text, path).toMatch(/^Bad URL/);
    }
    // A malformed percent-encoding is refused too (by the HTTP layer, before the handler).
    expect((await rawPost("/live/%E0%A4%A/1.ts", seg("x"))).status).toBe(400);
    const manifests = Object.keys(gw.status()["Manifests"] as object);
    expect(manifests.filter((m) => m.includes("/") || m.startsWith(".") || m.includes("\n"))).toEqual([]);
  });

  it("refuses unsafe profile names and sizes from the configuration header; the playlist is unchanged", async () => {
    const cfg = (profiles: object[]) => ({
      "livepeer-transcode-configuration": JSON.stringify({ profiles }),
    });
    const good = { name: "ok", width: 320, height: 180, bitrate: 300000, fps: 30 };
    expect((await push("prof", 0, "x", cfg([good]))).status).toBe(200);
    const master = await (await fetch(`${base}/stream/prof.m3u8`)).text();
    for (const [bad, why] of [
      [{ ...good, name: "a\n#EXT-X-STREAM-INF:BANDWIDTH=1\nevil" }, /profile name/],
      [{ ...good, name: "../x" }, /profile name/],
      [{ ...good, name: ".x" }, /profile name/],
      [{ ...good, width: 16384, height: 16384 }, /16384x16384 is larger than 7680x4320/],
      [{ ...good, fps: 10000 }, /fps 10000/],
      [{ ...good, bitrate: 10_000_000_000 }, /bitrate/],
      [{ ...good, gop: "3600" }, /gop/],
    ] as const) {
      for (const mid of ["prof", "newprof"]) {
        const res = await push(mid, 1, "x", cfg([bad]));
        expect(res.status, JSON.stringify(bad)).toBe(400);
        expect(await res.text()).toMatch(why);
      }
    }
    expect(await (await fetch(`${base}/stream/prof.m3u8`)).text()).toBe(master);
    expect(gw.status()["Manifests"]).not.toHaveProperty("newprof");
  });

  it("gives the source variant its RESOLUTION from the segment when Content-Resolution is absent", async () => {
    expect((await push("res", 0, "x")).status).toBe(200);
    expect(await (await fetch(`${base}/stream/res.m3u8`)).text()).toContain(
      "BANDWIDTH=4000000,RESOLUTION=160x120\nres/source.m3u8",
    );
    // The header still wins when given.
    expect((await push("res2", 0, "x", { "content-resolution": "320x240" })).status).toBe(200);
    expect(await (await fetch(`${base}/stream/res2.m3u8`)).text()).toContain(
      "RESOLUTION=320x240\nres2/source.m3u8",
    );
  });

  it("/status lists the orchestrator pool of every concurrent stream", async () => {
    const pushed = await Promise.all([push("poolA", 0, "a"), push("poolB", 0, "b")]);
    expect(pushed.map((r) => r.status)).toEqual([200, 200]);
    const st = gw.status();
    const streams = st["Streams"] as Record<string, { pool: { Url: string }[] }>;
    const union = new Set<string>();
    for (const id of ["poolA", "poolB"]) {
      const urls = streams[id]!.pool.map((p) => p.Url);
      expect(urls.length, id).toBeGreaterThan(0);
      expect(
        urls.every((u) => [o1.uri, o2.uri].includes(u)),
        id,
      ).toBe(true);
      for (const u of urls) union.add(u);
    }
    const infos = (st["OrchestratorPoolInfos"] as { Url: string }[]).map((i) => i.Url);
    for (const u of union) expect(infos).toContain(u);
  });
});

describe("with -orchWebhookUrl", () => {
  it("discovers orchestrators from go-livepeer's webhook JSON and transcodes through them", async () => {
    let hits = 0;
    const hook = createServer((_req, res) => {
      hits += 1;
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify([{ address: o2.uri, score: 1 }]));
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(hook.address() as { port: number }).port}/orchs`;
    const before = t2.jobs.length;
    const g = await startGateway([], ["-orchWebhookUrl", url]);
    try {
      const res = await fetch(`${g.base}/live/wh/0.ts`, { method: "POST", body: seg("webhook segment") });
      expect(res.status).toBe(200);
      expect(t2.jobs.length).toBe(before + 1);
      expect(hits).toBeGreaterThanOrEqual(1);
      expect(g.node.status()["OrchestratorPool"]).toEqual([o2.uri]);
    } finally {
      await g.node.stop();
      hook.close();
    }
  });
});

describe("with -authWebhookUrl", () => {
  it("asks the webhook once per new stream, renames and configures it, and refuses denied streams", async () => {
    const asked: string[] = [];
    const hook = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => {
        body += d;
      });
      req.on("end", () => {
        const url = (JSON.parse(body) as { url: string }).url;
        asked.push(url);
        if (url.includes("deny")) res.writeHead(403).end("no");
        else if (url.includes("rename"))
          res
            .writeHead(200)
            .end(JSON.stringify({ manifestID: `named${asked.length}`, presets: ["P144p30fps16x9"] }));
        else res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(hook.address() as { port: number }).port}/auth`;
    const g = await startGateway([], ["-orchAddr", `127.0.0.1:${o1.port}`, "-authWebhookUrl", url]);
    try {
      const first = await fetch(`${g.base}/live/rename/0.ts`, { method: "POST", body: seg("a") });
      expect(first.status).toBe(200);
      expect(asked).toEqual(["/live/rename/0.ts"]);
      // Played under the webhook's name, with the webhook's ladder; later pushes reuse the stream.
      expect(await (await fetch(`${g.base}/stream/named1.m3u8`)).text()).toContain(
        "named1/P144p30fps16x9.m3u8",
      );
      expect((await fetch(`${g.base}/stream/rename.m3u8`)).status).toBe(404);
      expect((await fetch(`${g.base}/live/rename/1.ts`, { method: "POST", body: seg("b") })).status).toBe(
        200,
      );
      expect(asked).toHaveLength(1);
      expect(await (await fetch(`${g.base}/stream/named1/P144p30fps16x9.m3u8`)).text()).toContain(
        "/stream/named1/P144p30fps16x9/1.ts",
      );
      const denied = await fetch(`${g.base}/live/deny/0.ts`, { method: "POST", body: seg("c") });
      expect(denied.status).toBe(403);
      expect(await denied.text()).toBe("Could not create stream ID: url=/live/deny/0.ts\n");
      expect(g.node.status()["Manifests"]).not.toHaveProperty("deny");
      const plain = await fetch(`${g.base}/live/plain/0.ts`, { method: "POST", body: seg("d") });
      expect(plain.status).toBe(200);
      expect(await (await fetch(`${g.base}/stream/plain.m3u8`)).text()).toContain(
        "plain/P360p30fps16x9.m3u8",
      );

      // RTMP publishes go through the same webhook, with the rtmp:// URL.
      const rtmpPort = g.node.status()["GatewayRTMPPort"] as number;
      const no = new RawRtmpClient(rtmpPort);
      await no.publish("live", "deny-me");
      await no.status("NetStream.Publish.Rejected");
      await no.closed;
      const yes = new RawRtmpClient(rtmpPort);
      await yes.publish("live", "rename-me");
      await yes.status("NetStream.Publish.Start");
      expect(asked.slice(-2)).toEqual(["rtmp://127.0.0.1/live/deny-me", "rtmp://127.0.0.1/live/rename-me"]);
      const streams = g.node.status()["Streams"] as Record<string, { ingest: string }>;
      expect(streams[`named${asked.length}`]?.ingest).toBe("rtmp");
      yes.close();
    } finally {
      await g.node.stop();
      hook.close();
    }
  });
});

describe("with every orchestrator down", () => {
  it("fails segments with 503 while the source still plays, and resumes when one is back", async () => {
    const { createServer } = await import("node:net");
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const g = await startGateway([`127.0.0.1:${port}`]);
    let back: RunningOrchestrator | null = null;
    try {
      const res = await fetch(`${g.base}/live/alone/0.ts`, { method: "POST", body: seg("src") });
      expect(res.status).toBe(503);
      expect(await (await fetch(`${g.base}/stream/alone/source.m3u8`)).text()).toContain(
        "/stream/alone/source/0.ts",
      );
      expect(await tail(fetch(`${g.base}/stream/alone/source/0.ts`), 3)).toBe("src");
      back = await startOrchestrator(new EchoTranscoder(), [
        "-serviceAddr",
        `127.0.0.1:${port}`,
        "-httpAddr",
        `127.0.0.1:${port}`,
      ]);
      expect((await fetch(`${g.base}/live/alone/1.ts`, { method: "POST", body: seg("src1") })).status).toBe(
        200,
      );
      expect(await (await fetch(`${g.base}/stream/alone/P240p30fps16x9.m3u8`)).text()).toContain(
        "/stream/alone/P240p30fps16x9/1.ts",
      );
    } finally {
      await g.node.stop();
      await back?.stop();
    }
  });
});
