# syntax=docker/dockerfile:1
# Multi-stage: build with dev dependencies, ship production dependencies and compiled code only.
#
# The Node version is the project's runtime: .nvmrc names the same one (a test checks it), and .ci/run
# reads it from the FROM lines below to run the test suite on this Node as well as on the machine's Node 20.
# Both FROM lines name the full version, literally (no ARG), so that tools reading them see the real image;
# bump the patch with each Node security release, in both lines and .nvmrc.
#
# Why 24.22.3 and not an earlier 24.x: `npm ci` must accept package-lock.json as committed, with the npm the
# base image bundles. Node 24.22.0 and later bundle npm 11.19.1, which accepts it.
# Node 24.13.0 bundles npm 11.6.2, which refuses it: EBADPLATFORM on @esbuild/aix-ppc64.
# The vite override leaves 29 extraneous records under node_modules/vitest/node_modules in the lock (an
# esbuild 0.28.2 and its @esbuild/* platform packages), marked neither optional nor dev, and npm before
# 11.11.1 checks their os/cpu as if they were required. A newer Node rather than a pinned npm in the build
# stage: nothing is downloaded on top of the base image, the build runs the npm that ships with its Node,
# and the patch release brings Node's security fixes since 24.13.0. Hand-editing the lock so that both npm
# versions accept it would be undone by the next `npm install`.
FROM node:24.22.3-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY drizzle ./drizzle
RUN npm run build && npm prune --omit=dev

FROM node:24.22.3-bookworm-slim
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
