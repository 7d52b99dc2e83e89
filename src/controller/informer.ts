// Moved to src/kube/informer.ts; kept for branches written against the old path (see kube-http.ts).
export * from "../kube/informer.ts";
