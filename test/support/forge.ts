// A stand-in for the GitHub pulls API, served by the test: GET /repos/<o>/<r>/pulls/<n> answers
// with what the test set for that pull request, or with an error status.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export type PullState = { merged: boolean; state: "open" | "closed"; merge_commit_sha?: string } | { error: number };

export class TestForge {
  private readonly server: Server;
  readonly pulls = new Map<string, PullState>();
  readonly requests: { path: string; authorization?: string }[] = [];
  host = "";

  constructor() {
    this.server = createServer((req, res) => {
      this.requests.push({
        path: req.url ?? "",
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      });
      const m = /^\/repos\/([^/]+)\/([^/]+)\/pulls\/(\d+)$/.exec(req.url ?? "");
      const pull = m ? this.pulls.get(m[3] as string) : undefined;
      if (!pull) {
        res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ message: "Not Found" }));
      } else if ("error" in pull) {
        res
          .writeHead(pull.error, { "content-type": "application/json" })
          .end(JSON.stringify({ message: "forge is having a bad day" }));
      } else {
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ number: Number(m?.[3]), ...pull }));
      }
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  get apiURL(): string {
    return `http://${this.host}`;
  }

  /** The web URL a refinery reports; the operator maps it to <apiURL>/repos/acme/app/pulls/<n>. */
  static prURL(n: number): string {
    return `https://github.example/acme/app/pull/${n}`;
  }

  polls(n: number): number {
    return this.requests.filter((r) => r.path.endsWith(`/pulls/${n}`)).length;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
