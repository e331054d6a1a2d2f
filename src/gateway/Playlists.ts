import type { ProfileSpec } from "../protocol/profiles.js";

/** go-livepeer's LIVE_LIST_LENGTH: segments in a live media playlist. */
export const LIVE_WINDOW = 6;

interface Entry {
  seq: number;
  durationMs: number;
  uri: string;
}

/** One rendition of a stream as HLS lists it. */
export interface Variant {
  name: string;
  bandwidth: number;
  width: number;
  height: number;
}

/**
 * HLS playlists of one stream (go-livepeer core/playlistmanager.go): a master playlist of the
 * source and every rendition, and per rendition a media playlist with a sliding window of 6
 * segments kept in sequence order (a segment transcoded late is inserted where it belongs).
 * An ended stream gets #EXT-X-ENDLIST.
 */
export class StreamPlaylists {
  private readonly variants: Variant[] = [];
  private readonly entries = new Map<string, Entry[]>();
  ended = false;

  constructor(readonly manifestId: string) {}

  /** Declare the source and the renditions (creation order is the master's order). */
  setVariants(source: { width: number; height: number }, profiles: readonly ProfileSpec[]): void {
    this.variants.length = 0;
    this.variants.push({ name: "source", bandwidth: 4_000_000, width: source.width, height: source.height });
    for (const p of profiles)
      this.variants.push({ name: p.name, bandwidth: p.bitrate, width: p.width, height: p.height });
  }

  insert(rendition: string, seq: number, durationMs: number, uri: string): void {
    const list = this.entries.get(rendition) ?? [];
    if (!list.some((e) => e.seq === seq)) {
      list.push({ seq, durationMs, uri });
      list.sort((a, b) => a.seq - b.seq);
      // Keep a little more than the window so a late segment still finds its place.
      while (list.length > LIVE_WINDOW * 2) list.shift();
    }
    this.entries.set(rendition, list);
  }

  has(rendition: string): boolean {
    return this.variants.some((v) => v.name === rendition);
  }

  master(): string {
    const lines = ["#EXTM3U", "#EXT-X-VERSION:3"];
    for (const v of this.variants) {
      const res = v.width > 0 && v.height > 0 ? `,RESOLUTION=${v.width}x${v.height}` : "";
      lines.push(
        `#EXT-X-STREAM-INF:PROGRAM-ID=0,BANDWIDTH=${v.bandwidth}${res}`,
        `${this.manifestId}/${v.name}.m3u8`,
      );
    }
    return `${lines.join("\n")}\n`;
  }

  media(rendition: string): string {
    const all = this.entries.get(rendition) ?? [];
    const window = all.slice(-LIVE_WINDOW);
    const target = Math.max(1, ...window.map((e) => Math.ceil(e.durationMs / 1000)));
    const lines = [
      "#EXTM3U",
      "#EXT-X-VERSION:3",
      `#EXT-X-MEDIA-SEQUENCE:${window[0]?.seq ?? 0}`,
      `#EXT-X-TARGETDURATION:${target}`,
    ];
    for (const e of window) lines.push(`#EXTINF:${(e.durationMs / 1000).toFixed(3)},`, e.uri);
    if (this.ended) lines.push("#EXT-X-ENDLIST");
    return `${lines.join("\n")}\n`;
  }

  /** Sequence numbers in a rendition's playlist window. */
  seqs(rendition: string): number[] {
    return (this.entries.get(rendition) ?? []).map((e) => e.seq);
  }
}
