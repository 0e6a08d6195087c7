import { STREAM_END_HOOKS, type StreamEnd } from "@cpg/plugin-sdk/internal";

/** What {@link pushTo} writes to: an HTTP/1.1 or HTTP/2 (compatibility API) response. */
export interface PushTarget {
  readonly writableEnded: boolean;
  write(chunk: Buffer): boolean;
  once(event: "drain", listener: () => void): unknown;
}

/**
 * The property of a server stream's messages that lets the lean streaming
 * handler take them pushed instead of pulled (see {@link PushableMessages}).
 */
export const PUSH_MESSAGES: unique symbol = Symbol("cpg.pushMessages");

/**
 * Server-stream messages that can be pulled (an async iterable, as Connect
 * takes them) or pushed: `[PUSH_MESSAGES](deliver)` calls `deliver`
 * synchronously for each message, as it happens, and settles when the
 * stream ends. Interceptors watch the end through `STREAM_END_HOOKS`
 * instead of wrapping, so the object reaches the handler as it is. A watch
 * fan-out pushed this way costs no promise per stream and message.
 */
export interface PushableMessages<T> extends AsyncIterable<T> {
  [PUSH_MESSAGES](deliver: (message: T) => void): Promise<void>;
  [STREAM_END_HOOKS](hook: (end: StreamEnd) => void): void;
}

/** The push entry of `messages`, when they offer one. */
export function pushEntry<T>(
  messages: AsyncIterable<T>,
): ((deliver: (message: T) => void) => Promise<void>) | undefined {
  const push = (messages as Partial<PushableMessages<T>>)[PUSH_MESSAGES];
  return typeof push === "function" ? push.bind(messages) : undefined;
}

/**
 * A `deliver` for pushed messages: writes each message's frame at once, and
 * while the response waits for `drain`, keeps only the latest one (a watch
 * sends states: a slow reader needs the newest, not a backlog).
 */
export function pushTo(
  res: PushTarget,
  frameOf: (message: unknown) => Buffer,
  sendHeaders: () => void,
  signal: AbortSignal,
): (message: unknown) => void {
  let waiting = false;
  let latest: Buffer | undefined;
  const write = (frame: Buffer) => {
    if (signal.aborted || res.writableEnded) return;
    sendHeaders();
    if (res.write(frame)) return;
    waiting = true;
    res.once("drain", () => {
      waiting = false;
      const next = latest;
      latest = undefined;
      if (next !== undefined) write(next);
    });
  };
  return (message) => {
    const frame = frameOf(message);
    if (waiting) latest = frame;
    else write(frame);
  };
}
