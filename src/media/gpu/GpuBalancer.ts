import { LpError } from "../../errors/LpError.js";
import type { VideoProfile } from "../profiles.js";

/** Cost of a stream on a GPU (go-livepeer core/lb.go): Σ w × h × fps, fps 0 counted as 30. */
export function streamLoad(profiles: readonly VideoProfile[]): number {
  return profiles.reduce(
    (sum, p) => sum + p.width * p.height * Math.floor((p.fps || 30) / (p.fpsDen || 1)),
    0,
  );
}

/**
 * Pins each session to the least-loaded GPU (ties broken round-robin), keeps it there until the
 * session ends, and enforces an optional per-GPU session limit (go-livepeer core/lb.go, plus the
 * limit it lacks).
 */
export class GpuBalancer {
  private readonly load = new Map<string, number>();
  private readonly count = new Map<string, number>();
  private readonly sessions = new Map<string, { device: string; cost: number }>();
  private next = 0;

  constructor(
    readonly devices: readonly string[],
    private readonly maxSessionsPerGpu: number = Number.POSITIVE_INFINITY,
  ) {
    if (devices.length === 0) throw new LpError("NO_GPUS", "no GPU devices given");
    for (const d of devices) {
      this.load.set(d, 0);
      this.count.set(d, 0);
    }
  }

  /** The GPU for a session, choosing one for a new session. */
  acquire(sessionId: string, profiles: readonly VideoProfile[]): string {
    const existing = this.sessions.get(sessionId);
    if (existing) return existing.device;
    const n = this.devices.length;
    let best: string | null = null;
    for (let k = 0; k < n; k++) {
      const d = this.devices[(this.next + k) % n]!;
      if (this.count.get(d)! >= this.maxSessionsPerGpu) continue;
      if (best === null || this.load.get(d)! < this.load.get(best)!) best = d;
    }
    if (best === null) throw new LpError("GPUS_FULL", "TranscoderBusy", { retryable: true });
    this.next = (this.next + 1) % n;
    const cost = streamLoad(profiles);
    this.sessions.set(sessionId, { device: best, cost });
    this.load.set(best, this.load.get(best)! + cost);
    this.count.set(best, this.count.get(best)! + 1);
    return best;
  }

  /** Free a session's share of its GPU. */
  release(sessionId: string): void {
    const s = this.sessions.get(sessionId);
    if (!s) return;
    this.sessions.delete(sessionId);
    this.load.set(s.device, this.load.get(s.device)! - s.cost);
    this.count.set(s.device, this.count.get(s.device)! - 1);
  }

  /** Load per device, for status. */
  snapshot(): { device: string; load: number; sessions: number }[] {
    return this.devices.map((d) => ({ device: d, load: this.load.get(d)!, sessions: this.count.get(d)! }));
  }
}
