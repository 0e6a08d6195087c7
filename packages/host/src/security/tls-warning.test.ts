import { describe, expect, it } from "vitest";
import { resetPlaintextWarning, warnPlaintextOnce } from "./tls-warning.js";

function recorder() {
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, error() {}, warn: (msg: string) => warnings.push(msg) };
  return { logger, warnings };
}

describe("plaintext warning", () => {
  it("is logged once per process", () => {
    resetPlaintextWarning();
    const { logger, warnings } = recorder();
    warnPlaintextOnce(logger, "http://127.0.0.1:1", {});
    warnPlaintextOnce(logger, "http://127.0.0.1:2", {});
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^serving without TLS/);
  });

  it.each(["1", "true", "yes", "TRUE", "Yes"])(
    "is silenced by CONNECTPLUGIN_DISABLE_TLS_WARNING=%s",
    (value) => {
      resetPlaintextWarning();
      const { logger, warnings } = recorder();
      warnPlaintextOnce(logger, "http://127.0.0.1:1", { CONNECTPLUGIN_DISABLE_TLS_WARNING: value });
      expect(warnings).toEqual([]);
    },
  );

  it.each(["0", "false", "no", ""])(
    "is not silenced by CONNECTPLUGIN_DISABLE_TLS_WARNING=%j",
    (value) => {
      resetPlaintextWarning();
      const { logger, warnings } = recorder();
      warnPlaintextOnce(logger, "http://127.0.0.1:1", { CONNECTPLUGIN_DISABLE_TLS_WARNING: value });
      expect(warnings).toHaveLength(1);
    },
  );
});
