import type { Logger } from "../logger/logger.js";
import { type ChildProcesses, type RunningChild, spawnProcess } from "../media/ffmpeg/runFfmpeg.js";
import { testPatternArgs } from "../media/ffmpeg/testPattern.js";
import type { Service } from "../node/Service.js";

/** Wait before a publisher that exited is started again. */
const RESTART_MS = 2000;

/** The ffmpeg argv of the demo stream: a 640x360 test pattern and a tone, 2 s GOPs, as FLV to `url`. */
export function demoArgs(url: string): string[] {
  return [
    "-hide_banner",
    "-nostdin",
    "-loglevel",
    "error",
    ...testPatternArgs({
      width: 640,
      height: 360,
      videoBitrate: "1000k",
      sampleRate: 44100,
      realtime: true,
      audioBitrate: "96k",
    }),
    "-f",
    "flv",
    url,
  ];
}

/**
 * -demo: an ffmpeg child that publishes a generated test pattern to the gateway's own RTMP port
 * as stream "demo", so one command shows the whole path (ingest, orchestrator, ladder, HLS).
 * It is restarted if it exits and killed (and reaped) when the node stops.
 */
export class DemoPublisher implements Service {
  readonly name = "gateway-demo";
  private child: RunningChild | null = null;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: { ffmpegPath: string; rtmpPort: () => number; httpBase: () => string },
    private readonly deps: { logger: Logger; children?: ChildProcesses | null },
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    this.launch();
    this.deps.logger.info(
      { watch: `${this.options.httpBase()}/stream/demo.m3u8` },
      "demo stream publishing; play the URL in any HLS player",
    );
  }

  private launch(): void {
    if (this.stopped) return;
    const url = `rtmp://127.0.0.1:${this.options.rtmpPort()}/live/demo`;
    const child = spawnProcess(this.options.ffmpegPath, demoArgs(url), {
      children: this.deps.children,
      stderrLimit: 2000,
      stderrHeadLimit: 0,
    });
    this.child = child;
    void child.done.then(({ code, signal, stderr, spawnError }) => {
      if (this.child === child) this.child = null;
      if (this.stopped) return;
      if (spawnError) {
        this.deps.logger.error({ err: spawnError.message }, "cannot run the demo publisher");
        return;
      }
      this.deps.logger.warn(
        { code, signal, err: stderr.trim().split("\n").pop() },
        "demo publisher exited; restarting",
      );
      this.timer = setTimeout(() => this.launch(), RESTART_MS);
    });
  }

  /** Stop publishing before the RTMP ingest drains, so the demo does not reconnect meanwhile. */
  async drain(): Promise<void> {
    await this.stop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const child = this.child;
    if (!child) return;
    child.kill();
    await child.done;
  }
}
