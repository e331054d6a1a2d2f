import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultFfmpegPath } from "../../../src/media/ffmpeg/binaries.js";

// scripts/gpu-check.sh is run once on a borrowed GPU machine, so it has to work the first time:
// these runs drive it with a fake nvidia-smi and ffmpeg builds without CUDA, and check its argv
// against the real ffmpeg's parser.

const repo = fileURLToPath(new URL("../../../", import.meta.url));
const script = join(repo, "scripts", "gpu-check.sh");
const fixture = (f: string) => join(repo, "test", "fixtures", "nvidia-smi", f);
const ffmpeg = defaultFfmpegPath();
const H100_LIST = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-a1b2c3d4-0000-1111-2222-333344445555)";

let tmp: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the script with bash, the environment given on top of ours, and a hard time limit. */
function runScript(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [script, ...args], { env: { ...process.env, ...env }, stdio: "pipe" });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A folder of fake executables, put first on PATH. */
function fakeBin(name: string, files: Record<string, string>): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, body] of Object.entries(files)) {
    writeFileSync(join(dir, file), body);
    chmodSync(join(dir, file), 0o755);
  }
  return dir;
}

/** nvidia-smi that prints a fixture and exits with `code`; `-L` prints `list` when given. */
const fakeSmi = (out: string, code: number, list?: string) =>
  `#!/bin/sh\n${list ? `if [ "$1" = "-L" ]; then echo "${list}"; exit 0; fi\n` : ""}cat "${out}"\nexit ${code}\n`;

/** An ffmpeg that answers the build questions like a build with neither CUDA nor libx264. */
const FAKE_CPU_FFMPEG = `#!/bin/sh
case "$2" in
  -version) echo "ffmpeg version fake-no-cuda";;
  -hwaccels) printf 'Hardware acceleration methods:\\nvdpau\\nvaapi\\n';;
  -encoders) echo " V..... mpeg4                MPEG-4 part 2";;
  -decoders) echo " V..... h264                 H.264";;
  -filters) echo " ..C scale             V->V       Scale";;
esac
exit 0
`;

/**
 * A stand-in for a CUDA ffmpeg on a machine without a GPU: says it has the cuda hwaccel and
 * scale_cuda, and runs the CPU equivalent of every GPU argument with the real ffmpeg.
 */
const FAKE_CUDA_FFMPEG = `#!/usr/bin/env bash
real="${ffmpeg}"
case "\${2:-}" in
  -hwaccels) printf 'Hardware acceleration methods:\\ncuda\\n'; exit 0;;
  -filters) "$real" "$@"; echo " ... scale_cuda        V->V       stand-in"; exit 0;;
esac
args=()
while (($#)); do
  case "$1" in
    -hwaccel|-hwaccel_output_format|-hwaccel_device|-init_hw_device) shift 2; continue;;
    -filter_complex) a=\${2//scale_cuda/scale}; a=\${a//,hwdownload,format=nv12/}; args+=("$1" "$a"); shift 2; continue;;
  esac
  args+=("$1"); shift
done
exec "$real" "\${args[@]}"
`;

const readJson = (out: string) => JSON.parse(readFileSync(join(out, "gpu-check.json"), "utf8"));

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "lp-gpucheck-test-"));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe("scripts/gpu-check.sh", () => {
  it("is valid bash", () => {
    const r = spawnSync("bash", ["-n", script], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("says 'no NVIDIA GPU' and exits 3 when nvidia-smi cannot reach a driver", async () => {
    const bin = fakeBin("smi-failed", { "nvidia-smi": fakeSmi(fixture("driver-failed.txt"), 9) });
    const out = join(tmp, "out-failed");
    const r = await runScript([], { PATH: `${bin}:${process.env.PATH}`, OUT: out });
    expect(r.code).toBe(3);
    expect(r.stdout).toContain("no NVIDIA GPU");
    const j = readJson(out);
    expect(j.status).toBe("no-gpu");
    expect(j.nvidiaSmi).toMatchObject({ found: true, exit: 9 });
    expect(j.nvidiaSmi.list).toContain("couldn't communicate with the NVIDIA driver");
    // It stopped before looking at any ffmpeg.
    expect(j.ffmpegBuilds).toBeUndefined();
    expect(readdirSync(out).sort()).toEqual(["gpu-check-summary.txt", "gpu-check.json", "gpu-check.log"]);
  });

  it("exits 3 when nvidia-smi finds no devices", async () => {
    const bin = fakeBin("smi-none", { "nvidia-smi": fakeSmi(fixture("no-devices.txt"), 6) });
    const out = join(tmp, "out-none");
    const r = await runScript([], { PATH: `${bin}:${process.env.PATH}`, OUT: out });
    expect(r.code).toBe(3);
    expect(r.stdout).toContain("no NVIDIA GPU");
    expect(readJson(out).nvidiaSmi.list).toBe("No devices were found");
  });

  const hasSmi = spawnSync("sh", ["-c", "command -v nvidia-smi"]).status === 0;
  it.skipIf(hasSmi)("exits 3 when there is no nvidia-smi at all", async () => {
    const out = join(tmp, "out-nosmi");
    const r = await runScript([], { OUT: out });
    expect(r.code).toBe(3);
    expect(r.stdout).toContain("no NVIDIA GPU: nvidia-smi is not on PATH");
    expect(readJson(out)).toMatchObject({ status: "no-gpu", nvidiaSmi: { found: false } });
  });

  it("records every ffmpeg and exits 4 when none has the CUDA hwaccel", async () => {
    const bin = fakeBin("no-cuda", {
      "nvidia-smi": fakeSmi(fixture("h100-na.csv"), 0, H100_LIST),
      "fake-ffmpeg": FAKE_CPU_FFMPEG,
    });
    const out = join(tmp, "out-nocuda");
    const r = await runScript([], {
      PATH: `${bin}:${process.env.PATH}`,
      OUT: out,
      GPU_CHECK_FFMPEGS: `${join(bin, "fake-ffmpeg")} ${ffmpeg}`,
    });
    expect(r.code).toBe(4);
    expect(r.stdout).toContain("no ffmpeg with CUDA hwaccel among:");
    const j = readJson(out);
    expect(j.status).toBe("no-cuda-ffmpeg");
    expect(j.nvidiaSmi).toMatchObject({ found: true, list: H100_LIST });
    expect(j.ffmpeg).toBeNull();
    expect(j.ffmpegBuilds).toHaveLength(2);
    expect(j.ffmpegBuilds[0]).toMatchObject({
      path: join(bin, "fake-ffmpeg"),
      npmShipped: false,
      version: "ffmpeg version fake-no-cuda",
      hwaccels: "vdpau vaapi",
      cuda: false,
      libx264: false,
    });
    // The npm-shipped static build: no CUDA, no NVENC, no CUVID, but libx264.
    expect(j.ffmpegBuilds[1]).toMatchObject({
      path: ffmpeg,
      npmShipped: true,
      runs: true,
      cuda: false,
      nvencEncoders: "",
      cuvidDecoders: "",
      libx264: true,
    });
    expect(j.ffmpegBuilds[1].hwaccels).not.toMatch(/\bcuda\b/);
  });

  const hasSystemFfmpeg = spawnSync("sh", ["-c", "command -v ffmpeg"]).status === 0;
  it.skipIf(hasSystemFfmpeg)("finds the npm-shipped ffmpeg and those on PATH by itself", async () => {
    const bin = fakeBin("discover", {
      "nvidia-smi": fakeSmi(fixture("h100-na.csv"), 0, H100_LIST),
      ffmpeg: FAKE_CPU_FFMPEG,
    });
    const out = join(tmp, "out-discover");
    const r = await runScript([], {
      PATH: `${bin}:${process.env.PATH}`,
      OUT: out,
      GPU_CHECK_EXTRA_FFMPEGS: "",
    });
    expect(r.code).toBe(4);
    const j = readJson(out);
    expect(j.ffmpegBuilds.map((b: { path: string }) => b.path)).toEqual([ffmpeg, join(bin, "ffmpeg")]);
  });

  describe("step (c)'s ffmpeg commands", () => {
    const printed = (kind: "cuda" | "cpu", env: Record<string, string> = {}) => {
      const r = spawnSync("bash", [script, "--print-argv", kind], {
        encoding: "utf8",
        env: { ...process.env, ...env },
      });
      expect(r.status).toBe(0);
      return Object.fromEntries(
        r.stdout
          .trim()
          .split("\n")
          .map((line) => {
            const [name, json] = line.split("\t");
            return [name!, JSON.parse(json!) as string[]];
          }),
      );
    };
    const CUDA_GRAPH =
      "[0:v:0]split=3[s0][s1][s2];" +
      "[s0]scale_cuda=w=426:h=240,hwdownload,format=nv12[v0];" +
      "[s1]scale_cuda=w=640:h=360,hwdownload,format=nv12[v1];" +
      "[s2]scale_cuda=w=1280:h=720,hwdownload,format=nv12[v2]";
    let clip: string;

    beforeAll(() => {
      clip = join(tmp, "clip.ts");
      const r = spawnSync(ffmpeg, [
        ...["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi"],
        ...["-i", "testsrc2=size=320x180:rate=30", "-t", "0.5", "-c:v", "libx264", "-f", "mpegts", clip],
      ]);
      expect(r.status).toBe(0);
    });

    it("decode on NVDEC, scale_cuda to the ladder, download, and need no NVENC", () => {
      const a = printed("cuda");
      const head = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"];
      const hw = ["-hwaccel", "cuda", "-hwaccel_output_format", "cuda", "-hwaccel_device", "0"];
      const nul = (i: number) => ["-map", `[v${i}]`, "-f", "null", "/dev/null"];
      const x264 = (i: number) => [
        ...["-map", `[v${i}]`, "-c:v", "libx264", "-preset", "ultrafast", "-g", "60"],
        ...["-f", "null", "/dev/null"],
      ];
      expect(a["cuda-null"]).toEqual([
        ...head,
        ...hw,
        ...["-i", "SEGMENT", "-filter_complex", CUDA_GRAPH],
        ...nul(0),
        ...nul(1),
        ...nul(2),
      ]);
      expect(a["cuda-x264"]).toEqual([
        ...head,
        ...hw,
        ...["-i", "SEGMENT", "-filter_complex", CUDA_GRAPH],
        ...x264(0),
        ...x264(1),
        ...x264(2),
      ]);
      for (const argv of [a["cuda-null"]!, a["cuda-x264"]!]) expect(argv.join(" ")).not.toMatch(/nvenc/);
      expect(a["cuda-init"]).toEqual([
        ...["-hide_banner", "-nostdin", "-loglevel", "error", "-init_hw_device", "cuda=gc:0"],
        ...["-f", "lavfi", "-i", "color=size=64x64:rate=1", "-frames:v", "1", "-f", "null", "/dev/null"],
      ]);
      expect(printed("cuda", { GPU_CHECK_DEVICE: "3" })["cuda-null"]).toContain("3");
      const cpu = printed("cpu");
      expect(cpu["cpu-null"]).not.toContain("-hwaccel");
      expect(cpu["cpu-null"]).toContain(
        "[0:v:0]split=3[s0][s1][s2];[s0]scale=w=426:h=240,format=yuv420p[v0];" +
          "[s1]scale=w=640:h=360,format=yuv420p[v1];[s2]scale=w=1280:h=720,format=yuv420p[v2]",
      );
    });

    it("are accepted by ffmpeg's parser: the CPU graphs run, the CUDA graph fails only on its filter", () => {
      const withInput = (argv: string[]) => argv.map((a) => (a === "SEGMENT" ? clip : a));
      const cpu = printed("cpu");
      for (const name of ["cpu-null", "cpu-x264"]) {
        const r = spawnSync(ffmpeg, withInput(cpu[name]!), { encoding: "utf8" });
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
      }
      // The CUDA graph with its hardware options left out (this ffmpeg has no cuda hwaccel):
      // everything parses, and the one complaint is the missing CUDA filter.
      const cuda = printed("cuda")["cuda-x264"]!;
      const noHw: string[] = [];
      for (let i = 0; i < cuda.length; i++) {
        if (cuda[i]!.startsWith("-hwaccel")) i++;
        else noHw.push(cuda[i]!);
      }
      const bare = spawnSync(ffmpeg, withInput(noHw), { encoding: "utf8" });
      expect(bare.status).not.toBe(0);
      expect(bare.stderr).toContain("No such filter: 'scale_cuda'");
      // The same graph with the CPU scaler in place of scale_cuda (and nothing to download) runs.
      const swapped = withInput(noHw).map((a) =>
        a.replaceAll("scale_cuda=", "scale=").replaceAll("hwdownload,", ""),
      );
      const r = spawnSync(ffmpeg, swapped, { encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
    });

    it("the source command makes ten 2 s segments", () => {
      const dir = join(tmp, "source");
      mkdirSync(dir);
      const argv = printed("cpu", { GPU_CHECK_SOURCE_SIZE: "160x90" }).source!;
      expect(argv).toContain("testsrc2=size=160x90:rate=30");
      expect(printed("cpu").source).toContain("testsrc2=size=1920x1080:rate=30");
      const r = spawnSync(
        ffmpeg,
        argv.map((a) => a.replace("OUTDIR", dir)),
        { encoding: "utf8" },
      );
      expect(r.status).toBe(0);
      expect(readdirSync(dir).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `seg0${i}.ts`));
    });
  });

  it("step (d) benches the H.264 ladder in hybrid mode when (b) found no NVENC", () => {
    const plan = (startup: string, env: Record<string, string> = {}) => {
      const r = spawnSync("bash", [script, "--print-bench-plan", startup], {
        encoding: "utf8",
        env: { ...process.env, ...env },
      });
      expect(r.status).toBe(0);
      return r.stdout.trim().split("\t");
    };
    const h264 = "P240p30fps16x9,P360p30fps16x9,P720p30fps16x9";
    // The helper's JSON as JSON.stringify writes it (scripts/gpu-check-node.mjs startup).
    const startup = (node: object) =>
      JSON.stringify({ device: "0", nodeStartupTest: node, calls: [{ name: "H.264", mode: "hybrid" }] });
    const passed = { ok: true, supported: [1], dropped: [], nvencSessionCap: null };
    expect(plan(startup({ ...passed, hybrid: ["0"] }))).toEqual(["hybrid", h264]);
    expect(plan(startup({ ...passed, hybrid: [] }))).toEqual(["nvenc", h264]);
    // (b) failed or did not run: the VP9 ladder, which needs no NVENC.
    const vp9 = "P144p30fps16x9:vp9:mp4,P240p30fps16x9:vp9:mp4";
    expect(plan(startup({ ok: false, error: "GPU_TEST_FAILED: x" }))).toEqual(["nvenc", vp9]);
    expect(plan("")).toEqual(["nvenc", vp9]);
    expect(
      plan(startup({ ...passed, hybrid: ["0"] }), { GPU_CHECK_BENCH_PROFILES: "P144p30fps16x9" }),
    ).toEqual(["hybrid", "P144p30fps16x9"]);
  });

  it("runs (a) and (c) through to the JSON with a CUDA ffmpeg stand-in, recording what it skipped", async () => {
    // A copy of the script in a tree without dist/: (b) and (d) are skipped and recorded as such.
    const root = join(tmp, "tree");
    mkdirSync(join(root, "scripts"), { recursive: true });
    copyFileSync(script, join(root, "scripts", "gpu-check.sh"));
    expect(existsSync(join(root, "dist"))).toBe(false);
    const bin = fakeBin("cuda", {
      "nvidia-smi": fakeSmi(fixture("h100-na.csv"), 0, H100_LIST),
      ffmpeg: FAKE_CUDA_FFMPEG,
    });
    const out = join(tmp, "out-cuda");
    const child = spawnSync("bash", [join(root, "scripts", "gpu-check.sh")], {
      encoding: "utf8",
      timeout: 170_000,
      env: {
        ...process.env,
        PATH: `${bin}:${process.env.PATH}`,
        OUT: out,
        GPU_CHECK_FFMPEGS: join(bin, "ffmpeg"),
        GPU_CHECK_SOURCE_SIZE: "160x90",
        GPU_CHECK_NODE: process.execPath,
      },
    });
    expect(child.status).toBe(1);
    const j = readJson(out);
    expect(j.status).toBe("done-with-failures");
    expect(j.ffmpeg).toBe(join(bin, "ffmpeg"));
    expect(j.scaler).toBe("scale_cuda");
    expect(j.failures).toEqual([expect.stringContaining("dist/ missing")]);
    expect(j.startupTest).toBeUndefined();
    expect(j.bench).toBeUndefined();
    expect(Object.keys(j.driverLibraries)).toEqual([
      "libcuda.so.1",
      "libnvcuvid.so.1",
      "libnvidia-encode.so.1",
    ]);
    expect(j.node).toMatchObject({ version: process.version });
    expect(j.source).toMatchObject({ segments: 10, size: "160x90" });
    expect(j.cudaInit.ms).toHaveLength(3);
    expect(Object.keys(j.startCost)).toEqual(["cpu-null", "nvdec-null", "cpu-x264", "nvdec-x264"]);
    for (const g of Object.values(j.startCost) as Record<string, unknown>[]) {
      expect(g.perSegmentMs).toHaveLength(10);
      expect((g.perSegmentMs as unknown[]).every((ms) => typeof ms === "number")).toBe(true);
      expect(typeof g.wholeMs).toBe("number");
      expect(typeof g.startCostPerSegmentMs).toBe("number");
      expect(typeof g.perSegmentVsWhole).toBe("number");
    }
    // The JSON keeps the exact argv each graph ran with (the stand-in translated it, not the script).
    expect(j.startCost["nvdec-x264"].argv).toEqual(expect.arrayContaining(["-hwaccel", "cuda"]));
    expect(j.startCost["cpu-x264"].argv).not.toContain("-hwaccel");
    expect(child.stdout).toContain("(c) nvdec-null: 10 processes");
    expect(readFileSync(join(out, "gpu-check-summary.txt"), "utf8")).toContain("FAILED: dist/ missing");
  }, 180_000);
});
