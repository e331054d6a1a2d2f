import { EventEmitter } from "node:events";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type NodeConfig, resolveConfig } from "../../../src/config/resolve.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { spawnProcess } from "../../../src/media/ffmpeg/runFfmpeg.js";
import { LpNode } from "../../../src/node/LpNode.js";
import type { Service } from "../../../src/node/Service.js";
import { exitOnSignals } from "../../../src/node/shutdown.js";
import { isAlive } from "../../../src/utils/process.js";
import { tempDir } from "../../helpers/tmp.js";

function config(datadir = tempDir()): NodeConfig {
  const r = resolveConfig(["-gateway", "-cliAddr", "127.0.0.1:0", "-datadir", datadir], {
    env: {},
    readFile: () => null,
  });
  if (r.kind !== "ok") throw new Error("bad config");
  return r.config;
}

describe("LpNode stop: drain, then stop, then children and temporary files", () => {
  it("drains every service (in start order) before stopping any, in reverse", async () => {
    const log: string[] = [];
    const svc = (name: string, drains: boolean): Service => ({
      name,
      async start() {},
      ...(drains
        ? {
            async drain() {
              log.push(`drain ${name} begins`);
              await new Promise((r) => setTimeout(r, 20));
              log.push(`drain ${name} ends`);
            },
          }
        : {}),
      async stop() {
        log.push(`stop ${name}`);
      },
    });
    const node = new LpNode(config(), {
      logger: silentLogger(),
      roles: {
        gateway: () => ({ services: [svc("ingest", true), svc("orchestrator", false), svc("edge", true)] }),
      },
    });
    await node.start();
    await node.stop();
    expect(log).toEqual([
      "drain ingest begins",
      "drain edge begins",
      "drain ingest ends",
      "drain edge ends",
      "stop edge",
      "stop orchestrator",
      "stop ingest",
    ]);
  });

  it("bounds the drain: a drain that never ends is cut short by its signal", async () => {
    const log: string[] = [];
    let sawAbort = false;
    const stuck: Service = {
      name: "stuck",
      async start() {},
      drain(signal) {
        signal.addEventListener("abort", () => {
          sawAbort = true;
        });
        return new Promise(() => {}); // ignores the signal on purpose
      },
      async stop() {
        log.push("stop stuck");
      },
    };
    const node = new LpNode(config(), {
      logger: silentLogger(),
      roles: { gateway: () => ({ services: [stuck] }) },
      drainTimeoutMs: 50,
    });
    await node.start();
    await node.stop();
    expect(sawAbort).toBe(true);
    expect(log).toEqual(["stop stuck"]);
  });

  it("kills the children its services leave and removes its temporary folder", async () => {
    const datadir = tempDir();
    let pid = 0;
    let folder = "";
    const node = new LpNode(config(datadir), {
      logger: silentLogger(),
      roles: {
        gateway: (_c, ctx) => ({
          services: [
            {
              name: "leaky",
              async start() {
                folder = ctx.tmpDir;
                writeFileSync(join(ctx.tmpDir, "segment.ts"), "x");
                // A child this service forgets to stop: the node still reaps it.
                pid = spawnProcess(process.execPath, ["-e", "setInterval(() => {}, 1000)"], {
                  children: ctx.children,
                }).pid!;
              },
              async stop() {},
            },
          ],
        }),
      },
    });
    await node.start();
    expect(folder.startsWith(join(datadir, "tmp"))).toBe(true);
    expect(readFileSync(join(folder, "segment.ts"), "utf8")).toBe("x");
    expect(node.children.pids()).toEqual([pid]);
    await node.stop();
    expect(isAlive(pid)).toBe(false);
    expect(node.children.size).toBe(0);
    expect(existsSync(folder)).toBe(false);
    expect(readdirSync(join(datadir, "tmp"))).toEqual([]);
  });
});

describe("a forced exit", () => {
  it("kills the node's children at once when the stop times out or a second signal comes", async () => {
    for (const second of [false, true]) {
      const signals = new EventEmitter();
      let forced = 0;
      const status = exitOnSignals(
        {
          stop: () => new Promise(() => {}),
          forceStop: () => {
            forced += 1;
          },
        },
        { logger: silentLogger(), signals, timeoutMs: second ? 60_000 : 50 },
      );
      signals.emit("SIGTERM", "SIGTERM");
      if (second) signals.emit("SIGINT", "SIGINT");
      expect(await status).toBe(1);
      expect(forced).toBe(1);
    }
  });

  it("LpNode.forceStop SIGKILLs its children without waiting", async () => {
    const node = new LpNode(config(), {
      logger: silentLogger(),
      roles: { gateway: () => ({ services: [] }) },
    });
    await node.start();
    const child = spawnProcess(process.execPath, ["-e", "setInterval(() => {}, 1000)"], {
      children: node.children,
    });
    node.forceStop();
    expect((await child.done).signal).toBe("SIGKILL");
    await node.stop();
  });
});

describe("one child-process runner", () => {
  it("is the only module in src/ that imports node:child_process", () => {
    const files = readdirSync(join(import.meta.dirname, "../../../src"), {
      recursive: true,
      encoding: "utf8",
    })
      .filter((f) => f.endsWith(".ts"))
      .filter((f) =>
        /from "node:child_process"/.test(readFileSync(join(import.meta.dirname, "../../../src", f), "utf8")),
      );
    expect(files).toEqual([join("media", "ffmpeg", "runFfmpeg.ts")]);
  });
});
