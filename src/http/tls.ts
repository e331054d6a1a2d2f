import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { isIP } from "node:net";

export interface TlsMaterial {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (PKCS#8). */
  key: string;
}

// Minimal DER encoding: just what an X.509 v3 certificate needs.
function der(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const len = body.length;
  let head: Buffer;
  if (len < 0x80) head = Buffer.from([tag, len]);
  else {
    const bytes: number[] = [];
    for (let n = len; n > 0; n >>= 8) bytes.unshift(n & 0xff);
    head = Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([head, body]);
}
const seq = (...p: Buffer[]) => der(0x30, ...p);
const set = (...p: Buffer[]) => der(0x31, ...p);
/** DER INTEGER of an unsigned big-endian value: minimal length (no redundant leading zero), positive. */
export function derUnsignedInt(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  return der(0x02, v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}
const int = derUnsignedInt;
const bool = (v: boolean) => der(0x01, Buffer.from([v ? 0xff : 0]));
const octets = (b: Buffer) => der(0x04, b);
const bits = (b: Buffer, unused = 0) => der(0x03, Buffer.from([unused]), b);
const utf8 = (s: string) => der(0x0c, Buffer.from(s, "utf8"));
function oid(dotted: string): Buffer {
  const n = dotted.split(".").map(Number);
  const out = [40 * n[0]! + n[1]!];
  for (const v of n.slice(2)) {
    const chunk: number[] = [v & 0x7f];
    for (let x = v >> 7; x > 0; x >>= 7) chunk.unshift(0x80 | (x & 0x7f));
    out.push(...chunk);
  }
  return der(0x06, Buffer.from(out));
}
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, "").slice(0, 14); // YYYYMMDDHHMMSS
  return d.getUTCFullYear() < 2050
    ? der(0x17, Buffer.from(`${iso.slice(2)}Z`))
    : der(0x18, Buffer.from(`${iso}Z`));
}
const ext = (id: string, critical: boolean, value: Buffer) =>
  critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));

const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));
const VALIDITY_MS = 8765 * 3600 * 1000; // go-livepeer's certExpiry

/**
 * A fresh self-signed ECDSA P-256 certificate for the orchestrator's TLS port, made at every start
 * as go-livepeer does (server/cert.go): CA, digitalSignature+certSign, serverAuth, 8765 h. Unlike
 * go-livepeer, an IP host goes into the IP SAN (go puts it in DNSNames); clients skip
 * verification either way. Built with node:crypto only.
 */
export function selfSignedCert(host: string): TlsMaterial {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const name = host === "" ? "localhost" : host;
  const ipVersion = isIP(name);
  const san =
    ipVersion === 4
      ? der(0x87, Buffer.from(name.split(".").map(Number)))
      : ipVersion === 6
        ? der(0x87, ipv6Bytes(name))
        : der(0x82, Buffer.from(name, "ascii"));
  const subject = seq(set(seq(oid("2.5.4.10"), utf8("lp-node"))), set(seq(oid("2.5.4.3"), utf8(name))));
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and never zero-led (DER forbids padding)
  const now = new Date();
  const tbs = seq(
    der(0xa0, int(Buffer.from([2]))),
    int(serial),
    ECDSA_SHA256,
    subject,
    seq(time(now), time(new Date(now.getTime() + VALIDITY_MS))),
    subject,
    publicKey.export({ format: "der", type: "spki" }),
    der(
      0xa3,
      seq(
        ext("2.5.29.15", true, bits(Buffer.from([0x84]), 2)), // digitalSignature, keyCertSign
        ext("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"))), // serverAuth
        ext("2.5.29.19", true, seq(bool(true))), // CA
        ext("2.5.29.17", false, seq(san)),
      ),
    ),
  );
  const signature = sign("sha256", tbs, privateKey);
  const cert = seq(tbs, ECDSA_SHA256, bits(signature));
  return {
    cert: pem("CERTIFICATE", cert),
    key: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
  };
}

function ipv6Bytes(addr: string): Buffer {
  const [head = "", tail = ""] = addr.split("::");
  const h = head ? head.split(":") : [];
  const t = addr.includes("::") && tail ? tail.split(":") : [];
  const groups = addr.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
  return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

function pem(label: string, body: Buffer): string {
  const b64 = body
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd();
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
