import { afterEach, describe, expect, it } from "vitest";
import { SIGNER_STATE_MAX_AGE_MS, SignerStore } from "../../../src/signer/SignerStore.js";
import { tempDir } from "../../helpers/tmp.js";

let clock = 1_800_000_000_000;
const open: SignerStore[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

function store(options: { datadir?: string; maxEntries?: number } = {}): SignerStore {
  const s = new SignerStore(
    { datadir: options.datadir ?? "", fileName: options.datadir ? undefined : ":memory:", ...options },
    () => clock,
  ).open();
  open.push(s);
  return s;
}

describe("SignerStore", () => {
  it("keeps issued sequence numbers and nonces in the data folder across a reopen", () => {
    const dir = tempDir("lp-signer-store-");
    const a = store({ datadir: dir });
    a.recordIssued("s1", 1);
    a.recordIssued("s1", 2);
    expect(a.reserveNonces("rand-1", 0, 3)).toBe(0);
    a.close();
    const b = store({ datadir: dir });
    expect(b.lastSequence("s1")).toBe(2);
    expect(b.lastSequence("s2")).toBeNull();
    // Another state on the same params session starts after the nonces already used.
    expect(b.reserveNonces("rand-1", 1, 2)).toBe(3);
    // A state further along than the book keeps its own count.
    expect(b.reserveNonces("rand-1", 10, 1)).toBe(10);
    expect(b.reserveNonces("rand-2", 0, 1)).toBe(0);
  });

  it("drops rows unused for a day, and the oldest beyond its size", () => {
    const s = store({ maxEntries: 2 });
    s.recordIssued("old", 1);
    s.reserveNonces("old-rand", 0, 1);
    clock += SIGNER_STATE_MAX_AGE_MS;
    s.recordIssued("a", 1);
    clock += 1;
    expect(s.activeSince(clock - 10)).toBe(1);
    // "old" was last used a day and 1 ms ago.
    expect(s.prune()).toBe(2);
    expect(s.lastSequence("old")).toBeNull();
    expect(s.reserveNonces("old-rand", 0, 1)).toBe(0);
    s.recordIssued("b", 1);
    clock += 1;
    s.recordIssued("c", 1);
    s.prune();
    // Three states for two rows: the least recently used goes.
    expect([s.lastSequence("a"), s.lastSequence("b"), s.lastSequence("c")]).toEqual([null, 1, 1]);
  });
});
