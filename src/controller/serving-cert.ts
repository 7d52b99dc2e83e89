// The certificate of the HTTPS metrics endpoint: tls.crt and tls.key from a directory (a mounted
// Secret, e.g. from cert-manager), or, without one, a self-signed certificate made at start, as
// controller-runtime does. Scrapers of a self-signed endpoint skip verification (the ServiceMonitor
// says so); the token check (metrics-auth.ts) is what protects the data.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { generate } from "selfsigned";

export interface ServingCert {
  cert: string;
  key: string;
}

export function readServingCert(dir: string): ServingCert {
  const read = (file: string) => {
    try {
      return readFileSync(join(dir, file), "utf8");
    } catch (err) {
      throw new Error(`cannot read the metrics certificate ${join(dir, file)}: ${(err as Error).message}`);
    }
  };
  return { cert: read("tls.crt"), key: read("tls.key") };
}

export async function selfSignedServingCert(names: string[] = []): Promise<ServingCert> {
  const dns = [...new Set(["localhost", hostname(), ...names])];
  const pems = await generate([{ name: "commonName", value: "gastown-operator" }], {
    keySize: 2048,
    algorithm: "sha256",
    notAfterDate: new Date(Date.now() + 365 * 24 * 3600 * 1000),
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [...dns.map((value) => ({ type: 2 as const, value })), { type: 7 as const, ip: "127.0.0.1" }],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}
