/** One stored object. */
export interface StoredObject {
  data: Buffer;
  contentType: string;
}

/** Objects kept per directory, as go-tools' memory driver keeps them (dataCacheLen). */
export const OBJECTS_PER_DIRECTORY = 12;

/**
 * An in-memory object store (go-tools drivers/local.go) that the orchestrator (`GET /stream/...`:
 * renditions under `<session>/<profile>/<seq>.<ext>`, sources for remote transcoders) and the
 * gateway both use. Each directory keeps only its newest 12 objects, so memory stays bounded.
 */
export class MemoryStore {
  /** session -> directory path within the session -> name -> object (insertion ordered). */
  private readonly sessions = new Map<string, Map<string, Map<string, StoredObject>>>();

  /** Store an object at `session/dir/name` (dir may be empty); returns the path relative to /stream/. */
  put(session: string, dir: string, name: string, object: StoredObject): string {
    for (const part of [session, ...(dir === "" ? [] : dir.split("/")), name]) {
      if (part === "" || part === "." || part === ".." || part.includes("\\")) {
        throw new Error(`invalid store path component "${part}"`);
      }
    }
    let dirs = this.sessions.get(session);
    if (!dirs) {
      dirs = new Map();
      this.sessions.set(session, dirs);
    }
    let objects = dirs.get(dir);
    if (!objects) {
      objects = new Map();
      dirs.set(dir, objects);
    }
    objects.delete(name);
    objects.set(name, object);
    while (objects.size > OBJECTS_PER_DIRECTORY) {
      const oldest = objects.keys().next().value as string;
      objects.delete(oldest);
    }
    return dir === "" ? `${session}/${name}` : `${session}/${dir}/${name}`;
  }

  /** Look up `session/dir.../name` (the part of a URL after /stream/). */
  get(path: string): StoredObject | undefined {
    const parts = path.split("/");
    if (parts.length < 2 || parts.some((p) => p === "" || p === "." || p === "..")) return undefined;
    const session = parts[0]!;
    const name = parts[parts.length - 1]!;
    const dir = parts.slice(1, -1).join("/");
    return this.sessions.get(session)?.get(dir)?.get(name);
  }

  /** Drop everything a session stored. */
  deleteSession(session: string): void {
    this.sessions.delete(session);
  }

  /** Number of sessions with stored objects. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Bytes held, for status and tests. */
  get bytes(): number {
    let total = 0;
    for (const dirs of this.sessions.values()) {
      for (const objects of dirs.values()) for (const o of objects.values()) total += o.data.length;
    }
    return total;
  }
}
