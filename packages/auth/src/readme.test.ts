// Runs every `ts` block of README.md as a module and checks what it prints
// against its `// -> ...` comments.
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestPki } from "@cpg/test-utils";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const workDir = join(packageDir, "test-artifacts", "readme");
const readme = await readFile(join(packageDir, "README.md"), "utf8");
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

beforeAll(async () => {
  const pki = await createTestPki();
  await mkdir(join(workDir, "certs"), { recursive: true });
  const files: Record<string, string> = {
    "ca.pem": pki.ca.cert,
    "server.pem": pki.server.cert,
    "server-key.pem": pki.server.key,
    "client.pem": pki.clients.spiffe.cert,
    "client-key.pem": pki.clients.spiffe.key,
  };
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(workDir, "certs", name), content);
  }
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
  vi.restoreAllMocks();
});

describe("README examples", () => {
  it("has examples", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(4);
  });

  it.each(blocks.map((code, i) => [i + 1, code] as const))(
    "example %i runs and prints what it says",
    async (n, code) => {
      const source = code
        .replaceAll(
          'from "@cpg/auth/node"',
          `from ${JSON.stringify(join(packageDir, "src/node.ts"))}`,
        )
        .replaceAll('from "@cpg/auth"', `from ${JSON.stringify(join(packageDir, "src/index.ts"))}`);
      const file = join(workDir, `example-${n}.ts`);
      await writeFile(file, `${source}\nexport {};\n`);
      const printed: string[] = [];
      const log = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
        printed.push(args.map(String).join(" "));
      });
      try {
        await import(file);
      } finally {
        log.mockRestore();
      }
      const expected = [...code.matchAll(/\/\/ -> (.*)$/gm)].map((m) => m[1]!);
      expect(expected.length).toBeGreaterThan(0);
      expect(printed).toEqual(expected);
    },
  );
});
