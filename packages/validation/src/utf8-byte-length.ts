/**
 * Number of bytes of `value` encoded as UTF-8, the way protobuf encodes a
 * string field: a lone surrogate counts as U+FFFD (3 bytes), as
 * `TextEncoder` writes it. Allocation-free and platform-neutral.
 */
export function utf8ByteLength(value: string): number {
  let bytes = 0;
  const n = value.length;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80) {
      bytes += 1;
    } else if (c < 0x800) {
      bytes += 2;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else {
        bytes += 3;
      }
    } else {
      bytes += 3;
    }
  }
  return bytes;
}
