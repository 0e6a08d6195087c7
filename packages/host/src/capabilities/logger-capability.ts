import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "@cpg/plugin-sdk";
import { Logger as LoggerService, LogResponseSchema } from "@cpg/protocol";
import { isValidationError, validateMetadata } from "@cpg/validation";
import { getCapabilityGrant } from "../broker/capability-grant.js";
import type { HostCapability } from "../broker/capability-registry.js";

const LEVELS = new Set(["debug", "info", "warn", "error"]);
const MAX_MESSAGE_BYTES = 16 * 1024;

/**
 * The `logger` capability (`capability.logger.v1.Logger`, version 1.0.0):
 * plugins write structured log lines that the host records through its own
 * logger, attributed to the calling plugin (`plugin_runtime_id`,
 * `plugin_self_id`). Levels: debug, info, warn, error (`""` = info); messages
 * up to 16 KiB; fields follow the metadata rules.
 */
export function loggerCapability(logger: Logger): HostCapability<typeof LoggerService> {
  return {
    type: "logger",
    version: "1.0.0",
    service: LoggerService,
    implementation: {
      log(req, ctx) {
        const grant = getCapabilityGrant(ctx.values);
        const level = req.level === "" ? "info" : req.level.toLowerCase();
        if (!LEVELS.has(level)) {
          throw new ConnectError(
            `log level ${JSON.stringify(req.level)} is not one of debug, info, warn, error`,
            Code.InvalidArgument,
          );
        }
        if (Buffer.byteLength(req.message) > MAX_MESSAGE_BYTES) {
          throw new ConnectError(
            `log message too long: ${Buffer.byteLength(req.message)} bytes (max: ${MAX_MESSAGE_BYTES})`,
            Code.InvalidArgument,
          );
        }
        try {
          validateMetadata(req.fields);
        } catch (error) {
          if (isValidationError(error)) throw new ConnectError(error.message, Code.InvalidArgument);
          throw error;
        }
        logger[level as "info"](req.message, {
          ...req.fields,
          plugin_runtime_id: grant?.runtimeId,
          plugin_self_id: grant?.selfId,
          source: "plugin",
        });
        return create(LogResponseSchema, {});
      },
    },
  };
}
