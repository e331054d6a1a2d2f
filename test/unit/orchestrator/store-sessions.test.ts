import { describe, expect, it } from "vitest";
import { SessionManager } from "../../../src/orchestrator/SessionManager.js";
import { MemoryStore, OBJECTS_PER_DIRECTORY } from "../../../src/storage/MemoryStore.js";

const obj = (s: string) => ({ data: Buffer.from(s), contentType: "video/mp2t" });

describe("MemoryStore", () => {
  it("stores and reads objects by path", () => {
    const store = new MemoryStore();
    expect(store.put("abcd1234", "P240p30fps16x9", "1.ts", obj("x"))).toBe("abcd1234/P240p30fps16x9/1.ts");
    expect(store.get("abcd1234/P240p30fps16x9/1.ts")?.data.toString()).toBe("x");
    expect(store.get("abcd1234/P240p30fps16x9/2.ts")).toBeUndefined();
    expect(store.get("abcd1234/../x")).toBeUndefined();
    expect(store.get("abcd1234")).toBeUndefined();
    expect(store.put("abcd1234", "", "3.tempfile", obj("src"))).toBe("abcd1234/3.tempfile");
    expect(store.get("abcd1234/3.tempfile")?.data.toString()).toBe("src");
  });
  it("keeps only the newest 12 objects per directory", () => {
    const store = new MemoryStore();
    for (let i = 0; i < 20; i++) store.put("s", "p", `${i}.ts`, obj(String(i)));
    expect(store.get("s/p/7.ts")).toBeUndefined();
    expect(store.get("s/p/8.ts")?.data.toString()).toBe("8");
    expect(store.get("s/p/19.ts")).toBeDefined();
    expect(store.bytes).toBe(
      [...Array(OBJECTS_PER_DIRECTORY).keys()].map((i) => String(i + 8).length).reduce((a, b) => a + b),
    );
  });
  it("refuses path tricks and drops whole sessions", () => {
    const store = new MemoryStore();
    expect(() => store.put("..", "p", "1.ts", obj("x"))).toThrow();
    expect(() => store.put("s", "p", "", obj("x"))).toThrow();
    store.put("s", "p", "1.ts", obj("x"));
    store.deleteSession("s");
    expect(store.get("s/p/1.ts")).toBeUndefined();
    expect(store.sessionCount).toBe(0);
  });
});

describe("SessionManager", () => {
  it("lets known sessions in and caps new ones at capacity", () => {
    const m = new SessionManager({ capacity: () => 2 });
    expect(m.acquire("a")).toBe(true);
    expect(m.acquire("b")).toBe(true);
    expect(m.hasCapacity("")).toBe(false);
    expect(m.hasCapacity("a")).toBe(true);
    expect(m.acquire("c")).toBe(false);
    expect(m.acquire("a")).toBe(true);
    expect(m.size).toBe(2);
  });
  it("ends idle sessions but never one with a segment in flight", () => {
    let now = 0;
    const ended: string[] = [];
    const m = new SessionManager(
      { capacity: () => 5, idleMs: 100, now: () => now },
      { onEnd: (id) => ended.push(id) },
    );
    m.acquire("a");
    m.accept("a");
    m.acquire("b");
    m.accept("b");
    m.release("b");
    now = 500;
    expect(m.sweep()).toEqual(["b"]);
    expect(ended).toEqual(["b"]);
    m.release("a");
    now = 550;
    expect(m.sweep()).toEqual([]);
    now = 700;
    expect(m.sweep()).toEqual(["a"]);
  });
  it("drops a session whose only segment was rejected, keeps one that had work", () => {
    const m = new SessionManager({ capacity: () => 1 });
    expect(m.acquire("a")).toBe(true);
    m.release("a");
    expect(m.has("a")).toBe(false);
    expect(m.acquire("b")).toBe(true);
    m.accept("b");
    m.release("b");
    m.acquire("b");
    m.release("b");
    expect(m.has("b")).toBe(true);
  });
  it("ends a session on request", () => {
    const m = new SessionManager({ capacity: () => 1 });
    m.acquire("a");
    expect(m.end("a")).toBe(true);
    expect(m.end("a")).toBe(false);
    expect(m.acquire("b")).toBe(true);
  });
});
