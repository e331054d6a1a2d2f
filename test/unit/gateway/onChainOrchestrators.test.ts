import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import {
  OnChainOrchestrators,
  type RegistryReader,
  serviceUriOrigin,
} from "../../../src/gateway/OnChainOrchestrators.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { OrchestratorInfoSchema } from "../../../src/protocol/gen/lp_rpc_pb.js";
import { closeDatabase, openDatabase, type SqliteDb } from "../../../src/storage/db.js";
import { OrchestratorStore } from "../../../src/storage/orchestrators.js";
import { ManualClock } from "../../helpers/clock.js";
import { tempDir } from "../../helpers/tmp.js";

const NEVER = 2n ** 256n - 1n;
const A = "0x000000000000000000000000000000000000000a";
const B = "0x000000000000000000000000000000000000000b";
const C = "0x000000000000000000000000000000000000000c";

interface Member {
  activationRound: bigint;
  deactivationRound: bigint;
  totalStake: bigint;
  serviceURI: string;
}

/** A registry whose members and failures the test sets. */
function fakeRegistry(members: Record<string, Member>) {
  const state = { members, fail: false, reads: 0 };
  const reader: RegistryReader = {
    async transcoderPool() {
      state.reads += 1;
      if (state.fail) throw new Error("RPC down");
      return Object.entries(state.members)
        .filter(([, m]) => m.deactivationRound === NEVER)
        .map(([address, m]) => ({ address, totalStake: m.totalStake }));
    },
    async transcoderInfo(address) {
      if (state.fail) throw new Error("RPC down");
      const m = state.members[address];
      if (!m) throw new Error(`unknown ${address}`);
      return m;
    },
  };
  return { reader, state };
}

function fakeRounds(round: bigint) {
  const handlers = new Set<(s: { currentRound: bigint; lastInitializedRound: bigint }, p: null) => unknown>();
  const rounds = {
    state: { currentRound: round, lastInitializedRound: round },
    subscribe(h: (s: { currentRound: bigint; lastInitializedRound: bigint }, p: null) => unknown) {
      handlers.add(h);
      return () => handlers.delete(h);
    },
    async next() {
      rounds.state = {
        currentRound: rounds.state.currentRound + 1n,
        lastInitializedRound: rounds.state.currentRound + 1n,
      };
      for (const h of handlers) await h(rounds.state, null);
    },
  };
  return rounds;
}

const dbs: SqliteDb[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) closeDatabase(db);
});

function openStore(dir: string, clock: ManualClock): OrchestratorStore {
  const db = openDatabase(dir);
  dbs.push(db);
  return OrchestratorStore.open(db, () => clock.now());
}

describe("serviceUriOrigin", () => {
  it("keeps http(s) origins and refuses what a gateway cannot dial", () => {
    expect(serviceUriOrigin("https://1.2.3.4:8935")).toBe("https://1.2.3.4:8935");
    expect(serviceUriOrigin("https://o.example.com:8935/path")).toBe("https://o.example.com:8935");
    for (const bad of [null, "", "not a url", "ftp://a:1", "https://u:p@a:1", "1.2.3.4:8935"])
      expect(serviceUriOrigin(bad)).toBeNull();
  });
});

describe("OnChainOrchestrators", () => {
  it("lists the members active in the round with a usable URI, skips the rest, and keeps the stakes", async () => {
    const clock = new ManualClock();
    const { reader } = fakeRegistry({
      [A]: { activationRound: 1n, deactivationRound: NEVER, totalStake: 3n, serviceURI: "https://a:1" },
      // Registered this round: active from the next one.
      [B]: { activationRound: 6n, deactivationRound: NEVER, totalStake: 2n, serviceURI: "https://b:2" },
      [C]: { activationRound: 1n, deactivationRound: NEVER, totalStake: 1n, serviceURI: "" },
    });
    const rounds = fakeRounds(5n);
    const list = new OnChainOrchestrators(
      { discovery: true, extra: () => ["https://local:9"] },
      { reader, rounds, store: openStore(tempDir("lp-oco-"), clock), logger: silentLogger(), clock },
    );
    await list.start(new AbortController().signal);
    expect(await list.uris()).toEqual(["https://a:1", "https://local:9"]);
    expect(list.stakes()).toEqual(
      new Map([
        [A, 3n],
        [C, 1n],
      ]),
    );
    expect(list.status().map((r) => [r["Address"], r["Active"]])).toEqual([
      [A, true],
      [B, false],
      [C, false],
    ]);
    // The next round activates B.
    await rounds.next();
    await list.refresh();
    expect(await list.uris()).toEqual(["https://a:1", "https://b:2", "https://local:9"]);
    await list.stop();
  });

  it("stores a deactivation read after the member left the pool", async () => {
    const clock = new ManualClock();
    const { reader, state } = fakeRegistry({
      [A]: { activationRound: 1n, deactivationRound: NEVER, totalStake: 3n, serviceURI: "https://a:1" },
    });
    const rounds = fakeRounds(5n);
    const list = new OnChainOrchestrators(
      { discovery: true },
      { reader, rounds, store: openStore(tempDir("lp-oco-"), clock), logger: silentLogger(), clock },
    );
    await list.start(new AbortController().signal);
    expect(list.known()).toEqual(["https://a:1"]);
    state.members[A] = { ...state.members[A]!, deactivationRound: 6n };
    await rounds.next();
    await list.refresh();
    expect(list.known()).toEqual([]);
    expect(list.status()[0]).toMatchObject({ DeactivationRound: "6", Active: false });
    await list.stop();
  });

  it("serves the cached rows after a restart while the chain does not answer, and not rows over a day old", async () => {
    const clock = new ManualClock();
    const dir = tempDir("lp-oco-");
    const { reader, state } = fakeRegistry({
      [A]: { activationRound: 1n, deactivationRound: NEVER, totalStake: 3n, serviceURI: "https://a:1" },
    });
    const first = new OnChainOrchestrators(
      { discovery: true },
      { reader, rounds: fakeRounds(5n), store: openStore(dir, clock), logger: silentLogger(), clock },
    );
    await first.start(new AbortController().signal);
    await first.stop();
    state.fail = true;
    const second = new OnChainOrchestrators(
      { discovery: true },
      { reader, rounds: fakeRounds(5n), store: openStore(dir, clock), logger: silentLogger(), clock },
    );
    await second.start(new AbortController().signal);
    await second.refresh();
    expect(second.known()).toEqual(["https://a:1"]);
    await clock.advance(24 * 60 * 60 * 1000 + 1);
    expect(second.known()).toEqual([]);
    await second.stop();
  });

  it("with -orchAddr (not the candidates' source) lists only the extra ones but keeps stakes and prices", async () => {
    const clock = new ManualClock();
    const { reader } = fakeRegistry({
      [A]: { activationRound: 1n, deactivationRound: NEVER, totalStake: 3n, serviceURI: "https://a:1" },
    });
    const calls: string[] = [];
    const list = new OnChainOrchestrators(
      { discovery: false },
      {
        reader,
        rounds: fakeRounds(5n),
        store: openStore(tempDir("lp-oco-"), clock),
        logger: silentLogger(),
        clock,
        getInfo: async (uri) => {
          calls.push(uri);
          return create(OrchestratorInfoSchema, { priceInfo: { pricePerUnit: 10n, pixelsPerUnit: 4n } });
        },
      },
    );
    await list.start(new AbortController().signal);
    await list.refresh();
    await list.pollInfos();
    expect(list.known()).toEqual([]);
    expect(list.stakes().get(A)).toBe(3n);
    expect(calls).toContain("https://a:1");
    expect(list.status()[0]).toMatchObject({ PricePerPixel: "5/2" });
    // A price seen by a stream's discovery is recorded too.
    list.observed(
      "https://a:1",
      create(OrchestratorInfoSchema, { priceInfo: { pricePerUnit: 7n, pixelsPerUnit: 1n } }),
    );
    expect(list.status()[0]).toMatchObject({ PricePerPixel: "7" });
    await list.stop();
  });
});
