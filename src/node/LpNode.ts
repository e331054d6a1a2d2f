import { mkdirSync } from "node:fs";
import type { NodeConfig, Role } from "../config/resolve.js";
import { errorMessage } from "../errors/LpError.js";
import type { Chain } from "../eth/Chain.js";
import type { OrchestratorStakingHooks } from "../eth/staking.js";
import { type CliRoute, CliServer } from "../http/cliServer.js";
import type { Logger } from "../logger/logger.js";
import { ChildProcesses } from "../media/ffmpeg/runFfmpeg.js";
import { boundAddresses, listenFailure } from "./listeners.js";
import type { Service } from "./Service.js";
import { DRAIN_TIMEOUT_MS } from "./shutdown.js";
import { baseStatus, type NodeStatus, type StatusContributor } from "./status.js";
import { createNodeTempDir, removeNodeTempDir } from "./tempDir.js";

/** What a role adds to a node: its services (in start order), status and CLI routes. */
export interface RoleParts {
  services: Service[];
  status?: StatusContributor;
  cliRoutes?: CliRoute[];
}

/** What roles in one process expose to each other, set by the role that owns each part. */
export interface SharedParts {
  /** The URI this node's orchestrator advertises once started (combined roles; port 0 resolves at start). */
  orchestratorUri?: () => string;
  /** On a chain: what the operator routes may change on this node's orchestrator (its price, its address). */
  orchestratorStaking?: OrchestratorStakingHooks;
}

/** Builds one role's parts; the node passes what earlier roles exposed through `shared`. */
export type RoleFactory = (config: NodeConfig, ctx: RoleContext) => Promise<RoleParts> | RoleParts;

export interface RoleContext {
  logger: Logger;
  /** What earlier roles exposed to later ones (the orchestrator's URI...). */
  shared: SharedParts;
  /** A running service hit an error it cannot recover from: the node stops and exits non-zero. */
  fatal: (err: Error) => void;
  /** The node's child processes: every spawn goes through the runner with this registry. */
  children: ChildProcesses;
  /** The node's temporary folder (<datadir>/tmp/<pid>-<random>): every temporary file goes under it. */
  tmpDir: string;
  /** The chain layer when -network is not offchain (started before any role's service); null offchain. */
  chain: Chain | null;
}

/** Roles whose implementation has not landed: they say so and run nothing. */
function plannedRole(role: Role): RoleFactory {
  return (_config, { logger }) => {
    logger.warn({ role }, `${role} role: not supported yet; only the CLI server runs for it`);
    return { services: [] };
  };
}

/**
 * The composition root (go-livepeer's cmd/livepeer/starter StartLivepeer): creates the data
 * directory, builds the services for the chosen roles, starts them in order and stops them in
 * reverse. A service that fails to start stops those already started and the error propagates.
 */
export class LpNode {
  private readonly started: Service[] = [];
  private readonly contributors: StatusContributor[] = [];
  private readonly abort = new AbortController();
  private readonly startedAt = Date.now();
  private stopping: Promise<void> | null = null;
  private cli: CliServer | null = null;
  private tmpDir: string | null = null;
  /** Child processes of this node: whatever is left when the services have stopped is killed. */
  readonly children: ChildProcesses;

  constructor(
    readonly config: NodeConfig,
    private readonly deps: {
      logger: Logger;
      roles?: Partial<Record<Role, RoleFactory>>;
      /** Called once when a service reports a fatal error (after it is logged). */
      onFatal?: (err: Error) => void;
      /** The registry to use (tests pass theirs to check nothing is left); default a new one. */
      children?: ChildProcesses;
      /** How long the drain phase of stop() may take; default DRAIN_TIMEOUT_MS. */
      drainTimeoutMs?: number;
    },
  ) {
    this.children = deps.children ?? new ChildProcesses();
  }

  /** The CLI server's bound port (after start). */
  get cliPort(): number {
    return this.cli?.port ?? 0;
  }

  async start(): Promise<void> {
    const { config } = this;
    const log = this.deps.logger.child({ module: "node" });
    try {
      mkdirSync(config.datadir, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw new Error(`cannot create data directory ${config.datadir}: ${errorMessage(err)}`);
    }
    let tmpDir: string;
    try {
      tmpDir = createNodeTempDir(config.datadir);
    } catch (err) {
      throw new Error(`cannot create the temporary folder in ${config.datadir}: ${errorMessage(err)}`);
    }
    this.tmpDir = tmpDir;
    const shared: SharedParts = {};
    const services: Service[] = [];
    const routes: CliRoute[] = [];
    let chain: Chain | null = null;
    try {
      if (config.chain) {
        // Loaded only on a chain: an offchain node never loads viem or the contracts.
        const eth = await import("../eth/Chain.js");
        const { terminalPrompt } = await import("../eth/account.js");
        chain = new eth.Chain(config.chain, {
          logger: this.deps.logger.child({ module: "eth" }),
          datadir: config.datadir,
          prompt: terminalPrompt(),
        });
        services.push(chain);
        const c = chain;
        this.contributors.push((s) => c.status(s));
        // The operator's ticket-broker money routes (/fundDeposit, /senderInfo...) exist on any chain node.
        const { moneyRoutes } = await import("../eth/money.js");
        routes.push(...moneyRoutes(c));
        // Staking and orchestrator registration (/bond, /activateOrchestrator...); the orchestrator
        // role, built below, hands over its price and address through `shared`.
        const { stakingRoutes } = await import("../eth/staking.js");
        routes.push(...stakingRoutes(c, { orchestrator: () => shared.orchestratorStaking ?? null }));
      }
      for (const role of config.roles) {
        const factory = this.deps.roles?.[role] ?? plannedRole(role);
        const parts = await factory(config, {
          logger: this.deps.logger.child({ module: role }),
          shared,
          fatal: (err) => this.fatal(err),
          children: this.children,
          tmpDir,
          chain,
        });
        services.push(...parts.services);
        if (parts.status) this.contributors.push(parts.status);
        routes.push(...(parts.cliRoutes ?? []));
      }
      // go-livepeer's livepeer_cli picks its menu (orchestrator, redeemer or gateway) from these.
      for (const [path, role] of [
        ["/IsOrchestrator", "orchestrator"],
        ["/IsRedeemer", "redeemer"],
      ] as const) {
        routes.push({
          method: "GET",
          path,
          handler: (_p, reply) => reply.type("text/plain").send(String(config.roles.includes(role))),
        });
      }
      this.cli = new CliServer(
        { addr: config.cliAddr, verbosity: config.verbosity },
        { logger: this.deps.logger.child({ module: "cli" }), status: () => this.status(), routes },
      );
      // Role services first, so /status never reports a role that is not up yet.
      services.push(this.cli);
      for (const service of services) {
        await service.start(this.abort.signal);
        this.started.push(service);
      }
    } catch (err) {
      // A taken port names the flag that chose it, rather than a bare EADDRINUSE.
      const failure = listenFailure(err, config.listeners) ?? err;
      log.error({ err: errorMessage(failure) }, "start failed; stopping what was started");
      await this.stop();
      throw failure;
    }
    // One line per listener, with the flag that chose its address, so an operator sees what is exposed.
    for (const { listener, address } of boundAddresses(config.listeners, this.status(), this.cliPort)) {
      log.info(
        { listener: listener.name, addr: address, flag: listener.flag, reason: listener.reason },
        `listening on ${address} (${listener.name}; ${listener.flag}: ${listener.reason})`,
      );
    }
    log.info({ roles: config.roles, network: config.network, datadir: config.datadir }, "lp-node started");
  }

  private fatalSeen = false;

  private fatal(err: Error): void {
    if (this.fatalSeen) return;
    this.fatalSeen = true;
    this.deps.logger.error({ err: err.message }, "fatal error; stopping");
    if (this.deps.onFatal) this.deps.onFatal(err);
    else void this.stop();
  }

  /**
   * Stop the node; safe to call more than once. First every started service drains (in start
   * order, all at once, bounded by the drain timeout): ingest takes no new work and in-flight
   * segments finish while the orchestrator behind them still runs. Then the services stop in
   * reverse order, leftover child processes are killed and the temporary folder is removed.
   */
  stop(): Promise<void> {
    if (!this.stopping) this.stopping = this.stopAll();
    return this.stopping;
  }

  private async stopAll(): Promise<void> {
    const log = this.deps.logger.child({ module: "node" });
    const started = [...this.started];
    await this.drainAll(started, log);
    this.abort.abort();
    for (const service of started.reverse()) {
      try {
        await service.stop();
      } catch (err) {
        log.warn({ service: service.name, err: errorMessage(err) }, "service failed to stop cleanly");
      }
    }
    this.started.length = 0;
    if (this.children.size > 0) log.info({ pids: this.children.pids() }, "killing leftover child processes");
    await this.children.killAll();
    if (this.tmpDir) {
      try {
        removeNodeTempDir(this.tmpDir);
      } catch (err) {
        log.warn({ dir: this.tmpDir, err: errorMessage(err) }, "cannot remove the temporary folder");
      }
      this.tmpDir = null;
    }
  }

  /** The process exits now (second signal, stop timed out): kill the children, drop the temp folder. */
  forceStop(): void {
    this.children.killAllNow();
    if (this.tmpDir) {
      try {
        removeNodeTempDir(this.tmpDir);
      } catch {
        // swept at the next start
      }
    }
  }

  private async drainAll(services: Service[], log: Logger): Promise<void> {
    const draining = services.filter((s) => s.drain);
    if (draining.length === 0) return;
    const deadline = new AbortController();
    const timeoutMs = this.deps.drainTimeoutMs ?? DRAIN_TIMEOUT_MS;
    const timer = setTimeout(() => {
      log.warn({ timeoutMs }, "drain timed out; stopping with work in flight");
      deadline.abort();
    }, timeoutMs);
    timer.unref();
    const ended = new Promise<void>((resolve) =>
      deadline.signal.addEventListener("abort", () => resolve(), { once: true }),
    );
    const all = Promise.all(
      draining.map(async (s) => {
        try {
          await s.drain!(deadline.signal);
        } catch (err) {
          log.warn({ service: s.name, err: errorMessage(err) }, "service failed to drain");
        }
      }),
    );
    // A drain that ignores its signal cannot hold the stop beyond the deadline.
    await Promise.race([all, ended]);
    clearTimeout(timer);
  }

  /** go-livepeer's NodeStatus plus lp-node's fields, as served at /status. */
  status(): NodeStatus {
    const { config } = this;
    const addresses: Record<string, string> = {};
    const status = baseStatus(config.roles, config.network, addresses, this.startedAt);
    for (const contribute of this.contributors) contribute(status);
    // Filled after the roles have reported the ports they bound (port 0 resolves at start).
    for (const { listener, address } of boundAddresses(config.listeners, status, this.cliPort))
      addresses[listener.name] = address;
    if (config.orchestrator) {
      const advertised = status["OrchestratorServiceURI"];
      addresses["service"] = typeof advertised === "string" ? advertised : config.orchestrator.serviceUri;
    }
    return status;
  }
}
