import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { type AuthError, authErrorToConnectError, isAuthError } from "./auth-error.js";
import { generateId, generateToken, type RandomSource } from "./generate-token.js";

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("generateToken", () => {
  it("returns 32 random bytes as unpadded base64url by default", () => {
    const token = generateToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, "base64url")).toHaveLength(32);
  });

  it("honours byteLength", () => {
    expect(Buffer.from(generateToken(16), "base64url")).toHaveLength(16);
    expect(Buffer.from(generateToken(64), "base64url")).toHaveLength(64);
  });

  it("never repeats", () => {
    const tokens = new Set(Array.from({ length: 10_000 }, () => generateToken()));
    expect(tokens.size).toBe(10_000);
  });

  it("uses the injected random source", () => {
    const counting: RandomSource = (bytes) => {
      for (let i = 0; i < bytes.length; i++) bytes[i] = i + 1;
    };
    expect(generateToken(16, counting)).toBe(
      Buffer.from([...Array(16).keys()].map((i) => i + 1)).toString("base64url"),
    );
  });

  it("encodes every size and every byte value as Node's base64url does", () => {
    for (let size = 16; size <= 1024; size += size < 40 ? 1 : 97) {
      let seed = size;
      const source: RandomSource = (bytes) => {
        for (let i = 0; i < bytes.length; i++) {
          seed = (seed * 1103515245 + 12345) >>> 0;
          bytes[i] = seed >>> 24;
        }
      };
      const expected = Buffer.alloc(size);
      source(expected);
      seed = size;
      expect(generateToken(size, source)).toBe(expected.toString("base64url"));
    }
    const everyByte: RandomSource = (bytes) => {
      for (let i = 0; i < bytes.length; i++) bytes[i] = i;
    };
    expect(generateToken(256, everyByte)).toBe(
      Buffer.from([...Array(256).keys()]).toString("base64url"),
    );
  });

  it("refuses weak sizes", () => {
    for (const size of [0, 8, 15, 1025, 16.5, Number.NaN]) {
      const error = thrown(() => generateToken(size));
      expect(isAuthError(error, "invalid_options")).toBe(true);
      expect((error as AuthError).message).toBe(
        `generateToken: byteLength must be an integer from 16 to 1024, got ${size}`,
      );
    }
  });

  it("turns a failing random source into random_source_failed (internal), never a token", () => {
    const cause = new Error("entropy pool gone");
    const error = thrown(() =>
      generateToken(32, () => {
        throw cause;
      }),
    );
    expect(isAuthError(error, "random_source_failed")).toBe(true);
    expect((error as AuthError).cause).toBe(cause);
    expect((error as AuthError).message).toBe("random source failed");
    const wire = authErrorToConnectError(error);
    expect(wire.code).toBe(Code.Internal);
    expect(wire.message).toBe("[internal] random source failed");
  });

  it("refuses a random source that returns without filling the buffer", () => {
    const error = thrown(() => generateToken(32, () => {}));
    expect(isAuthError(error, "random_source_failed")).toBe(true);
    expect((error as AuthError).message).toMatch(/refusing to issue a weak token/);
  });
});

describe("generateId", () => {
  it("returns lower-case hex, 8 bytes by default", () => {
    expect(generateId()).toMatch(/^[0-9a-f]{16}$/);
    expect(generateId(2)).toMatch(/^[0-9a-f]{4}$/);
    expect(generateId(32)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("reports random-source failures and bad sizes", () => {
    const failing = () => {
      throw new Error("no");
    };
    expect(
      isAuthError(
        thrown(() => generateId(8, failing)),
        "random_source_failed",
      ),
    ).toBe(true);
    expect(
      isAuthError(
        thrown(() => generateId(0)),
        "invalid_options",
      ),
    ).toBe(true);
  });
});
