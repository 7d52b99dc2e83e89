// Where agent sessions run. The pod runtime makes each session a Pod; the process runtime a local
// child process. Both honour the same agent contract (src/api/session.ts) and report what they
// observe as SessionObservations, so the rules never know which one is in use.
import type { Town } from "../api/town.ts";
import type { ActionOf } from "../core/actions.ts";
import type { SessionObservation } from "../core/snapshot.ts";

export interface StartRequest {
  namespace: string;
  town: Town;
  /** The Agent that owns the session (its uid makes the session's owner reference). */
  agent: { name: string; uid: string };
  action: ActionOf<"StartSession">;
}

export interface SessionRuntime {
  readonly kind: "pod" | "process";
  /** Starts the session; a session that already exists under that name counts as started. */
  start(request: StartRequest): Promise<void>;
  /** Stops the session; one that is already gone counts as stopped. */
  stop(namespace: string, agent: string, name: string): Promise<void>;
  /** Every session of the town the runtime knows about, live or finished. */
  observe(namespace: string, town: string): SessionObservation[];
  /** For expectations: is a session with this name visible yet (and with which uid)? */
  lookup(namespace: string, name: string): { metadata: { uid?: string; resourceVersion?: string } } | undefined;
  /** Called with "<namespace>/<town>" whenever a session of that town changes. */
  onChange(listener: (townKey: string) => void): void;
  run(): void;
  hasSynced(): boolean;
  /** Resolves true once synced, false if the runtime closes or the signal aborts first. */
  waitForSync(signal?: AbortSignal): Promise<boolean>;
  close(): Promise<void>;
}
