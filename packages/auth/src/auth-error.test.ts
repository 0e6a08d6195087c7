import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it, vi } from "vitest";
import {
  AuthError,
  type AuthErrorCode,
  authErrorToConnectError,
  isAuthError,
} from "./auth-error.js";

describe("AuthError", () => {
  it("carries code, message, name and cause", () => {
    const cause = new Error("disk on fire");
    const error = new AuthError("store_full", "full", { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("AuthError");
    expect(error.code).toBe("store_full");
    expect(error.message).toBe("full");
    expect(error.cause).toBe(cause);
  });

  it("is recognised by isAuthError, optionally by code", () => {
    const error = new AuthError("already_exists", "x");
    expect(isAuthError(error)).toBe(true);
    expect(isAuthError(error, "already_exists")).toBe(true);
    expect(isAuthError(error, "store_full")).toBe(false);
    expect(isAuthError(new Error("x"))).toBe(false);
    expect(isAuthError({ code: "store_full" })).toBe(false);
    expect(isAuthError(null)).toBe(false);
    expect(isAuthError("store_full")).toBe(false);
  });

  it("is recognised across two copies of the module", async () => {
    vi.resetModules();
    const copy = await import("./auth-error.js");
    expect(copy.AuthError).not.toBe(AuthError);
    const foreign = new copy.AuthError("random_source_failed", "x");
    expect(foreign instanceof AuthError).toBe(false);
    expect(isAuthError(foreign, "random_source_failed")).toBe(true);
    expect(copy.isAuthError(new AuthError("store_full", "y"), "store_full")).toBe(true);
    expect(authErrorToConnectError(foreign).code).toBe(Code.Internal);
  });
});

describe("authErrorToConnectError", () => {
  const expected: Record<AuthErrorCode, Code> = {
    invalid_options: Code.Internal,
    invalid_credentials: Code.Unauthenticated,
    random_source_failed: Code.Internal,
    store_full: Code.ResourceExhausted,
    already_exists: Code.AlreadyExists,
    store_closed: Code.Unavailable,
  };

  it.each(Object.entries(expected))("maps %s to its Connect code", (code, connectCode) => {
    const error = new AuthError(code as AuthErrorCode, "message");
    const converted = authErrorToConnectError(error);
    expect(converted.code).toBe(connectCode);
    expect(converted.rawMessage).toBe("message");
    expect(converted.cause).toBe(error);
  });

  it("passes ConnectErrors through and turns other errors into internal", () => {
    const connectError = new ConnectError("nope", Code.PermissionDenied);
    expect(authErrorToConnectError(connectError)).toBe(connectError);
    expect(authErrorToConnectError(new Error("boom")).code).toBe(Code.Internal);
  });
});
