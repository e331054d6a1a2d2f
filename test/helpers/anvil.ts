import { spawnAnvil } from "../../src/eth/anvil.js";

/** A running anvil process on 127.0.0.1 and its RPC URL (the product's spawnAnvil underneath). */
export interface Anvil {
  url: string;
  port: number;
  pid: number;
  /** SIGKILL, as a crash would: no state is dumped. */
  kill(): void;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

/** anvil's default mnemonic accounts 0..3 (well known, for tests only). */
export const ANVIL_KEYS = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
] as const;

/** Start anvil (chain id 31337) on a free port, or on `port` to restart a chain where it was. */
export async function startAnvil(options: { port?: number; timeoutMs?: number } = {}): Promise<Anvil> {
  const anvil = await spawnAnvil({ port: options.port ?? 0, chainId: 31337, timeoutMs: options.timeoutMs });
  return {
    url: anvil.url,
    port: anvil.port,
    pid: anvil.pid,
    kill: () => {
      try {
        process.kill(anvil.pid, "SIGKILL");
      } catch {
        // already gone
      }
    },
    stop: () => anvil.stop(),
  };
}
