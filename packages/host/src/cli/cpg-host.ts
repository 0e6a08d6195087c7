#!/usr/bin/env node
import { createJsonLogger } from "@cpg/plugin-sdk";
import { resolveHostConfig } from "../config/host-config.js";
import { createHost } from "../host.js";
import { isHostError } from "../host-error.js";
import { HOST_VERSION } from "../host-options.js";
import { CPG_HOST_USAGE, parseCliArgs } from "./parse-cli-args.js";

async function main(argv: readonly string[]): Promise<number> {
  const command = parseCliArgs(argv);
  if (command.kind === "help") {
    process.stdout.write(`${CPG_HOST_USAGE}\n`);
    return 0;
  }
  if (command.kind === "version") {
    process.stdout.write(`cpg-host ${HOST_VERSION}\n`);
    return 0;
  }
  const config = resolveHostConfig(command.config);
  const logger = createJsonLogger({ level: config.logLevel, base: { component: "cpg-host" } });
  const operatorKey = process.env.CPG_ADMIN_API_KEY;
  const admin = operatorKey
    ? {
        ...config.options.admin,
        apiKeys: {
          ...config.options.admin?.apiKeys,
          [operatorKey]: { identity: "admin", role: "operator" as const },
        },
      }
    : config.options.admin;
  const host = createHost({ ...config.options, ...(admin ? { admin } : {}), logger });
  const { url } = await host.listen({ host: config.host, port: config.port });
  process.stdout.write(`listening on ${url}\n`);
  if (config.plugins.length > 0) {
    await host.platform.start(config.plugins).then(
      () => logger.info("managed plugins started", { plugins: config.plugins.map((p) => p.name) }),
      (error: unknown) => logger.error("could not start the managed plugins", { error }),
    );
  }
  if (operatorKey) logger.info("admin API enabled for the key in CPG_ADMIN_API_KEY");
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info("stopping", { signal });
      resolve();
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
  });
  await host.close();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`cpg-host: ${isHostError(error) ? error.message : String(error)}\n`);
    process.exitCode = isHostError(error) ? 2 : 1;
  },
);
