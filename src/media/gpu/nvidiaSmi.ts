import { LpError } from "../../errors/LpError.js";
import { type ChildProcesses, runForOutput } from "../ffmpeg/runFfmpeg.js";

/** One GPU as nvidia-smi reports it. */
export interface GpuInfo {
  index: number;
  name: string;
  uuid: string;
  memoryTotalMiB: number;
  memoryFreeMiB: number;
  encoderSessions: number | null;
}

/** The nvidia-smi query lp-node runs. */
export const NVIDIA_SMI_ARGS = [
  "--query-gpu=index,name,uuid,memory.total,memory.free,encoder.stats.sessionCount",
  "--format=csv,noheader,nounits",
];

/**
 * Parse `nvidia-smi --query-gpu=... --format=csv,noheader,nounits` output (our stand-in for
 * go-livepeer's ghw-based detectNvidiaDevices in common/util.go). "No devices were found" is an
 * empty list; a driver failure message is an LpError carrying it.
 */
export function parseNvidiaSmi(text: string): GpuInfo[] {
  const gpus: GpuInfo[] = [];
  if (/^No devices were found/m.test(text)) return gpus;
  if (
    /NVIDIA-SMI has failed|couldn't communicate with the NVIDIA driver|Failed to initialize NVML/i.test(text)
  ) {
    throw new LpError("NVIDIA_SMI", `nvidia-smi: ${text.trim().split(/\r?\n/)[0]}`);
  }
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === "") continue;
    const cols = line.split(",").map((c) => c.trim());
    if (cols.length < 5 || !/^\d+$/.test(cols[0]!))
      throw new LpError("NVIDIA_SMI", `cannot parse nvidia-smi line "${line}"`);
    const num = (v: string | undefined) => (v === undefined || !/^\d+(\.\d+)?$/.test(v) ? null : Number(v));
    gpus.push({
      index: Number(cols[0]),
      name: cols[1]!,
      uuid: cols[2]!,
      memoryTotalMiB: num(cols[3]) ?? 0,
      memoryFreeMiB: num(cols[4]) ?? 0,
      encoderSessions: num(cols[5]),
    });
  }
  return gpus;
}

/** Run nvidia-smi; "not found" and failures become a clear LpError. */
export async function queryGpus(
  binary = "nvidia-smi",
  children: ChildProcesses | null = null,
): Promise<GpuInfo[]> {
  let r: Awaited<ReturnType<typeof runForOutput>>;
  try {
    r = await runForOutput(binary, NVIDIA_SMI_ARGS, { timeoutMs: 10_000, maxStdout: 1 << 20, children });
  } catch (err) {
    throw new LpError("NVIDIA_SMI", `nvidia-smi failed: ${(err as Error).message}`);
  }
  // nvidia-smi prints driver problems on stdout and exits non-zero.
  if (r.code !== 0 && !/NVIDIA-SMI has failed|No devices were found/.test(r.stdout)) {
    throw new LpError("NVIDIA_SMI", `nvidia-smi failed: exit ${r.code ?? r.signal}: ${r.stderr.trim()}`);
  }
  return parseNvidiaSmi(r.stdout);
}

/**
 * Resolve `-nvidia`: "all" means every GPU nvidia-smi lists (go-livepeer detectNvidiaDevices),
 * otherwise a comma list of device ids used as given.
 */
export async function resolveNvidiaDevices(
  flag: string,
  query: () => Promise<GpuInfo[]> = queryGpus,
): Promise<string[]> {
  if (flag.trim() === "all") {
    const gpus = await query();
    if (gpus.length === 0) throw new LpError("NO_GPUS", "no devices found with vendor name 'Nvidia'");
    return gpus.map((g) => String(g.index));
  }
  const ids = flag
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = ids.filter((id) => !/^\d+$/.test(id));
  if (ids.length === 0 || bad.length > 0)
    throw new LpError("BAD_NVIDIA", `-nvidia must be "all" or GPU ids like 0,1; got "${flag}"`);
  return [...new Set(ids)];
}
