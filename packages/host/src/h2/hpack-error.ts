/** A malformed header block: the connection must end with COMPRESSION_ERROR (RFC 7540 §4.3). */
export class HpackError extends Error {
  override name = "HpackError";
}

/**
 * A decoded header block was larger than the limit; the decoder state stays in sync (the block
 * was fully processed).
 */
export class HeaderListTooLargeError extends Error {
  override name = "HeaderListTooLargeError";
}
