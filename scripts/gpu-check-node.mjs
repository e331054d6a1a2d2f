// Helper of scripts/gpu-check.sh: runs lp-node's own GPU code from dist/ without the CLI. The CLI
// imports the whole node (chain, servers), whose node_modules are far too big to carry to a GPU
// machine; these modules need only @bufbuild/protobuf and @noble/hashes. Prints one JSON object.
//
//   node scripts/gpu-check-node.mjs startup <repo> <ffmpeg> <device>
//   node scripts/gpu-check-node.mjs bench <repo> <ffmpeg> <device|cpu> <warm:true|false> <segment dir> <profiles> [nvenc|hybrid] [inflight]
//
// <profiles> is a comma list of PRESET[:codec[:format]], e.g. P240p30fps16x9:vp9:mp4. The last
// argument is how the GPU encodes: nvenc (default) or hybrid (no NVENC: libx264 after GPU decode
// and scaling, as the node runs such a card when its start-up test found it so).
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [cmd, root, ffmpegPath, device, ...rest] = process.argv.slice(2);
if (!cmd || !root || !ffmpegPath || !device) {
  process.stderr.write("usage: gpu-check-node.mjs startup|bench <repo> <ffmpeg> <device> ...\n");
  process.exit(2);
}
const load = (p) => import(pathToFileURL(join(root, "dist", "src", p)).href);
const message = (err) =>
  err instanceof Error ? `${err.code ? `${err.code}: ` : ""}${err.message}` : String(err);
// The modules log through a pino-shaped logger; the script keeps its own records instead.
const logger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
  child() {
    return logger;
  },
};

async function startup() {
  const { CAPABILITY_TESTS, TEST_RENDITIONS, testTranscoderCapabilities } =
    await load("media/gpu/startupTest.js");
  const { createGpuTestRunner } = await load("media/gpu/testRunner.js");
  const workDir = await mkdtemp(join(tmpdir(), "lp-gpucheck-"));
  const runner = await createGpuTestRunner({ ffmpegPath, workDir, timeoutMs: 30_000 });
  const calls = [];
  // Same runner as the node's -testTranscoder check, each call timed and its outcome kept.
  const run = async (dev, test, renditions, mode = "nvenc") => {
    const t0 = performance.now();
    try {
      await runner.run(dev, test, renditions, mode);
      calls.push({ name: test.name, renditions, mode, ok: true, ms: Math.round(performance.now() - t0) });
    } catch (err) {
      const ms = Math.round(performance.now() - t0);
      calls.push({ name: test.name, renditions, mode, ok: false, ms, error: message(err).slice(0, 600) });
      throw err;
    }
  };
  let node;
  try {
    const r = await testTranscoderCapabilities([device], CAPABILITY_TESTS, run, logger);
    node = { ok: true, ...r };
  } catch (err) {
    // The node stops here (a required test failed); try the rest anyway to see what else the GPU does.
    node = { ok: false, error: message(err) };
    for (const test of CAPABILITY_TESTS) {
      if (calls.some((c) => c.name === test.name)) continue;
      await run(device, test, TEST_RENDITIONS).catch(() => {});
    }
  } finally {
    await runner.close();
    await rm(workDir, { recursive: true, force: true });
  }
  return { device, nodeStartupTest: node, calls };
}

async function bench() {
  const [warm, segDir, profileSpec, mode = "nvenc", inflightArg = "1"] = rest;
  const inflight = Number(inflightArg);
  if (!Number.isInteger(inflight) || inflight < 1) throw new Error(`bad inflight ${inflightArg}`);
  if ((warm !== "true" && warm !== "false") || !segDir || !profileSpec) {
    throw new Error("bench needs <warm:true|false> <segment dir> <profiles> [nvenc|hybrid] [inflight]");
  }
  if (mode !== "nvenc" && mode !== "hybrid") throw new Error(`unknown GPU mode ${mode}`);
  const { runBench, singleProcessRun } = await load("bench/bench.js");
  const { LocalTranscoder } = await load("media/transcoder.js");
  const { GpuBalancer } = await load("media/gpu/GpuBalancer.js");
  const { PRESETS } = await load("media/profiles.js");
  const profiles = profileSpec.split(",").map((item) => {
    const [name, codec, format] = item.split(":");
    const preset = PRESETS[name];
    if (!preset) throw new Error(`unknown preset ${name}`);
    return { ...preset, ...(codec ? { codec } : {}), ...(format ? { format } : {}) };
  });
  const files = (await readdir(segDir)).filter((f) => /^seg\d+\.ts$/.test(f)).sort();
  if (files.length === 0) throw new Error(`no seg*.ts in ${segDir}`);
  // The script cuts its source into 2 s segments (fixed 2 s GOPs).
  const segments = await Promise.all(
    files.map(async (f) => ({ data: await readFile(join(segDir, f)), durationMs: 2000 })),
  );
  const gpu = device === "cpu" ? null : device;
  const hybrid = gpu !== null && mode === "hybrid";
  const workDir = await mkdtemp(join(tmpdir(), "lp-gpucheck-"));
  // As `lp-node bench` wires it (src/cli/subcommands.ts), less the CLI.
  const transcoder = new LocalTranscoder(
    {
      ffmpegPath,
      capabilities: [],
      gpus: gpu === null ? null : new GpuBalancer([gpu]),
      hybridGpus: hybrid ? [gpu] : [],
      workDir,
      children: null,
      warm: warm === "true",
    },
    { logger },
  );
  try {
    const report = await runBench(
      {
        profiles,
        concurrentSessions: 1,
        segs: segments.length,
        ffmpegPath,
        nvidia: gpu,
        realtime: false,
        inflight,
        compare: true,
      },
      {
        transcoder,
        segments,
        singleProcess: (segs, streams) =>
          singleProcessRun({ profiles, ffmpegPath, workDir, children: null, gpu, hybrid }, segs, streams),
      },
    );
    return { warm: warm === "true", inflight, mode: gpu === null ? "cpu" : mode, profileSpec, ...report };
  } finally {
    await transcoder.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}

try {
  const result = cmd === "startup" ? await startup() : cmd === "bench" ? await bench() : null;
  if (result === null) throw new Error(`unknown command ${cmd}`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ error: message(err) })}\n`);
  process.exitCode = 1;
}
