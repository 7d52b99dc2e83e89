// Moved to src/kube/list-watch.ts; kept for branches written against the old path (see kube-http.ts).
export { createKubeListWatch, type KubeListWatchOptions, type ResourceSelector } from "../kube/list-watch.ts";
