import { type LevelWithSilent, type Logger, pino } from "pino";

export type { Logger } from "pino";

/** go-livepeer's clog context keys, printed first in that order by the pretty printer. */
export const CONTEXT_KEYS = [
  "manifestID",
  "sessionID",
  "nonce",
  "seqNo",
  "orchSessionID",
  "ethaddress",
  "orchestrator",
] as const;

/** Field names whose values never reach a log line. */
const REDACT_PATHS = [
  "ethPassword",
  "orchSecret",
  "secret",
  "password",
  "kafkaPassword",
  "mediaMTXApiPassword",
  "liveAIAuthApiKey",
  "remoteSignerHeaders",
  "remoteSignerWebhookHeaders",
  "*.ethPassword",
  "*.orchSecret",
  "*.secret",
  "*.password",
];

/** Map go-livepeer's glog verbosity (-v, default 3; 4 short, 5 debug, 6 verbose) to a pino level. */
export function levelForVerbosity(v: number): LevelWithSilent {
  if (v <= 0) return "error";
  if (v === 1) return "error";
  if (v === 2) return "warn";
  if (v <= 4) return "info";
  if (v === 5) return "debug";
  return "trace";
}

export interface LoggerOptions {
  level: LevelWithSilent;
  /** Pretty, human output (a TTY) instead of JSON lines. */
  pretty: boolean;
  /** Where lines go; defaults to stderr, as go-livepeer logs to stderr. */
  destination?: NodeJS.WritableStream;
}

/** The one root logger of a node; modules take `root.child({ module })`. */
export function createLogger(options: LoggerOptions): Logger {
  const base = { level: options.level, redact: { paths: REDACT_PATHS, censor: "***" } };
  if (options.pretty) {
    const transport = pino.transport({
      target: "pino-pretty",
      options: { destination: 2, colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" },
    });
    return pino(base, transport);
  }
  const dest = options.destination ?? pino.destination({ fd: 2, sync: true });
  return pino(base, dest as pino.DestinationStream);
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  // A sink as well as the level: a later level change (POST /setLogLevel) must still print nothing.
  return pino({ level: "silent" }, { write: () => {} });
}
