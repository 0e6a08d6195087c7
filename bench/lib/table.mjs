// Plain-text tables for bench reports.

/**
 * Formats one suite's report as a table followed by its methods.
 * @param {import("./report.mjs").BenchReport} report
 * @returns {string}
 */
export function formatSection(report) {
  const header = ["measure", "value", "target", ""];
  const body = report.rows.map((row) => [
    row.name,
    row.value,
    row.target ?? "",
    row.met === undefined ? "" : row.met ? "met" : "NOT MET",
  ]);
  const widths = header.map((_, i) =>
    Math.max(...[header, ...body].map((cells) => cells[i].length)),
  );
  const line = (cells) =>
    cells
      .map((cell, i) => (i === 1 ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  const out = [`## ${report.section}`, "", line(header), line(widths.map((w) => "-".repeat(w)))];
  for (const cells of body) out.push(line(cells));
  out.push("", "Method:");
  // Rows measured the same way share one line.
  const byMethod = new Map();
  for (const row of report.rows)
    byMethod.set(row.method, [...(byMethod.get(row.method) ?? []), row.name]);
  for (const [method, names] of byMethod) out.push(`- ${names.join("; ")}: ${method}`);
  for (const note of report.notes ?? []) out.push(note);
  return out.join("\n");
}
