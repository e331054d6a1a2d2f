import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Hex } from "viem";
import type { RawLog } from "./events.js";

/** A block the watcher has processed, with the watched logs it delivered from it. */
export interface StoredBlock {
  number: Hex;
  hash: Hex;
  parentHash: Hex;
  /** The L1 block number on chains that report one (Arbitrum), else absent. */
  l1BlockNumber?: Hex;
  logs: RawLog[];
}

/**
 * Where the block watcher keeps its retained blocks between runs, so that a restart backfills
 * from the last processed block and can still undo the logs of a block reorged out meanwhile.
 * An interface so that it can move into the node's SQLite database later.
 */
export interface WatchStore {
  /** The retained blocks, oldest first; empty when nothing was stored yet. */
  load(): Promise<StoredBlock[]>;
  /** Replace the retained blocks. */
  save(blocks: readonly StoredBlock[]): Promise<void>;
}

/** A store that lives as long as the process (tests, and nodes without a data directory). */
export class MemoryWatchStore implements WatchStore {
  private blocks: StoredBlock[] = [];

  async load(): Promise<StoredBlock[]> {
    return structuredClone(this.blocks);
  }

  async save(blocks: readonly StoredBlock[]): Promise<void> {
    this.blocks = structuredClone([...blocks]);
  }
}

const FORMAT_VERSION = 1;
const HEX = /^0x[0-9a-fA-F]*$/;

function isStoredBlock(value: unknown): value is StoredBlock {
  if (typeof value !== "object" || value === null) return false;
  const b = value as Record<string, unknown>;
  const hex = (v: unknown) => typeof v === "string" && HEX.test(v);
  return (
    hex(b.number) &&
    hex(b.hash) &&
    hex(b.parentHash) &&
    (b.l1BlockNumber === undefined || hex(b.l1BlockNumber)) &&
    Array.isArray(b.logs) &&
    b.logs.every(
      (l) =>
        typeof l === "object" &&
        l !== null &&
        hex((l as RawLog).address) &&
        hex((l as RawLog).blockHash) &&
        Array.isArray((l as RawLog).topics),
    )
  );
}

/**
 * The retained blocks as a small JSON file (e.g. `<datadir>/blockwatcher.json`), replaced
 * atomically (write then rename) so a crash mid-write leaves the previous copy. A missing,
 * unreadable or malformed file reads as empty: the watcher then starts from the chain head.
 */
export class JsonWatchStore implements WatchStore {
  /**
   * `scope` names the chain the blocks belong to (e.g. its chain id and Controller address): a
   * file written for another scope reads as empty, so a node moved to another network never
   * replays (or undoes) the first one's logs.
   */
  constructor(
    private readonly path: string,
    private readonly scope = "",
  ) {}

  async load(): Promise<StoredBlock[]> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch {
      return [];
    }
    try {
      const doc = JSON.parse(text) as { version?: unknown; scope?: unknown; blocks?: unknown };
      if (doc.version !== FORMAT_VERSION || doc.scope !== this.scope || !Array.isArray(doc.blocks)) return [];
      return doc.blocks.every(isStoredBlock) ? doc.blocks : [];
    } catch {
      return [];
    }
  }

  async save(blocks: readonly StoredBlock[]): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp`;
    await writeFile(tmp, JSON.stringify({ version: FORMAT_VERSION, scope: this.scope, blocks }), {
      mode: 0o600,
    });
    await rename(tmp, this.path);
  }
}
