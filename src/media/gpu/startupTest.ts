import { errorMessage, LpError } from "../../errors/LpError.js";
import type { Logger } from "../../logger/logger.js";

/** Renditions the startup test encodes at once per GPU (go-livepeer's TestTranscoderCapabilities). */
export const TEST_RENDITIONS = 4;

export interface GpuTestResult {
  /** Devices that passed. */
  devices: string[];
  /** NVENC sessions the driver allows, when it refused the full test; null when not limited. */
  nvencSessionCap: number | null;
}

/**
 * The -testTranscoder startup check: an H.264 transcode with several renditions on every GPU.
 * A GPU that cannot do H.264 stops the node with a clear message. When the driver refuses the
 * number of NVENC sessions (consumer cards), the test finds how many it allows so -maxSessions
 * can be sized from it instead of failing, which go-livepeer meant to do but never reaches.
 */
export async function testGpus(
  devices: readonly string[],
  run: (device: string, renditions: number) => Promise<void>,
  logger: Logger,
): Promise<GpuTestResult> {
  let cap: number | null = null;
  for (const device of devices) {
    try {
      await run(device, TEST_RENDITIONS);
      logger.info({ gpu: device }, "GPU test transcode passed");
      continue;
    } catch (err) {
      if (!(err instanceof LpError) || err.code !== "NVENC_SESSIONS") {
        throw new LpError(
          "GPU_TEST_FAILED",
          `required capability "H.264" is not supported on GPU ${device}: ${errorMessage(err)}`,
        );
      }
    }
    let allowed = 0;
    for (let n = TEST_RENDITIONS - 1; n >= 1; n--) {
      try {
        await run(device, n);
        allowed = n;
        break;
      } catch {
        // try fewer sessions
      }
    }
    if (allowed === 0) {
      throw new LpError(
        "GPU_TEST_FAILED",
        `required capability "H.264" is not supported on GPU ${device}: no NVENC session available`,
      );
    }
    logger.warn({ gpu: device, sessions: allowed }, "the driver limits simultaneous NVENC sessions");
    cap = cap === null ? allowed : Math.min(cap, allowed);
  }
  return { devices: [...devices], nvencSessionCap: cap };
}
