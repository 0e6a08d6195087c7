import { Duplex } from "node:stream";

/**
 * Two connected in-process duplex streams: what one end writes, the other
 * reads, with backpressure (a write completes once the other end has room
 * for it), ends (`end()` on one is the end of the other's readable side)
 * and destruction (destroying one end destroys the other). Node 22 has
 * `stream.duplexPair`; Node 20 does not.
 */
export function duplexPair(): [Duplex, Duplex] {
  const a = new PairEnd();
  const b = new PairEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class PairEnd extends Duplex {
  peer!: PairEnd;
  /** The callback of a write that waits for the peer to read. */
  private waiting: ((error?: Error | null) => void) | undefined = undefined;

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ) {
    if (this.peer.destroyed) {
      callback(new Error("the other end of the in-process connection is closed"));
      return;
    }
    if (this.peer.push(chunk)) callback();
    else this.waiting = callback;
  }

  override _final(callback: (error?: Error | null) => void) {
    this.peer.push(null);
    callback();
  }

  override _read() {
    // The peer's write that waited for room completes.
    const waiting = this.peer.waiting;
    this.peer.waiting = undefined;
    waiting?.();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void) {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.(error ?? new Error("the in-process connection is closed"));
    if (!this.peer.destroyed) this.peer.destroy();
    callback(error);
  }
}
