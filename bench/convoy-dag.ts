// The benchmark's convoy: a seeded random layered DAG, the same on every run.

export interface Task {
  name: string;
  rig: string;
  dependsOn: string[];
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Layered fan-out: each task after the first layer needs 1–3 tasks of the layer before, sometimes one older. */
export function seededDag(seed: number, tasks: number, layers: number, rigs: number): Task[] {
  const rand = mulberry32(seed);
  const perLayer = Math.ceil(tasks / layers);
  const out: Task[] = [];
  for (let i = 0; i < tasks; i++) {
    const layer = Math.floor(i / perLayer);
    const deps = new Set<string>();
    if (layer > 0) {
      const prev = out.slice((layer - 1) * perLayer, layer * perLayer);
      const k = 1 + Math.floor(rand() * 3);
      while (deps.size < Math.min(k, prev.length)) deps.add((prev[Math.floor(rand() * prev.length)] as Task).name);
      if (layer > 1 && rand() < 0.25) deps.add((out[Math.floor(rand() * (layer - 1) * perLayer)] as Task).name);
    }
    out.push({ name: `t${String(i).padStart(3, "0")}`, rig: `r${i % rigs}`, dependsOn: [...deps] });
  }
  return out;
}
