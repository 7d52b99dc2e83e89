// Crash safety: the operator process is SIGKILLed 20 times at random points of a convoy (a few bead
// transitions into each incarnation, then a random delay, or during its startup) and restarted.
// Afterwards the convoy has landed, nothing was created twice (sessions, merge requests,
// landings) and no invariant was violated. The kill points come from a seed, printed on failure;
// GASTOWN_CRASH_SEED=<seed> replays them.
import { randomInt } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Convoy } from "../../../src/api/convoy.ts";
import type { KubeHttp } from "../../../src/kube/http.ts";
import { Crew } from "../../support/crew.ts";
import {
  adminHttp,
  convoyManifest,
  create,
  kubeConfigFromFile,
  type OperatorProcess,
  spawnOperator,
  townManifest,
} from "../../support/gastown.ts";
import { History } from "../../support/history.ts";
import { createNamespace, kubeConfig, waitFor } from "../../support/kube.ts";
import { expectLandedOnce, expectNoDuplicateSessions, expectNoViolations, seededRandom } from "../../support/safety.ts";

const TASKS = [
  { name: "a" },
  { name: "b", dependsOn: ["a"] },
  { name: "c", dependsOn: ["a"] },
  { name: "d", dependsOn: ["b", "c"] },
  { name: "e" },
  { name: "f", dependsOn: ["e"] },
  { name: "g", dependsOn: ["d", "f"] },
  { name: "h" },
  { name: "i", dependsOn: ["h"] },
  { name: "j", dependsOn: ["g", "i"] },
  { name: "k" },
  { name: "l", dependsOn: ["k"] },
  { name: "m", dependsOn: ["k"] },
  { name: "n", dependsOn: ["l", "m"] },
  { name: "o" },
  { name: "p", dependsOn: ["o"] },
  { name: "q", dependsOn: ["n", "p"] },
  { name: "r" },
  { name: "s", dependsOn: ["r"] },
  { name: "t", dependsOn: ["j", "q", "s"] },
];
const KILLS = 20;
const SEED = Number(process.env.GASTOWN_CRASH_SEED ?? randomInt(2 ** 31));

describe("crash safety", () => {
  let http: KubeHttp;
  let ns: string;
  let crew: Crew;
  let history: History;
  let operator: OperatorProcess | undefined;

  beforeAll(async () => {
    http = adminHttp();
    ns = await createNamespace("crash");
    history = new History(http, ns);
    crew = new Crew(kubeConfigFromFile(), ns).start();
    await create(http, ns, townManifest("gt", { limits: { maxPolecatsPerRig: 3 } }));
  });

  afterAll(async () => {
    await operator?.kill("SIGKILL");
    await crew?.stop();
    history?.stop();
  });

  it(`survives ${KILLS} SIGKILLs at random points of a convoy without duplicates or violations`, async ({
    onTestFailed,
  }) => {
    const random = seededRandom(SEED);
    const kills: string[] = [];
    onTestFailed(() => {
      process.stderr.write(
        `crash safety: seed ${SEED} (replay with GASTOWN_CRASH_SEED=${SEED}); kills (transitions into the ` +
          `incarnation + delay @ transitions in all): ${kills.join(", ")}\n` +
          history
            .failedBeads()
            .map((b) => `crash safety: failed ${b}\n`)
            .join(""),
      );
    });
    await create(http, ns, convoyManifest("crashy", "gt", TASKS));
    let landed = false;
    const landing = waitFor(
      kubeConfig(),
      { apiVersion: "gastown.dev/v1alpha1", kind: "Convoy", namespace: ns, name: "crashy" },
      (c) => (c as unknown as Convoy | undefined)?.status?.phase === "Landed",
      { description: "convoy crashy to land", timeoutMs: 400_000 },
    ).then((c) => {
      landed = true;
      return c as unknown as Convoy;
    });
    for (let i = 0; i < KILLS; i++) {
      // Most incarnations make some progress first (measured in bead transitions, not in time);
      // some are killed while they start, before or while they list. The delay is short: a plan's
      // chains write concurrently, so a few hundred milliseconds can finish several beads, and the
      // point is to land kills between and inside those writes.
      const into = random() < 0.15 ? 0 : 1 + Math.floor(random() * 3);
      const delayMs = Math.floor(random() * 150);
      const from = history.beads.length;
      operator = spawnOperator(ns, `crashy-${i}`);
      await Promise.race([history.beadTransitions(from + into, 120_000), landing]);
      if (landed) break;
      await sleep(delayMs);
      await operator.kill("SIGKILL");
      kills.push(`${into}+${delayMs}ms@${history.beads.length}`);
    }
    // The convoy is big enough to outlast every kill; a seed for which it is not would test less.
    expect(kills, "kills before the convoy landed").toHaveLength(KILLS);

    operator = spawnOperator(ns, "crashy-final");
    const convoy = await landing;
    expect(convoy.status?.progress?.closed).toBe(TASKS.length);
    await operator.kill("SIGTERM");

    await expectLandedOnce(
      http,
      ns,
      "crashy",
      TASKS.map((t) => t.name),
    );
    expectNoDuplicateSessions(history);
    await expectNoViolations(http, ns, "gt");
    expect(crew.errors).toEqual([]);
  }, 420_000);
});
