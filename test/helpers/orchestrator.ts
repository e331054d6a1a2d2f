import { resolveConfig } from "../../src/config/resolve.js";
import { silentLogger } from "../../src/logger/logger.js";
import type {
  TranscodeJob as SegmentJob,
  TranscodeResult as SegmentOutput,
  Transcoder as SegmentTranscoder,
} from "../../src/media/transcoder.js";
import { LpNode } from "../../src/node/LpNode.js";
import type { Orchestrator } from "../../src/orchestrator/Orchestrator.js";
import { type OrchestratorLimits, orchestratorRole } from "../../src/orchestrator/role.js";
import { Capability } from "../../src/protocol/capabilities.js";
import { tempDir } from "./tmp.js";

/**
 * A transcoder double for wire-level tests: it mirrors SegmentTranscoder, echoes the input as
 * every rendition, and can be told to be slow or fail. Media correctness is tested with the real
 * ffmpeg engine elsewhere.
 */
export class EchoTranscoder implements SegmentTranscoder {
  delayMs = 0;
  failWith: string | null = null;
  readonly jobs: SegmentJob[] = [];
  active = 0;

  async transcode(job: SegmentJob): Promise<SegmentOutput> {
    this.jobs.push(job);
    this.active += 1;
    try {
      if (this.delayMs > 0) {
        await new Promise<void>((done, fail) => {
          const t = setTimeout(done, this.delayMs);
          job.signal?.addEventListener("abort", () => {
            clearTimeout(t);
            fail(new Error("aborted"));
          });
        });
      }
      if (this.failWith) throw new Error(this.failWith);
      return { renditions: job.profiles.map((p) => ({ data: job.data, pixels: p.width * p.height })) };
    } finally {
      this.active -= 1;
    }
  }
  capabilities(): number[] {
    return [Capability.H264, Capability.MPEGTS, Capability.MP4, Capability.GOP, Capability.ProfileH264High];
  }
  capacity(): number | null {
    return null;
  }
}

/** The secret standalone test orchestrators use. */
export const ORCH_SECRET = "test-orch-secret";

export interface RunningOrchestrator {
  node: LpNode;
  orchestrator: Orchestrator;
  port: number;
  uri: string;
  stop: () => Promise<void>;
}

/**
 * Start an in-process offchain orchestrator on 127.0.0.1 port 0 with the given local transcoder,
 * or, with `null`, a standalone orchestrator whose transcoders register remotely (-orchSecret).
 * `options.datadir` reuses a data folder (a restart); a fresh one otherwise.
 */
export async function startOrchestrator(
  transcoder: SegmentTranscoder | null,
  extraArgs: string[] = [],
  limits: OrchestratorLimits = {},
  options: { datadir?: string } = {},
): Promise<RunningOrchestrator> {
  const r = resolveConfig(
    [
      "--mode",
      transcoder ? "orchestrator,transcoder" : "orchestrator",
      ...(transcoder ? [] : ["-orchSecret", ORCH_SECRET]),
      "-serviceAddr",
      "127.0.0.1:0",
      "-httpAddr",
      "127.0.0.1:0",
      "-cliAddr",
      "127.0.0.1:0",
      "-datadir",
      options.datadir ?? tempDir("lp-orch-"),
      ...extraArgs,
    ],
    { env: {}, readFile: () => null },
  );
  if (r.kind !== "ok") throw new Error(`bad config: ${JSON.stringify(r)}`);
  let orchestrator: Orchestrator | null = null;
  let port = 0;
  const node = new LpNode(r.config, {
    logger: silentLogger(),
    roles: {
      orchestrator: async (config, ctx) => {
        const parts = await orchestratorRole(config, ctx, async () => transcoder!, limits);
        orchestrator = parts.orchestrator;
        const server = parts.server;
        return {
          ...parts,
          services: [
            ...parts.services,
            {
              name: "port",
              start: async () => {
                port = server.port;
              },
              stop: async () => {},
            },
          ],
        };
      },
      transcoder: () => ({ services: [] }),
    },
  });
  await node.start();
  return {
    node,
    orchestrator: orchestrator!,
    port,
    uri: `https://127.0.0.1:${port}`,
    stop: () => node.stop(),
  };
}
