import { afterEach, describe, expect, it, vi } from "vitest";
import { createJsonLogger, redact, silentLogger } from "./logger.js";

afterEach(() => {
  vi.restoreAllMocks();
});

function capture(options: Parameters<typeof createJsonLogger>[0] = {}) {
  const lines: string[] = [];
  const logger = createJsonLogger({
    now: () => Date.UTC(2026, 0, 2, 3, 4, 5, 678),
    write: (line) => lines.push(line),
    ...options,
  });
  return { logger, lines, parsed: () => lines.map((l) => JSON.parse(l)) };
}

describe("createJsonLogger", () => {
  it("writes one JSON object per line with time, level, message, base and fields", () => {
    const { logger, lines } = capture({ base: { plugin: "kv-store" } });
    logger.info("plugin listening", { url: "http://127.0.0.1:8080" });
    expect(lines).toEqual([
      '{"time":"2026-01-02T03:04:05.678Z","level":"info","msg":"plugin listening","plugin":"kv-store","url":"http://127.0.0.1:8080"}\n',
    ]);
  });

  it("writes info and above by default", () => {
    const { logger, parsed } = capture();
    logger.debug("d");
    logger.info("i");
    logger.warn("w");
    logger.error("e");
    expect(parsed().map((l) => l.level)).toEqual(["info", "warn", "error"]);
  });

  it.each([
    ["debug", ["debug", "info", "warn", "error"]],
    ["info", ["info", "warn", "error"]],
    ["warn", ["warn", "error"]],
    ["error", ["error"]],
  ] as const)("at level %s writes %j", (level, expected) => {
    const { logger, parsed } = capture({ level });
    logger.debug("d");
    logger.info("i");
    logger.warn("w");
    logger.error("e");
    expect(parsed().map((l) => l.level)).toEqual(expected);
  });

  it("refuses an unknown level with a message that lists the valid ones", () => {
    expect(() => createJsonLogger({ level: "trace" as never })).toThrow(
      'invalid log level "trace": use debug, info, warn or error',
    );
  });

  it("redacts credentials in fields and base fields", () => {
    const { logger, parsed } = capture({ base: { api_key: "k" } });
    logger.warn("call refused", { authorization: "Bearer abc", runtime_id: "kv-1" });
    expect(parsed()[0]).toMatchObject({
      api_key: "[redacted]",
      authorization: "[redacted]",
      runtime_id: "kv-1",
    });
    expect(JSON.stringify(parsed())).not.toContain("abc");
  });

  it("writes an error's message", () => {
    const { logger, parsed } = capture();
    logger.error("join failed", { error: new Error("connection refused") });
    expect(parsed()[0].error).toBe("connection refused");
  });

  it("writes to stderr by default", () => {
    const write = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    createJsonLogger({ now: () => 0 }).error("boom");
    expect(write).toHaveBeenCalledWith(
      '{"time":"1970-01-01T00:00:00.000Z","level":"error","msg":"boom"}\n',
    );
  });
});

describe("redact", () => {
  it.each([
    "token",
    "runtime_token",
    "bearerToken",
    "Authorization",
    "secret",
    "launch_secret",
    "password",
    "api_key",
    "apiKey",
    "api-key",
    "cookie",
    "Set-Cookie",
  ])("hides %s", (key) => {
    expect(redact({ [key]: "value" })).toEqual({ [key]: "[redacted]" });
  });

  it("hides nested fields and keeps the others", () => {
    expect(
      redact({
        runtime_id: "kv-1",
        request: { headers: { authorization: "Bearer t", "x-plugin-runtime-id": "kv-1" } },
        grant: { bearer_token: "g", capability_type: "logger" },
        count: 3,
        tags: ["a", "b"],
        missing: null,
      }),
    ).toEqual({
      runtime_id: "kv-1",
      request: { headers: { authorization: "[redacted]", "x-plugin-runtime-id": "kv-1" } },
      grant: { bearer_token: "[redacted]", capability_type: "logger" },
      count: 3,
      tags: ["a", "b"],
      missing: null,
    });
  });

  it("hides credentials inside arrays of objects", () => {
    expect(
      redact({
        grants: [
          { token: "t1", id: "g1" },
          { token: "t2", id: "g2" },
        ],
      }),
    ).toEqual({
      grants: [
        { token: "[redacted]", id: "g1" },
        { token: "[redacted]", id: "g2" },
      ],
    });
  });

  it("survives circular structures", () => {
    const node: Record<string, unknown> = { name: "a", secret: "s" };
    node.self = node;
    expect(redact({ node })).toEqual({
      node: { name: "a", secret: "[redacted]", self: "[circular]" },
    });
  });

  it("never mutates its input", () => {
    const fields = { nested: { token: "t" } };
    redact(fields);
    expect(fields).toEqual({ nested: { token: "t" } });
  });
});

describe("silentLogger", () => {
  it("discards everything", () => {
    const write = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    silentLogger.error("nothing", { token: "t" });
    silentLogger.debug("nothing");
    expect(write).not.toHaveBeenCalled();
  });
});
