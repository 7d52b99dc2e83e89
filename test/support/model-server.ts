// A scripted model on loopback for real coding-agent CLIs: Anthropic Messages (Claude Code),
// chat completions (pi) and Responses (Codex), all streaming. One script per bead. The server is
// stateless: every CLI resends the whole conversation, so the number of tool-call turns already in
// the request says which step to serve, and a CLI's retry cannot push the script out of step. The
// one piece of state is how often a step has failed on purpose (a burst of 529s is "the first N
// answers to this step"). Every request is logged, with its text, so a test can look for a nudge.
// This module must not import vitest (the demo `make run AGENT=...` uses it too).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ScriptUsage {
  input: number;
  output: number;
  cacheRead?: number;
  cacheWrite?: number;
}

export interface Step {
  /** Run this command through the CLI's shell tool (the tool is picked by name from `tools`). */
  shell?: string;
  /** Call this tool (by its name in the request's `tools`) with this input, instead of the shell. */
  tool?: { name: string; input: Record<string, unknown> };
  /** Say this and end the turn (the default when `shell` and `tool` are absent). */
  say?: string;
  /** The usage this answer reports. */
  usage?: ScriptUsage;
  /** Stay silent this long before answering (nothing is sent, not even headers). */
  delayMs?: number;
  /** Answer the first `times` requests for this step with this HTTP status instead. */
  fail?: { status: number; times: number; message?: string };
}

export type Protocol = "anthropic" | "chat" | "responses";

export interface LoggedRequest {
  time: number;
  protocol: Protocol | "other";
  method: string;
  path: string;
  bead?: string;
  step?: number;
  status: number;
  /** Every piece of text in the request (system, messages, tool results), joined. */
  text: string;
  /** The last user or tool-result text: what is new in this request. */
  latest: string;
  tools: string[];
}

export interface ModelServer {
  url: string;
  port: number;
  requests: LoggedRequest[];
  /** Sets or replaces a bead's script. */
  script(bead: string, steps: Step[]): void;
  /** Requests for one bead, in arrival order. */
  requestsFor(bead: string): LoggedRequest[];
  /** Sum of the usage the server answered with for one bead (failed answers report none). */
  usageServed(bead: string): Required<ScriptUsage>;
  close(): Promise<void>;
}

export interface ModelServerOptions {
  /** Which bead a conversation belongs to; default: the "## Bead <name>:" heading of the prompt. */
  beadOf?: (text: string) => string | undefined;
  /** The script of a bead nobody set one for (e.g. generated from its name). */
  scriptFor?: (bead: string) => Step[] | undefined;
  /** The answer after a bead's script has run out (default: end the turn). */
  fallback?: Step;
  /**
   * The IPv4 address to listen on (default 127.0.0.1). The kind e2e binds the kind network's
   * gateway, the host's address that the cluster's pods reach.
   */
  host?: string;
}

const SHELL_TOOLS = ["Bash", "bash", "exec_command", "shell", "local_shell"];
const DEFAULT_BEAD = /## Bead ([a-z0-9][a-z0-9.-]*):/;

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** All strings under `v`, depth first (tool inputs, contents, system blocks, …). */
function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === "string") out.push(v);
  else if (Array.isArray(v)) for (const x of v) strings(x, out);
  else if (isObj(v)) for (const [k, x] of Object.entries(v)) if (k !== "tools" && k !== "type") strings(x, out);
  return out;
}

interface Conversation {
  /** Tool-call turns of the assistant already in the history. */
  toolTurns: number;
  text: string;
  latest: string;
  tools: string[];
}

function anthropicConversation(body: Json): Conversation {
  const messages = Array.isArray(body.messages) ? (body.messages as Json[]) : [];
  const toolTurns = messages.filter(
    (m) =>
      m.role === "assistant" && Array.isArray(m.content) && (m.content as Json[]).some((c) => c.type === "tool_use"),
  ).length;
  const last = messages.filter((m) => m.role === "user").at(-1);
  const tools = Array.isArray(body.tools) ? (body.tools as Json[]).map((t) => String(t.name)) : [];
  return { toolTurns, text: strings([body.system, messages]).join("\n"), latest: strings(last).join("\n"), tools };
}

function chatConversation(body: Json): Conversation {
  const messages = Array.isArray(body.messages) ? (body.messages as Json[]) : [];
  const toolTurns = messages.filter(
    (m) => m.role === "assistant" && Array.isArray(m.tool_calls) && m.tool_calls.length > 0,
  ).length;
  const trailing: Json[] = [];
  for (let i = messages.length - 1; i >= 0 && messages[i]?.role !== "assistant"; i--) trailing.unshift(messages[i]!);
  const tools = Array.isArray(body.tools)
    ? (body.tools as Json[]).map((t) => String((t.function as Json | undefined)?.name ?? t.name))
    : [];
  return { toolTurns, text: strings(messages).join("\n"), latest: strings(trailing).join("\n"), tools };
}

function responsesConversation(body: Json): Conversation {
  const input = Array.isArray(body.input) ? (body.input as Json[]) : [];
  const toolTurns = input.filter((i) => i.type === "function_call" || i.type === "local_shell_call").length;
  const trailing: Json[] = [];
  for (let i = input.length - 1; i >= 0; i--) {
    const item = input[i]!;
    if (item.type === "function_call" || (item.type === "message" && item.role === "assistant")) break;
    trailing.unshift(item);
  }
  const tools = Array.isArray(body.tools) ? (body.tools as Json[]).map((t) => String(t.name ?? t.type)) : [];
  return {
    toolTurns,
    text: strings([body.instructions, input]).join("\n"),
    latest: strings(trailing).join("\n"),
    tools,
  };
}

const sse = (res: ServerResponse, event: string | undefined, data: unknown) =>
  res.write(`${event ? `event: ${event}\n` : ""}data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);

let ids = 0;
const nextId = (prefix: string) => `${prefix}_${Date.now().toString(36)}${(++ids).toString(36)}`;

interface Answer {
  say?: string;
  /** The shell tool's name and its JSON input. */
  call?: { name: string; input: Json };
  usage: Required<ScriptUsage>;
}

function shellInput(tool: string, command: string): Json {
  if (tool === "exec_command") return { cmd: command };
  if (tool === "shell") return { command: ["bash", "-lc", command] };
  return { command, ...(tool === "Bash" ? { description: "scripted step" } : {}) };
}

function anthropicStream(res: ServerResponse, model: string, a: Answer): void {
  const u = a.usage;
  sse(res, "message_start", {
    type: "message_start",
    message: {
      id: nextId("msg"),
      type: "message",
      role: "assistant",
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: {
        input_tokens: u.input,
        output_tokens: 0,
        cache_read_input_tokens: u.cacheRead,
        cache_creation_input_tokens: u.cacheWrite,
      },
    },
  });
  let index = 0;
  if (a.say) {
    sse(res, "content_block_start", { type: "content_block_start", index, content_block: { type: "text", text: "" } });
    sse(res, "content_block_delta", { type: "content_block_delta", index, delta: { type: "text_delta", text: a.say } });
    sse(res, "content_block_stop", { type: "content_block_stop", index });
    index++;
  }
  if (a.call) {
    sse(res, "content_block_start", {
      type: "content_block_start",
      index,
      content_block: { type: "tool_use", id: nextId("toolu"), name: a.call.name, input: {} },
    });
    sse(res, "content_block_delta", {
      type: "content_block_delta",
      index,
      delta: { type: "input_json_delta", partial_json: JSON.stringify(a.call.input) },
    });
    sse(res, "content_block_stop", { type: "content_block_stop", index });
  }
  sse(res, "message_delta", {
    type: "message_delta",
    delta: { stop_reason: a.call ? "tool_use" : "end_turn", stop_sequence: null },
    usage: { output_tokens: u.output },
  });
  sse(res, "message_stop", { type: "message_stop" });
  res.end();
}

function chatStream(res: ServerResponse, model: string, a: Answer): void {
  const id = nextId("chatcmpl");
  const chunk = (delta: Json, finish: string | null, extra: Json = {}) =>
    sse(res, undefined, {
      id,
      object: "chat.completion.chunk",
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [{ index: 0, delta, finish_reason: finish }],
      ...extra,
    });
  chunk({ role: "assistant", content: "" }, null);
  if (a.say) chunk({ content: a.say }, null);
  if (a.call)
    chunk(
      {
        tool_calls: [
          {
            index: 0,
            id: nextId("call"),
            type: "function",
            function: { name: a.call.name, arguments: JSON.stringify(a.call.input) },
          },
        ],
      },
      null,
    );
  chunk({}, a.call ? "tool_calls" : "stop");
  const u = a.usage;
  sse(res, undefined, {
    id,
    object: "chat.completion.chunk",
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [],
    usage: {
      prompt_tokens: u.input + u.cacheRead,
      completion_tokens: u.output,
      total_tokens: u.input + u.cacheRead + u.output,
      prompt_tokens_details: { cached_tokens: u.cacheRead },
    },
  });
  sse(res, undefined, "[DONE]");
  res.end();
}

function responsesStream(res: ServerResponse, model: string, a: Answer): void {
  const id = nextId("resp");
  let seq = 0;
  const ev = (type: string, data: Json) => sse(res, type, { type, sequence_number: seq++, ...data });
  const base = { id, object: "response", created_at: Math.floor(Date.now() / 1000), model };
  ev("response.created", { response: { ...base, status: "in_progress", output: [] } });
  const output: Json[] = [];
  if (a.say) {
    const item = { id: nextId("msg"), type: "message", role: "assistant", status: "in_progress", content: [] };
    ev("response.output_item.added", { output_index: output.length, item });
    ev("response.output_text.delta", {
      item_id: item.id,
      output_index: output.length,
      content_index: 0,
      delta: a.say,
    });
    const done = {
      ...item,
      status: "completed",
      content: [{ type: "output_text", text: a.say, annotations: [] }],
    };
    ev("response.output_item.done", { output_index: output.length, item: done });
    output.push(done);
  }
  if (a.call) {
    const args = JSON.stringify(a.call.input);
    const item = {
      id: nextId("fc"),
      type: "function_call",
      status: "in_progress",
      call_id: nextId("call"),
      name: a.call.name,
      arguments: "",
    };
    ev("response.output_item.added", { output_index: output.length, item });
    ev("response.function_call_arguments.delta", { item_id: item.id, output_index: output.length, delta: args });
    ev("response.function_call_arguments.done", { item_id: item.id, output_index: output.length, arguments: args });
    const done = { ...item, status: "completed", arguments: args };
    ev("response.output_item.done", { output_index: output.length, item: done });
    output.push(done);
  }
  const u = a.usage;
  ev("response.completed", {
    response: {
      ...base,
      status: "completed",
      output,
      usage: {
        input_tokens: u.input + u.cacheRead,
        input_tokens_details: { cached_tokens: u.cacheRead },
        output_tokens: u.output,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: u.input + u.cacheRead + u.output,
      },
    },
  });
  res.end();
}

function errorBody(protocol: Protocol, status: number, message: string): Json {
  if (protocol === "anthropic") {
    const type =
      status === 401
        ? "authentication_error"
        : status === 403
          ? "permission_error"
          : status === 429
            ? "rate_limit_error"
            : status === 529
              ? "overloaded_error"
              : "api_error";
    return { type: "error", error: { type, message } };
  }
  const code = status === 401 ? "invalid_api_key" : status === 429 ? "rate_limit_exceeded" : "server_error";
  return { error: { message, type: status === 401 ? "invalid_request_error" : "server_error", code } };
}

const full = (u: ScriptUsage | undefined): Required<ScriptUsage> => ({
  input: u?.input ?? 0,
  output: u?.output ?? 0,
  cacheRead: u?.cacheRead ?? 0,
  cacheWrite: u?.cacheWrite ?? 0,
});

export async function startModelServer(o: ModelServerOptions = {}): Promise<ModelServer> {
  const scripts = new Map<string, Step[]>();
  const failures = new Map<string, number>();
  const served = new Map<string, Required<ScriptUsage>>();
  const requests: LoggedRequest[] = [];
  const open = new Set<ServerResponse>();
  const beadOf = o.beadOf ?? ((text: string) => text.match(DEFAULT_BEAD)?.[1]);
  const host = o.host ?? "127.0.0.1";
  let closing = false;

  const handle = async (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const protocol: Protocol | undefined =
      req.method !== "POST"
        ? undefined
        : path.endsWith("/messages")
          ? "anthropic"
          : path.endsWith("/chat/completions")
            ? "chat"
            : path.endsWith("/responses")
              ? "responses"
              : undefined;
    const entry: LoggedRequest = {
      time: Date.now(),
      protocol: protocol ?? "other",
      method: req.method ?? "",
      path,
      status: 404,
      text: "",
      latest: "",
      tools: [],
    };
    requests.push(entry);
    if (!protocol) {
      res.writeHead(req.method === "HEAD" ? 200 : 404, { "content-type": "application/json" });
      res.end(req.method === "HEAD" ? undefined : JSON.stringify({ error: { message: `no route ${path}` } }));
      entry.status = req.method === "HEAD" ? 200 : 404;
      return;
    }
    let body: Json;
    try {
      body = JSON.parse(raw) as Json;
    } catch {
      entry.status = 400;
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify(errorBody(protocol, 400, "the body is not JSON")));
      return;
    }
    const conv =
      protocol === "anthropic"
        ? anthropicConversation(body)
        : protocol === "chat"
          ? chatConversation(body)
          : responsesConversation(body);
    const bead = beadOf(conv.text);
    Object.assign(entry, { bead, step: conv.toolTurns, text: conv.text, latest: conv.latest, tools: conv.tools });
    const script = bead ? (scripts.get(bead) ?? o.scriptFor?.(bead)) : undefined;
    const step: Step = script?.[conv.toolTurns] ?? o.fallback ?? { say: "Nothing more to do." };
    if (step.delayMs) await new Promise((r) => setTimeout(r, step.delayMs));
    if (closing || res.destroyed) return;
    const key = `${bead}#${conv.toolTurns}`;
    if (step.fail && (failures.get(key) ?? 0) < step.fail.times) {
      failures.set(key, (failures.get(key) ?? 0) + 1);
      entry.status = step.fail.status;
      res.writeHead(step.fail.status, { "content-type": "application/json" });
      res.end(
        JSON.stringify(errorBody(protocol, step.fail.status, step.fail.message ?? `scripted ${step.fail.status}`)),
      );
      return;
    }
    let call: Answer["call"] = step.tool;
    if (step.shell !== undefined) {
      const tool = SHELL_TOOLS.find((t) => conv.tools.includes(t));
      if (!tool) {
        entry.status = 500;
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify(errorBody(protocol, 500, `no shell tool among ${conv.tools.join(", ")}`)));
        return;
      }
      call = { name: tool, input: shellInput(tool, step.shell) };
    }
    const usage = full(step.usage);
    if (bead) {
      const sum = served.get(bead) ?? full(undefined);
      served.set(bead, {
        input: sum.input + usage.input,
        output: sum.output + usage.output,
        cacheRead: sum.cacheRead + usage.cacheRead,
        cacheWrite: sum.cacheWrite + usage.cacheWrite,
      });
    }
    entry.status = 200;
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const answer: Answer = {
      ...(step.say || !call ? { say: step.say ?? "Done." } : {}),
      ...(call ? { call } : {}),
      usage,
    };
    const model = String(body.model ?? "scripted");
    if (protocol === "anthropic") anthropicStream(res, model, answer);
    else if (protocol === "chat") chatStream(res, model, answer);
    else responsesStream(res, model, answer);
  };

  const server: Server = createServer((req, res) => {
    open.add(res);
    res.on("close", () => open.delete(res));
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      handle(req, res, Buffer.concat(chunks).toString("utf8")).catch((e: Error) => {
        if (!res.headersSent) res.writeHead(500);
        res.end(String(e.message));
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    requests,
    script(bead, steps) {
      scripts.set(bead, steps);
    },
    requestsFor: (bead) => requests.filter((r) => r.bead === bead),
    usageServed: (bead) => served.get(bead) ?? full(undefined),
    async close() {
      closing = true;
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
