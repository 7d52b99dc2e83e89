# The operator image: Node 24 runs src/*.ts directly (type stripping), so there is no build step,
# only the production dependencies. Override NODE_IMAGE to pin a digest.
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

FROM ${NODE_IMAGE}
WORKDIR /opt/gastown
ENV NODE_ENV=production
# package.json carries "type": "module", which the .ts sources need.
COPY package.json ./
COPY --from=deps /opt/gastown/node_modules ./node_modules
COPY src ./src
# Numeric, so the kubelet can verify runAsNonRoot; the Deployment sets the same uid.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "/opt/gastown/src/main.ts"]
