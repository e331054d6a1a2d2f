#!/usr/bin/env node
import { EventEmitter } from "node:events";
import { readFileSync, statSync } from "node:fs";
import { preflight } from "../config/preflight.js";
import { describeSettings, resolveConfig } from "../config/resolve.js";
import { errorMessage, isLpError } from "../errors/LpError.js";
import { createLogger, levelForVerbosity } from "../logger/logger.js";
import { LpNode } from "../node/LpNode.js";
import { exitOnSignals } from "../node/shutdown.js";
import { VERSION } from "../version.js";
import { helpText } from "./help.js";
import { roleFactories } from "./roles.js";
import { runSubcommand } from "./subcommands.js";

function readIfFile(path: string): string | null {
  try {
    if (!statSync(path).isFile()) return null;
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** Print every configuration problem, one per line, and give exit status 2. */
function configurationError(problems: string[]): number {
  process.stderr.write(
    `lp-node: invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}\nRun 'lp-node --help' for the flags.\n`,
  );
  return 2;
}

async function main(argv: string[]): Promise<number> {
  const result = resolveConfig(argv, { env: process.env, readFile: readIfFile });
  switch (result.kind) {
    case "help":
      process.stdout.write(helpText());
      return 0;
    case "version":
      process.stdout.write(
        `lp-node ${VERSION}\nnode ${process.version} ${process.platform}/${process.arch}\n`,
      );
      return 0;
    case "subcommand":
      return runSubcommand(result.name, result.argv);
    case "error":
      return configurationError(result.problems);
    case "ok":
      break;
  }
  const { config } = result;
  const late = await preflight(config);
  if (late.length > 0) return configurationError(late);
  const format = config.options.str("logFormat");
  const logger = createLogger({
    level: levelForVerbosity(config.verbosity),
    pretty: format === "pretty" || (format === "auto" && process.stderr.isTTY === true),
  });
  for (const w of config.warnings) logger.warn(w);
  const settings = describeSettings(config.options);
  if (settings.length > 0) logger.info({ settings }, "non-default settings");

  const events = new EventEmitter();
  const node = new LpNode(config, { logger, roles: roleFactories(), onFatal: () => events.emit("fatal") });
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => events.emit(sig, sig));
  const exitStatus = exitOnSignals(node, { logger, signals: events });
  try {
    await node.start();
  } catch (err) {
    logger.error({ err: errorMessage(err) }, "lp-node failed to start");
    // A listener that cannot bind is a configuration problem: say which flag to change.
    // So is a chain the node cannot use as configured (RPC, chain id, Controller, keystore).
    if (isLpError(err, "LISTEN_FAILED") || isLpError(err, "CHAIN_START_FAILED")) {
      process.stderr.write(`lp-node: ${errorMessage(err)}\n`);
      return 2;
    }
    return 1;
  }
  return exitStatus;
}

/**
 * Exit once stdout and stderr have written everything: a pipe is not always synchronous (a
 * `bench --json` report piped to another program was cut at 64 or 128 KiB by an immediate exit). An
 * empty write's callback runs after every write queued before it.
 */
function exitWhenFlushed(code: number): void {
  let pending = 2;
  const done = () => {
    pending -= 1;
    if (pending === 0) process.exit(code);
  };
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.destroyed || stream.writableLength === 0) done();
    else stream.write("", done);
  }
}

main(process.argv.slice(2)).then(exitWhenFlushed, (err) => {
  process.stderr.write(`lp-node: ${errorMessage(err)}\n`);
  exitWhenFlushed(1);
});
