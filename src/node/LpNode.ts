import { mkdirSync } from "node:fs";
import { formatHostPort } from "../config/addresses.js";
import type { NodeConfig, Role } from "../config/resolve.js";
import { errorMessage } from "../errors/LpError.js";
import { type CliRoute, CliServer } from "../http/cliServer.js";
import type { Logger } from "../logger/logger.js";
import type { Service } from "./Service.js";
import { baseStatus, type NodeStatus, type StatusContributor } from "./status.js";

/** What a role adds to a node: its services (in start order), status and CLI routes. */
export interface RoleParts {
  services: Service[];
  status?: StatusContributor;
  cliRoutes?: CliRoute[];
}

/** `shared` key: () => the URI this node's orchestrator advertises (combined roles). */
export const LOCAL_ORCHESTRATOR_URI = "orchestrator.serviceUri";

/** Builds one role's parts; the node passes what earlier roles exposed through `shared`. */
export type RoleFactory = (config: NodeConfig, ctx: RoleContext) => Promise<RoleParts> | RoleParts;

export interface RoleContext {
  logger: Logger;
  /** Objects roles expose to each other (the local transcoder, the orchestrator's URI...). */
  shared: Map<string, unknown>;
  /** A running service hit an error it cannot recover from: the node stops and exits non-zero. */
  fatal: (err: Error) => void;
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

  constructor(
    readonly config: NodeConfig,
    private readonly deps: {
      logger: Logger;
      roles?: Partial<Record<Role, RoleFactory>>;
      /** Called once when a service reports a fatal error (after it is logged). */
      onFatal?: (err: Error) => void;
    },
  ) {}

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
    const shared = new Map<string, unknown>();
    const services: Service[] = [];
    const routes: CliRoute[] = [];
    try {
      for (const role of config.roles) {
        const factory = this.deps.roles?.[role] ?? plannedRole(role);
        const parts = await factory(config, {
          logger: this.deps.logger.child({ module: role }),
          shared,
          fatal: (err) => this.fatal(err),
        });
        services.push(...parts.services);
        if (parts.status) this.contributors.push(parts.status);
        routes.push(...(parts.cliRoutes ?? []));
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
      log.error({ err: errorMessage(err) }, "start failed; stopping what was started");
      await this.stop();
      throw err;
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

  /** Stop every started service in reverse order; safe to call more than once. */
  stop(): Promise<void> {
    if (!this.stopping) this.stopping = this.stopAll();
    return this.stopping;
  }

  private async stopAll(): Promise<void> {
    this.abort.abort();
    const log = this.deps.logger.child({ module: "node" });
    for (const service of this.started.reverse()) {
      try {
        await service.stop();
      } catch (err) {
        log.warn({ service: service.name, err: errorMessage(err) }, "service failed to stop cleanly");
      }
    }
    this.started.length = 0;
  }

  /** go-livepeer's NodeStatus plus lp-node's fields, as served at /status. */
  status(): NodeStatus {
    const { config } = this;
    const addresses: Record<string, string> = {
      cli: formatHostPort({ ...config.cliAddr, port: this.cliPort }),
    };
    if (config.gatewayHttpAddr) addresses["http"] = formatHostPort(config.gatewayHttpAddr);
    if (config.rtmpAddr) addresses["rtmp"] = formatHostPort(config.rtmpAddr);
    if (config.orchHttpAddr) addresses["orchestrator"] = formatHostPort(config.orchHttpAddr);
    if (config.serviceUri) addresses["service"] = config.serviceUri;
    const status = baseStatus(config.roles, config.network, addresses, this.startedAt);
    for (const contribute of this.contributors) contribute(status);
    return status;
  }
}
