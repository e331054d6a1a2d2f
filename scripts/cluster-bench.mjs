#!/usr/bin/env node
// Time from nothing to the first paid segment of `lp-node devnet --cluster`: spawns the built
// CLI with --demo (the gateway publishes a test pattern to itself), waits for the cluster's own
// "first paid segment" line, stops it with SIGINT and prints the numbers. A measurement, not a
// test. Each run is a fresh chain in a fresh folder, on free ports.
//
//   npm run build && node scripts/cluster-bench.mjs [--runs 3] [--orchestrators 2] [--json]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const runs = Number(arg("runs", "1"));
const orchestrators = arg("orchestrators", "2");
const json = process.argv.includes("--json");
const cli = resolve(import.meta.dirname, "../dist/src/cli/main.js");
const TIMEOUT_MS = 120_000;

async function once() {
  const dir = mkdtempSync(join(tmpdir(), "lp-cluster-bench-"));
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      cli,
      "devnet",
      "--cluster",
      "--demo",
      "--free-ports",
      "--port",
      "0",
      "--orchestrators",
      orchestrators,
      "--dir",
      dir,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  const exited = new Promise((done) => child.on("exit", (code, signal) => done({ code, signal })));
  try {
    const result = await new Promise((done, fail) => {
      const timer = setTimeout(
        () => fail(new Error(`no paid segment in ${TIMEOUT_MS} ms:\n${stderr}`)),
        TIMEOUT_MS,
      );
      let ready = null;
      child.stderr.on("data", (d) => {
        stderr += d;
        const readyMatch = /ready in ([\d.]+) s/.exec(stderr);
        if (readyMatch && ready === null) ready = performance.now() - started;
        const paid = /first paid segment after ([\d.]+) s/.exec(stderr);
        if (paid) {
          clearTimeout(timer);
          done({
            readyMs: Math.round(ready ?? Number.NaN),
            firstPaidSegmentMs: Math.round(performance.now() - started),
            reportedByClusterS: Number(paid[1]),
          });
        }
      });
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        fail(new Error(`the cluster exited (code ${code}, signal ${signal}):\n${stderr}`));
      });
    });
    return result;
  } finally {
    child.kill("SIGINT");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = [];
for (let i = 0; i < runs; i++) {
  const r = await once();
  results.push(r);
  if (!json) {
    process.stdout.write(
      `run ${i + 1}: cluster ready after ${(r.readyMs / 1000).toFixed(1)} s, first paid segment after ${(r.firstPaidSegmentMs / 1000).toFixed(1)} s\n`,
    );
  }
}
const sorted = results.map((r) => r.firstPaidSegmentMs).sort((a, b) => a - b);
const median = sorted[Math.floor((sorted.length - 1) / 2)];
if (json)
  process.stdout.write(
    `${JSON.stringify({ orchestrators: Number(orchestrators), runs: results, medianFirstPaidSegmentMs: median })}\n`,
  );
else
  process.stdout.write(
    `median time to the first paid segment: ${(median / 1000).toFixed(1)} s over ${runs} run(s)\n`,
  );
