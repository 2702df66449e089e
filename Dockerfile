# One image for every Sluice role: the actors a container runs come from `run --actors …`
# (deploy/docker-compose.yml, deploy/kubernetes/). Build from the repository root:
#   docker build -t sluice:latest .
# The TypeScript sources run through tsx (a runtime dependency), so there is no build step.
FROM node:20-slim

WORKDIR /app
# onnxruntime-node's install script downloads CUDA libraries; CPU inference needs none of it.
ENV NODE_ENV=production \
    ONNXRUNTIME_NODE_INSTALL=skip

# Dependencies first, so a source change does not reinstall them. Runtime dependencies only; `npm
# install` rather than `npm ci`, which rejects a lock file that records only one platform's optional
# binaries (see .ci/run); install still follows the lock.
COPY package.json package-lock.json ./
RUN npm install --omit=dev --no-audit --no-fund && npm cache clean --force

COPY . .

# The base image's unprivileged user; tsx caches compiled sources under /tmp.
USER node
# /health, /ready and /metrics (the `http.port` of the run config; deploy/sluice.json uses 9464).
EXPOSE 9464
ENTRYPOINT ["node", "bin/sluice.js"]
CMD ["run", "--config", "/etc/sluice/sluice.json"]
