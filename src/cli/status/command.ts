// `kubectl gt status [TOWN] [--watch] [-o json|yaml]`.
import { createLogUpdate } from "log-update";
import type { Cli } from "../context.ts";
import { notFound } from "../errors.ts";
import { plain, terminalPaint } from "../format.ts";
import { createLive } from "../live.ts";
import { readTownObjects, type TownObjects } from "../objects.ts";
import { type OutputFormat, printDocument } from "../output.ts";
import { changedLines, summaries } from "./lines.ts";
import { type StatusDocument, statusDocument } from "./model.ts";
import { renderStatus, renderStatusLines } from "./render.ts";

export interface StatusOptions {
  town?: string;
  watch: boolean;
  output?: OutputFormat;
}

function checkTown(cli: Cli, objects: TownObjects, town: string | undefined): void {
  if (town === undefined || objects.towns.some((t) => t.metadata.name === town)) return;
  // Convoys or beads name it: show them as the orphans they are rather than "not found".
  if ([...objects.convoys, ...objects.beads].some((o) => o.spec.town === town)) return;
  const known = objects.towns.map((t) => t.metadata.name);
  throw notFound(
    "Town",
    town,
    cli.namespace,
    known.length > 0
      ? `towns in ${cli.namespace}: ${known.join(", ")}`
      : `there are no towns in ${cli.namespace}; pick another namespace with -n`,
  );
}

export async function status(cli: Cli, o: StatusOptions): Promise<void> {
  // One plain read first: a missing CRD, a 403 or an unreachable cluster fails here at once,
  // instead of as informers retrying in the background.
  const first = await readTownObjects(cli);
  checkTown(cli, first, o.town);
  const doc = (objects: TownObjects): StatusDocument => statusDocument(cli.namespace, objects, o.town);
  if (!o.watch) {
    if (o.output) printDocument(cli.io, doc(first), o.output);
    else
      cli.io.out(
        renderStatus(doc(first), {
          now: cli.now(),
          paint: cli.io.isTTY ? terminalPaint : plain,
          columns: cli.io.columns,
        }),
      );
    return;
  }
  await watchStatus(cli, o, doc);
}

async function watchStatus(cli: Cli, o: StatusOptions, doc: (objects: TownObjects) => StatusDocument): Promise<void> {
  const live = createLive(cli);
  live.start();
  await live.synced();
  // process.on, not once: log-update's cursor restorer (signal-exit) re-raises a signal nobody
  // else listens to any more, which would end the watch by SIGINT (130) instead of cleanly (0).
  const stopped = new Promise<void>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => resolve());
  });
  let draw: () => void;
  let finish = () => {};
  if (o.output) {
    let last = "";
    draw = () => {
      const d = doc(live.objects());
      const text = JSON.stringify(d);
      if (text === last) return;
      last = text;
      printDocument(cli.io, d, o.output!, { stream: true });
    };
  } else if (cli.io.isTTY) {
    const update = createLogUpdate(process.stdout);
    draw = () => {
      const d = doc(live.objects());
      const now = cli.now();
      const rows = process.stdout.rows || 40;
      const header = `${terminalPaint("dim", `kubectl gt status --watch · namespace ${cli.namespace} · ${new Date(now).toISOString().slice(11, 19)} · Ctrl-C to quit`)}`;
      const body = renderStatusLines(d, { now, paint: terminalPaint, columns: process.stdout.columns || 100 });
      // Lines scrolled out of the screen cannot be redrawn: keep the frame within the terminal.
      const frame = [header, ...body];
      const fitted =
        frame.length > rows - 1
          ? [
              ...frame.slice(0, rows - 2),
              terminalPaint("dim", `… ${frame.length - rows + 2} more lines (enlarge the terminal)`),
            ]
          : frame;
      update(fitted.join("\n"));
    };
    finish = () => update.done();
  } else {
    let before = new Map<string, string>();
    draw = () => {
      const after = summaries(doc(live.objects()));
      for (const line of changedLines(before, after)) cli.io.out(`${line}\n`);
      before = after;
    };
  }
  // Coalesce a burst of watch events (one reconcile writes several objects) into one frame.
  let pending: NodeJS.Timeout | undefined;
  const schedule = () => {
    pending ??= setTimeout(() => {
      pending = undefined;
      draw();
    }, 50);
  };
  live.onChange(schedule);
  draw();
  // Ages on screen move with the clock; refresh them, without asking the API anything.
  const ticker = cli.io.isTTY && !o.output ? setInterval(draw, 1000) : undefined;
  await stopped;
  if (ticker) clearInterval(ticker);
  if (pending) clearTimeout(pending);
  live.stop();
  finish();
}
