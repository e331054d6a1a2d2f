/**
 * `lp-node bench tickets`: how many received tickets one core can check per second, with the native
 * secp256k1 addon and with the pure-JS fallback. Two numbers per backend: "verify" is the ticket hash
 * plus signature recovery and address compare (go-livepeer's VerifySig on Ticket.Hash), "receive"
 * is the orchestrator's whole per-ticket check (HMAC, hash, signature, win, replay, expiry).
 */
import { cpus } from "node:os";
import { bytesToHex } from "viem";
import { errorMessage } from "../errors/LpError.js";
import { Signer } from "../eth/signer.js";
import { Rat } from "../payments/rat.js";
import { RecipientRandSource } from "../payments/recipientRand.js";
import { type RecoveryBackend, SigVerifier } from "../payments/sig.js";
import { newTicket, ticketHashBytes } from "../payments/ticket.js";
import { TicketParamsMaker } from "../payments/ticketParams.js";
import type { Ticket } from "../payments/types.js";
import { SenderNonceTracker, TicketValidator } from "../payments/validator.js";

/** The goal set for the native path: verifications per second on one core. */
export const TICKET_BENCH_GOAL_PER_SECOND = 15_000;

/** Options of {@link runTicketBench}. */
export interface TicketBenchOptions {
  /** Seconds spent on each measurement (4 of them with the native addon, 2 without). */
  durationSeconds: number;
  /** Distinct signed tickets cycled through. */
  tickets: number;
}

/** One backend's numbers. */
export interface TicketBenchBackend {
  backend: RecoveryBackend;
  /** Ticket hash + signature recovery + compare, per CPU second (one core). */
  verifyPerSecond: number;
  /** The full recipient check of one ticket, per CPU second (one core). */
  receivePerSecond: number;
  /** The same two per second of wall time: lower than the above when other work shares the core. */
  verifyPerWallSecond: number;
  receivePerWallSecond: number;
}

/** The report printed by the benchmark (and its --json). */
export interface TicketBenchReport {
  cpu: string;
  node: string;
  nativeAvailable: boolean;
  results: TicketBenchBackend[];
  goalPerSecond: number;
  /** Whether native verification met the goal; null without the addon. */
  goalMet: boolean | null;
}

// Fixed bench keys (anvil's first two accounts): nothing secret, and the run is reproducible.
const SENDER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const RECIPIENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

interface SignedSample {
  ticket: Ticket;
  sig: Uint8Array;
  seed: bigint;
}

async function makeSamples(count: number): Promise<{ samples: SignedSample[]; rand: RecipientRandSource }> {
  const signer = Signer.fromPrivateKey(SENDER_KEY);
  const rand = new RecipientRandSource();
  const clock = {
    state: {
      lastSeenL1Block: 1_000_000n,
      lastInitializedRound: 4000n,
      lastInitializedBlockHash: bytesToHex(new Uint8Array(32).fill(7)),
      preLastInitializedBlockHash: bytesToHex(new Uint8Array(32).fill(6)),
    },
  };
  const maker = new TicketParamsMaker(
    { recipient: RECIPIENT, ev: 8_000_000_000n, redeemGas: 1_200_000n },
    { clock, gasPrice: () => 10_000_000n, maxFloat: () => 10n ** 18n, rand },
  );
  const samples: SignedSample[] = [];
  // One params set per 100 tickets, as a gateway spreads its tickets over sessions.
  let params = await maker.ticketParams(signer.address, Rat.of(1200n, 1n));
  for (let i = 0; i < count; i++) {
    if (i % 100 === 99) params = await maker.ticketParams(signer.address, Rat.of(1200n, 1n));
    const ticket = newTicket(params, params.expirationParams, signer.address, i + 1);
    samples.push({ ticket, sig: await signer.signHash(ticketHashBytes(ticket)), seed: params.seed });
  }
  return { samples, rand };
}

/** Rates of one measurement. */
interface Rate {
  /** Completed calls per second of CPU time used by this process: the per-core rate, whatever else runs. */
  perCpuSecond: number;
  /** Completed calls per second of wall time (lower when the machine is busy). */
  perWallSecond: number;
}

/** Calls `op(i)` until `seconds` of wall time have passed. */
async function measure(seconds: number, op: (i: number) => unknown): Promise<Rate> {
  const budget = BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  let done = 0;
  for (;;) {
    for (let k = 0; k < 64; k++) {
      const r = op(done++);
      if (r instanceof Promise) await r;
    }
    const elapsed = process.hrtime.bigint() - start;
    if (elapsed >= budget) {
      const cpu = process.cpuUsage(cpu0);
      const cpuSeconds = Math.max((cpu.user + cpu.system) / 1e6, 1e-6);
      return {
        perCpuSecond: Math.round(done / cpuSeconds),
        perWallSecond: Math.round(done / (Number(elapsed) / 1e9)),
      };
    }
  }
}

/** Run the benchmark on this thread (one core) and report. */
export async function runTicketBench(options: TicketBenchOptions): Promise<TicketBenchReport> {
  const { samples, rand } = await makeSamples(Math.max(1, options.tickets));
  const backends: SigVerifier[] = [new SigVerifier(), new SigVerifier({ prefer: "noble" })];
  const nativeAvailable = backends[0]!.backend === "native";
  const results: TicketBenchBackend[] = [];
  for (const verifier of nativeAvailable ? backends : backends.slice(1)) {
    const n = samples.length;
    const verify = await measure(options.durationSeconds, (i) => {
      const s = samples[i % n]!;
      if (!verifier.verify(s.ticket.sender, ticketHashBytes(s.ticket), s.sig)) {
        throw new Error("bench ticket failed verification");
      }
    });
    let validator: TicketValidator | null = null;
    const clock = { state: { lastSeenL1Block: 1_000_000n, lastInitializedRound: 4000n } };
    const receive = await measure(options.durationSeconds, async (i) => {
      // A fresh replay tracker per pass over the samples, so each ticket is new to it.
      if (i % n === 0 || validator === null) {
        validator = new TicketValidator(
          { recipient: RECIPIENT },
          { verifier, rand, clock, nonces: new SenderNonceTracker() },
        );
      }
      const s = samples[i % n]!;
      const res = await validator.receiveTicket(s.ticket, s.sig, s.seed);
      if (res.error) throw new Error(`bench ticket refused: ${res.error.message}`);
    });
    results.push({
      backend: verifier.backend,
      verifyPerSecond: verify.perCpuSecond,
      receivePerSecond: receive.perCpuSecond,
      verifyPerWallSecond: verify.perWallSecond,
      receivePerWallSecond: receive.perWallSecond,
    });
  }
  const native = results.find((r) => r.backend === "native");
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    node: process.version,
    nativeAvailable,
    results,
    goalPerSecond: TICKET_BENCH_GOAL_PER_SECOND,
    goalMet: native ? native.verifyPerSecond >= TICKET_BENCH_GOAL_PER_SECOND : null,
  };
}

/** Human-readable report. */
export function formatTicketBenchReport(r: TicketBenchReport): string {
  const lines = [`ticket checks per CPU second on one core (${r.cpu}, node ${r.node})`];
  for (const x of r.results) {
    lines.push(
      `  ${x.backend.padEnd(7)} verify ${String(x.verifyPerSecond).padStart(8)}/s   full receive ${String(x.receivePerSecond).padStart(8)}/s` +
        `   (wall: ${x.verifyPerWallSecond}/s, ${x.receivePerWallSecond}/s)`,
    );
  }
  if (!r.nativeAvailable)
    lines.push("  native secp256k1 addon not loaded: the node would use the pure-JS path");
  lines.push(
    r.goalMet === null
      ? `  goal ${r.goalPerSecond}/s native: not measured`
      : `  goal ${r.goalPerSecond}/s native: ${r.goalMet ? "met" : "NOT met"}`,
  );
  return `${lines.join("\n")}\n`;
}

const HELP = `lp-node bench tickets: ticket verifications per second on one core, native secp256k1 and pure JS

  --duration <s>   seconds per measurement (default 2)
  --tickets <n>    distinct signed tickets cycled through (default 256)
  --json           one JSON report on stdout
`;

/** `lp-node bench tickets [flags]`; returns the exit status. */
export async function benchTicketsCommand(
  argv: string[],
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
): Promise<number> {
  let json = false;
  let duration = 2;
  let tickets = 256;
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const [flag, inline] = raw.replace(/^--?/, "").split("=", 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i];
    if (flag === "json") json = inline === undefined ? true : inline !== "false";
    else if (flag === "help" || flag === "h") {
      io.stdout.write(HELP);
      return 0;
    } else if (flag === "duration") duration = Number(value());
    else if (flag === "tickets") tickets = Number(value());
    else problems.push(`unknown flag ${raw}`);
  }
  if (!Number.isFinite(duration) || duration <= 0 || duration > 600)
    problems.push("--duration must be in (0, 600]");
  if (!Number.isInteger(tickets) || tickets < 1 || tickets > 100_000) {
    problems.push("--tickets must be an integer in [1, 100000]");
  }
  if (problems.length > 0) {
    io.stderr.write(`lp-node bench tickets:\n${problems.map((p) => `  - ${p}`).join("\n")}\n${HELP}`);
    return 2;
  }
  try {
    if (!json) io.stderr.write(`signing ${tickets} tickets, then ${duration} s per measurement...\n`);
    const report = await runTicketBench({ durationSeconds: duration, tickets });
    io.stdout.write(json ? `${JSON.stringify(report)}\n` : formatTicketBenchReport(report));
    return 0;
  } catch (err) {
    io.stderr.write(`lp-node bench tickets: ${errorMessage(err)}\n`);
    return 1;
  }
}
