import { HostError } from "../host-error.js";
import { HeaderListTooLargeError, HpackError } from "./hpack-error.js";
import { huffmanDecode } from "./hpack-huffman.js";
import { STATIC_TABLE_LENGTH, staticTableNames, staticTableValues } from "./hpack-static-table.js";

/** Options of an {@link HpackDecoder}. */
export interface HpackDecoderOptions {
  /**
   * Largest dynamic table the peer may use, in octets: the SETTINGS_HEADER_TABLE_SIZE we
   * advertise. Default 4096.
   */
  readonly maxTableSize?: number;
  /**
   * Largest decoded header list, counted as in RFC 7540 §6.5.2 (name + value + 32 per field).
   * Default 65536.
   */
  readonly maxHeaderListBytes?: number;
  /**
   * Decodes header names with uppercase letters instead of failing the
   * block: the caller checks them. A server uses it to reset such a request
   * as malformed (a stream error) rather than end the connection (RFC 9113
   * §8.2.1). Default false.
   */
  readonly allowUppercaseNames?: boolean;
}

/** What an entry costs in the table and in a header list besides its name and value (§4.1). */
const ENTRY_OVERHEAD = 32;
/** The largest integer accepted, as in most HPACK implementations (RFC 7541 §5.1 sets none). */
const MAX_INTEGER = 0x7fff_ffff;
/** Continuation octets needed for MAX_INTEGER: 31 bits, 7 per octet. */
const MAX_CONTINUATION_OCTETS = 5;
/** The largest SETTINGS_HEADER_TABLE_SIZE (a 32-bit value, RFC 7540 §6.5.1). */
const MAX_SETTING = 0xffff_ffff;

/**
 * A stateful HPACK decoder (RFC 7541) for the header blocks one HTTP/2
 * connection receives: it keeps the dynamic table in step with the peer's
 * encoder, so every header block of the connection must go through it, in
 * order, and a failure with {@link HpackError} must end the connection.
 *
 * The dynamic table is a ring buffer of names and values, newest first,
 * that doubles when full and evicts from the old end without moving entries.
 *
 * @example
 * const decoder = new HpackDecoder({ maxTableSize: 4096 });
 * const fields = decoder.decode(headerBlock);
 * // [":status", "200", "content-type", "application/grpc", ...]
 */
export class HpackDecoder {
  private readonly maxTableSize: number;
  private readonly maxHeaderListBytes: number;
  private readonly allowUppercaseNames: boolean;
  /** The table size the peer chose last (RFC 7541 §4.2); at most maxTableSize. */
  private capacity: number;
  /** Octets in the dynamic table, counted as in RFC 7541 §4.1. */
  private size = 0;
  /** Ring buffer of the dynamic table, length a power of two. */
  private names: string[];
  private values: string[];
  private mask: number;
  /** Ring position of the newest entry (dynamic index 1). */
  private head = 0;
  /** Number of entries in the dynamic table. */
  private count = 0;
  /** Read position in the block being decoded. */
  private at = 0;

  /** Creates a decoder with an empty dynamic table. */
  constructor(options: HpackDecoderOptions = {}) {
    const maxTableSize = options.maxTableSize ?? 4096;
    const maxHeaderListBytes = options.maxHeaderListBytes ?? 65536;
    if (!Number.isInteger(maxTableSize) || maxTableSize < 0 || maxTableSize > MAX_SETTING) {
      throw new HostError(
        "invalid_config",
        `HPACK maxTableSize must be an integer from 0 to ${MAX_SETTING}, got ${maxTableSize}`,
      );
    }
    if (!Number.isInteger(maxHeaderListBytes) || maxHeaderListBytes < 1) {
      throw new HostError(
        "invalid_config",
        `HPACK maxHeaderListBytes must be a positive integer, got ${maxHeaderListBytes}`,
      );
    }
    this.maxTableSize = maxTableSize;
    this.maxHeaderListBytes = maxHeaderListBytes;
    this.allowUppercaseNames = options.allowUppercaseNames ?? false;
    this.capacity = maxTableSize;
    this.names = new Array<string>(16).fill("");
    this.values = new Array<string>(16).fill("");
    this.mask = 15;
  }

  /** Octets in the dynamic table, counted as in RFC 7541 §4.1 (name + value + 32 per entry). */
  get tableSize(): number {
    return this.size;
  }

  /** The dynamic table's current maximum size, as last set by the peer (initially maxTableSize). */
  get tableCapacity(): number {
    return this.capacity;
  }

  /** A copy of the dynamic table, newest entry first: names and values alternating. */
  tableEntries(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.count; i++) {
      const at = (this.head + i) & this.mask;
      out.push(this.names[at]!, this.values[at]!);
    }
    return out;
  }

  /**
   * Decodes one complete header block (HEADERS payload plus CONTINUATION payloads,
   * padding/priority already removed). Returns names and values alternating:
   * [name0, value0, name1, value1, ...].
   *
   * @throws HpackError if the block is malformed: the connection must end with COMPRESSION_ERROR.
   * @throws HeaderListTooLargeError if the fields exceed maxHeaderListBytes; the whole block was
   * still processed.
   */
  decode(block: Uint8Array): string[] {
    const end = block.length;
    const fields: string[] = [];
    let listBytes = 0;
    let tooLarge = false;
    this.at = 0;
    // Dynamic table size updates may only open a block (RFC 7541 §4.2).
    while (this.at < end && (block[this.at]! & 0xe0) === 0x20) {
      this.updateCapacity(this.readInteger(block, 0x1f));
    }
    while (this.at < end) {
      const first = block[this.at]!;
      let name: string;
      let value: string;
      if (first & 0x80) {
        // Indexed header field (§6.1).
        const index = this.readInteger(block, 0x7f);
        if (index <= STATIC_TABLE_LENGTH) {
          if (index === 0) {
            throw new HpackError("HPACK indexed header field has index 0");
          }
          name = staticTableNames[index]!;
          value = staticTableValues[index]!;
        } else {
          const at = this.ringPosition(index);
          name = this.names[at]!;
          value = this.values[at]!;
        }
      } else if ((first & 0xe0) === 0x20) {
        throw new HpackError("HPACK dynamic table size update after a header field");
      } else {
        // Literal with incremental indexing (§6.2.1, 01xxxxxx), without
        // indexing (0000xxxx) or never indexed (0001xxxx).
        const indexing = (first & 0x40) !== 0;
        const nameIndex = this.readInteger(block, indexing ? 0x3f : 0x0f);
        if (nameIndex === 0) {
          name = this.readString(block);
          if (!this.allowUppercaseNames) checkLowercase(name);
        } else {
          name = this.nameAt(nameIndex);
        }
        value = this.readString(block);
        if (indexing) {
          this.insert(name, value);
        }
      }
      if (!tooLarge) {
        listBytes += name.length + value.length + ENTRY_OVERHEAD;
        if (listBytes > this.maxHeaderListBytes) {
          tooLarge = true;
        } else {
          fields.push(name, value);
        }
      }
    }
    if (tooLarge) {
      throw new HeaderListTooLargeError(
        `HTTP/2 header list is larger than ${this.maxHeaderListBytes} octets`,
      );
    }
    return fields;
  }

  /** Reads an integer with an N-bit prefix (§5.1) at `this.at`; `prefixMask` is 2^N - 1. */
  private readInteger(block: Uint8Array, prefixMask: number): number {
    let value = block[this.at++]! & prefixMask;
    if (value < prefixMask) {
      return value;
    }
    for (let octets = 0, shift = 1; ; octets++, shift *= 128) {
      if (octets === MAX_CONTINUATION_OCTETS) {
        throw new HpackError("HPACK integer has more than 5 continuation octets");
      }
      if (this.at >= block.length) {
        throw new HpackError("HPACK header block ends inside an integer");
      }
      const octet = block[this.at++]!;
      value += (octet & 0x7f) * shift;
      if (value > MAX_INTEGER) {
        throw new HpackError("HPACK integer is larger than 2^31-1");
      }
      if ((octet & 0x80) === 0) {
        return value;
      }
    }
  }

  /** Reads a string literal (RFC 7541 §5.2) at `this.at`, Huffman-coded or raw. */
  private readString(block: Uint8Array): string {
    if (this.at >= block.length) {
      throw new HpackError("HPACK header block ends before a string literal");
    }
    const huffman = (block[this.at]! & 0x80) !== 0;
    const length = this.readInteger(block, 0x7f);
    const start = this.at;
    const end = start + length;
    if (end > block.length) {
      throw new HpackError("HPACK header block ends inside a string literal");
    }
    this.at = end;
    return huffman
      ? huffmanDecode(block, start, end)
      : asBuffer(block).toString("latin1", start, end);
  }

  /** The name at a static or dynamic index, for a literal with an indexed name. */
  private nameAt(index: number): string {
    return index <= STATIC_TABLE_LENGTH
      ? staticTableNames[index]!
      : this.names[this.ringPosition(index)]!;
  }

  /** Where a dynamic table index (above the static table) is in the ring buffer. */
  private ringPosition(index: number): number {
    const offset = index - STATIC_TABLE_LENGTH - 1;
    if (offset >= this.count) {
      throw new HpackError(`HPACK index ${index} is not in the tables`);
    }
    return (this.head + offset) & this.mask;
  }

  /** Applies a dynamic table size update (RFC 7541 §6.3). */
  private updateCapacity(capacity: number): void {
    if (capacity > this.maxTableSize) {
      throw new HpackError(
        `HPACK dynamic table size update to ${capacity} exceeds the limit of ${this.maxTableSize}`,
      );
    }
    this.capacity = capacity;
    this.evictDownTo(capacity);
  }

  /** Adds an entry at the head of the dynamic table, evicting as needed (RFC 7541 §4.4). */
  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    if (entrySize > this.capacity) {
      // Not an error: the table is emptied and the entry not added.
      this.evictDownTo(0);
      return;
    }
    this.evictDownTo(this.capacity - entrySize);
    if (this.count === this.names.length) {
      this.grow();
    }
    this.head = (this.head - 1) & this.mask;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.count++;
    this.size += entrySize;
  }

  /** Evicts the oldest entries until the table holds at most `limit` octets. */
  private evictDownTo(limit: number): void {
    while (this.size > limit) {
      const at = (this.head + this.count - 1) & this.mask;
      this.size -= this.names[at]!.length + this.values[at]!.length + ENTRY_OVERHEAD;
      this.names[at] = "";
      this.values[at] = "";
      this.count--;
    }
  }

  /** Doubles the ring buffer, moving the entries to its start, newest first. */
  private grow(): void {
    const length = this.names.length * 2;
    const names = new Array<string>(length).fill("");
    const values = new Array<string>(length).fill("");
    for (let i = 0; i < this.count; i++) {
      const at = (this.head + i) & this.mask;
      names[i] = this.names[at]!;
      values[i] = this.values[at]!;
    }
    this.names = names;
    this.values = values;
    this.mask = length - 1;
    this.head = 0;
  }
}

/** Rejects a literal name with uppercase ASCII, which HTTP/2 forbids (RFC 7540 §8.1.2). */
function checkLowercase(name: string): void {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) {
      throw new HpackError(`HPACK header name ${JSON.stringify(name)} has uppercase letters`);
    }
  }
}

/** `bytes` as a Buffer (the same memory) for Buffer's string conversions. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
