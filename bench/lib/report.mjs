// How a bench suite hands its figures to bench/run.mjs.
//
// Every suite runs in its own process. It calls `report()` once at the end
// with rows for the printed table and numbers for bench/results.json. When
// the runner started it, the report goes to the file named by
// CPG_BENCH_REPORT; a suite run by hand just prints its table.
import { writeFileSync } from "node:fs";
import { formatSection } from "./table.mjs";

/**
 * @typedef {object} BenchRow
 * @property {string} name     What was measured.
 * @property {string} value    The figure, formatted with its unit.
 * @property {string} [target] The goal it is held to, if any.
 * @property {boolean} [met]   Whether the goal holds in this run.
 * @property {string} method   How it was measured, in one sentence.
 */

/**
 * @typedef {object} BenchReport
 * @property {string} section                Title of the suite's table.
 * @property {BenchRow[]} rows               Printed rows.
 * @property {Record<string, number>} results Keys for bench/results.json.
 * @property {string[]} [notes]              Lines printed under the table.
 */

/**
 * Hands a suite's figures to the runner (or prints them when run alone).
 * @param {BenchReport} report
 */
export function report(report) {
  const file = process.env.CPG_BENCH_REPORT;
  if (file) {
    writeFileSync(file, JSON.stringify(report));
  } else {
    console.log(formatSection(report));
  }
}
