# syntax=docker/dockerfile:1
#
# proactive: the WebSocket server in a small, read-only, non-root image.
#
#   docker build -t proactive:dev .
#   docker run --rm -p 8080:8080 -e FIREBASE_PROJECT_ID=my-project proactive:dev
#
# Stage 1 resolves what main.ts runs on, and nothing else, into DENO_DIR from the committed
# lockfile; stage 2 copies DENO_DIR and the sources onto the distroless Deno image (no shell, no
# package manager) and runs with --cached-only, so nothing is downloaded or written at run
# time: the root filesystem can be read-only.

# ---- build: download and cache dependencies -------------------------------------------------
# Pinned to the Deno version CI uses (.ci/run); bump both together.
FROM denoland/deno:2.9.6 AS build

ENV DENO_DIR=/deno-dir \
    DENO_NO_UPDATE_CHECK=1 \
    DENO_NO_PROMPT=1

WORKDIR /app

COPY deno.json deno.lock ./
# Sources. Only what the server imports; tests, docs and tooling stay out of the image.
COPY main.ts ./
COPY src/ ./src/

# Only runtime dependencies. deno.json also maps test-only packages (ajv, yaml, playwright-core)
# and `deno install` would put every package of the lockfile into DENO_DIR, so the image gets
# its own deno.json: the imports main.ts reaches, plus an allowScripts deny for the packages
# with lifecycle scripts (never run here), so no "Ignored build scripts" box is printed.
# Installing that config prunes deno.lock, hence no --frozen here; verify-lock then fails the
# build unless every entry left is in the committed lockfile, unchanged.
COPY scripts/image_config.ts /build/
RUN cp deno.lock /build/deno.lock.committed \
 && deno run --no-config --no-lock --allow-read=/app --allow-write=/app/deno.json \
      /build/image_config.ts prune main.ts \
 && deno install --entrypoint main.ts \
 && deno run --no-config --no-lock --allow-read=/app,/build \
      /build/image_config.ts verify-lock /build/deno.lock.committed
# Fails the build if main.ts imports anything not already in the (pruned) lockfile or on disk.
RUN deno cache --frozen main.ts

# ---- runtime --------------------------------------------------------------------------------
FROM denoland/deno:distroless-2.9.6

# HOST=0.0.0.0 makes AUTH_MODE=none refused at start-up: set FIREBASE_PROJECT_ID when running.
# HOME=/ is what the runtime gives a uid without a passwd entry anyway; set here so the one file
# google-auth-library probes under $HOME (/.config/gcloud/application_default_credentials.json)
# is always the one the permissions below allow.
ENV DENO_DIR=/deno-dir \
    DENO_NO_UPDATE_CHECK=1 \
    DENO_NO_PROMPT=1 \
    HOME=/ \
    HOST=0.0.0.0 \
    PORT=8080

WORKDIR /app

# Owned by root and only readable by the runtime user: the process cannot change its own code.
COPY --from=build /deno-dir /deno-dir
COPY --from=build /app /app

# Numeric uid/gid (the official image's `deno` user is 1993) so Kubernetes can verify
# runAsNonRoot; the distroless image has no /etc/passwd entry for it and needs none.
USER 1993:1993

EXPOSE 8080
# Prometheus metrics (METRICS_PORT), never the public port.
EXPOSE 9464

# The base image's entrypoint is `/tini -- /bin/deno`. The permission flags are exactly those of
# the `start` task in deno.json, the one source of truth (README "Vertex AI with Workload
# Identity" says why each is there); tests/models/vertex_adc_test.ts fails if they differ.
CMD ["run", "--cached-only", "--frozen", "--allow-net", "--allow-env", "--allow-sys=networkInterfaces", "--allow-read=.,/.config/gcloud/application_default_credentials.json,/sys/class/dmi/id/bios_date,/sys/class/dmi/id/bios_vendor", "main.ts"]
