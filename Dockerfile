# syntax=docker/dockerfile:1
# Warden: build the TypeScript once, then run dist/ on a slim image with production dependencies only.

# ---- build: compile to dist/ (tsc via tsconfig.build.json) and copy the SQL migrations beside it
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# ---- runtime
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    WARDEN_DATA_DIR=/var/lib/warden
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Only used in the embedded mode (no DATABASE_URL): PGlite's files and the generated master key.
RUN mkdir -p /var/lib/warden && chown node:node /var/lib/warden
VOLUME ["/var/lib/warden"]
USER node
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/bin/warden.js", "start"]
