// Executes every ```ts block of README.md against this package's sources, so
// the documented examples cannot drift from the code. Each block is written
// to test-artifacts/readme/ (inside the package, so its imports resolve) with
// "@cpg/validation" pointing at src/index.ts, then imported.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, "..");
const outDir = join(packageDir, "test-artifacts", "readme");
const readme = readFileSync(join(packageDir, "README.md"), "utf8");

const blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);

describe("README.md", () => {
  it("has examples", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(6);
  });

  it.each(blocks.map((code, i) => [i + 1, code] as const))("example %i runs", async (n, code) => {
    rmSync(join(outDir, `example-${n}.ts`), { force: true });
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, `example-${n}.ts`);
    const entry = relative(outDir, join(packageDir, "src", "index.js")).replaceAll("\\", "/");
    const source = code.replaceAll('from "@cpg/validation"', `from "${entry}"`);
    expect(source).not.toContain("@cpg/validation");
    writeFileSync(file, `${source}\nexport {};\n`);
    await import(/* @vite-ignore */ file);
  });
});
