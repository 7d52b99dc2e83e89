// Text building blocks shared by the views: ages like kubectl's, aligned columns, a progress bar,
// and colour that is only ever applied through util.styleText (which honours NO_COLOR, FORCE_COLOR
// and whether the stream is a terminal), never by writing escape codes by hand.
import { styleText } from "node:util";
import stringWidth from "string-width";

export type Style = Parameters<typeof styleText>[0];
export type Paint = (style: Style, text: string) => string;

export const plain: Paint = (_style, text) => text;

/** Colours for stdout when it is a terminal (styleText checks the stream and the environment). */
export const terminalPaint: Paint = (style, text) => styleText(style, text, { stream: process.stdout });

/** kubectl's human-readable durations: 45s, 3m10s, 5h, 2d3h. */
export function shortDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 === 0 || h >= 8 ? `${h}h` : `${h}h${m % 60}m`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 || d >= 8 ? `${d}d` : `${d}d${h % 24}h`;
}

export function age(time: string | undefined, now: number): string {
  if (!time) return "-";
  const t = Date.parse(time);
  return Number.isFinite(t) ? shortDuration(now - t) : "-";
}

export function ago(time: string | undefined, now: number): string {
  const a = age(time, now);
  return a === "-" ? "-" : `${a} ago`;
}

/** A time still to come, as "in 4m"; one already past is "due now". */
export function inTime(time: string | undefined, now: number): string {
  const t = time ? Date.parse(time) : Number.NaN;
  if (!Number.isFinite(t)) return "-";
  return t <= now ? "due now" : `in ${shortDuration(t - now)}`;
}

/** closed (█), failed or cancelled (▒) and the rest (░) of a convoy's tasks, as the operator counts them. */
export function progressBar(closed: number, failed: number, total: number, width = 12): string {
  if (total <= 0) return "░".repeat(width);
  const full = Math.min(width, Math.max(0, Math.round((closed / total) * width)));
  const bad = Math.min(width - full, Math.max(0, Math.round((failed / total) * width)));
  return "█".repeat(full) + "▒".repeat(bad) + "░".repeat(width - full - bad);
}

/** Pads to a visual width (ANSI codes and wide characters counted as the terminal shows them). */
export function pad(text: string, width: number): string {
  return text + " ".repeat(Math.max(0, width - stringWidth(text)));
}

/** kubectl-style columns: upper-case headers, three spaces between columns, no trailing blanks. */
export function table(headers: string[], rows: string[][], indent = ""): string[] {
  const widths = headers.map((h, i) => Math.max(stringWidth(h), ...rows.map((r) => stringWidth(r[i] ?? ""))));
  const line = (cells: string[]) =>
    indent +
    cells
      .map((c, i) => (i === cells.length - 1 ? c : pad(c, widths[i] ?? 0)))
      .join("   ")
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}

/** Cuts text to a visual width, marking the cut. */
export function truncate(text: string, width: number): string {
  if (stringWidth(text) <= width) return text;
  let out = "";
  for (const ch of text) {
    if (stringWidth(out + ch) > width - 1) break;
    out += ch;
  }
  return `${out}…`;
}
