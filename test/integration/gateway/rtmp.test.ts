import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Gateway } from "../../../src/gateway/Gateway.js";
import { GatewayServer } from "../../../src/gateway/GatewayServer.js";
import { OrchestratorClient } from "../../../src/gateway/OrchestratorClient.js";
import { StaticOrchestrators } from "../../../src/gateway/OrchestratorList.js";
import { RtmpIngest } from "../../../src/gateway/RtmpIngest.js";
import { encodeAmf0 } from "../../../src/gateway/rtmp/amf0.js";
import { MSG_AUDIO, MSG_DATA_AMF0, MSG_VIDEO } from "../../../src/gateway/rtmp/chunks.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { ChildProcesses } from "../../../src/media/ffmpeg/runFfmpeg.js";
import { parseTranscodingOptions } from "../../../src/media/profiles.js";
import { MemoryStore } from "../../../src/storage/MemoryStore.js";
import { FFMPEG, makeClip, removeClips } from "../../helpers/media.js";
import { EchoTranscoder, type RunningOrchestrator, startOrchestrator } from "../../helpers/orchestrator.js";
import { pushRtmp, RawRtmpClient } from "../../helpers/rtmp.js";
import { tempDir } from "../../helpers/tmp.js";
import { waitFor } from "../../helpers/waitFor.js";

const RENDITIONS = ["P240p30fps16x9", "P360p30fps16x9"];
let o1: RunningOrchestrator;
let o2: RunningOrchestrator;
let gateway: Gateway;
let http: GatewayServer;
let rtmp: RtmpIngest;
let base: string;
let rtmpUrl: string;
let clip6s: string;
const t1 = new EchoTranscoder();
const t2 = new EchoTranscoder();
/** The ingest's child registry and work folder, as a node passes them. */
const children = new ChildProcesses();
const workDir = tempDir();

const until = (check: () => boolean, ms = 20_000) => waitFor(check, { timeoutMs: ms });
const ended = (mid: string) => () => gateway.streams.get(mid)?.playlists.ended === true;

beforeAll(async () => {
  o1 = await startOrchestrator(t1);
  o2 = await startOrchestrator(t2);
  const store = new MemoryStore();
  const logger = silentLogger();
  gateway = new Gateway(
    {
      profiles: parseTranscodingOptions(RENDITIONS.join(","), () => null),
      orchestrators: new StaticOrchestrators([o1.uri, o2.uri]),
      maxAttempts: 3,
      maxStreams: 10,
      discoveryTimeoutMs: 500,
      blocklist: [],
      minVersion: "",
      streamIdleMs: 1500,
    },
    { logger, client: new OrchestratorClient(), store },
  );
  gateway.start();
  http = new GatewayServer(
    { addr: { host: "127.0.0.1", port: 0 }, httpIngest: true, currentManifest: true },
    { logger, gateway, store },
  );
  rtmp = new RtmpIngest(
    { addr: { host: "127.0.0.1", port: 0 }, ffmpegPath: FFMPEG, segmentTimeoutMs: 3000, workDir },
    { logger, gateway, children },
  );
  await http.start();
  await rtmp.start();
  base = `http://127.0.0.1:${http.port}`;
  rtmpUrl = `rtmp://127.0.0.1:${rtmp.port}`;
  clip6s = makeClip({ width: 320, height: 240, seconds: 6, format: "mp4" });
}, 60_000);

afterAll(async () => {
  await rtmp.stop();
  await http.stop();
  gateway.stop();
  await o1.stop();
  await o2.stop();
  removeClips();
});

describe("RTMP ingest", () => {
  it("segments a published stream into every rendition, ends it, and frees the orchestrator session", async () => {
    const pushing = pushRtmp(`${rtmpUrl}/live/rt1`, clip6s);
    // Longer than the push idle time: an RTMP stream lives as long as its connection.
    await new Promise((r) => setTimeout(r, 4000));
    expect(gateway.streams.get("rt1")?.playlists.ended).toBe(false);
    const push = await pushing;
    expect(push.code, push.stderr).toBe(0);
    await until(ended("rt1"));
    const s = gateway.streams.get("rt1")!;
    expect(s.ingest).toBe("rtmp");
    expect(s.playlists.seqs("source")).toEqual([0, 1, 2]);
    for (const r of RENDITIONS) expect(s.playlists.seqs(r)).toEqual([0, 1, 2]);
    expect(s.ok).toBe(3);
    const master = await (await fetch(`${base}/stream/rt1.m3u8`)).text();
    expect(master).toContain("RESOLUTION=320x240\nrt1/source.m3u8");
    const media = await (await fetch(`${base}/stream/rt1/P240p30fps16x9.m3u8`)).text();
    expect(media).toContain("#EXT-X-ENDLIST");
    const durations = [...media.matchAll(/#EXTINF:([\d.]+)/g)].map((m) => Number(m[1]));
    expect(durations.reduce((a, b) => a + b, 0)).toBeCloseTo(6, 0);
    const seg = await fetch(`${base}/stream/rt1/source/0.ts`);
    expect(seg.status).toBe(200);
    expect(Buffer.from(await seg.arrayBuffer())[0]).toBe(0x47); // MPEG-TS sync byte
    // EndTranscodingSession reached the orchestrator that did the work.
    await until(
      () => o1.node.status()["OrchestratorSessions"] === 0 && o2.node.status()["OrchestratorSessions"] === 0,
    );
    expect(children.size).toBe(0);
  }, 60_000);

  it("serves /stream/current.m3u8 as the latest stream with -currentManifest", async () => {
    const res = await fetch(`${base}/stream/current.m3u8`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain(`${gateway.lastManifestId}/source.m3u8`);
  });

  it("keeps many concurrent streams isolated from bad publishers", async () => {
    const audioOnly = makeClip({ seconds: 8, video: false, format: "mp4" });
    const videoOnly = makeClip({ seconds: 8, audio: false, format: "mp4" });
    // A publisher that sends garbage after publishing, one that stalls, one that is not RTMP at all.
    const garbage = new RawRtmpClient(rtmp.port);
    const staller = new RawRtmpClient(rtmp.port);
    const notRtmp = new RawRtmpClient(rtmp.port);
    notRtmp.socket.write("GET / HTTP/1.1\r\n\r\n");
    await garbage.publish("live", "garbage");
    await garbage.status("NetStream.Publish.Start");
    garbage.socket.write(Buffer.alloc(4096, 0xff));
    await staller.publish("live", "staller");
    await staller.status("NetStream.Publish.Start");
    staller.send(MSG_DATA_AMF0, 1, encodeAmf0("@setDataFrame", "onMetaData", { width: 320, height: 240 }));
    staller.send(MSG_VIDEO, 1, Buffer.from([0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 0]));
    staller.send(MSG_AUDIO, 1, Buffer.from([0xaf, 0, 0x12, 0x10]));

    // A publisher killed mid-stream (no unpublish, just a dropped TCP connection).
    const abort = new AbortController();
    const abrupt = pushRtmp(`${rtmpUrl}/live/abrupt`, clip6s, { signal: abort.signal });
    setTimeout(() => abort.abort(), 3500);
    const goods = ["iso1", "iso2", "iso3"];
    const [pushes, bad] = await Promise.all([
      Promise.all(goods.map((id) => pushRtmp(`${rtmpUrl}/live/${id}`, clip6s))),
      Promise.all([
        pushRtmp(`${rtmpUrl}/live/audioonly`, audioOnly),
        pushRtmp(`${rtmpUrl}/live/videoonly`, videoOnly),
      ]),
    ]);
    for (const p of pushes) expect(p.code, p.stderr).toBe(0);
    // Refused streams: the connection is closed, so ffmpeg fails.
    for (const p of bad) expect(p.code).not.toBe(0);
    await Promise.all(goods.map((id) => until(ended(id))));
    for (const id of goods) {
      const s = gateway.streams.get(id)!;
      expect(s.playlists.seqs("source")).toEqual([0, 1, 2]);
      for (const r of RENDITIONS) expect(s.playlists.seqs(r)).toEqual([0, 1, 2]);
    }
    expect((await abrupt).code).not.toBe(0);
    await until(ended("abrupt"));
    // What it sent before the drop was segmented and transcoded; no rendition misses a segment.
    const cut = gateway.streams.get("abrupt")!;
    expect(cut.playlists.seqs("source").length).toBeGreaterThanOrEqual(1);
    for (const r of RENDITIONS) expect(cut.playlists.seqs(r)).toEqual(cut.playlists.seqs("source"));
    await until(ended("audioonly"));
    await until(ended("videoonly"));
    expect(gateway.streams.get("audioonly")!.playlists.seqs("source")).toEqual([]);
    // The bad connections are all closed: garbage at once, the staller after the segment timeout.
    await Promise.all([garbage.closed, notRtmp.closed, staller.closed]);
    await until(ended("staller"));
    await until(ended("garbage"));
    expect(children.size).toBe(0);
  }, 90_000);

  it("refuses a second publisher of a live manifest ID and an HTTP push into it", async () => {
    const first = new RawRtmpClient(rtmp.port);
    await first.publish("live", "dup");
    await first.status("NetStream.Publish.Start");
    const second = new RawRtmpClient(rtmp.port);
    await second.publish("live", "dup");
    await second.status("NetStream.Publish.BadName");
    await second.closed;
    const ts = readFileSync(makeClip({ seconds: 1 }));
    const res = await fetch(`${base}/live/dup/0.ts`, { method: "POST", body: ts });
    expect(res.status).toBe(409);
    expect(first.socket.destroyed).toBe(false);
    first.close();
    await until(ended("dup"));
  }, 30_000);

  it("refuses RTMP playback with a clear status", async () => {
    const player = new RawRtmpClient(rtmp.port);
    await player.publish("live", "x"); // handshake + connect; the publish gets a normal answer
    await player.status("NetStream.Publish.Start");
    player.send(20, 1, encodeAmf0("play", 4, null, "x"));
    await player.status("NetStream.Play.Failed");
    await player.closed;
  });

  it("refuses a publisher past -maxSessions streams with NetStream.Publish.Rejected", async () => {
    const small = new Gateway(
      { ...gateway.options, maxStreams: 1 },
      { logger: silentLogger(), client: new OrchestratorClient(), store: new MemoryStore() },
    );
    const ingest = new RtmpIngest(
      { addr: { host: "127.0.0.1", port: 0 }, ffmpegPath: FFMPEG, workDir },
      { logger: silentLogger(), gateway: small, children },
    );
    await ingest.start();
    try {
      const a = new RawRtmpClient(ingest.port);
      await a.publish("live", "one");
      await a.status("NetStream.Publish.Start");
      const b = new RawRtmpClient(ingest.port);
      await b.publish("live", "two");
      await b.status("NetStream.Publish.Rejected");
      await b.closed;
      expect(small.streams.has("two")).toBe(false);
      a.close();
    } finally {
      await ingest.stop();
    }
  });
});
