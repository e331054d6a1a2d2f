/** A listen or dial address. `host` "" means every interface. */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * go-livepeer's defaultAddr (cmd/livepeer/starter): "" becomes host:port, ":p" becomes host:p,
 * a value without a port becomes value:port. Unlike go-livepeer, IPv6 literals in brackets work.
 */
export function defaultAddr(value: string, host: string, port: number): string {
  if (value === "") return formatHostPort({ host, port });
  if (value.startsWith(":")) return `${bracket(host)}${value}`;
  const parsed = splitHostPort(value);
  if (parsed.port === undefined) return formatHostPort({ host: parsed.host, port });
  return value;
}

/** Split "host:port", "[::1]:port", ":port" or "host"; throws on a malformed port. */
export function splitHostPort(value: string): { host: string; port: number | undefined } {
  let host = value;
  let portText: string | undefined;
  if (value.startsWith("[")) {
    const end = value.indexOf("]");
    if (end < 0) throw new Error(`invalid address "${value}"`);
    host = value.slice(1, end);
    const rest = value.slice(end + 1);
    if (rest.startsWith(":")) portText = rest.slice(1);
    else if (rest !== "") throw new Error(`invalid address "${value}"`);
  } else {
    const colon = value.lastIndexOf(":");
    if (colon >= 0 && value.indexOf(":") === colon) {
      host = value.slice(0, colon);
      portText = value.slice(colon + 1);
    }
  }
  if (portText === undefined) return { host, port: undefined };
  if (!/^\d+$/.test(portText) || Number(portText) > 65535)
    throw new Error(`invalid port in address "${value}"`);
  return { host, port: Number(portText) };
}

/** Parse a listen address with a required port. */
export function parseHostPort(value: string): HostPort {
  const { host, port } = splitHostPort(value);
  if (port === undefined) throw new Error(`address "${value}" has no port`);
  return { host, port };
}

export function formatHostPort(hp: HostPort): string {
  return `${bracket(hp.host)}:${hp.port}`;
}

function bracket(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}
