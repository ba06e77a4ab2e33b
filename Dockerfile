# syntax=docker/dockerfile:1
# Multi-stage: build with dev dependencies, ship production dependencies and compiled code only.
# Pinned to a full Node LTS version (bump the patch with each Node security release); the code also
# supports Node 20.19+, which this repository's CI runs on.
FROM node:24.13.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY drizzle ./drizzle
RUN npm run build && npm prune --omit=dev

FROM node:24.13.0-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# Files stay owned by root and read-only to the process; it writes nothing to its own tree.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/drizzle ./drizzle
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form: node itself is the container's main process (PID 1, or tini's child with `docker run --init`)
# and receives SIGTERM directly; its handlers close cleanly and exit 0.
# Migrations as a deploy step: docker run --rm <image> node dist/db/migrate.js
CMD ["node", "dist/server.js"]
