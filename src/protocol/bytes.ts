/** Go big.Int.Bytes(): unsigned magnitude, big-endian, no leading zeros, empty for zero. */
export function bigEndianMinimal(value: bigint): Buffer {
  let v = value < 0n ? -value : value;
  const bytes: number[] = [];
  while (v > 0n) {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  }
  return Buffer.from(bytes);
}

/** Left-pad to `size` bytes (Go common.LeftPadBytes / ethcommon.LeftPadBytes). */
export function leftPad(bytes: Uint8Array, size: number): Buffer {
  if (bytes.length >= size) return Buffer.from(bytes);
  return Buffer.concat([Buffer.alloc(size - bytes.length), bytes]);
}

/** Parse big-endian unsigned bytes into a bigint. */
export function bytesToBigInt(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}
