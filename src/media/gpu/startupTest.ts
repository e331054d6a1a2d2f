import { errorMessage, LpError } from "../../errors/LpError.js";
import type { Logger } from "../../logger/logger.js";
import { Capability } from "../../protocol/capabilities.js";

/** Renditions the startup test encodes at once per GPU (go-livepeer's TestTranscoderCapabilities). */
export const TEST_RENDITIONS = 4;

/** One startup capability test (go-livepeer core/capabilities.go CapabilityTestLookup). */
export interface CapabilityTest {
  capability: number;
  /** The name go-livepeer prints ("H.264", "HEVC decode", ...). */
  name: string;
  /** A required capability that fails stops the node; an optional one is dropped. */
  required: boolean;
  /**
   * The test clip: codec, pixel format and size. go-livepeer embeds ready-made clips, two of them
   * 145 px; ours are made at start by libx264/libx265, which refuse odd sizes in 4:2:0, so all are 146.
   */
  input: { codec: "h264" | "hevc" | "vp8" | "vp9"; pixFmt: string; size: number };
  /** The codec the test encodes to. */
  output: "h264" | "h265";
}

/** The tests go-livepeer runs at start with -testTranscoder (core/capabilities.go). */
export const CAPABILITY_TESTS: readonly CapabilityTest[] = [
  {
    capability: Capability.H264,
    name: "H.264",
    required: true,
    input: { codec: "h264", pixFmt: "yuv420p", size: 146 },
    output: "h264",
  },
  {
    capability: Capability.HEVC_Decode,
    name: "HEVC decode",
    required: false,
    input: { codec: "hevc", pixFmt: "yuv420p", size: 146 },
    output: "h264",
  },
  {
    capability: Capability.HEVC_Encode,
    name: "HEVC encode",
    required: false,
    input: { codec: "h264", pixFmt: "yuv420p", size: 146 },
    output: "h265",
  },
  {
    capability: Capability.VP8_Decode,
    name: "VP8 decode",
    required: false,
    input: { codec: "vp8", pixFmt: "yuv420p", size: 146 },
    output: "h264",
  },
  {
    capability: Capability.VP9_Decode,
    name: "VP9 decode",
    required: false,
    input: { codec: "vp9", pixFmt: "yuv420p", size: 146 },
    output: "h264",
  },
  {
    capability: Capability.H264_Decode_444_8bit,
    name: "H.264 Decode YUV444 8-bit",
    required: false,
    input: { codec: "h264", pixFmt: "yuv444p", size: 146 },
    output: "h264",
  },
  {
    capability: Capability.H264_Decode_422_8bit,
    name: "H.264 Decode YUV422 8-bit",
    required: false,
    input: { codec: "h264", pixFmt: "yuv422p", size: 146 },
    output: "h264",
  },
  {
    capability: Capability.H264_Decode_444_10bit,
    name: "H.264 Decode YUV444 10-bit",
    required: false,
    input: { codec: "h264", pixFmt: "yuv444p10le", size: 146 },
    output: "h264",
  },
  {
    capability: Capability.H264_Decode_422_10bit,
    name: "H.264 Decode YUV422 10-bit",
    required: false,
    input: { codec: "h264", pixFmt: "yuv422p10le", size: 146 },
    output: "h264",
  },
  {
    capability: Capability.H264_Decode_420_10bit,
    name: "H.264 Decode YUV420 10-bit",
    required: false,
    input: { codec: "h264", pixFmt: "yuv420p10le", size: 146 },
    output: "h264",
  },
];

/**
 * How a GPU transcodes: "nvenc" decodes, scales and encodes on the card; "hybrid" (cards without
 * NVENC: A100, H100, H200) decodes and scales on the card and encodes H.264 with libx264.
 */
export type GpuMode = "nvenc" | "hybrid";

/**
 * Runs one test transcode: `renditions` identical outputs on `device` in `mode` (default nvenc);
 * rejects with an LpError, coded NVENC_UNAVAILABLE when NVENC is what is missing.
 */
export type CapabilityTestRunner = (
  device: string,
  test: CapabilityTest,
  renditions: number,
  mode?: GpuMode,
) => Promise<void>;

export interface CapabilityTestResult {
  /** Capabilities every device passed. */
  supported: number[];
  /** Capabilities dropped because a device failed them. */
  dropped: number[];
  /** NVENC sessions the driver allows, when it refused the full test; null when not limited. */
  nvencSessionCap: number | null;
  /** Devices without NVENC that passed in hybrid mode (the rest run NVENC), in device order. */
  hybrid: string[];
}

/** The line logged once per device that runs in hybrid mode. */
export function hybridMessage(device: string): string {
  return `no NVENC on GPU ${device}: decoding and scaling on the GPU, encoding H.264 on the CPU`;
}

/**
 * The -testTranscoder startup check (go-livepeer core/transcoder.go TestTranscoderCapabilities):
 * every test on every device with four renditions. A failing required test stops the node with
 * go-livepeer's message; a failing optional one drops that capability. When the driver refuses
 * the number of NVENC sessions (consumer cards), fewer renditions are tried to find the cap, so
 * the node can size -maxSessions from it instead of exiting (go-livepeer's probe never fires).
 * A device whose first test fails because NVENC is missing (NVENC_UNAVAILABLE, not a device
 * failure) is tried again in hybrid mode; if that passes the device runs hybrid from then on
 * (logged once), and HEVC encode, which would need NVENC or libx265 on the CPU, is dropped.
 */
export async function testTranscoderCapabilities(
  devices: readonly string[],
  tests: readonly CapabilityTest[],
  run: CapabilityTestRunner,
  logger: Logger,
): Promise<CapabilityTestResult> {
  const supported: number[] = [];
  const dropped: number[] = [];
  let cap: number | null = null;
  const modes = new Map<string, GpuMode>();
  for (const test of tests) {
    let ok = true;
    for (const device of devices) {
      const renditions = cap ?? TEST_RENDITIONS;
      const mode = modes.get(device);
      try {
        // Hybrid would encode HEVC with libx265 on the CPU: far too slow to advertise.
        if (mode === "hybrid" && test.output === "h265")
          throw new LpError("NVENC_UNAVAILABLE", "HEVC encode needs NVENC, which this GPU lacks");
        await run(device, test, renditions, mode ?? "nvenc");
        modes.set(device, mode ?? "nvenc");
      } catch (thrown) {
        let err = thrown;
        // The device's mode is decided by its first test; only NVENC missing makes it hybrid.
        if (mode === undefined && err instanceof LpError && err.code === "NVENC_UNAVAILABLE") {
          const hybridErr = await run(device, test, renditions, "hybrid").then(
            () => null,
            (e: unknown) => e,
          );
          if (hybridErr === null) {
            modes.set(device, "hybrid");
            logger.warn({ gpu: device, nvenc: errorMessage(thrown) }, hybridMessage(device));
            continue;
          }
          err = new LpError(
            "GPU_TEST_FAILED",
            `${errorMessage(err)}; in hybrid mode (CPU encoding): ${errorMessage(hybridErr)}`,
          );
        }
        if (err instanceof LpError && err.code === "NVENC_SESSIONS" && renditions > 1) {
          const allowed = await findSessionCap(device, test, renditions - 1, run);
          if (allowed > 0) {
            logger.warn({ gpu: device, sessions: allowed }, "the driver limits simultaneous NVENC sessions");
            cap = cap === null ? allowed : Math.min(cap, allowed);
            continue;
          }
        }
        if (test.required) {
          throw new LpError(
            "GPU_TEST_FAILED",
            `required capability "${test.name}" is not supported on hardware (device ${device}): ${errorMessage(err)}`,
          );
        }
        logger.info(
          { gpu: device, capability: test.name, err: errorMessage(err) },
          "capability test failed; dropped",
        );
        ok = false;
        break;
      }
    }
    (ok ? supported : dropped).push(test.capability);
  }
  const hybrid = devices.filter((d) => modes.get(d) === "hybrid");
  return { supported, dropped, nvencSessionCap: cap, hybrid };
}

async function findSessionCap(
  device: string,
  test: CapabilityTest,
  from: number,
  run: CapabilityTestRunner,
): Promise<number> {
  for (let n = from; n >= 1; n--) {
    try {
      await run(device, test, n);
      return n;
    } catch {
      // try fewer sessions
    }
  }
  return 0;
}
