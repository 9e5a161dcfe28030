# tread: multi-stage build on Node 22 (Node 20 reached end of life in April 2026).
FROM node:22-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci's postinstall applies patches/ (patch-package): see README, "The postgres.js patch"
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json drizzle.config.ts ./
COPY src ./src
COPY adapters ./adapters
COPY db ./db
COPY scripts ./scripts
# npm run build ends by making dist/pglite-template: a first start copies it instead of running PGlite's initdb in the
# container (which peaks at ~850 MB of memory; from the template a first start stays under ~300 MB).
RUN npm run build && npm prune --omit=dev

FROM node:22-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    TREAD_DATA_DIR=/data \
    TREAD_CONSOLE=0
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json tread.example.yaml ./
# the example organisation's knowledge articles (/ask), next to it as the example names them
COPY knowledge ./knowledge
COPY bin ./bin
COPY db/migrations ./db/migrations
COPY manifest ./manifest
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
# /healthz answers while the process serves; node's fetch avoids needing curl in the slim image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# An error nothing caught makes tread stop gracefully and exit 1; its state is in the database, so restart it:
# docker run --restart unless-stopped … (README: "Running under a supervisor"). SIGTERM is the graceful stop.
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main.js"]
