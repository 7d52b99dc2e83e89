// The operator's structured logger: pino JSON lines, one per decision, with secrets scrubbed before
// they are serialised. Redaction works on key names (at any depth, not just pino's one-level
// wildcards) and on the payload of anything that looks like a Secret.
import { pino } from "pino";

export type Logger = pino.Logger;

const LEVELS = new Set(["fatal", "error", "warn", "info", "debug", "trace", "silent"]);
const SECRET_KEYS = new Set(["token", "password", "authorization", "bearertoken", "apikey", "secret", "credentials"]);
const CENSOR = "[REDACTED]";
// Deep enough for an object nested in an action nested in a log call; bounded so that logging a
// large object stays cheap and a cycle cannot hang us.
const MAX_DEPTH = 8;

// pino's own redaction as a second line of defence, in the brief's spelling of the paths.
const REDACT_PATHS = [
  "token",
  "*.token",
  "password",
  "*.password",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "bearerToken",
  "*.bearerToken",
];

export interface LoggerOptions {
  /** Overrides LOG_LEVEL; one of fatal, error, warn, info, debug, trace, silent. */
  level?: string;
  /** The `component` base field, e.g. "operator" or "leader-election". */
  component?: string;
  /** Where the JSON lines go (stdout by default); tests pass an in-memory stream. */
  destination?: pino.DestinationStream;
  env?: Record<string, string | undefined>;
  /** json (default): one JSON object per line; text: one short human line per entry, for `make run`. */
  format?: "json" | "text";
}

/**
 * Renders pino's JSON lines as "15:04:05 demo Dispatched gt-app-toast takes login-schema" so a
 * person watching `make run` sees one line per transition. Written here rather than pulling in
 * pino-pretty: it is a dozen lines and the fields are ours.
 */
export function textDestination(out: NodeJS.WritableStream = process.stdout): pino.DestinationStream {
  return {
    write(line: string) {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      const time = typeof o.time === "string" ? o.time.slice(11, 19) : "";
      const level = o.level === "info" ? "" : ` ${String(o.level).toUpperCase()}`;
      const tags = [o.town, o.reason ?? o.action, o.object].filter((x) => typeof x === "string" && x !== "");
      const extra = typeof o.err === "string" ? ` (${o.err})` : "";
      out.write(`${time}${level} ${[...tags, o.msg].join(" ")}${extra}\n`);
    },
  };
}

function isSecret(value: Record<string, unknown>): boolean {
  return value.kind === "Secret" && (value.apiVersion === undefined || value.apiVersion === "v1");
}

/** A copy of the value with secret-named keys and Secret payloads censored; the input is not touched. */
export function scrub(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== "object") return value;
  if (depth >= MAX_DEPTH) return "[Truncated]";
  if (value instanceof Error) return value; // pino's err serializer handles these
  if (Array.isArray(value)) return value.map((item) => scrub(item, depth + 1));
  const input = value as Record<string, unknown>;
  const secret = isSecret(input);
  const output: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(input)) {
    if (SECRET_KEYS.has(key.toLowerCase()) || (secret && (key === "data" || key === "stringData"))) {
      output[key] = CENSOR;
    } else {
      output[key] = scrub(child, depth + 1);
    }
  }
  return output;
}

function resolveLevel(options: LoggerOptions): { level: string; rejected?: string } {
  const wanted = (options.level ?? options.env?.LOG_LEVEL ?? process.env.LOG_LEVEL ?? "info").toLowerCase();
  return LEVELS.has(wanted) ? { level: wanted } : { level: "info", rejected: wanted };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const { level, rejected } = resolveLevel(options);
  const logger = pino(
    {
      level,
      base: { component: options.component ?? "operator" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => scrub(object) as Record<string, unknown>,
      },
      redact: { paths: REDACT_PATHS, censor: CENSOR },
    },
    options.destination ?? (options.format === "text" ? textDestination() : undefined),
  );
  if (rejected !== undefined) logger.warn({ requested: rejected }, "unknown log level, using info");
  return logger;
}

/** A logger that drops everything: the default for machinery whose caller passed none. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

export function forTown(logger: Logger, town: string): Logger {
  return logger.child({ town });
}

export interface ObjectIdentity {
  kind: string;
  namespace?: string;
  name: string;
}

/** A child logger naming one object the way kubectl would: kind/namespace/name. */
export function forObject(logger: Logger, object: ObjectIdentity): Logger {
  const path = object.namespace ? `${object.namespace}/${object.name}` : object.name;
  return logger.child({ object: `${object.kind}/${path}` });
}
