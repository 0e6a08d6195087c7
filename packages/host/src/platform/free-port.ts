import * as net from "node:net";

/**
 * Asks the OS for a free TCP port on `host`. The port is released before this
 * resolves, so it is only free at that moment: another process may bind it
 * before the intended one does. Never trust whatever answers on it later
 * (see the process launcher's `portHandoff`).
 */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
