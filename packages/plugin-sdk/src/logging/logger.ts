/**
 * Log levels, from most to least verbose.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * Structured fields of a log line.
 */
export type LogFields = Readonly<Record<string, unknown>>;

/**
 * The structured logger the host writes to. Replace it through
 * `HostOptions.logger` to send lines elsewhere.
 */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

const levels: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

// Keys whose values are credentials and never reach a log sink.
const secretKey = /token|authorization|secret|password|api[-_]?key|cookie/i;

/**
 * Replaces the values of credential-like fields (`token`, `authorization`,
 * `secret`, `password`, `api_key`, `cookie`, any case, nested in objects and
 * arrays) by `[redacted]`. Errors become their message; a reference back to
 * an enclosing object becomes `[circular]`. The input is not modified.
 */
export function redact(fields: LogFields): Record<string, unknown> {
  return redactObject(fields, new Set());
}

function redactObject(fields: LogFields, ancestors: Set<object>): Record<string, unknown> {
  ancestors.add(fields);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    out[key] = secretKey.test(key) ? "[redacted]" : redactValue(value, ancestors);
  }
  ancestors.delete(fields);
  return out;
}

function redactValue(value: unknown, ancestors: Set<object>): unknown {
  if (value instanceof Error) return value.message;
  if (typeof value !== "object" || value === null) return value;
  if (ancestors.has(value)) return "[circular]";
  if (Array.isArray(value)) {
    ancestors.add(value);
    const out = value.map((item) => redactValue(item, ancestors));
    ancestors.delete(value);
    return out;
  }
  return redactObject(value as LogFields, ancestors);
}

/**
 * Options of {@link createJsonLogger}.
 */
export interface JsonLoggerOptions {
  /** Lowest level written. Default: `"info"`. */
  level?: LogLevel;
  /** Where lines go. Default: `process.stderr.write`. */
  write?: (line: string) => void;
  /** Fields added to every line, e.g. `{ component: "host" }`. Default: none. */
  base?: LogFields;
  /** Clock for the `time` field. Default: `Date.now`. */
  now?: () => number;
}

/**
 * Creates a {@link Logger} that writes one JSON object per line:
 * `{"time":"...","level":"info","msg":"...",...fields}`, with credential-like
 * fields redacted.
 */
export function createJsonLogger(options: JsonLoggerOptions = {}): Logger {
  const min = levels[options.level ?? "info"];
  if (min === undefined) {
    throw new Error(
      `invalid log level ${JSON.stringify(options.level)}: use debug, info, warn or error`,
    );
  }
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const base = options.base ? redact(options.base) : {};
  const now = options.now ?? Date.now;
  const log = (level: LogLevel) => (message: string, fields?: LogFields) => {
    if (levels[level] < min) return;
    const line = {
      time: new Date(now()).toISOString(),
      level,
      msg: message,
      ...base,
      ...(fields ? redact(fields) : {}),
    };
    write(`${JSON.stringify(line)}\n`);
  };
  return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}

/**
 * A {@link Logger} that discards everything.
 */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
