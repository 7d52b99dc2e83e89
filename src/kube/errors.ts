// Errors of the Kubernetes API, classified by the Status object's reason (metav1.StatusReason), the
// way apimachinery's errors.IsNotFound & co. do; the HTTP code is only the fallback for answers
// without a Status body (a proxy, a gateway). A 409 is either AlreadyExists (a create of a name in
// use) or Conflict (a write from an out-of-date resourceVersion): callers act differently on each.

/** The apiserver's Status object, the body of every error response. */
export interface ApiStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; kind?: string; causes?: { reason?: string; message?: string; field?: string }[] };
}

export class KubeApiError extends Error {
  readonly statusCode: number;
  readonly reason: string | undefined;
  readonly status: ApiStatus | undefined;

  constructor(statusCode: number, status: ApiStatus | undefined, fallback: string) {
    super(status?.message ?? fallback);
    this.name = "KubeApiError";
    this.statusCode = statusCode;
    this.reason = status?.reason;
    this.status = status;
  }
}

/** The error's Status reason, or the reason its HTTP code stands for when there was no Status. */
export function reasonOf(err: unknown): string | undefined {
  if (!(err instanceof KubeApiError)) return undefined;
  if (err.reason) return err.reason;
  switch (err.statusCode) {
    case 404:
      return "NotFound";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 422:
      return "Invalid";
    case 403:
      return "Forbidden";
    case 401:
      return "Unauthorized";
    case 429:
      return "TooManyRequests";
    default:
      return err.statusCode >= 500 ? "InternalError" : undefined;
  }
}

const is = (reason: string) => (err: unknown) => reasonOf(err) === reason;

export const isNotFound = is("NotFound");
export const isAlreadyExists = is("AlreadyExists");
/** A write from an out-of-date resourceVersion (or a failed delete precondition). */
export const isConflict = is("Conflict");
/** "Too old resource version" or an expired continue token: the caller must start over with a list. */
export const isGone = (err: unknown) => reasonOf(err) === "Gone" || reasonOf(err) === "Expired";
export const isInvalid = is("Invalid");
export const isForbidden = is("Forbidden");
export const isTooManyRequests = is("TooManyRequests");

/**
 * A kube-apiserver that has just started answers 403 "not yet ready to handle request" from the
 * admission plugins whose caches have not synced yet (NamespaceLifecycle, ValidatingAdmissionPolicy,
 * the webhooks: k8s.io/apiserver admission.NewForbidden after WaitForReady gives up). It is the
 * apiserver's state, not a verdict on the request: seen on a loaded machine as Events dropped
 * after an apiserver restart.
 */
function isNotReadyYet(err: KubeApiError): boolean {
  return err.statusCode === 403 && (err.status?.message ?? err.message).includes("not yet ready to handle request");
}

/**
 * Whether a failure says nothing about the request itself: the API could not be reached or did
 * not answer properly (Node's system errors such as ECONNREFUSED, ECONNRESET "socket hang up" and
 * ETIMEDOUT, aborts and timeouts, 5xx, 408, 429, an apiserver not yet ready). The same request
 * may succeed later; a 4xx refusal would not.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof KubeApiError) {
    const code = err.statusCode;
    return code >= 500 || code === 408 || code === 429 || code < 400 || isNotReadyYet(err);
  }
  if (!(err instanceof Error)) return false;
  if (err.name === "AbortError" || err.name === "TimeoutError") return true;
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === "string" && /^E[A-Z_]+$/.test(code);
}
