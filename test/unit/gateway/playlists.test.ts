import { describe, expect, it } from "vitest";
import { ENDED_RETENTION_MS, Gateway, STREAM_IDLE_MS } from "../../../src/gateway/Gateway.js";
import type { OrchestratorClient } from "../../../src/gateway/OrchestratorClient.js";
import { StaticOrchestrators } from "../../../src/gateway/OrchestratorList.js";
import { LIVE_WINDOW, StreamPlaylists } from "../../../src/gateway/Playlists.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { PRESETS } from "../../../src/media/profiles.js";
import { MemoryStore } from "../../../src/storage/MemoryStore.js";
import { ManualClock } from "../../helpers/clock.js";

const P240 = { ...PRESETS["P240p30fps16x9"]! };

describe("StreamPlaylists", () => {
  it("lists the source and every rendition in the master playlist, with RESOLUTION when known", () => {
    const pl = new StreamPlaylists("m");
    pl.setVariants({ width: 0, height: 0 }, [P240]);
    expect(pl.master()).toBe(
      [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        "#EXT-X-STREAM-INF:PROGRAM-ID=0,BANDWIDTH=4000000",
        "m/source.m3u8",
        "#EXT-X-STREAM-INF:PROGRAM-ID=0,BANDWIDTH=600000,RESOLUTION=426x240",
        "m/P240p30fps16x9.m3u8",
        "",
      ].join("\n"),
    );
    pl.setVariants({ width: 854, height: 480 }, [P240]);
    expect(pl.master()).toContain("BANDWIDTH=4000000,RESOLUTION=854x480\nm/source.m3u8");
  });

  it("keeps a sliding window of 6 in sequence order, places late segments, ends with ENDLIST", () => {
    const pl = new StreamPlaylists("m");
    pl.setVariants({ width: 0, height: 0 }, [P240]);
    for (const seq of [0, 1, 3, 4, 2, 5, 6, 7])
      pl.insert("source", seq, seq === 7 ? 2500 : 2000, `/s/${seq}.ts`);
    pl.insert("source", 5, 2000, "/s/dup.ts");
    const media = pl.media("source");
    expect(media).toContain("#EXT-X-MEDIA-SEQUENCE:2\n#EXT-X-TARGETDURATION:3\n");
    expect(media.match(/^\/s\/.*$/gm)).toEqual([
      "/s/2.ts",
      "/s/3.ts",
      "/s/4.ts",
      "/s/5.ts",
      "/s/6.ts",
      "/s/7.ts",
    ]);
    expect(media).toContain("#EXTINF:2.500,\n/s/7.ts");
    expect(media).not.toContain("ENDLIST");
    expect(pl.media("source").match(/#EXTINF/g)).toHaveLength(LIVE_WINDOW);
    pl.ended = true;
    expect(pl.media("source").endsWith("#EXT-X-ENDLIST\n")).toBe(true);
  });
});

/** A gateway without orchestrators work (no profiles): only its stream lifecycle is under test. */
function gateway(clock: ManualClock, store = new MemoryStore()) {
  const g = new Gateway(
    {
      profiles: [],
      orchestrators: new StaticOrchestrators([]),
      maxAttempts: 3,
      maxStreams: 10,
      discoveryTimeoutMs: 500,
      blocklist: [],
      minVersion: "",
    },
    { logger: silentLogger(), client: {} as OrchestratorClient, store, clock },
  );
  g.start();
  return { g, store };
}

const segment = (seq: number) => ({
  seq,
  data: Buffer.from(`seg ${seq}`),
  durationMs: 2000,
  ext: ".ts" as const,
});

describe("Gateway stream lifecycle with a manual clock", () => {
  it("ends an idle pushed stream after 60 s (ENDLIST), keeps it readable for the retention time, then drops it", async () => {
    const clock = new ManualClock();
    const { g, store } = gateway(clock);
    const s = g.stream("idle", null, { width: 0, height: 0 }, "http");
    await g.processSegment(s, segment(0));
    await clock.advance(STREAM_IDLE_MS - 5000);
    // A segment before the idle time restarts the count.
    await g.processSegment(s, segment(1));
    await clock.advance(STREAM_IDLE_MS - 1000);
    expect(s.playlists.ended).toBe(false);
    expect(s.playlists.media("source")).not.toContain("ENDLIST");
    await clock.advance(3000);
    expect(s.playlists.ended).toBe(true);
    expect(s.playlists.media("source")).toContain("#EXT-X-ENDLIST");
    expect(store.get("idle/source/1.ts")).toBeTruthy();
    await clock.advance(ENDED_RETENTION_MS - 2000);
    expect(g.streams.has("idle")).toBe(true);
    await clock.advance(4000);
    expect(g.streams.has("idle")).toBe(false);
    expect(store.get("idle/source/1.ts")).toBeFalsy();
    g.stop();
    expect(clock.pending).toBe(0);
  });

  it("leaves RTMP streams to their connection, and a push after the end starts a fresh stream", async () => {
    const clock = new ManualClock();
    const { g } = gateway(clock);
    const rtmp = g.stream("cam", null, { width: 0, height: 0 }, "rtmp");
    await clock.advance(STREAM_IDLE_MS * 3);
    expect(rtmp.playlists.ended).toBe(false);
    const pushed = g.stream("push", null, { width: 0, height: 0 }, "http");
    await clock.advance(STREAM_IDLE_MS + 2000);
    expect(pushed.playlists.ended).toBe(true);
    const again = g.stream("push", null, { width: 0, height: 0 }, "http");
    expect(again).not.toBe(pushed);
    expect(again.playlists.ended).toBe(false);
    g.stop();
  });
});
