// Bench processes that talk over Node's IPC channel: the suite starts each
// subject (host, provider, load generator) in a process of its own, so that
// they do not share one event loop, and drives it with request/answer
// messages.
//
//   parent: const host = await startChild(HOST, { args: [...] });
//           const answer = await host.call("op", { ... });
//           await host.stop();
//   child:  serveParent({ url }, { op: async (args) => result, stop: async () => {} });
//
// Every child also answers "cpu" with its process.cpuUsage() (µs), so that a
// suite can tell what each process spent on a measurement.
import { fork } from "node:child_process";

/**
 * @typedef {object} Child
 * @property {Record<string, unknown>} info  What the child announced when ready.
 * @property {number} pid
 * @property {(op: string, args?: object) => Promise<any>} call
 * @property {() => Promise<void>} stop  Asks the child to close and exit (SIGKILL after 5 s).
 */

/**
 * Forks `file` and resolves once it announced that it is ready.
 * @param {string} file
 * @param {{ args?: string[], execArgv?: string[], env?: NodeJS.ProcessEnv, readyTimeoutMs?: number }} [options]
 * @returns {Promise<Child>}
 */
export function startChild(file, options = {}) {
  const child = fork(file, options.args ?? [], {
    execArgv: options.execArgv ?? [],
    env: options.env ?? process.env,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const pending = new Map();
  let next = 0;
  let exited = false;
  const exit = new Promise((resolve) => child.once("exit", resolve));
  child.once("exit", (code, signal) => {
    exited = true;
    for (const { reject } of pending.values()) {
      reject(new Error(`${file} exited (${code ?? signal}) during a call`));
    }
    pending.clear();
  });
  child.on("message", (message) => {
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error !== undefined) waiter.reject(new Error(message.error));
    else waiter.resolve(message.result);
  });
  const call = (op, args = {}) =>
    new Promise((resolve, reject) => {
      if (exited) {
        reject(new Error(`${file} has exited`));
        return;
      }
      const id = ++next;
      pending.set(id, { resolve, reject });
      child.send({ id, op, args });
    });
  const stop = async () => {
    if (exited) return;
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    call("stop").catch(() => {});
    await exit;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${file} was not ready within ${options.readyTimeoutMs ?? 20_000} ms`));
    }, options.readyTimeoutMs ?? 20_000);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited (${code ?? signal}) before it was ready`));
    });
    pending.set(0, {
      resolve: (info) => {
        clearTimeout(timer);
        resolve({ info, pid: child.pid, call, stop });
      },
      reject,
    });
  });
}

/**
 * The child's side: announces `info` to the parent, then answers its calls
 * with `handlers[op](args)`. `stop` (the handler, if any, then exit) ends the
 * process normally, so that `--cpu-prof` writes its profile.
 * @param {Record<string, unknown>} info
 * @param {Record<string, (args: any) => unknown>} handlers
 */
export function serveParent(info, handlers) {
  process.on("message", async ({ id, op, args }) => {
    try {
      // Every child answers "cpu": its CPU time so far, in µs.
      const handler = op === "cpu" ? () => process.cpuUsage() : handlers[op];
      if (handler === undefined && op !== "stop") throw new Error(`unknown op "${op}"`);
      const result = await handler?.(args);
      process.send({ id, result });
    } catch (error) {
      process.send({ id, error: error instanceof Error ? error.stack : String(error) });
    }
    if (op === "stop") {
      process.disconnect();
      process.exit(0);
    }
  });
  process.send({ id: 0, result: info });
  // The parent went away without stopping us.
  process.on("disconnect", () => process.exit(0));
}
