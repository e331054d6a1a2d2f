import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/logger/logger.js";
import { PRESETS } from "../../../src/media/profiles.js";
import { RemoteTranscoderPool, taskTimeoutMs } from "../../../src/orchestrator/RemoteTranscoderPool.js";
import {
  type NotifySegment,
  RegisterRequestSchema,
  SegDataSchema,
} from "../../../src/protocol/gen/lp_rpc_pb.js";
import { MemoryStore } from "../../../src/storage/MemoryStore.js";
import { flush, ManualClock } from "../../helpers/clock.js";

const SECRET = "s3cret";

function makePool() {
  const timers = new ManualClock();
  const pool = new RemoteTranscoderPool(
    { secret: SECRET, serviceUri: () => "https://orch.test:8935", orchId: "offchain" },
    { logger: silentLogger(), store: new MemoryStore(), clock: timers },
  );
  return { pool, timers };
}

/** A registered transcoder: the NotifySegments it received, and a way to disconnect it. */
function connect(pool: RemoteTranscoderPool, capacity: number) {
  const abort = new AbortController();
  const got: NotifySegment[] = [];
  const state = { ended: false };
  const stream = pool.register(
    create(RegisterRequestSchema, { secret: SECRET, capacity: BigInt(capacity) }),
    `10.0.0.${capacity}:1`,
    abort.signal,
  );
  void (async () => {
    for await (const msg of stream) got.push(msg);
    state.ended = true;
  })();
  return { got, state, disconnect: () => abort.abort() };
}

const job = (sessionId: string, seq = 0) => ({
  sessionId,
  manifestId: "m",
  seq: BigInt(seq),
  data: Buffer.from("source"),
  durationMs: 2000,
  profiles: [PRESETS["P240p30fps16x9"]!],
  segData: create(SegDataSchema, { seq: BigInt(seq) }),
  signal: new AbortController().signal,
});

const rendition = { renditions: [{ data: Buffer.from("out"), pixels: 426 * 240 }] };

describe("RemoteTranscoderPool scheduling", () => {
  it("sends a new session to the least loaded transcoder and keeps a session on its transcoder", async () => {
    const { pool } = makePool();
    const a = connect(pool, 2);
    const b = connect(pool, 4);
    // Both idle: the first registered wins; then b (0/4) is less loaded than a (1/2).
    const s1 = pool.transcode(job("s1", 0));
    await flush();
    expect(a.got).toHaveLength(1);
    const s2 = pool.transcode(job("s2", 0));
    await flush();
    expect(b.got).toHaveLength(1);
    pool.completeTask(a.got[0]!.taskId, rendition);
    pool.completeTask(b.got[0]!.taskId, rendition);
    await expect(s1).resolves.toEqual(rendition);
    await expect(s2).resolves.toEqual(rendition);
    // s1 sticks to a even though b is now relatively less loaded.
    const again = pool.transcode(job("s1", 1));
    await flush();
    expect(a.got).toHaveLength(2);
    expect(b.got).toHaveLength(1);
    expect(a.got[1]!.segData?.seq).toBe(1n);
    pool.completeTask(a.got[1]!.taskId, rendition);
    await again;
    expect(pool.list().map((t) => t.Load)).toEqual([1, 1]);
  });

  it("drops a transcoder that takes too long and re-dispatches the task to another", async () => {
    const { pool, timers } = makePool();
    const slow = connect(pool, 1);
    const fast = connect(pool, 1);
    const result = pool.transcode(job("s1"));
    await flush();
    expect(slow.got).toHaveLength(1);
    expect(fast.got).toHaveLength(0);
    // Just before the deadline nothing moves.
    await timers.advance(taskTimeoutMs(2000) - 1);
    await flush();
    expect(fast.got).toHaveLength(0);
    await timers.advance(1);
    await flush();
    expect(slow.state.ended).toBe(true);
    expect(fast.got).toHaveLength(1);
    // A late answer for the first task is refused; the second one counts.
    expect(pool.completeTask(slow.got[0]!.taskId, rendition)).toBe(false);
    expect(pool.completeTask(fast.got[0]!.taskId, rendition)).toBe(true);
    await expect(result).resolves.toEqual(rendition);
    expect(pool.list()).toHaveLength(1);
    expect(timers.pending).toBe(0);
  });

  it("re-dispatches at once when a transcoder disconnects mid-task", async () => {
    const { pool, timers } = makePool();
    const first = connect(pool, 1);
    const second = connect(pool, 1);
    const result = pool.transcode(job("s1"));
    await flush();
    expect(first.got).toHaveLength(1);
    first.disconnect();
    await flush();
    expect(second.got).toHaveLength(1);
    pool.completeTask(second.got[0]!.taskId, rendition);
    await expect(result).resolves.toEqual(rendition);
    expect(timers.pending).toBe(0);
  });

  it("gives up with the last reason once every transcoder was tried", async () => {
    const { pool, timers } = makePool();
    connect(pool, 1);
    const result = pool.transcode(job("s1"));
    // Handled before the clock moves: the rejection comes during advance().
    const failed = expect(result).rejects.toMatchObject({
      code: "REMOTE_FAILED",
      message: "Remote transcoder took too long",
    });
    await flush();
    await timers.advance(taskTimeoutMs(2000));
    await failed;
    await expect(pool.transcode(job("s2"))).rejects.toMatchObject({ message: "no transcoders available" });
  });

  it("refuses a new session when every transcoder is full, and an error result frees the session", async () => {
    const { pool } = makePool();
    const only = connect(pool, 1);
    const s1 = pool.transcode(job("s1"));
    await flush();
    await expect(pool.transcode(job("s2"))).rejects.toMatchObject({ code: "NO_TRANSCODERS" });
    pool.completeTask(only.got[0]!.taskId, { error: "TranscoderInvalidVideo" });
    await expect(s1).rejects.toMatchObject({ code: "REMOTE_TRANSCODE", message: "TranscoderInvalidVideo" });
    // The failed session was unpinned: a new one fits.
    const s2 = pool.transcode(job("s2"));
    await flush();
    expect(only.got).toHaveLength(2);
    pool.completeTask(only.got[1]!.taskId, rendition);
    await expect(s2).resolves.toEqual(rendition);
  });

  it("cancels the wait when the segment's request is aborted", async () => {
    const { pool, timers } = makePool();
    const t = connect(pool, 1);
    const abort = new AbortController();
    const result = pool.transcode({ ...job("s1"), signal: abort.signal });
    await flush();
    abort.abort();
    await expect(result).rejects.toMatchObject({ message: "segment request cancelled" });
    expect(pool.isOutstanding(t.got[0]!.taskId)).toBe(false);
    expect(timers.pending).toBe(0);
  });
});
