import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseContentType, parseMultipart } from "../../src/http/multipart.js";
import { probe } from "../../src/media/probe.js";
import { COMBINED_ON_PORT_0, LpNodeProcess } from "../helpers/lpNode.js";
import { makeClip, segmentClip } from "../helpers/media.js";
import { pushRtmp } from "../helpers/rtmp.js";
import { tempDir } from "../helpers/tmp.js";

const running: LpNodeProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.kill()));
});
const tmp = () => tempDir("lp-gwe2e-");

function spawnNode(args: string[]): LpNodeProcess {
  const p = new LpNodeProcess([...args, "-cliAddr", "127.0.0.1:0", "-datadir", tmp()]);
  running.push(p);
  return p;
}
const portOf = async (p: LpNodeProcess, msg: string) =>
  Number(
    String((await p.waitFor((l) => l["msg"] === msg))["addr"])
      .split(":")
      .pop(),
  );

/** A 640x360 clip cut into 2 s MPEG-TS segments. */
function segments(seconds: number): Buffer[] {
  return segmentClip(makeClip({ width: 640, height: 360, seconds }), 2);
}

/** Two orchestrator+transcoder processes and a gateway process using both. */
async function startCluster() {
  const orchs = [0, 1].map(() =>
    spawnNode([
      "--mode",
      "orchestrator,transcoder",
      "-serviceAddr",
      "127.0.0.1:0",
      "-httpAddr",
      "127.0.0.1:0",
    ]),
  );
  const ports = await Promise.all(orchs.map((o) => portOf(o, "orchestrator TLS port listening")));
  const gw = spawnNode([
    "--mode",
    "gateway",
    "-httpAddr",
    "127.0.0.1:0",
    "-rtmpAddr",
    "127.0.0.1:0",
    "-orchAddr",
    ports.map((p) => `127.0.0.1:${p}`).join(","),
  ]);
  const gwPort = await portOf(gw, "gateway HTTP server listening");
  return { orchs, ports, gw, gwPort };
}

/** ffprobe a segment fetched from a URL (or given as bytes). */
async function probeSegment(from: string | Buffer, options: { countFrames?: boolean } = {}) {
  const f = join(tmp(), "seg.ts");
  writeFileSync(f, typeof from === "string" ? Buffer.from(await (await fetch(from)).arrayBuffer()) : from);
  return probe(f, options);
}

describe("gateway with two orchestrator processes", () => {
  it("pushes real segments, survives losing an orchestrator, and plays every rendition", async () => {
    const { orchs, ports, gw, gwPort } = await startCluster();
    const segs = segments(10);
    expect(segs.length).toBeGreaterThanOrEqual(5);
    for (let i = 0; i < segs.length; i++) {
      if (i === 2) {
        // Kill the orchestrator in use.
        const used = gw.lines.find((l) => l["msg"] === "using orchestrator")?.["orchestrator"];
        const victim = orchs[ports.findIndex((p) => used === `https://127.0.0.1:${p}`)]!;
        victim.child.kill("SIGKILL");
      }
      const res = await fetch(`http://127.0.0.1:${gwPort}/live/e2e/${i}.ts`, {
        method: "POST",
        body: segs[i],
        headers: { "content-duration": "2000", "content-resolution": "640x360", accept: "multipart/mixed" },
      });
      expect(res.status).toBe(200);
      // The renditions come back in the reply, one part each, as go-livepeer lays them out.
      const ct = parseContentType(res.headers.get("content-type") ?? "");
      if ("error" in ct) throw new Error(ct.error);
      const parts = parseMultipart(Buffer.from(await res.arrayBuffer()), ct.params["boundary"]!);
      expect(parts.map((p) => p.headers["rendition-name"])).toEqual(["P240p30fps16x9", "P360p30fps16x9"]);
      expect(parts[1]!.headers["content-disposition"]).toBe(`attachment; filename="P360p30fps16x9_${i}.ts"`);
      expect((await probeSegment(parts[1]!.body)).video).toMatchObject({ width: 640, height: 360 });
    }
    for (const [rendition, w, h] of [
      ["P240p30fps16x9", 426, 240],
      ["P360p30fps16x9", 640, 360],
    ] as const) {
      const pl = await (await fetch(`http://127.0.0.1:${gwPort}/stream/e2e/${rendition}.m3u8`)).text();
      const uris = pl.split("\n").filter((l) => l.startsWith("/stream/"));
      expect(uris).toEqual(segs.map((_, i) => `/stream/e2e/${rendition}/${i}.ts`));
      let total = 0;
      for (const uri of uris) {
        const p = await probeSegment(`http://127.0.0.1:${gwPort}${uri}`, { countFrames: true });
        expect(p.video).toMatchObject({ width: w, height: h });
        total += p.durationSec;
      }
      expect(total).toBeGreaterThan(9.5);
      expect(total).toBeLessThan(10.6);
    }
    const master = await (await fetch(`http://127.0.0.1:${gwPort}/stream/e2e.m3u8`)).text();
    expect(master).toContain("RESOLUTION=640x360\ne2e/source.m3u8");
  }, 120_000);

  it("takes 10 s of RTMP, survives losing the orchestrator in use, and plays a complete ladder", async () => {
    const { orchs, ports, gw, gwPort } = await startCluster();
    const rtmpPort = await portOf(gw, "RTMP server listening");
    const clip = makeClip({ width: 640, height: 360, seconds: 10, format: "mp4" });
    const pushing = pushRtmp(`rtmp://127.0.0.1:${rtmpPort}/live/rtmpe2e`, clip);
    // Once a segment has been transcoded, kill the orchestrator that did it.
    const first = await gw.waitFor((l) => l["msg"] === "using orchestrator", 30_000);
    const victim = orchs[ports.findIndex((p) => first["orchestrator"] === `https://127.0.0.1:${p}`)]!;
    victim.child.kill("SIGKILL");
    const push = await pushing;
    expect(push.code, push.stderr).toBe(0);
    await gw.waitFor((l) => l["msg"] === "stream ended" && l["manifestID"] === "rtmpe2e", 60_000);
    // The segment after the kill failed over: retried on the other orchestrator, none failed.
    const status = (await (await fetch(`http://127.0.0.1:${await gw.cliPort()}/status`)).json()) as {
      Streams: Record<string, { segmentsOk: number; segmentsFailed: number; segmentsRetried: number }>;
    };
    expect(status.Streams["rtmpe2e"]).toMatchObject({ segmentsOk: 5, segmentsFailed: 0 });
    expect(status.Streams["rtmpe2e"]!.segmentsRetried).toBeGreaterThanOrEqual(1);

    for (const [rendition, w, h] of [
      ["source", 640, 360],
      ["P240p30fps16x9", 426, 240],
      ["P360p30fps16x9", 640, 360],
    ] as const) {
      const pl = await (await fetch(`http://127.0.0.1:${gwPort}/stream/rtmpe2e/${rendition}.m3u8`)).text();
      expect(pl).toContain("#EXT-X-ENDLIST");
      const uris = pl.split("\n").filter((l) => l.startsWith("/stream/"));
      // Continuous: every segment the segmenter cut, in order, none missing.
      expect(uris).toEqual([0, 1, 2, 3, 4].map((i) => `/stream/rtmpe2e/${rendition}/${i}.ts`));
      let total = 0;
      for (const uri of uris) {
        const p = await probeSegment(`http://127.0.0.1:${gwPort}${uri}`);
        expect(p.video).toMatchObject({ width: w, height: h });
        total += p.durationSec;
      }
      expect(total).toBeGreaterThan(9.5);
      expect(total).toBeLessThan(10.6);
    }
  }, 120_000);

  it("-demo: one command publishes a test pattern and serves its ladder; SIGTERM leaves no child", async () => {
    const node = spawnNode([...COMBINED_ON_PORT_0, "-demo"]);
    const httpPort = await portOf(node, "gateway HTTP server listening");
    await node.waitFor((l) => l["msg"] === "using orchestrator" && l["manifestID"] === "demo", 60_000);
    const master = await (await fetch(`http://127.0.0.1:${httpPort}/stream/demo.m3u8`)).text();
    expect(master).toContain("RESOLUTION=640x360\ndemo/source.m3u8");
    const media = await (await fetch(`http://127.0.0.1:${httpPort}/stream/demo/P240p30fps16x9.m3u8`)).text();
    const uri = media.split("\n").find((l) => l.startsWith("/stream/"))!;
    expect((await probeSegment(`http://127.0.0.1:${httpPort}${uri}`)).video).toMatchObject({
      width: 426,
      height: 240,
    });
    node.child.kill("SIGTERM");
    expect((await node.exited).code).toBe(0);
    // Neither the demo publisher nor a segmenter outlives the node.
    const ps = execFileSync("ps", ["-eo", "args"]).toString();
    expect(ps).not.toContain("testsrc2=size=640x360");
  }, 90_000);
});
