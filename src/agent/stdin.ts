// The process's whole stdin as text: what a tool reads for `--data -`, and what a CLI hook is given.
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
