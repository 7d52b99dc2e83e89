// `make bench`: every benchmark, printed as numbers with ratios against a baseline of the same run.
import { benchCore, printCore } from "./core.ts";

const only = process.argv[2];
if (!only || only === "core") printCore(benchCore());
