import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { LpError } from "../errors/LpError.js";
import { defaultFfmpegPath } from "../media/ffmpeg/binaries.js";
import { type ChildProcesses, runProcess } from "../media/ffmpeg/runFfmpeg.js";
import { testPatternArgs } from "../media/ffmpeg/testPattern.js";
import { transcodeArgs } from "../media/ffmpeg/transcodeArgs.js";
import { extensionFor, type VideoProfile } from "../media/profiles.js";
import { firstVideoPtsSec } from "../media/sniff.js";
import { STREAM_DEPTH, type TranscodeJob } from "../media/transcoder.js";

/** One source segment fed to the transcoder. */
export interface BenchSegment {
  data: Buffer;
  durationMs: number;
}

export interface BenchOptions {
  /** A media file or a local HLS playlist; empty or absent generates a 1080p30 test pattern. */
  input?: string;
  profiles: VideoProfile[];
  concurrentSessions: number;
  /** Segments per stream (0 = all the input has). */
  segs: number;
  /** ffmpeg used to make and cut the input; default the bundled one. */
  ffmpegPath?: string;
  /** -nvidia as given (reported only: the transcoder passed in already uses the GPUs). */
  nvidia?: string | null;
  /** Print the report as JSON instead of a table. */
  json?: boolean;
  /** Pace each stream at real time (default); false feeds segments back to back (soak runs). */
  realtime?: boolean;
  /** With prepared input (`out` in deps): also run the single-process comparison (vsSingleProcess). */
  compare?: boolean;
  /**
   * Segments of one stream out at the node at once (default STREAM_DEPTH, the node's own per-stream
   * limit): a gateway sends each segment as it is cut, without waiting for the previous one's
   * renditions. 1 feeds strictly one at a time.
   */
  inflight?: number;
}

/** What the bench needs from a transcoder: the media Transcoder, or the orchestrator's. */
export interface BenchTranscoder {
  transcode(
    job: TranscodeJob & { sessionId: string; signal: AbortSignal },
  ): Promise<{ renditions: { pixels: number }[]; ffmpegMs?: number }>;
  /** Close what it keeps between segments (warm sessions), so nothing runs beside the comparison. */
  stop?(): Promise<void>;
}

/** Segments given, progress by callback, the report returned (the CLI's first wiring). */
export interface BenchSegmentsDeps {
  transcoder: BenchTranscoder;
  segments: BenchSegment[];
  onProgress?: (done: number, total: number) => void;
  /**
   * The comparison run: the same segments and ladder through bare ffmpeg, one process per stream
   * over the whole input; resolves with its wall time in ms. Absent: no comparison.
   */
  singleProcess?: (segments: BenchSegment[], streams: number) => Promise<number>;
}

/** Input prepared here, progress bar and report written to `out`. */
export interface BenchOutputDeps {
  transcoder: BenchTranscoder;
  out: NodeJS.WritableStream;
  isTTY: boolean;
  /** Parent of the input's work directory (a per-process temporary folder). */
  workDir: string;
  children?: ChildProcesses | null;
}

export interface SegmentRow {
  stream: number;
  seq: number;
  durationMs: number;
  transcodeMs: number;
  ffmpegMs: number;
  overheadMs: number;
  realTimeRatio: number;
  /** (transcode wall time - ffmpeg lifetime) / ffmpeg lifetime, in percent. */
  overheadPercent: number;
  pixels: number;
  /** From the segment's arrival (its due time in a live stream) to its last rendition ready. */
  latencyMs: number;
  error?: string;
}

export interface BenchReport {
  profiles: string[];
  nvidia: string | null;
  concurrentSessions: number;
  segments: number;
  failed: number;
  /** Mean over segments of transcode time / segment duration (sizing rule: at most 0.8). */
  realTimeRatio: number;
  realTimeRatioP95: number;
  /** Our time around ffmpeg as a share of ffmpeg's own run time. */
  overheadPercent: number;
  meanTranscodeMs: number;
  /** Per-segment latency, arrival to last rendition ready (ms), over the segments that succeeded. */
  latencyP50Ms: number;
  latencyP95Ms: number;
  /**
   * Time the node spent transcoding: the wall time of the run when segments are fed back to back,
   * otherwise the busiest stream's time with at least one segment at the node (real-time pacing
   * waits left out, overlapping segments counted once).
   */
  nodeWallMs: number;
  /** Wall time of the comparison run (one bare ffmpeg per stream over the whole input); null when not run. */
  singleProcessMs: number | null;
  /** nodeWallMs / singleProcessMs: what cutting the stream into independent segments costs; null when not run. */
  vsSingleProcess: number | null;
  /** CPU time of the node run: its ffmpeg children and lp-node itself (Linux; null elsewhere). */
  nodeCpuMs: number | null;
  /** CPU time of the comparison run's ffmpeg processes (Linux; null elsewhere or when not run). */
  singleProcessCpuMs: number | null;
  /** nodeCpuMs / singleProcessCpuMs: the same comparison in CPU time, steadier on a shared machine. */
  cpuVsSingleProcess: number | null;
  pixels: number;
  memory: {
    heapStartMiB: number;
    heapEndMiB: number;
    rssStartMiB: number;
    rssEndMiB: number;
    rssMaxMiB: number;
  };
  rows: SegmentRow[];
}

/** Cut an input (file, or generated 1080p30 test pattern) into ~2 s MPEG-TS segments (livepeer_bench reads an HLS playlist instead). */
export async function prepareSegments(
  options: Pick<BenchOptions, "input" | "segs" | "ffmpegPath">,
  workDir: string,
  children: ChildProcesses | null = null,
): Promise<BenchSegment[]> {
  const input = options.input ?? "";
  if (input.endsWith(".m3u8")) return readPlaylist(input, options.segs);
  // At most 10 distinct segments are made; longer runs cycle through them (see cycleSegments).
  const want = options.segs > 0 ? Math.min(options.segs, 10) : 10;
  const args = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"];
  if (input === "") {
    args.push(
      ...testPatternArgs({
        width: 1920,
        height: 1080,
        videoBitrate: "6000k",
        sampleRate: 48000,
        seconds: want * 2,
      }),
    );
  } else {
    args.push("-i", input, "-c", "copy");
  }
  const list = join(workDir, "segments.csv");
  args.push(
    "-f",
    "segment",
    "-segment_time",
    "2",
    "-segment_format",
    "mpegts",
    "-segment_list",
    list,
    "-segment_list_type",
    "csv",
    join(workDir, "seg%05d.ts"),
  );
  const run = await runProcess(options.ffmpegPath || defaultFfmpegPath(), args, {
    timeoutMs: 600_000,
    children,
  });
  if (run.code !== 0)
    throw new LpError(
      "BENCH_INPUT",
      `cannot prepare the input: ${run.stderr.trim().split("\n").pop() ?? ""}`,
    );
  const rows = (await readFile(list, "utf8")).trim().split("\n").filter(Boolean);
  const segments: BenchSegment[] = [];
  for (const row of rows.slice(0, want)) {
    const [name, start, end] = row.split(",");
    segments.push({
      data: await readFile(join(workDir, name!)),
      durationMs: Math.round((Number(end) - Number(start)) * 1000),
    });
  }
  if (segments.length === 0) throw new LpError("BENCH_INPUT", "the input gave no segments");
  return segments;
}

/** Repeat segments in order until there are `count` (long soak runs from a short input). */
export function cycleSegments(segments: BenchSegment[], count: number): BenchSegment[] {
  if (count <= segments.length) return segments.slice(0, Math.max(count, 0) || segments.length);
  return Array.from({ length: count }, (_, i) => segments[i % segments.length]!);
}

async function readPlaylist(path: string, segs: number): Promise<BenchSegment[]> {
  const text = await readFile(path, "utf8");
  const out: BenchSegment[] = [];
  let duration = 2000;
  for (const line of text.split(/\r?\n/)) {
    const m = /^#EXTINF:([\d.]+)/.exec(line);
    if (m) duration = Math.round(Number(m[1]) * 1000);
    else if (line.trim() !== "" && !line.startsWith("#")) {
      out.push({ data: await readFile(resolve(dirname(path), line.trim())), durationMs: duration });
      if (segs > 0 && out.length >= segs) break;
    }
  }
  if (out.length === 0) throw new LpError("BENCH_INPUT", `no segments in playlist ${path}`);
  return out;
}

const mib = (n: number) => Math.round((n / 1048576) * 10) / 10;

/**
 * go-livepeer's livepeer_bench (cmd/livepeer_bench/livepeer_bench.go) as `lp-node bench`: N
 * streams fed in real time (segment k of a stream starts at k x segment duration, or at once
 * when the stream is behind), each segment timed around the whole transcode and around the
 * ffmpeg child alone. With `out` in deps it prepares the input itself (a generated 1080p30
 * pattern by default), draws a progress bar on a TTY and writes the table or JSON to `out`;
 * with `segments` it only measures and returns the report.
 */
export async function runBench(
  options: BenchOptions,
  deps: BenchSegmentsDeps | BenchOutputDeps,
): Promise<BenchReport> {
  if ("segments" in deps) return measure(options, deps);
  const { out, isTTY, transcoder } = deps;
  const report = await withWorkDir(deps.workDir, async (dir) => {
    if (!options.json && isTTY) out.write(`preparing ${options.input || "a 1080p30 test pattern"}...\n`);
    const segments = cycleSegments(await prepareSegments(options, dir, deps.children ?? null), options.segs);
    return measure(options, {
      transcoder,
      segments,
      singleProcess: options.compare
        ? (segs, streams) =>
            singleProcessRun(
              {
                profiles: options.profiles,
                ffmpegPath: options.ffmpegPath,
                workDir: dir,
                children: deps.children ?? null,
              },
              segs,
              streams,
            )
        : undefined,
      onProgress: isTTY && !options.json ? (done, total) => out.write(progressBar(done, total)) : undefined,
    });
  });
  out.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return report;
}

/** One progress-bar frame for a TTY (carriage return, no newline until the end). */
export function progressBar(done: number, total: number, width = 30): string {
  const filled = total > 0 ? Math.round((done / total) * width) : width;
  const end = done >= total ? "\n" : "";
  return `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} segments${end}`;
}

async function measure(options: BenchOptions, deps: BenchSegmentsDeps): Promise<BenchReport> {
  const memStart = process.memoryUsage();
  let rssMax = memStart.rss;
  const total = deps.segments.length * options.concurrentSessions;
  let done = 0;
  const rows: SegmentRow[] = [];
  const busy: number[] = [];
  const cpuStart = cpuMs();
  const runStart = performance.now();
  const window = Math.max(1, options.inflight ?? STREAM_DEPTH);
  const stream = async (s: number) => {
    const t0 = performance.now();
    let due = 0;
    const inFlight = new Set<Promise<void>>();
    const spans: [number, number][] = [];
    for (let seq = 0; seq < deps.segments.length; seq++) {
      const seg = deps.segments[seq]!;
      const wait = t0 + due - performance.now();
      if (options.realtime !== false && wait > 0) await new Promise((r) => setTimeout(r, wait));
      // Like a gateway, the next segment does not wait for the last one's renditions, but at most
      // `window` of a stream are out at once (a gateway catching up; 1 = strictly one at a time).
      while (inFlight.size >= window) await Promise.race(inFlight);
      // Back to back, a segment arrives when it is handed over; live, at its due time even when
      // the node is behind.
      const arrival = options.realtime !== false ? t0 + due : performance.now();
      due += seg.durationMs;
      const task = runOne(s, seq, seg, arrival, spans);
      inFlight.add(task);
      void task.finally(() => inFlight.delete(task));
    }
    await Promise.all(inFlight);
    busy[s] = unionMs(spans);
  };
  const runOne = async (
    s: number,
    seq: number,
    seg: BenchSegment,
    arrival: number,
    spans: [number, number][],
  ): Promise<void> => {
    const started = performance.now();
    const row: SegmentRow = {
      stream: s,
      seq,
      durationMs: seg.durationMs,
      transcodeMs: 0,
      ffmpegMs: 0,
      overheadMs: 0,
      realTimeRatio: 0,
      overheadPercent: 0,
      pixels: 0,
      latencyMs: 0,
    };
    try {
      const out = await deps.transcoder.transcode({
        sessionId: `bench${s}`,
        manifestId: `bench${s}`,
        seq: BigInt(seq),
        data: seg.data,
        durationMs: seg.durationMs,
        profiles: options.profiles,
        signal: new AbortController().signal,
      });
      row.transcodeMs = performance.now() - started;
      row.ffmpegMs = out.ffmpegMs ?? row.transcodeMs;
      row.overheadMs = Math.max(0, row.transcodeMs - row.ffmpegMs);
      row.overheadPercent = row.ffmpegMs > 0 ? (row.overheadMs / row.ffmpegMs) * 100 : 0;
      row.pixels = out.renditions.reduce((a, r) => a + r.pixels, 0);
    } catch (err) {
      row.transcodeMs = performance.now() - started;
      row.error = (err as Error).message;
    }
    row.realTimeRatio = row.transcodeMs / seg.durationMs;
    row.latencyMs = performance.now() - arrival;
    spans.push([started, performance.now()]);
    rows.push(row);
    rssMax = Math.max(rssMax, process.memoryUsage().rss);
    done += 1;
    deps.onProgress?.(done, total);
  };
  await Promise.all(Array.from({ length: options.concurrentSessions }, (_, s) => stream(s)));
  const wallMs = performance.now() - runStart;
  const nodeWallMs = options.realtime === false ? wallMs : Math.max(0, ...busy);
  await deps.transcoder.stop?.();
  const cpuNode = cpuMs();
  const singleProcessMs = deps.singleProcess
    ? await deps.singleProcess(deps.segments, options.concurrentSessions)
    : null;
  const cpuSingle = cpuMs();
  // CPU is what a loaded machine distorts least: compare it too (our own process included for the node).
  const nodeCpuMs =
    cpuStart && cpuNode ? cpuNode.children - cpuStart.children + (cpuNode.own - cpuStart.own) : null;
  const singleCpuMs =
    singleProcessMs !== null && cpuNode && cpuSingle ? cpuSingle.children - cpuNode.children : null;
  const ok = rows.filter((r) => !r.error);
  const ratios = ok.map((r) => r.realTimeRatio).sort((a, b) => a - b);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const memEnd = process.memoryUsage();
  const round = (n: number, d = 3) => Math.round(n * 10 ** d) / 10 ** d;
  return {
    profiles: options.profiles.map((p) => p.name),
    nvidia: options.nvidia || null,
    concurrentSessions: options.concurrentSessions,
    segments: rows.length,
    failed: rows.length - ok.length,
    realTimeRatio: round(ok.length ? sum(ratios) / ok.length : 0),
    realTimeRatioP95: round(ratios[Math.min(ratios.length - 1, Math.floor(ratios.length * 0.95))] ?? 0),
    overheadPercent: round(
      (sum(ok.map((r) => r.overheadMs)) / Math.max(1, sum(ok.map((r) => r.ffmpegMs)))) * 100,
      2,
    ),
    meanTranscodeMs: round(ok.length ? sum(ok.map((r) => r.transcodeMs)) / ok.length : 0, 1),
    latencyP50Ms: round(
      percentile(
        ok.map((r) => r.latencyMs),
        50,
      ),
      1,
    ),
    latencyP95Ms: round(
      percentile(
        ok.map((r) => r.latencyMs),
        95,
      ),
      1,
    ),
    nodeWallMs: round(nodeWallMs, 1),
    singleProcessMs: singleProcessMs === null ? null : round(singleProcessMs, 1),
    vsSingleProcess: singleProcessMs === null ? null : round(vsSingleProcess(nodeWallMs, singleProcessMs)),
    nodeCpuMs: nodeCpuMs === null ? null : round(nodeCpuMs, 0),
    singleProcessCpuMs: singleCpuMs === null ? null : round(singleCpuMs, 0),
    cpuVsSingleProcess:
      nodeCpuMs === null || singleCpuMs === null ? null : round(vsSingleProcess(nodeCpuMs, singleCpuMs)),
    pixels: sum(ok.map((r) => r.pixels)),
    memory: {
      heapStartMiB: mib(memStart.heapUsed),
      heapEndMiB: mib(memEnd.heapUsed),
      rssStartMiB: mib(memStart.rss),
      rssEndMiB: mib(memEnd.rss),
      rssMaxMiB: mib(rssMax),
    },
    rows: rows.sort((a, b) => a.stream - b.stream || a.seq - b.seq),
  };
}

/** The human-readable table printed at the end of a run. */
export function formatReport(r: BenchReport): string {
  const lines = [
    `profiles: ${r.profiles.join(", ")}   streams: ${r.concurrentSessions}   segments: ${r.segments} (${r.failed} failed)   ${r.nvidia ? `nvidia: ${r.nvidia}` : "cpu"}`,
    "",
    "stream  seq  dur(ms)  transcode(ms)  ffmpeg(ms)  overhead(ms)  overhead%  realtime  pixels",
    ...r.rows.map(
      (x) =>
        `${String(x.stream).padStart(6)}  ${String(x.seq).padStart(3)}  ${String(x.durationMs).padStart(7)}  ${x.transcodeMs.toFixed(0).padStart(13)}  ${x.ffmpegMs.toFixed(0).padStart(10)}  ${x.overheadMs.toFixed(1).padStart(12)}  ${x.overheadPercent.toFixed(2).padStart(9)}  ${x.realTimeRatio.toFixed(3).padStart(8)}  ${x.error ? `error: ${x.error}` : x.pixels}`,
    ),
    "",
    `real-time ratio: mean ${r.realTimeRatio} (p95 ${r.realTimeRatioP95}); a node keeps up when it is at most 0.8`,
    `overhead around ffmpeg: ${r.overheadPercent}% of ffmpeg's own time; mean transcode ${r.meanTranscodeMs} ms`,
    `segment latency (arrival to last rendition): p50 ${r.latencyP50Ms} ms, p95 ${r.latencyP95Ms} ms`,
    r.vsSingleProcess === null
      ? `node time ${r.nodeWallMs} ms (no single-process comparison run)`
      : `vs single process: ${r.vsSingleProcess}x wall (node ${r.nodeWallMs} ms, one ffmpeg per stream over the whole input ${r.singleProcessMs} ms)${r.cpuVsSingleProcess === null ? "" : `, ${r.cpuVsSingleProcess}x CPU (${r.nodeCpuMs} / ${r.singleProcessCpuMs} ms)`}`,
    `pixels: ${r.pixels}`,
    `memory: heap ${r.memory.heapStartMiB} -> ${r.memory.heapEndMiB} MiB, rss ${r.memory.rssStartMiB} -> ${r.memory.rssEndMiB} MiB (max ${r.memory.rssMaxMiB})`,
  ];
  return `${lines.join("\n")}\n`;
}

/** Make and clean a work directory under `parent` around `fn`. */
export async function withWorkDir<T>(parent: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(parent, "lp-bench-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Length of the union of [start, end] spans, in the spans' unit (overlaps counted once). */
export function unionMs(spans: readonly (readonly [number, number])[]): number {
  const sorted = [...spans].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let from = Number.NEGATIVE_INFINITY;
  let to = Number.NEGATIVE_INFINITY;
  for (const [a, b] of sorted) {
    if (a > to) {
      if (to > from) total += to - from;
      from = a;
      to = b;
    } else to = Math.max(to, b);
  }
  if (to > from) total += to - from;
  return total;
}

/** Nearest-rank percentile (p in 0..100) of unsorted values; 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Node time over single-process time: 1 means cutting into segments costs nothing; 0 when there is no baseline. */
export function vsSingleProcess(nodeWallMs: number, singleProcessMs: number): number {
  return singleProcessMs > 0 ? nodeWallMs / singleProcessMs : 0;
}

/**
 * The bench's comparison run: the segments joined back into one MPEG-TS input (byte concatenation
 * of TS segments is a valid TS stream) and transcoded by one bare ffmpeg per stream with the same
 * argv builder, hence the same encoder settings, and with IDR frames forced where the segments
 * start (the node's renditions each start with one; a profile with its own GOP keeps it). Resolves
 * with the wall time of all of them.
 */
export async function singleProcessRun(
  options: {
    profiles: VideoProfile[];
    ffmpegPath?: string;
    workDir: string;
    children?: ChildProcesses | null;
    /** NVIDIA device to run on, as the node would; null for the CPU. */
    gpu?: string | null;
    /** The GPU has no NVENC: encode on the CPU after GPU decode and scaling, as the node would. */
    hybrid?: boolean;
  },
  segments: BenchSegment[],
  streams: number,
): Promise<number> {
  return withWorkDir(options.workDir, async (dir) => {
    const input = join(dir, "whole.ts");
    await writeFile(input, Buffer.concat(segments.map((s) => s.data)));
    const totalMs = segments.reduce((a, s) => a + s.durationMs, 0);
    // The node's output starts every segment with an IDR frame: the comparison makes the same ones.
    const starts = segments.slice(1).map((s) => firstVideoPtsSec(s.data));
    // Only for one continuous timeline (a cycled soak input jumps back and is left as it is).
    const continuous = starts.every((t, i) => t !== null && (i === 0 || t > starts[i - 1]!));
    const keyframesAtSec = continuous ? (starts as number[]) : undefined;
    const argv = (k: number) =>
      transcodeArgs({
        keyframesAtSec,
        input,
        outputs: options.profiles.map((profile, i) => ({
          path: join(dir, `s${k}-out${i}${extensionFor(profile.format)}`),
          profile,
        })),
        gpu: options.gpu ?? null,
        hybrid: options.hybrid ?? false,
      });
    const started = performance.now();
    const runs = await Promise.all(
      Array.from({ length: streams }, (_, k) =>
        runProcess(options.ffmpegPath || defaultFfmpegPath(), argv(k), {
          timeoutMs: Math.max(600_000, 10 * totalMs),
          children: options.children ?? null,
        }),
      ),
    );
    const wall = performance.now() - started;
    const bad = runs.find((r) => r.code !== 0);
    if (bad)
      throw new LpError(
        "BENCH_SINGLE_PROCESS",
        `the single-process comparison run failed: ${bad.stderr.trim().split("\n").pop() ?? ""}`,
      );
    return wall;
  });
}

/**
 * CPU time so far, in ms: this process's own, and its reaped children's (cutime + cstime of
 * /proc/self/stat, in clock ticks of 10 ms on Linux). Null where /proc is missing.
 */
export function cpuMs(): { own: number; children: number } | null {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    // Fields after the command name in parentheses start at field 3 (state); cutime is 16, cstime 17.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(f[13]) + Number(f[14]);
    const own = process.cpuUsage();
    return Number.isFinite(ticks) ? { own: (own.user + own.system) / 1000, children: ticks * 10 } : null;
  } catch {
    return null;
  }
}
