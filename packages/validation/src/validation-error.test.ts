import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it, vi } from "vitest";
import { validateServiceType } from "./service-type.js";
import { isValidationError, ValidationError } from "./validation-error.js";

describe("ValidationError", () => {
  it("carries field, code, limit and message", () => {
    const error = new ValidationError("metadata key too long: 300 bytes (max: 256)", {
      field: "metadata.key",
      code: "too_long",
      limit: 256,
    });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("ValidationError");
    expect(error.message).toBe("metadata key too long: 300 bytes (max: 256)");
    expect(error.field).toBe("metadata.key");
    expect(error.code).toBe("too_long");
    expect(error.limit).toBe(256);
    expect(error.cause).toBeUndefined();
  });

  it("keeps its cause", () => {
    const cause = new Error("inner");
    const error = new ValidationError("x", { field: "f", code: "invalid_format", cause });
    expect(error.cause).toBe(cause);
    expect(error.limit).toBeUndefined();
  });

  it("converts to a ConnectError with code invalid_argument", () => {
    const error = new ValidationError("service type must not be empty", {
      field: "service_type",
      code: "empty",
    });
    const connectError = error.toConnectError();
    expect(connectError).toBeInstanceOf(ConnectError);
    expect(connectError.code).toBe(Code.InvalidArgument);
    expect(connectError.rawMessage).toBe("service type must not be empty");
    expect(connectError.message).toBe("[invalid_argument] service type must not be empty");
    expect(connectError.cause).toBe(error);
  });

  it("is what the validators throw", () => {
    let thrown: unknown;
    try {
      validateServiceType("");
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    expect(isValidationError(thrown)).toBe(true);
  });
});

describe("isValidationError", () => {
  it.each([
    [undefined],
    [null],
    ["service type must not be empty"],
    [new Error("x")],
    [new ConnectError("x", Code.InvalidArgument)],
    [{ field: "service_type", code: "empty" }],
  ])("is false for %j", (value) => {
    expect(isValidationError(value)).toBe(false);
  });

  it("recognises an error of another copy of the package", async () => {
    vi.resetModules();
    const copy = await import("./validation-error.js");
    expect(copy.ValidationError).not.toBe(ValidationError);
    const foreign = new copy.ValidationError("x", { field: "f", code: "empty" });
    expect(foreign instanceof ValidationError).toBe(false);
    expect(isValidationError(foreign)).toBe(true);
    expect(copy.isValidationError(new ValidationError("y", { field: "f", code: "empty" }))).toBe(
      true,
    );
  });
});
