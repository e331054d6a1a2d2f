import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";

/** A running anvil process on 127.0.0.1 and its RPC URL. */
export interface Anvil {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** anvil's default mnemonic accounts 0..3 (well known, for tests only). */
export const ANVIL_KEYS = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
] as const;

/** The anvil binary shipped in the @foundry-rs/anvil npm package, or `anvil` from PATH. */
export function anvilBinary(): string {
  try {
    const require = createRequire(import.meta.url);
    return join(require.resolve("@foundry-rs/anvil-linux-amd64/package.json"), "..", "bin", "anvil");
  } catch {
    return "anvil";
  }
}

/**
 * Starts anvil on a free port (it binds port 0 and prints the one it got); resolves once it
 * listens. The caller stops it (afterAll); stop() waits for the process to exit.
 */
export async function startAnvil(extraArgs: string[] = [], timeoutMs = 20_000): Promise<Anvil> {
  const child = spawn(anvilBinary(), ["--host", "127.0.0.1", "--port", "0", ...extraArgs], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  // If the test process dies before afterAll, anvil must not outlive it.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      process.removeListener("exit", killOnExit);
      resolve();
    }),
  );
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  let output = "";
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`anvil did not start in ${timeoutMs} ms:\n${output}`)),
        timeoutMs,
      );
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const match = /Listening on [\d.]+:(\d+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`anvil exited with code ${code}:\n${output}`));
      });
    });
    // Keep draining its output so a chatty anvil never blocks on a full pipe.
    child.stdout!.resume();
    child.stderr!.resume();
    return { url: `http://127.0.0.1:${port}`, port, process: child, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
