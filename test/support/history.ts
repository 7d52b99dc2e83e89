// Records every phase a bead or session pod goes through during a test, in the order the watch
// delivered them, so a test can assert on the whole story afterwards (e.g. "never more than two
// issues in progress at once", "dispatched only after its dependencies closed").

import type { KubeHttp } from "../../src/kube/http.ts";
import { createInformer, type Informer, type KubeObject } from "../../src/kube/informer.ts";
import { createKubeListWatch } from "../../src/kube/list-watch.ts";

export interface Transition {
  at: number;
  name: string;
  phase: string;
  object: KubeObject;
}

export class History {
  readonly beads: Transition[] = [];
  readonly pods: Transition[] = [];
  private readonly informers: Informer[];
  private waiters: { n: number; resolve: () => void }[] = [];

  /**
   * Resolves once at least n bead transitions were recorded (progress, not time); rejects after
   * timeoutMs with the last transitions, so a stall says where it stalled.
   */
  beadTransitions(n: number, timeoutMs = 60_000): Promise<void> {
    if (this.beads.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        const last = this.beads.slice(-12).map((t) => `${t.name}=${t.phase}`);
        reject(
          new Error(
            `timed out after ${timeoutMs}ms waiting for ${n} bead transitions; saw ${this.beads.length}, the last: ${last.join(", ")}`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push({ n, resolve: done });
    });
  }

  private notify(): void {
    const ready = this.waiters.filter((w) => this.beads.length >= w.n);
    this.waiters = this.waiters.filter((w) => this.beads.length < w.n);
    for (const w of ready) w.resolve();
  }

  constructor(http: KubeHttp, namespace: string) {
    const watch = (group: string, version: string, plural: string, into: Transition[]) => {
      const i = createInformer({
        name: `history-${plural}`,
        listWatch: createKubeListWatch(http, { group, version, plural, namespace }),
      });
      const last = new Map<string, string>();
      const seen = (o: KubeObject) => {
        const phase =
          ((o.status as { phase?: string } | undefined)?.phase ?? "") +
          (o.metadata.deletionTimestamp ? "/deleting" : "");
        if (last.get(o.metadata.name) === phase) return;
        last.set(o.metadata.name, phase);
        into.push({ at: Date.now(), name: o.metadata.name, phase, object: o });
        this.notify();
      };
      i.addHandlers({
        onAdd: seen,
        onUpdate: (_p, o) => seen(o),
        onDelete: (o) => into.push({ at: Date.now(), name: o.metadata.name, phase: "Deleted", object: o }),
      });
      return i;
    };
    this.informers = [watch("gastown.dev", "v1alpha1", "beads", this.beads), watch("", "v1", "pods", this.pods)];
    for (const i of this.informers) i.start();
  }

  /** The phase of every bead at each recorded moment, replayed in order. */
  *beadStates(): Generator<Map<string, string>> {
    const now = new Map<string, string>();
    for (const t of this.beads) {
      now.set(t.name, t.phase);
      yield now;
    }
  }

  /**
   * Every bead that ended Failed, with the phases and reasons it went through and its last status:
   * what a failed test needs to say why (the objects are gone with the test's namespace).
   */
  failedBeads(): string[] {
    const last = new Map<string, Transition>();
    for (const t of this.beads) last.set(t.name, t);
    return [...last.values()]
      .filter((t) => t.phase === "Failed")
      .map((t) => {
        const story = this.beads
          .filter((b) => b.name === t.name)
          .map((b) => `${b.phase}(${(b.object.status as { reason?: string } | undefined)?.reason ?? ""})`);
        return `${t.name}: ${story.join(" → ")}; status ${JSON.stringify(t.object.status)}`;
      });
  }

  stop(): void {
    for (const i of this.informers) i.stop();
  }
}
