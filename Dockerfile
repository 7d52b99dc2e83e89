# The operator image: src/ compiled to plain JavaScript by Node's own type stripper (hack/dist.ts:
# the same code Node would run from src/, without the 25 MiB of RSS the stripper keeps in a
# process that loads .ts), plus the production dependencies. Override NODE_IMAGE to pin a digest.
ARG NODE_IMAGE=node:24-alpine
# The deps stage's base; hack/images.sh passes NODE_IMAGE plus the build host's CA bundle and npm
# registry, so `npm ci` works behind a TLS-intercepting proxy. The runtime stage never sees them.
ARG BUILD_IMAGE=${NODE_IMAGE}

FROM ${BUILD_IMAGE} AS deps
WORKDIR /opt/gastown
COPY package.json package-lock.json ./
# --omit=dev also drops the `node` devDependency: the base image is the Node 24 runtime.
# No production dependency has an install script, so none may run.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${BUILD_IMAGE} AS dist
WORKDIR /opt/gastown
COPY package.json ./
COPY hack/dist.ts ./hack/
COPY src ./src
RUN node --disable-warning=ExperimentalWarning hack/dist.ts src dist

FROM ${NODE_IMAGE}
WORKDIR /opt/gastown
ENV NODE_ENV=production
# package.json carries "type": "module", which the compiled modules need.
COPY package.json ./
COPY --from=deps /opt/gastown/node_modules ./node_modules
COPY --from=dist /opt/gastown/dist ./dist
# Numeric, so the kubelet can verify runAsNonRoot; the Deployment sets the same uid.
USER 65532:65532
EXPOSE 8080
# --optimize-for-size: V8 keeps its heap close to what is live. bench/memory.ts, 10k beads + 1k
# polecats: RSS 156 MiB (peak 170) with it, 243-311 MiB (peak 298-394) without; the price is a
# slower plan there (126-146 ms against 79-92 ms), in a process that is mostly waiting on the API.
ENTRYPOINT ["node", "--optimize-for-size", "/opt/gastown/dist/main.js"]
