import type * as net from "node:net";

// Output smaller than this is joined into one buffer; larger output goes out as a writev.
const JOIN_LIMIT = 16 << 10;

/**
 * Collects the frames a connection sends during one turn of the event loop
 * and writes them to the socket together, in one system call: a request's
 * HEADERS and DATA, or a WINDOW_UPDATE and a PING ACK, leave in one packet.
 * `blocked` is true while the socket buffers more than its high-water mark.
 */
export class FrameWriter {
  /** The socket wants the writer to wait for `drain`. */
  blocked = false;
  private readonly socket: net.Socket;
  private out: Buffer[] = [];
  private bytes = 0;
  private scheduled = false;
  private closed = false;

  constructor(socket: net.Socket, onDrain: () => void) {
    this.socket = socket;
    socket.on("drain", () => {
      this.blocked = false;
      onDrain();
    });
  }

  /** Queues bytes; they are written at the end of this turn (a microtask later). */
  send(chunk: Buffer): void {
    if (this.closed) return;
    this.out.push(chunk);
    this.bytes += chunk.length;
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  /** Writes what is queued now. */
  flush(): void {
    this.scheduled = false;
    const out = this.out;
    if (out.length === 0 || this.closed) return;
    this.out = [];
    const bytes = this.bytes;
    this.bytes = 0;
    let ok: boolean;
    if (out.length === 1) {
      ok = this.socket.write(out[0]!);
    } else if (bytes <= JOIN_LIMIT) {
      ok = this.socket.write(Buffer.concat(out, bytes));
    } else {
      this.socket.cork();
      for (const chunk of out) this.socket.write(chunk);
      this.socket.uncork();
      ok = !this.socket.writableNeedDrain;
    }
    if (!ok) this.blocked = true;
  }

  /** Drops what is queued and writes nothing more. */
  close(): void {
    this.closed = true;
    this.out = [];
    this.bytes = 0;
  }
}
