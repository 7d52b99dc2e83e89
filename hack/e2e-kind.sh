#!/usr/bin/env bash
# `make test-e2e-kind`: the demo convoy with real pods. Builds both images, loads them into a
# fresh kind cluster, deploys the operator from manifests/ (make deploy), serves the demo rig from
# a git daemon in the cluster, applies a Town and examples/convoy.yaml, and waits until the convoy
# has Landed on main. The cluster is deleted on exit (KEEP_CLUSTER=1 keeps it for a look).
#
# Environment: IMG, AGENT_IMG (image names), DOCKER (client), KIND_CLUSTER (default gastown-e2e),
# KIND_NODE_IMAGE (kind's node image, for a Kubernetes version of your choice; >= 1.30 for the
# admission policy), E2E_TIMEOUT (for the convoy to land; default 10m).
set -euo pipefail

cd "$(dirname "$0")/.."

IMG=${IMG:-gastown-operator:dev}
AGENT_IMG=${AGENT_IMG:-gastown-agent:dev}
DOCKER=${DOCKER:-docker}
CLUSTER=${KIND_CLUSTER:-gastown-e2e}
TIMEOUT=${E2E_TIMEOUT:-10m}
NS=gastown-demo
HINT="kind needs a Docker engine; this machine has none — use make test-e2e, which runs the same pipeline on the local control plane"

die() {
  echo "error: $*" >&2
  exit 1
}

# Fail before building anything. A docker client without a reachable engine is not enough.
command -v "$DOCKER" >/dev/null 2>&1 || die "$DOCKER not found. $HINT"
"$DOCKER" info >/dev/null 2>&1 || die "$DOCKER cannot reach a Docker engine. $HINT"
command -v kind >/dev/null 2>&1 || die "kind not found (https://kind.sigs.k8s.io). $HINT"
command -v kubectl >/dev/null 2>&1 || die "kubectl not found"

WORK=$(mktemp -d)
# A private kubeconfig: the user's current context is never touched.
export KUBECONFIG="$WORK/kubeconfig"

diagnose() {
  echo "--- diagnostics" >&2
  kubectl get gastown,pods -n "$NS" -o wide >&2 || true
  kubectl get events -n "$NS" --sort-by=.lastTimestamp >&2 || true
  kubectl logs -n gastown-system -l app.kubernetes.io/name=gastown-operator --prefix --tail=100 >&2 || true
}

cleanup() {
  local status=$?
  [ "$status" -eq 0 ] || diagnose
  if [ -n "${KEEP_CLUSTER:-}" ]; then
    echo "kept kind cluster $CLUSTER: export KUBECONFIG=$KUBECONFIG" >&2
  else
    kind delete cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG" >/dev/null 2>&1 || true
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT

step() { echo "=== $*"; }

step "building $IMG and $AGENT_IMG"
make --no-print-directory images IMG="$IMG" AGENT_IMG="$AGENT_IMG" DOCKER="$DOCKER"

step "creating kind cluster $CLUSTER"
kind create cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG" --wait 180s ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"}
kind load docker-image --name "$CLUSTER" "$IMG" "$AGENT_IMG"

step "deploying the operator"
make --no-print-directory deploy IMG="$IMG"

step "serving the demo rig"
# The same rig as `make run` (hack/demo/repo.ts): a README and a gate that refuses TODO lines.
cat >"$WORK/README.md" <<'EOF'
# app

The demo rig of Gas Town. Each bead that lands adds its own file under beads/.
EOF
cat >"$WORK/check.sh" <<'EOF'
#!/bin/sh
# Gate of the demo rig: no bead file may keep an unresolved TODO line.
if grep -n '^TODO' beads/*.md 2>/dev/null; then
  echo "unresolved TODO lines (see above)"
  exit 1
fi
echo "check passed"
EOF
cat >"$WORK/serve.sh" <<'EOF'
#!/bin/sh
# Seeds a bare repository with one commit on main, then serves it read-write (no auth: demo only).
set -eu
git init --quiet --bare --initial-branch=main /srv/git/app.git
seed=$(mktemp -d)
cd "$seed"
git init --quiet --initial-branch=main
cp /seed/README.md README.md
mkdir scripts
cp /seed/check.sh scripts/check.sh
chmod 755 scripts/check.sh
git add .
git -c user.name="Gas Town demo" -c user.email=demo@gastown.local commit --quiet -m "Start the demo rig"
git push --quiet /srv/git/app.git HEAD:refs/heads/main
exec git daemon --reuseaddr --base-path=/srv/git --export-all --enable=receive-pack --port=9418 /srv/git
EOF

cat <<EOF | kubectl apply -f -
apiVersion: v1
kind: Namespace
metadata:
  name: $NS
  labels:
    # Session pods are built to the restricted profile (pod-spec.ts); enforcing it proves that.
    pod-security.kubernetes.io/enforce: restricted
EOF
kubectl create configmap demo-rig -n "$NS" \
  --from-file=README.md="$WORK/README.md" \
  --from-file=check.sh="$WORK/check.sh" \
  --from-file=serve.sh="$WORK/serve.sh"

cat <<EOF | kubectl apply -f -
apiVersion: apps/v1
kind: Deployment
metadata:
  name: git-server
  namespace: $NS
spec:
  selector:
    matchLabels: { app: git-server }
  template:
    metadata:
      labels: { app: git-server }
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        runAsGroup: 1000
        seccompProfile: { type: RuntimeDefault }
      containers:
        - name: git
          image: $AGENT_IMG
          imagePullPolicy: Never
          command: ["tini", "--", "sh", "/seed/serve.sh"]
          env:
            - { name: HOME, value: /tmp }
          ports:
            - { name: git, containerPort: 9418 }
          readinessProbe:
            tcpSocket: { port: git }
            periodSeconds: 2
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: { drop: ["ALL"] }
          volumeMounts:
            - { name: seed, mountPath: /seed }
            - { name: repos, mountPath: /srv/git }
            - { name: tmp, mountPath: /tmp }
      volumes:
        - { name: seed, configMap: { name: demo-rig } }
        - { name: repos, emptyDir: {} }
        - { name: tmp, emptyDir: {} }
---
apiVersion: v1
kind: Service
metadata:
  name: git-server
  namespace: $NS
spec:
  selector: { app: git-server }
  ports:
    - { name: git, port: 9418, targetPort: git }
EOF
kubectl rollout status deployment/git-server -n "$NS" --timeout=120s

step "applying the demo town and examples/convoy.yaml"
cat <<EOF | kubectl apply -f -
apiVersion: gastown.dev/v1alpha1
kind: Town
metadata:
  name: demo
  namespace: $NS
spec:
  rigs:
    - name: app
      repo: git://git-server.$NS.svc.cluster.local/app.git
      defaultBranch: main
      mergeStrategy: Direct
      gates: ["sh scripts/check.sh"]
  agents:
    image: $AGENT_IMG
    # Loaded into the nodes by kind; Never makes a failed load obvious instead of a pull attempt.
    imagePullPolicy: Never
EOF
kubectl apply -n "$NS" -f examples/convoy.yaml

step "waiting up to $TIMEOUT for convoy login-feature to land"
kubectl wait -n "$NS" convoy/login-feature --for=jsonpath='{.status.phase}'=Landed --timeout="$TIMEOUT"

step "result"
kubectl get gastown -n "$NS"
kubectl exec -n "$NS" deployment/git-server -- git --git-dir=/srv/git/app.git log --oneline --graph main
landed=$(kubectl exec -n "$NS" deployment/git-server -- git --git-dir=/srv/git/app.git ls-tree --name-only main beads/ | wc -l)
tasks=$(kubectl get convoy/login-feature -n "$NS" -o jsonpath='{.spec.tasks[*].name}' | wc -w)
[ "$landed" -eq "$tasks" ] || die "main has $landed bead files, the convoy has $tasks tasks"
echo "PASS: convoy login-feature landed $tasks beads on main"
