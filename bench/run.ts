// `make bench`: every benchmark, printed as numbers with ratios against a baseline of the same run.
// `node bench/run.ts core` or `node bench/run.ts operator` runs one.
import { benchAgentStartup, printAgentStartup } from "./agent-startup.ts";
import { benchConvoyTowns, benchCore, printConvoyTowns, printCore } from "./core.ts";
import { benchMemory, printMemory } from "./memory.ts";
import { benchOperator } from "./operator.ts";
import { printOperator } from "./operator-report.ts";
import { benchThroughput, printThroughput } from "./throughput.ts";
import { benchTowns, printTowns } from "./towns.ts";

const only = process.argv[2];
const known = ["core", "agent", "operator", "throughput", "memory", "towns"];
if (only && !known.includes(only)) {
  console.error(`unknown benchmark ${only}; one of: ${known.join(", ")}`);
  process.exit(2);
}
if (!only || only === "core") {
  printCore(benchCore());
  printConvoyTowns(benchConvoyTowns());
}
if (!only || only === "agent") printAgentStartup(await benchAgentStartup());
if (!only || only === "operator") {
  try {
    printOperator(await benchOperator());
  } catch (err) {
    console.error(`bench operator: ${(err as Error).message}`);
    process.exitCode ||= 1;
  }
}
if (!only || only === "throughput") {
  try {
    printThroughput(await benchThroughput());
  } catch (err) {
    console.error(`bench throughput: ${(err as Error).message}`);
    process.exitCode ||= 1;
  }
}
if (!only || only === "memory") {
  try {
    printMemory(await benchMemory());
  } catch (err) {
    console.error(`bench memory: ${(err as Error).message}`);
    process.exitCode ||= 1;
  }
}
if (!only || only === "towns") {
  try {
    printTowns(await benchTowns());
  } catch (err) {
    console.error(`bench towns: ${(err as Error).message}`);
    process.exitCode ||= 1;
  }
}
