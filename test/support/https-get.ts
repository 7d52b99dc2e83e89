// A GET over HTTPS to a local server (the operator's metrics and probes): shared by the tests and the
// benchmarks, so this module must not import vitest (see ./agents.ts).
import { request } from "node:https";

/**
 * GET https://127.0.0.1:port/path. With `ca`, the certificate must be signed by it (and name
 * localhost); without, any certificate is accepted, as the kubelet's HTTPS probes do.
 */
export function httpsGet(
  port: number,
  path: string,
  opts: { token?: string; ca?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        ...(opts.ca ? { ca: opts.ca, servername: "localhost" } : { rejectUnauthorized: false }),
        headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}
