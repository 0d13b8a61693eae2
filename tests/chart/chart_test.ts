/**
 * Static checks of the Helm chart and the Dockerfile: neither `helm` nor a Docker engine
 * runs here, so these tests read the files and hold them to the server's own routes,
 * defaults and variables.
 */
import assert from "node:assert/strict";
import process from "node:process";
// The named export: under Deno the default import of this CommonJS package types as a namespace.
import { Ajv } from "ajv";
import { parse } from "yaml";
import { CONFIG_VARIABLES } from "../../src/config.ts";

const ROOT = new URL("../../", import.meta.url);
const CHART = new URL("charts/proactive/", ROOT);

/** Variables the chart sets that Deno itself reads (OpenTelemetry), not src/config.ts. */
const DENO_VARIABLES = new Set([
  "OTEL_DENO",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_SERVICE_NAME",
  "DENO_V8_FLAGS",
]);

/** Which values.yaml path feeds which integer variable, for comparing defaults. */
const VALUE_OF_VARIABLE: Record<string, string> = {
  PORT: "containerPort",
  FIREBASE_CLOCK_TOLERANCE_SEC: "auth.clockToleranceSec",
  GEMINI_THINKING_BUDGET: "model.thinkingBudget",
  MODEL_COOLDOWN_SEC: "model.cooldownSec",
  TOOL_RESULT_TIMEOUT_MS: "timeouts.toolResultMs",
  MODEL_CALL_TIMEOUT_MS: "timeouts.modelCallMs",
  ANALYSIS_TIMEOUT_MS: "timeouts.analysisMs",
  DRAIN_TIMEOUT_MS: "timeouts.drainMs",
  IDLE_TIMEOUT_SEC: "timeouts.idleSec",
  MAX_MESSAGE_BYTES: "limits.maxMessageBytes",
  MAX_PENDING_FRAMES: "limits.maxPendingFrames",
  MAX_PENDING_BYTES: "limits.maxPendingBytes",
  MAX_SESSIONS: "limits.maxSessions",
  MAX_SESSIONS_PER_USER: "limits.maxSessionsPerUser",
  RATE_LIMIT_FRAMES_PER_MINUTE: "limits.rateLimitFramesPerMinute",
  REDIS_TIMEOUT_MS: "limits.redis.timeoutMs",
  REDIS_SESSION_LEASE_SEC: "limits.redis.sessionLeaseSec",
  METRICS_PORT: "metrics.port",
};

type Values = Record<string, unknown>;

function isPlainObject(value: unknown): value is Values {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function read(path: string | URL): Promise<string> {
  return Deno.readTextFile(typeof path === "string" ? new URL(path, ROOT) : path);
}

/**
 * `yaml` looks up LOG_TOKENS and LOG_STREAM in process.env while parsing, which throws
 * without env permission (`deno test --allow-read tests/chart/`); it then parses against an
 * empty environment, swapped in only for the synchronous parse.
 */
function parseYaml(text: string): unknown {
  const granted = ["LOG_TOKENS", "LOG_STREAM"].every((variable) =>
    Deno.permissions.querySync({ name: "env", variable }).state === "granted"
  );
  if (granted) return parse(text);
  const env = process.env;
  process.env = {};
  try {
    return parse(text);
  } finally {
    process.env = env;
  }
}

async function readValues(name: string): Promise<Values> {
  const values: unknown = parseYaml(await read(new URL(name, CHART)));
  assert.ok(isPlainObject(values), `${name} is not a mapping`);
  return values;
}

/** Helm's merge of an overlay over the defaults: maps merge, anything else replaces, null deletes. */
function mergeValues(base: Values, overlay: Values): Values {
  const merged: Values = { ...base };
  for (const [key, value] of Object.entries(overlay)) {
    const current = merged[key];
    if (value === null) delete merged[key];
    else if (isPlainObject(current) && isPlainObject(value)) {
      merged[key] = mergeValues(current, value);
    } else merged[key] = value;
  }
  return merged;
}

/** The value at a dotted path, or `undefined` when a segment is missing. */
function valueAt(values: Values, path: string): unknown {
  let current: unknown = values;
  for (const segment of path.split(".")) {
    if (!isPlainObject(current) || !Object.hasOwn(current, segment)) return undefined;
    current = current[segment];
  }
  return current;
}

function hasPath(values: Values, path: string): boolean {
  let current: unknown = values;
  for (const segment of path.split(".")) {
    if (!isPlainObject(current) || !Object.hasOwn(current, segment)) return false;
    current = current[segment];
  }
  return true;
}

/** Dotted paths of the leaves of `values`: maps are descended into, lists are leaves. */
function leafPaths(values: Values, prefix = ""): string[] {
  return Object.entries(values).flatMap(([key, value]) =>
    isPlainObject(value) && Object.keys(value).length > 0
      ? leafPaths(value, `${prefix}${key}.`)
      : [prefix + key]
  );
}

async function templates(): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  async function walk(dir: URL, prefix: string): Promise<void> {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) await walk(new URL(`${entry.name}/`, dir), `${prefix}${entry.name}/`);
      else found.set(prefix + entry.name, await Deno.readTextFile(new URL(entry.name, dir)));
    }
  }
  await walk(new URL("templates/", CHART), "");
  return found;
}

/** `.Values.a.b` references in template text, as `a.b`. */
function valueReferences(text: string): string[] {
  return [...text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)].map((m) =>
    (m[1] ?? "").slice(1)
  );
}

/** An integer variable of src/config.ts: `intVar("NAME", fallback, min, max)`. */
interface IntVar {
  fallback: number;
  min: number;
  max: number;
}

/** Evaluates the constant expressions config.ts uses: `10_000`, `16 * 1024 * 1024`. */
function constant(expression: string): number {
  return expression.split("*").reduce(
    (acc, factor) => acc * Number(factor.trim().replaceAll("_", "")),
    1,
  );
}

/** The integer variables declared in src/config.ts, by name. */
function intVars(configSource: string): Map<string, IntVar> {
  const found = new Map<string, IntVar>();
  const pattern = /intVar\(\s*"([A-Z_]+)",([0-9_*\s]+),([0-9_*\s]+),([0-9_*\s]+)\)/g;
  for (const m of configSource.matchAll(pattern)) {
    found.set(m[1] ?? "", {
      fallback: constant(m[2] ?? ""),
      min: constant(m[3] ?? ""),
      max: constant(m[4] ?? ""),
    });
  }
  return found;
}

/** The subschema of values.schema.json that describes the value at a dotted path. */
function schemaAt(schema: Values, path: string): Values | undefined {
  let current: unknown = schema;
  for (const segment of path.split(".")) {
    if (!isPlainObject(current) || !isPlainObject(current.properties)) return undefined;
    current = current.properties[segment];
  }
  return isPlainObject(current) ? current : undefined;
}

function newAjv(): Ajv {
  return new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
}

Deno.test("the chart's values validate against values.schema.json", async (t) => {
  const schema = JSON.parse(await read(new URL("values.schema.json", CHART)));
  const validate = newAjv().compile(schema);
  const defaults = await readValues("values.yaml");

  await t.step("values.yaml", () => {
    assert.ok(validate(defaults), JSON.stringify(validate.errors, null, 2));
  });

  for (const overlay of ["values-dev.yaml", "values-prod.yaml"]) {
    await t.step(`${overlay} merged over values.yaml`, async () => {
      const merged = mergeValues(defaults, await readValues(overlay));
      assert.ok(validate(merged), JSON.stringify(validate.errors, null, 2));
    });
  }

  const broken: [string, (v: Values) => void][] = [
    ["an unknown top-level key", (v) => v.replicas = 3],
    ["an unknown nested key", (v) => (v.model as Values).apiKeySecret = "x"],
    [
      "a writable root filesystem",
      (v) => (v.securityContext as Values).readOnlyRootFilesystem = false,
    ],
    ["privilege escalation", (v) => (v.securityContext as Values).allowPrivilegeEscalation = true],
    ["capabilities not dropped", (v) => (v.securityContext as Values).capabilities = { drop: [] }],
    ["running as root allowed", (v) => (v.podSecurityContext as Values).runAsNonRoot = false],
    ["the port as a string", (v) => v.containerPort = "8080"],
    ["a privileged port", (v) => v.containerPort = 80],
    ["a privileged metrics port", (v) => (v.metrics as Values).port = 443],
    ["the metrics port as a string", (v) => (v.metrics as Values).port = "9464"],
    ["an unknown model provider", (v) => (v.model as Values).provider = "anthropic"],
    ["vertex without a project", (v) => (v.model as Values).provider = "vertex"],
    ["a malformed Firebase project id", (v) => (v.auth as Values).firebaseProjectId = "My Project"],
    ["an unknown log level", (v) => v.logLevel = "verbose"],
    ["a negative drain timeout", (v) => (v.timeouts as Values).drainMs = -1],
    ["a missing required key", (v) => delete v.terminationGracePeriodSeconds],
  ];
  for (const [name, breakIt] of broken) {
    await t.step(`the schema rejects ${name}`, () => {
      const values = structuredClone(defaults);
      breakIt(values);
      assert.equal(validate(values), false, `${name} was accepted`);
    });
  }
});

Deno.test("values.yaml documents and covers what the templates use", async (t) => {
  const defaults = await readValues("values.yaml");
  const sources = await templates();
  const references = new Set([...sources.values()].flatMap(valueReferences));

  await t.step("templates reference values", () => assert.ok(references.size > 20));

  await t.step("every .Values path in a template exists in values.yaml", () => {
    const missing = [...references].filter((path) => !hasPath(defaults, path));
    assert.deepEqual(missing, []);
  });

  await t.step("every value in values.yaml is used by a template", () => {
    const unused = leafPaths(defaults).filter((path) =>
      ![...references].some((ref) => path === ref || path.startsWith(`${ref}.`))
    );
    assert.deepEqual(unused, []);
  });

  await t.step("every key in values.yaml has a comment", async () => {
    const lines = (await read(new URL("values.yaml", CHART))).split("\n");
    const undocumented: string[] = [];
    let previous = "";
    for (const line of lines) {
      const trimmed = line.trim();
      if (trimmed === "") continue;
      const key = /^\s*(?:- )?([A-Za-z0-9_./-]+):/.exec(line);
      if (key && !trimmed.startsWith("#") && !previous.startsWith("#") && !line.includes(" # ")) {
        undocumented.push(key[1] ?? line);
      }
      previous = trimmed;
    }
    assert.deepEqual(undocumented, []);
  });
});

Deno.test("the Deployment matches the server's routes, port and shutdown", async (t) => {
  const defaults = await readValues("values.yaml");
  const sources = await templates();
  const deployment = sources.get("deployment.yaml") ?? "";
  const handler = await read("src/server/handler.ts");
  const serverVars = intVars(await read("src/config.ts"));
  const schema = JSON.parse(await read(new URL("values.schema.json", CHART)));

  function served(path: string): boolean {
    return handler.includes(`case "${path}":`);
  }

  await t.step("liveness probes /healthz and readiness /readyz, both served", () => {
    const probes = [
      ...deployment.matchAll(/(liveness|readiness)Probe:\s*\n\s*httpGet:\s*\n\s*path: (\S+)/g),
    ]
      .map((m) => [m[1], m[2]]);
    assert.deepEqual(probes, [["liveness", "/healthz"], ["readiness", "/readyz"]]);
    for (const [, path] of probes) assert.ok(served(path ?? ""), `${path} is not a route`);
  });

  await t.step("the BackendConfig health check and the helm test hit served routes", () => {
    const health = /requestPath: (\S+)/.exec(sources.get("backendconfig.yaml") ?? "");
    assert.equal(health?.[1], "/readyz");
    const hook = /\/v1\/[a-z/]+/.exec(sources.get("tests/test-connection.yaml") ?? "");
    assert.equal(hook?.[0], "/v1/health");
    assert.ok(served("/readyz") && served("/v1/health"));
    assert.match(sources.get("tests/test-connection.yaml") ?? "", /"helm\.sh\/hook": test/);
  });

  await t.step("the chart scrapes /metrics and scales on a gauge the server exports", async () => {
    assert.ok(!served("/metrics"), "/metrics is a route of the public handler");
    assert.match(await read("src/server/metrics_server.ts"), /pathname !== "\/metrics"/);
    assert.match(sources.get("podmonitoring.yaml") ?? "", /path: \/metrics\n/);
    assert.match(deployment, /prometheus\.io\/path: \/metrics\n/);
    const metrics = await read("src/server/metrics.ts");
    const name = String(valueAt(defaults, "autoscaling.activeSessions.metricName"));
    assert.equal(name, "proactive_sessions_active");
    assert.match(metrics, new RegExp(`new Gauge\\(\\s*"${name}"`));
  });

  await t.step("the container port is the server's default PORT", () => {
    assert.equal(serverVars.get("PORT")?.fallback, 8080);
    assert.equal(defaults.containerPort, 8080);
    assert.match(deployment, /containerPort: \{\{ \.Values\.containerPort \}\}/);
    assert.match(deployment, /name: PORT\s*\n\s*value: \{\{ \.Values\.containerPort\b/);
    assert.match(deployment, /name: HOST\s*\n\s*value: "0\.0\.0\.0"/);
  });

  await t.step("integer defaults in values.yaml equal the server's defaults", () => {
    assert.ok(serverVars.size >= Object.keys(VALUE_OF_VARIABLE).length);
    for (const [variable, path] of Object.entries(VALUE_OF_VARIABLE)) {
      const declared = serverVars.get(variable);
      assert.ok(declared, `${variable} is not an intVar in src/config.ts`);
      assert.equal(valueAt(defaults, path), declared.fallback, `${path} vs ${variable}`);
    }
  });

  await t.step("the schema accepts no integer the server would refuse", () => {
    for (const [variable, path] of Object.entries(VALUE_OF_VARIABLE)) {
      const declared = serverVars.get(variable);
      const property = schemaAt(schema, path);
      assert.ok(declared && property, `${variable} / ${path}`);
      assert.equal(property.type, "integer", path);
      assert.ok(Number(property.minimum) >= declared.min, `${path} minimum below ${declared.min}`);
      assert.ok(Number(property.maximum) <= declared.max, `${path} maximum above ${declared.max}`);
    }
  });

  await t.step("every variable the chart sets is one the server reads", () => {
    const known = new Set([...CONFIG_VARIABLES, ...DENO_VARIABLES]);
    const set = [...deployment.matchAll(/- name: ([A-Z][A-Z0-9_]+)\s*\n/g)].map((m) => m[1]);
    assert.ok(set.length > 10);
    assert.deepEqual(set.filter((name) => !known.has(name ?? "")), []);
  });

  await t.step("the API key comes from a Secret, never a plain value", () => {
    assert.match(deployment, /name: GEMINI_API_KEY\s*\n\s*valueFrom:\s*\n\s*secretKeyRef:/);
    assert.doesNotMatch(deployment, /name: GEMINI_API_KEY\s*\n\s*value:/);
  });

  await t.step(
    "the grace period outlasts preStop plus the drain, in every values file",
    async () => {
      const drainDefault = serverVars.get("DRAIN_TIMEOUT_MS")?.fallback ?? NaN;
      const grace = Number(defaults.terminationGracePeriodSeconds);
      assert.ok(grace > drainDefault / 1000, `${grace} s <= DRAIN_TIMEOUT_MS ${drainDefault}`);
      for (const overlay of [null, "values-dev.yaml", "values-prod.yaml"]) {
        const values = overlay ? mergeValues(defaults, await readValues(overlay)) : defaults;
        const drainSec = Math.ceil(Number(valueAt(values, "timeouts.drainMs")) / 1000);
        const preStop = Number(valueAt(values, "lifecycle.preStopSleepSeconds"));
        assert.ok(preStop > 0, `${overlay ?? "values.yaml"}: no preStop sleep`);
        assert.ok(
          Number(values.terminationGracePeriodSeconds) > drainSec + preStop,
          `${overlay ?? "values.yaml"}: grace period not above ${drainSec} + ${preStop} s`,
        );
      }
      assert.match(deployment, /preStop:\s*\n(?:\s*#.*\n)*\s*sleep:\s*\n\s*seconds:/);
      assert.match(
        sources.get("_helpers.tpl") ?? "",
        /fail \(printf "terminationGracePeriodSeconds/,
      );
    },
  );

  await t.step("the Service and BackendConfig carry the GKE settings", () => {
    assert.ok(
      (sources.get("service.yaml") ?? "").includes(`cloud.google.com/neg: '{"ingress": true}'`),
    );
    const backendConfig = sources.get("backendconfig.yaml") ?? "";
    assert.match(backendConfig, /apiVersion: cloud\.google\.com\/v1\s*\nkind: BackendConfig/);
    assert.match(backendConfig, /connectionDraining:\s*\n\s*drainingTimeoutSec:/);
    assert.ok(Number(valueAt(defaults, "ingress.backendConfig.timeoutSec")) >= 3600);
    assert.match(sources.get("hpa.yaml") ?? "", /apiVersion: autoscaling\/v2\n/);
  });
});

/** Template text without its YAML comment lines. */
function uncommented(text: string): string {
  return text.split("\n").filter((line) => !line.trim().startsWith("#")).join("\n");
}

/** The paths of every Ingress host in `values`. */
function ingressPaths(values: Values): { path: unknown; pathType: unknown }[] {
  const hosts = valueAt(values, "ingress.hosts");
  assert.ok(Array.isArray(hosts));
  return hosts.flatMap((
    host,
  ) => (isPlainObject(host) && Array.isArray(host.paths) ? host.paths : []));
}

Deno.test("metrics stay off the public port, the Service and the Ingress", async (t) => {
  const defaults = await readValues("values.yaml");
  const sources = await templates();
  const deployment = sources.get("deployment.yaml") ?? "";
  const service = sources.get("service.yaml") ?? "";
  const serverVars = intVars(await read("src/config.ts"));

  await t.step('the pod declares port "metrics" and METRICS_PORT from the same value', () => {
    assert.match(
      deployment,
      /- name: metrics\s*\n\s*containerPort: \{\{ \.Values\.metrics\.port \}\}/,
    );
    assert.match(deployment, /name: METRICS_PORT\s*\n\s*value: \{\{ \.Values\.metrics\.port\b/);
    assert.match(deployment, /prometheus\.io\/port: \{\{ \.Values\.metrics\.port\b/);
    assert.equal(valueAt(defaults, "metrics.port"), 9464);
    assert.equal(serverVars.get("METRICS_PORT")?.fallback, 9464);
    assert.notEqual(valueAt(defaults, "metrics.port"), defaults.containerPort);
    assert.match(
      sources.get("_helpers.tpl") ?? "",
      /fail "metrics\.port must differ from containerPort/,
    );
  });

  await t.step('PodMonitoring scrapes the pods\' port "metrics"', () => {
    const monitoring = sources.get("podmonitoring.yaml") ?? "";
    assert.match(monitoring, /kind: PodMonitoring\n/);
    const ports = [...monitoring.matchAll(/- port: (\S+)/g)].map((m) => m[1]);
    assert.deepEqual(ports, ["metrics"]);
  });

  await t.step("the Service exposes only the public port", () => {
    const ports = [...service.matchAll(/- name: (\S+)/g)].map((m) => m[1]);
    assert.deepEqual(ports, ["http"]);
    assert.match(service, /targetPort: http\n/);
    assert.doesNotMatch(uncommented(service), /metrics/);
  });

  await t.step("the Ingress sends to the Service's public port only", () => {
    const ingress = sources.get("ingress.yaml") ?? "";
    assert.match(ingress, /\$servicePort := \.Values\.service\.port\b/);
    assert.match(ingress, /number: \{\{ \$servicePort \}\}/);
    assert.doesNotMatch(uncommented(ingress), /metrics/);
  });

  for (const overlay of [null, "values-dev.yaml", "values-prod.yaml"]) {
    await t.step(
      `${overlay ?? "values.yaml"}: the Ingress routes /v1/proactive and nothing else`,
      async () => {
        const values = overlay ? mergeValues(defaults, await readValues(overlay)) : defaults;
        const paths = ingressPaths(values);
        assert.ok(paths.length > 0);
        for (const { path, pathType } of paths) {
          assert.equal(path, "/v1/proactive");
          assert.equal(pathType, "Exact");
        }
      },
    );
  }

  await t.step("the load balancer's health check goes to the pods, so it needs no route", () => {
    const backendConfig = sources.get("backendconfig.yaml") ?? "";
    assert.match(
      backendConfig,
      /requestPath: \/readyz\n\s*port: \{\{ \.Values\.containerPort \}\}/,
    );
    assert.match(service, /cloud\.google\.com\/neg: '\{"ingress": true\}'/);
  });
});

/** Bytes of a Kubernetes memory quantity such as `512Mi` or `1Gi`. */
function quantityBytes(quantity: unknown): number {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(String(quantity));
  assert.ok(m, `not a memory quantity: ${quantity}`);
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2] ?? ""] ?? 1;
  return Number(m[1]) * unit;
}

Deno.test("the memory limit holds what one user can pin, and values.yaml shows the sum", async (t) => {
  const MiB = 1024 * 1024;
  /** The process's own resident memory after warm-up (BENCHMARKS.md: 86.4 MiB), rounded up. */
  const BASELINE = 90 * MiB;
  const defaults = await readValues("values.yaml");
  const text = await read(new URL("values.yaml", CHART));

  /** Waiting frames + the running frame (~2x) + a message being decoded (~2x), per user. */
  function perUser(values: Values): number {
    const message = Number(valueAt(values, "limits.maxMessageBytes"));
    const pending = Number(valueAt(values, "limits.maxPendingBytes"));
    const sessions = Number(valueAt(values, "limits.maxSessionsPerUser"));
    assert.ok(message > 0 && pending > 0 && sessions > 0);
    return sessions * (pending + 2 * message + 2 * message);
  }

  await t.step("values.yaml states the per-session and per-user worst case", async () => {
    const session = perUser(defaults) / Number(valueAt(defaults, "limits.maxSessionsPerUser"));
    assert.ok(text.includes(`8 + 32 + 32 = ${session / MiB} MiB`), "per-session sum");
    assert.ok(text.includes(`5 x 72 MiB = ${perUser(defaults) / MiB} MiB`), "per-user sum");
    // The idle-session figure is the one measured in BENCHMARKS.md, kept in step.
    const benchmarks = await read("BENCHMARKS.md");
    const idle = /^\| ours +\| +\d+ \|[^|]+\|[^|]+\| +([\d.]+ KiB) \|/m.exec(benchmarks)?.[1];
    assert.ok(idle, "BENCHMARKS.md has the idle-session row");
    assert.ok(text.includes(idle), `values.yaml states ${idle} per idle session`);
  });

  for (const overlay of [null, "values-dev.yaml", "values-prod.yaml"]) {
    await t.step(`${overlay ?? "values.yaml"}: V8's heap limit sits inside the pod's`, async () => {
      const values = overlay ? mergeValues(defaults, await readValues(overlay)) : defaults;
      const limit = quantityBytes(valueAt(values, "resources.limits.memory"));
      const heap = Number(valueAt(values, "v8MaxOldSpaceMiB")) * MiB;
      // Room outside the JS heap, and room inside it for one user's worst case (~240 MiB).
      assert.ok(heap <= 0.7 * limit, `${heap / MiB} MiB of heap under a ${limit / MiB} MiB limit`);
      assert.ok(heap >= 256 * MiB, `${heap / MiB} MiB of heap is too small`);
    });
  }

  for (const overlay of [null, "values-dev.yaml", "values-prod.yaml"]) {
    await t.step(
      `${overlay ?? "values.yaml"}: limit >= baseline + one user's worst case`,
      async () => {
        const values = overlay ? mergeValues(defaults, await readValues(overlay)) : defaults;
        const limit = quantityBytes(valueAt(values, "resources.limits.memory"));
        const request = quantityBytes(valueAt(values, "resources.requests.memory"));
        assert.ok(request >= BASELINE, `request ${request / MiB} MiB is below the baseline`);
        assert.ok(
          limit >= BASELINE + perUser(values),
          `limit ${limit / MiB} MiB < ${(BASELINE + perUser(values)) / MiB} MiB`,
        );
        assert.ok(limit >= request);
      },
    );
  }
});

Deno.test("the Dockerfile pins Deno, caches dependencies first and runs unprivileged", async (t) => {
  const dockerfile = await read("Dockerfile");
  const lines = dockerfile.split("\n").map((line) => line.trim()).filter((line) =>
    line !== "" && !line.startsWith("#")
  );
  const ci = await read(".ci/run");
  const version = /deno@(\d+\.\d+\.\d+)/.exec(ci)?.[1];
  const defaults = await readValues("values.yaml");

  await t.step("every stage is an official Deno image at the CI's version", () => {
    assert.ok(version, ".ci/run pins no Deno version");
    const images = lines.filter((line) => /^FROM\s/i.test(line)).map((line) =>
      line.split(/\s+/)[1]
    );
    assert.ok(images.length >= 2, "not multi-stage");
    for (const image of images) {
      const m = /^denoland\/deno:(?:(?:debian|distroless|alpine|ubuntu)-)?(\d+\.\d+\.\d+)$/.exec(
        image ?? "",
      );
      assert.equal(m?.[1], version, `${image} is not denoland/deno at ${version}`);
    }
  });

  await t.step(
    "only main.ts's dependencies are installed, from the committed lockfile",
    async () => {
      // The RUN with its continuation lines, as one command.
      const joined = dockerfile.replace(/\\\n\s*/g, " ").split("\n").map((line) => line.trim());
      const lockCopy = joined.findIndex((line) => /^COPY\s+deno\.json\s+deno\.lock\s/.test(line));
      const sources = joined.findIndex((line) => line === "COPY src/ ./src/");
      const install = joined.findIndex((line) => /^RUN\s.*\bdeno install\b/.test(line));
      assert.ok(lockCopy >= 0 && sources > lockCopy && install > sources, "layer order");
      const run = joined[install] ?? "";
      const steps = run.replace(/^RUN\s+/, "").split(/\s*&&\s*/);
      const at = (pattern: RegExp) => steps.findIndex((step) => pattern.test(step));
      const prune = at(/image_config\.ts prune main\.ts$/);
      const installStep = at(/^deno install --entrypoint main\.ts$/);
      const verify = at(/image_config\.ts verify-lock \S+$/);
      assert.ok(prune >= 0 && installStep > prune && verify > installStep, run);
      assert.ok(
        !/deno install --frozen(?! --entrypoint)/.test(dockerfile),
        "installs every import",
      );
      assert.ok(joined.some((line) => /^RUN\s+deno cache --frozen main\.ts$/.test(line)));
      // The helper is in the build context, and stays out of the runtime stage's /app.
      const ignored = (await read(".dockerignore")).split("\n").map((line) => line.trim());
      assert.ok(ignored.includes("!scripts/image_config.ts"));
      assert.ok(lines.includes("COPY scripts/image_config.ts /build/"));
    },
  );

  await t.step("the image gets every module main.ts imports", async () => {
    assert.ok(lines.includes("COPY main.ts ./") && lines.includes("COPY src/ ./src/"));
    const seen = new Set<string>();
    const pending = [new URL("main.ts", ROOT)];
    for (let url = pending.pop(); url; url = pending.pop()) {
      if (seen.has(url.href)) continue;
      seen.add(url.href);
      const source = await Deno.readTextFile(url);
      for (const m of source.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
        pending.push(new URL(m[1] ?? "", url));
      }
    }
    const outside = [...seen].map((href) => href.slice(ROOT.href.length)).filter((path) =>
      path !== "main.ts" && !path.startsWith("src/")
    );
    assert.ok(seen.size > 10);
    assert.deepEqual(outside, []);
  });

  await t.step("the runtime user is numeric, non-root and the one the chart expects", () => {
    const users = lines.filter((line) => /^USER\s/.test(line)).map((line) => line.split(/\s+/)[1]);
    const last = users.at(-1) ?? "";
    assert.match(last, /^[1-9]\d*(:\d+)?$/);
    assert.equal(Number(last.split(":")[0]), valueAt(defaults, "podSecurityContext.runAsUser"));
    assert.equal(Number(last.split(":")[0]), valueAt(defaults, "securityContext.runAsUser"));
  });

  await t.step("it listens on 0.0.0.0:8080 with the start task's permissions", async () => {
    assert.ok(lines.includes("EXPOSE 8080"));
    assert.match(dockerfile, /HOST=0\.0\.0\.0/);
    assert.match(dockerfile, /PORT=8080/);
    assert.match(dockerfile, /DENO_DIR=\/deno-dir/);
    const cmd = lines.find((line) => line.startsWith("CMD "));
    const args: string[] = JSON.parse(cmd?.slice(4) ?? "[]");
    assert.ok(args.includes("--cached-only"), "dependencies could be fetched at run time");
    const start: string = JSON.parse(await read("deno.json")).tasks.start;
    const startFlags = start.split(/\s+/).filter((word) => word.startsWith("--"));
    assert.deepEqual(startFlags.filter((flag) => !args.includes(flag)), []);
    assert.equal(args.at(-1), "main.ts");
  });

  await t.step(".dockerignore keeps tests, git and local state out", async () => {
    const ignored = (await read(".dockerignore")).split("\n").map((line) => line.trim());
    for (const entry of [".git", "tests", "node_modules", ".env", "dist"]) {
      assert.ok(ignored.includes(entry), `${entry} is not ignored`);
    }
  });
});
