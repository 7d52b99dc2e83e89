// Moved to src/kube/ (http.ts, errors.ts, paths.ts). Kept so that branches written against the old
// path still build; import from src/kube/ in new code. Remove once no branch in flight needs it.
export { type ApiStatus, isConflict, isGone, isNotFound, isTransient, KubeApiError } from "../kube/errors.ts";
export { createKubeHttp, type KubeHttp, type KubeRequest, type Query } from "../kube/http.ts";
export { collectionPath } from "../kube/paths.ts";
