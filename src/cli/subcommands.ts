import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  cycleSegments,
  formatReport,
  prepareSegments,
  progressBar,
  runBench,
  singleProcessRun,
  withWorkDir,
} from "../bench/bench.js";
import { subcommandParser } from "../config/sources.js";
import { errorMessage } from "../errors/LpError.js";
import { silentLogger } from "../logger/logger.js";
import { detectCodecs, transcodingCapabilities } from "../media/capabilities.js";
import { defaultFfmpegPath } from "../media/ffmpeg/binaries.js";
import { ChildProcesses } from "../media/ffmpeg/runFfmpeg.js";
import { GpuBalancer } from "../media/gpu/GpuBalancer.js";
import { resolveNvidiaDevices } from "../media/gpu/nvidiaSmi.js";
import { findHybridGpus } from "../media/gpu/testRunner.js";
import { parseTranscodingOptions } from "../media/profiles.js";
import { LocalTranscoder, STREAM_DEPTH } from "../media/transcoder.js";
import { OPERATOR_COMMANDS, type OperatorCommand } from "./operator.js";

/** Runs `lp-node <subcommand>`; returns the exit status. */
export async function runSubcommand(name: string, argv: string[]): Promise<number> {
  if (name === "bench" && argv[0] === "tickets") {
    const { benchTicketsCommand } = await import("../bench/tickets.js");
    return benchTicketsCommand(argv.slice(1), { stdout: process.stdout, stderr: process.stderr });
  }
  if (name === "bench") return bench(argv);
  if (name === "devnet") return devnet(argv);
  if (name === "money") return money(argv);
  if (Object.hasOwn(OPERATOR_COMMANDS, name)) return operator(name as OperatorCommand, argv);
  process.stderr.write(`lp-node ${name}: not supported yet\n`);
  return 2;
}

/** What a long-running subcommand gets: the process's streams and env, and a signal aborted on SIGINT/SIGTERM. */
interface SubcommandIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
}

// Ctrl-C and SIGTERM abort the command's signal so that it stops what it started before exiting.
async function withStopSignal(run: (io: SubcommandIo) => Promise<number>): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await run({
      stdout: process.stdout,
      stderr: process.stderr,
      env: process.env,
      signal: stop.signal,
    });
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

// Loaded only when asked for: the operator commands load the chain code.
async function operator(name: OperatorCommand, argv: string[]): Promise<number> {
  const { operatorCommand } = await import("./operator.js");
  return withStopSignal((io) => operatorCommand(name, argv, io));
}

// Loaded only when asked for: the money command loads the chain code.
async function money(argv: string[]): Promise<number> {
  const { moneyCommand } = await import("./money.js");
  return withStopSignal((io) => moneyCommand(argv, io));
}

// Loaded only when asked for, so the node (offchain included) never loads the chain code.
async function devnet(argv: string[]): Promise<number> {
  const { devnetCommand } = await import("../eth/devnet.js");
  return withStopSignal(({ stdout, stderr, signal }) => devnetCommand(argv, { stdout, stderr, signal }));
}

const BENCH_HELP = `lp-node bench: transcode N concurrent real-time streams on this machine and report speed

  -in <file|playlist.m3u8>      input (default: a generated 1080p30 test pattern)
  -transcodingOptions <list>     presets or a JSON profile file (default P240p30fps16x9,P360p30fps16x9,P720p30fps16x9)
  -concurrentSessions <n>        streams at once (default 1)
  -segs <n>                      segments per stream (default 10)
  -nvidia <ids|all>              transcode on NVIDIA GPUs
  -ffmpegPath <path>             ffmpeg binary (default: the npm-shipped one)
  -realtime=false                feed segments back to back instead of at real time
  -inflight <n>                  segments of a stream at the node at once (default 2, as a gateway
                                 sends the next segment without waiting; 1 = strictly one at a time)
  -warm=true|false               warm per-stream sessions (default: on with -nvidia, off on the CPU)
  -compare=false                 skip the single-process comparison run (vsSingleProcess)
  --json                         one JSON report on stdout
`;

function readIfFile(path: string): string | null {
  try {
    return statSync(path).isFile() ? readFileSync(path, "utf8") : null;
  } catch {
    return null;
  }
}

async function bench(argv: string[]): Promise<number> {
  const a = subcommandParser(argv)
    .options({
      in: { type: "string", default: "" },
      transcodingOptions: { type: "string", default: "P240p30fps16x9,P360p30fps16x9,P720p30fps16x9" },
      concurrentSessions: { type: "string", default: "1" },
      segs: { type: "string", default: "10" },
      nvidia: { type: "string", default: "" },
      ffmpegPath: { type: "string", default: "" },
      json: { type: "boolean", default: false },
      realtime: { type: "boolean", default: true },
      inflight: { type: "string", default: String(STREAM_DEPTH) },
      warm: { type: "boolean" },
      compare: { type: "boolean", default: true },
      help: { type: "boolean", default: false },
    })
    .strict(false)
    .exitProcess(false)
    .parseSync();
  if (a.help) {
    process.stdout.write(BENCH_HELP);
    return 0;
  }
  const known = new Set([
    "_",
    "$0",
    "in",
    "transcodingOptions",
    "concurrentSessions",
    "segs",
    "nvidia",
    "ffmpegPath",
    "json",
    "realtime",
    "inflight",
    "warm",
    "compare",
    "help",
  ]);
  const problems = Object.keys(a)
    .filter((k) => !known.has(k))
    .map((k) => `unknown flag -${k}`);
  const sessions = Number(a.concurrentSessions);
  const segs = Number(a.segs);
  if (!Number.isInteger(sessions) || sessions < 1)
    problems.push("-concurrentSessions must be an integer >= 1");
  if (!Number.isInteger(segs) || segs < 0) problems.push("-segs must be an integer >= 0");
  const inflight = Number(a.inflight);
  if (!Number.isInteger(inflight) || inflight < 1) problems.push("-inflight must be an integer >= 1");
  let profiles: ReturnType<typeof parseTranscodingOptions> = [];
  try {
    profiles = parseTranscodingOptions(a.transcodingOptions, readIfFile);
  } catch (err) {
    problems.push(errorMessage(err));
  }
  if (problems.length > 0) {
    process.stderr.write(`lp-node bench:\n${problems.map((p) => `  - ${p}`).join("\n")}\n${BENCH_HELP}`);
    return 2;
  }
  const ffmpegPath = a.ffmpegPath || defaultFfmpegPath();
  const { dir: scratch, children, release } = processScratch();
  try {
    const gpus = a.nvidia ? new GpuBalancer(await resolveNvidiaDevices(a.nvidia)) : null;
    const codecs = await detectCodecs(ffmpegPath, children);
    // GPUs without NVENC (H100, H200) run hybrid, as the node's start-up test would decide.
    const hybridGpus = gpus
      ? await findHybridGpus(gpus.devices, { ffmpegPath, workDir: scratch, children, logger: silentLogger() })
      : [];
    const transcoder = new LocalTranscoder(
      {
        ffmpegPath,
        capabilities: transcodingCapabilities(codecs, { gpu: gpus !== null }),
        gpus,
        hybridGpus,
        workDir: scratch,
        children,
        warm: a.warm,
      },
      { logger: silentLogger() },
    );
    const tty = process.stderr.isTTY === true && !a.json;
    const report = await withWorkDir(scratch, async (dir) => {
      if (!a.json) process.stderr.write(`preparing ${a.in || "a 1080p30 test pattern"}...\n`);
      const segments = cycleSegments(
        await prepareSegments({ input: a.in, segs, ffmpegPath }, dir, children),
        segs,
      );
      return runBench(
        {
          input: a.in,
          profiles,
          concurrentSessions: sessions,
          segs,
          ffmpegPath,
          realtime: a.realtime,
          inflight,
        },
        {
          transcoder,
          segments,
          singleProcess: a.compare
            ? (segs, streams) =>
                singleProcessRun(
                  {
                    profiles,
                    ffmpegPath,
                    workDir: scratch,
                    children,
                    gpu: gpus?.snapshot()[0]?.device ?? null,
                    hybrid: hybridGpus.includes(gpus?.snapshot()[0]?.device ?? ""),
                  },
                  segs,
                  streams,
                )
            : undefined,
          onProgress: tty ? (done, total) => process.stderr.write(progressBar(done, total)) : undefined,
        },
      );
    });
    await transcoder.stop();
    process.stdout.write(a.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return report.failed > 0 ? 1 : 0;
  } catch (err) {
    process.stderr.write(`lp-node bench: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    await release();
  }
}

/**
 * A tool run without a node (bench): a per-process folder under the OS temp dir and a child
 * registry, both cleaned up when the run ends, at exit, and on SIGINT/SIGTERM (which would
 * otherwise end the process with ffmpeg children and segments left behind).
 */
function processScratch(): { dir: string; children: ChildProcesses; release: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), `lp-${process.pid}-`));
  const children = new ChildProcesses();
  const now = () => {
    children.killAllNow();
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals) => {
    now();
    process.exit(sig === "SIGINT" ? 130 : 143);
  };
  process.once("exit", now);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return {
    dir,
    children,
    release: async () => {
      process.off("exit", now);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      await children.killAll();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
