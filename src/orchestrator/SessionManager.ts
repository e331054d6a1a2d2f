/** go-livepeer's segment-loop idle timeout: a transcode session with no segment for this long ends. */
export const SESSION_IDLE_MS = 70_000;

interface Session {
  id: string;
  lastUsed: number;
  inFlight: number;
  /** Segments accepted for work; a session that never had one is dropped when its first is rejected. */
  accepted: number;
}

/**
 * Transcode sessions keyed by the auth token's session id, with go-livepeer's capacity rule
 * (core/orchestrator.go CheckCapacity): a known session always fits, a new one only while fewer
 * than maxSessions exist. Sessions end after SESSION_IDLE_MS without segments, or on request.
 */
export class SessionManager {
  private readonly sessions = new Map<string, Session>();
  private timer: NodeJS.Timeout | null = null;
  /** Draining for a stop: sessions already open keep working, no new one is opened. */
  private draining = false;
  /** Woken whenever a segment finishes, for whenIdle(). */
  private readonly finished = new Set<() => void>();

  constructor(
    private readonly options: { capacity: () => number; idleMs?: number; now?: () => number },
    private readonly deps: { onEnd?: (sessionId: string) => void } = {},
  ) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** Whether a segment for `sessionId` may be taken now ("" asks whether a new session fits). */
  hasCapacity(sessionId: string): boolean {
    if (sessionId !== "" && this.sessions.has(sessionId)) return true;
    return !this.draining && this.sessions.size < this.options.capacity();
  }

  /** Open (or touch) a session and mark one segment in flight; false when capped. */
  acquire(sessionId: string): boolean {
    let s = this.sessions.get(sessionId);
    if (!s) {
      if (this.draining || this.sessions.size >= this.options.capacity()) return false;
      s = { id: sessionId, lastUsed: this.now(), inFlight: 0, accepted: 0 };
      this.sessions.set(sessionId, s);
    }
    s.inFlight += 1;
    s.lastUsed = this.now();
    return true;
  }

  /** The acquired segment passed its checks and will be worked on. */
  accept(sessionId: string): void {
    const s = this.sessions.get(sessionId);
    if (s) s.accepted += 1;
  }

  /**
   * Mark one segment of the session as finished. A rejected segment leaves no trace: a session
   * it opened that has never had an accepted segment is dropped, freeing the slot.
   */
  release(sessionId: string): void {
    const s = this.sessions.get(sessionId);
    if (!s) return;
    s.inFlight = Math.max(0, s.inFlight - 1);
    s.lastUsed = this.now();
    if (s.accepted === 0 && s.inFlight === 0) this.sessions.delete(sessionId);
    for (const wake of this.finished) wake();
  }

  /**
   * Stop taking new sessions (a stop is coming): gateways are told OrchestratorCapped and move
   * on, while the streams already here keep sending until they end.
   */
  startDraining(): void {
    this.draining = true;
  }

  /** Segments being worked on now, across sessions. */
  get inFlight(): number {
    let n = 0;
    for (const s of this.sessions.values()) n += s.inFlight;
    return n;
  }

  /** Resolves once no segment is in flight, or when `signal` aborts. */
  whenIdle(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.inFlight > 0 && !signal.aborted) return;
        this.finished.delete(check);
        signal.removeEventListener("abort", check);
        resolve();
      };
      this.finished.add(check);
      signal.addEventListener("abort", check, { once: true });
      check();
    });
  }

  /** End a session now (EndTranscodingSession, or idle). */
  end(sessionId: string): boolean {
    const existed = this.sessions.delete(sessionId);
    if (existed) this.deps.onEnd?.(sessionId);
    return existed;
  }

  /** End sessions idle for longer than the idle timeout; returns the ended ids. */
  sweep(): string[] {
    const idle = this.options.idleMs ?? SESSION_IDLE_MS;
    const ended: string[] = [];
    for (const s of [...this.sessions.values()]) {
      if (s.inFlight === 0 && this.now() - s.lastUsed > idle) {
        this.end(s.id);
        ended.push(s.id);
      }
    }
    return ended;
  }

  /** Sweep periodically until stop(). */
  start(): void {
    const every = Math.max(1000, Math.floor((this.options.idleMs ?? SESSION_IDLE_MS) / 4));
    this.timer = setInterval(() => this.sweep(), every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  get size(): number {
    return this.sessions.size;
  }

  has(sessionId: string): boolean {
    return this.sessions.has(sessionId);
  }
}
