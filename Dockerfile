# syntax=docker/dockerfile:1
#
# proactive: the WebSocket server in a small, read-only, non-root image.
#
#   docker build -t proactive:dev .
#   docker run --rm -p 8080:8080 -e FIREBASE_PROJECT_ID=my-project proactive:dev
#
# Stage 1 resolves every dependency into DENO_DIR with the lockfile frozen; stage 2 copies
# DENO_DIR and the sources onto the distroless Deno image (no shell, no package manager) and
# runs with --cached-only, so nothing is downloaded or written at run time: the root
# filesystem can be read-only.

# ---- build: download and cache dependencies -------------------------------------------------
# Pinned to the Deno version CI uses (.ci/run); bump both together.
FROM denoland/deno:2.9.6 AS build

ENV DENO_DIR=/deno-dir \
    DENO_NO_UPDATE_CHECK=1 \
    DENO_NO_PROMPT=1

WORKDIR /app

# Dependencies in their own layer: rebuilt only when deno.json or deno.lock change.
# --frozen fails the build if the lockfile is out of date instead of silently updating it.
COPY deno.json deno.lock ./
RUN deno install --frozen

# Sources. Only what the server imports; tests, docs and tooling stay out of the image.
COPY main.ts ./
COPY src/ ./src/
# Fails the build if main.ts imports anything not already in the lockfile or on disk.
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

# The base image's entrypoint is `/tini -- /bin/deno`. The permission flags are exactly those of
# the `start` task in deno.json, the one source of truth (README "Vertex AI with Workload
# Identity" says why each is there); tests/models/vertex_adc_test.ts fails if they differ.
CMD ["run", "--cached-only", "--frozen", "--allow-net", "--allow-env", "--allow-sys=networkInterfaces", "--allow-read=.,/.config/gcloud/application_default_credentials.json,/sys/class/dmi/id/bios_date,/sys/class/dmi/id/bios_vendor", "main.ts"]
