import assert from "node:assert/strict";
import { CONFIG_VARIABLES, ConfigError, loadAnalysisConfig, loadConfig } from "../src/config.ts";
import { DEFAULT_LIST_CAPS } from "../src/protocol/codec.ts";

function refusal(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.lines;
  }
  assert.fail("expected the configuration to be refused");
}

Deno.test("loadConfig() with no environment serves the offline model on loopback", () => {
  const config = loadConfig({});
  assert.equal(config.host, "127.0.0.1");
  assert.equal(config.port, 8080);
  assert.equal(config.modelProvider, "offline");
  assert.equal(config.authMode, "none");
  assert.equal(config.geminiModel, "gemini-2.5-flash");
  assert.deepEqual(
    [config.toolResultTimeoutMs, config.modelCallTimeoutMs, config.analysisTimeoutMs],
    [10_000, 20_000, 45_000],
  );
  assert.deepEqual(
    [config.maxMessageBytes, config.maxPendingFrames, config.maxSessions],
    [16 * 1024 * 1024, 4, 10_000],
  );
  assert.equal(config.logLevel, "info");
});

Deno.test("loadConfig() picks gemini when a key is set, and reads its variables", () => {
  const config = loadConfig({
    GEMINI_API_KEY: "AIzaSECRET",
    GEMINI_MODEL: "gemini-2.5-flash-lite",
    GEMINI_THINKING_BUDGET: "0",
    MODEL_PRICES: '{"gemini-2.5-flash-lite":{"input":0.2,"output":0.8}}',
  });
  assert.equal(config.modelProvider, "gemini");
  assert.equal(config.geminiApiKey, "AIzaSECRET");
  assert.equal(config.geminiThinkingBudget, 0);
  // An override without a cached price gets a quarter of its input price.
  assert.deepEqual(config.modelPrices["gemini-2.5-flash-lite"], {
    input: 0.2,
    output: 0.8,
    cachedInput: 0.05,
  });
  assert.deepEqual(config.modelPrices["gemini-2.5-pro"], {
    input: 1.25,
    output: 10,
    cachedInput: 0.3125,
  });
  const vertex = loadConfig({ MODEL_PROVIDER: "vertex", GOOGLE_CLOUD_PROJECT: "p" });
  assert.deepEqual([vertex.googleCloudProject, vertex.googleCloudLocation], ["p", "us-central1"]);
});

Deno.test("loadConfig() picks firebase when a project is set, and reads its variables", () => {
  const config = loadConfig({ FIREBASE_PROJECT_ID: "omi", HOST: "0.0.0.0" });
  assert.equal(config.authMode, "firebase");
  assert.equal(config.firebaseProjectId, "omi");
  assert.match(config.firebaseJwksUrl, /^https:\/\/www\.googleapis\.com\/.*securetoken/);
  assert.equal(config.firebaseClockToleranceSec, 5);
  const custom = loadConfig({
    AUTH_MODE: "firebase",
    FIREBASE_PROJECT_ID: "omi",
    FIREBASE_JWKS_URL: "http://127.0.0.1:9/keys",
    FIREBASE_CLOCK_TOLERANCE_SEC: "0",
  });
  assert.deepEqual(
    [custom.firebaseJwksUrl, custom.firebaseClockToleranceSec],
    ["http://127.0.0.1:9/keys", 0],
  );
});

Deno.test("loadConfig() reads every variable", () => {
  const config = loadConfig({
    PORT: "9000",
    HOST: "::1",
    MODEL_PROVIDER: "offline",
    TOOL_RESULT_TIMEOUT_MS: "500",
    MODEL_CALL_TIMEOUT_MS: "600",
    ANALYSIS_TIMEOUT_MS: "700",
    MAX_MESSAGE_BYTES: "4096",
    MAX_PENDING_FRAMES: "2",
    MAX_SESSIONS: "3",
    LOG_LEVEL: "DEBUG",
    UNRELATED: "ignored",
  });
  assert.deepEqual(
    [config.port, config.host, config.toolResultTimeoutMs, config.modelCallTimeoutMs],
    [9000, "::1", 500, 600],
  );
  assert.deepEqual(
    [config.analysisTimeoutMs, config.maxMessageBytes, config.maxPendingFrames, config.maxSessions],
    [700, 4096, 2, 3],
  );
  assert.equal(config.logLevel, "debug");
});

Deno.test("loadConfig() refuses bad values with one line per variable", async (t) => {
  await t.step("several bad variables at once", () => {
    const lines = refusal({ PORT: "http", MAX_PENDING_FRAMES: "0", LOG_LEVEL: "loud" });
    assert.deepEqual(lines, [
      "PORT must be an integer from 0 to 65535",
      "MAX_PENDING_FRAMES must be an integer from 1 to 1000",
      "LOG_LEVEL must be one of debug, info, warn, error",
    ]);
  });
  await t.step("AUTH_MODE=none off loopback", () => {
    const lines = refusal({ HOST: "0.0.0.0", AUTH_MODE: "none" });
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^AUTH_MODE=none is refused when HOST is not loopback/);
  });
  await t.step("firebase without a project, and a bad clock tolerance", () => {
    assert.deepEqual(refusal({ AUTH_MODE: "firebase" }), [
      "FIREBASE_PROJECT_ID is required when AUTH_MODE=firebase",
    ]);
    assert.deepEqual(refusal({ FIREBASE_PROJECT_ID: "p", FIREBASE_CLOCK_TOLERANCE_SEC: "-1" }), [
      "FIREBASE_CLOCK_TOLERANCE_SEC must be an integer from 0 to 300",
    ]);
  });
  await t.step("a bad URL", () => {
    assert.deepEqual(refusal({ GEMINI_BASE_URL: "not a url" }), [
      "GEMINI_BASE_URL must be an http(s) URL",
    ]);
  });
  await t.step("gemini without a key, vertex without a project", () => {
    assert.deepEqual(refusal({ MODEL_PROVIDER: "gemini" }), [
      "GEMINI_API_KEY is required when MODEL_PROVIDER=gemini",
    ]);
    assert.deepEqual(refusal({ MODEL_PROVIDER: "vertex" }), [
      "GOOGLE_CLOUD_PROJECT is required when MODEL_PROVIDER=vertex",
    ]);
  });
  await t.step("bad MODEL_PRICES", () => {
    assert.deepEqual(refusal({ MODEL_PRICES: "{" }), ["MODEL_PRICES must be JSON"]);
  });
  await t.step("a frame deadline shorter than the tool wait", () => {
    assert.deepEqual(refusal({ ANALYSIS_TIMEOUT_MS: "1000", TOOL_RESULT_TIMEOUT_MS: "2000" }), [
      "ANALYSIS_TIMEOUT_MS must be larger than TOOL_RESULT_TIMEOUT_MS",
    ]);
  });
});

Deno.test("the README's configuration table names every variable loadConfig reads", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const table = readme.split("## Configuration")[1]?.split("\n## ")[0] ?? "";
  const documented = new Set([...table.matchAll(/^\| `([A-Z_]+)`/gm)].map((m) => m[1]));
  assert.deepEqual([...CONFIG_VARIABLES].sort(), [...documented].sort());
});

Deno.test("loadConfig() reads the list caps; their defaults are the decoder's", () => {
  assert.deepEqual(loadConfig({}).listCaps, DEFAULT_LIST_CAPS);
  assert.deepEqual(
    loadConfig({
      MAX_ACTIVE_TASKS: "10",
      MAX_PAST_TASKS: "5",
      MAX_GOALS: "2",
      MAX_TOOL_RESULTS: "3",
    }).listCaps,
    { activeTasks: 10, pastTasks: 5, goals: 2, toolResults: 3 },
  );
  assert.deepEqual(refusal({ MAX_ACTIVE_TASKS: "20000", MAX_TOOL_RESULTS: "0" }), [
    "MAX_ACTIVE_TASKS must be an integer from 1 to 10000",
    "MAX_TOOL_RESULTS must be an integer from 1 to 500",
  ]);
});

Deno.test("GEMINI_MEDIA_RESOLUTION: low, medium or high; unset leaves the model's default", () => {
  assert.equal(loadConfig({}).geminiMediaResolution, undefined);
  assert.equal(loadConfig({ GEMINI_MEDIA_RESOLUTION: "" }).geminiMediaResolution, undefined);
  assert.equal(loadConfig({ GEMINI_MEDIA_RESOLUTION: "low" }).geminiMediaResolution, "low");
  assert.equal(loadConfig({ GEMINI_MEDIA_RESOLUTION: " Medium " }).geminiMediaResolution, "medium");
  assert.equal(loadConfig({ GEMINI_MEDIA_RESOLUTION: "HIGH" }).geminiMediaResolution, "high");
  for (const bad of ["ultra", "MEDIA_RESOLUTION_LOW", "256"]) {
    assert.deepEqual(refusal({ GEMINI_MEDIA_RESOLUTION: bad }), [
      "GEMINI_MEDIA_RESOLUTION must be one of low, medium, high",
    ]);
  }
  // One line per bad variable, the others still reported.
  assert.deepEqual(refusal({ GEMINI_MEDIA_RESOLUTION: "ultra", PORT: "x" }), [
    "PORT must be an integer from 0 to 65535",
    "GEMINI_MEDIA_RESOLUTION must be one of low, medium, high",
  ]);
});

Deno.test("MODEL_PRICES takes an optional cachedInput; old tables stay valid", () => {
  const prices = loadConfig({
    MODEL_PRICES: '{"a":{"input":1,"output":2},"b":{"input":1,"output":2,"cachedInput":0.1}}',
  }).modelPrices;
  assert.deepEqual(prices.a, { input: 1, output: 2, cachedInput: 0.25 });
  assert.deepEqual(prices.b, { input: 1, output: 2, cachedInput: 0.1 });
  assert.deepEqual(prices["gemini-2.5-flash"], { input: 0.3, output: 2.5, cachedInput: 0.075 });
  assert.equal(
    refusal({ MODEL_PRICES: '{"a":{"input":1,"output":2,"cachedInput":-1}}' }).length,
    1,
  );
});

Deno.test("MODEL_PROVIDER=openai reads the OPENAI_* variables", async (t) => {
  await t.step("defaults: OpenAI's API, gpt-4.1-mini, vision on", () => {
    const config = loadConfig({ MODEL_PROVIDER: "openai", OPENAI_API_KEY: "sk-SECRET" });
    assert.equal(config.modelProvider, "openai");
    assert.equal(config.openaiApiKey, "sk-SECRET");
    assert.equal(config.openaiBaseUrl, "https://api.openai.com/v1");
    assert.equal(config.openaiModel, "gpt-4.1-mini");
    assert.equal(config.openaiVision, true);
    assert.deepEqual(config.modelPrices["gpt-4.1-mini"], {
      input: 0.4,
      output: 1.6,
      cachedInput: 0.1,
    });
  });
  await t.step("a local server needs no key; the trailing slash goes", () => {
    const config = loadConfig({
      MODEL_PROVIDER: "OpenAI",
      OPENAI_BASE_URL: "http://localhost:11434/v1/",
      OPENAI_MODEL: "qwen2.5vl:7b",
      OPENAI_VISION: "FALSE",
    });
    assert.equal(config.modelProvider, "openai");
    assert.equal(config.openaiApiKey, undefined);
    assert.equal(config.openaiBaseUrl, "http://localhost:11434/v1");
    assert.equal(config.openaiModel, "qwen2.5vl:7b");
    assert.equal(config.openaiVision, false);
  });
  await t.step("OPENAI_VISION takes true, false, 1 and 0", () => {
    const vision = (value: string) => loadConfig({ OPENAI_VISION: value }).openaiVision;
    assert.deepEqual(
      ["true", "1", " True ", "false", "0", ""].map(vision),
      [true, true, true, false, false, true],
    );
  });
  await t.step("an OPENAI_API_KEY alone does not pick the provider", () => {
    assert.equal(loadConfig({ OPENAI_API_KEY: "sk-x" }).modelProvider, "offline");
  });
  await t.step("refused: no key for api.openai.com, a bad URL, a bad OPENAI_VISION", () => {
    assert.deepEqual(refusal({ MODEL_PROVIDER: "openai" }), [
      "OPENAI_API_KEY is required when MODEL_PROVIDER=openai uses api.openai.com " +
      "(set OPENAI_BASE_URL for a server that needs no key)",
    ]);
    assert.deepEqual(
      refusal({ MODEL_PROVIDER: "openai", OPENAI_BASE_URL: "https://api.openai.com/v1/" }).length,
      1,
    );
    // A bad URL is one line: the key rule does not guess which server was meant.
    assert.deepEqual(refusal({ MODEL_PROVIDER: "openai", OPENAI_BASE_URL: "localhost:1234" }), [
      "OPENAI_BASE_URL must be an http(s) URL",
    ]);
    assert.deepEqual(refusal({ OPENAI_BASE_URL: "ftp://models.example/v1" }), [
      "OPENAI_BASE_URL must be an http(s) URL",
    ]);
    assert.deepEqual(refusal({ OPENAI_VISION: "maybe", PORT: "x" }), [
      "PORT must be an integer from 0 to 65535",
      "OPENAI_VISION must be true or false",
    ]);
    assert.deepEqual(refusal({ MODEL_PROVIDER: "anthropic" }), [
      "MODEL_PROVIDER must be one of gemini, vertex, openai, offline",
    ]);
  });
  await t.step("the key is never echoed in a refusal", () => {
    const lines = refusal({ MODEL_PROVIDER: "openai", OPENAI_API_KEY: "sk-SECRET", PORT: "x" });
    assert.ok(lines.every((line) => !line.includes("sk-SECRET")), lines.join("\n"));
  });
});

Deno.test("MODEL_FALLBACKS, MODEL_COOLDOWN_SEC and MODEL_PROBE", async (t) => {
  await t.step("defaults: no fallbacks, a 30 s cool-down, no probe", () => {
    const config = loadConfig({});
    assert.deepEqual(config.modelFallbacks, []);
    assert.equal(config.modelCooldownSec, 30);
    assert.equal(config.modelProbe, false);
  });
  await t.step("provider:model entries in order, offline alone", () => {
    const config = loadConfig({
      GEMINI_API_KEY: "AIza-x",
      OPENAI_BASE_URL: "http://127.0.0.1:1234/v1",
      MODEL_FALLBACKS: " gemini:gemini-2.5-flash-lite ,OpenAI:gpt-4.1-mini,offline",
      MODEL_COOLDOWN_SEC: "0",
      MODEL_PROBE: "true",
    });
    assert.deepEqual(config.modelFallbacks, [
      { provider: "gemini", model: "gemini-2.5-flash-lite" },
      { provider: "openai", model: "gpt-4.1-mini" },
      { provider: "offline", model: "" },
    ]);
    assert.equal(config.modelCooldownSec, 0);
    assert.equal(config.modelProbe, true);
  });
  await t.step("refused: unknown providers, missing names, too many, bad numbers", () => {
    assert.deepEqual(refusal({ MODEL_FALLBACKS: "anthropic:claude" }), [
      'MODEL_FALLBACKS entry "anthropic:claude": the provider must be one of gemini, vertex, ' +
      "openai, offline (as provider:model)",
    ]);
    assert.deepEqual(refusal({ GEMINI_API_KEY: "k", MODEL_FALLBACKS: "gemini:" }), [
      'MODEL_FALLBACKS entry "gemini:": write it as gemini:MODEL_NAME',
    ]);
    assert.deepEqual(refusal({ MODEL_FALLBACKS: "offline,".repeat(6) }), [
      "MODEL_FALLBACKS takes at most 5 models, got 6",
    ]);
    assert.deepEqual(refusal({ MODEL_COOLDOWN_SEC: "-1", MODEL_PROBE: "maybe" }), [
      "MODEL_COOLDOWN_SEC must be an integer from 0 to 3600",
      "MODEL_PROBE must be true or false",
    ]);
  });
  await t.step("each fallback's provider needs its credentials, one line per provider", () => {
    assert.deepEqual(
      refusal({
        MODEL_FALLBACKS: "gemini:gemini-2.5-flash-lite,vertex:gemini-2.5-pro,openai:gpt-4.1",
      }),
      [
        "GEMINI_API_KEY is required when MODEL_FALLBACKS has gemini",
        "GOOGLE_CLOUD_PROJECT is required when MODEL_FALLBACKS has vertex",
        "OPENAI_API_KEY is required when MODEL_FALLBACKS has an openai model on api.openai.com " +
        "(set OPENAI_BASE_URL for a server that needs no key)",
      ],
    );
  });
  await t.step("MODEL_PROBE is a listener's setting: the replay never reads it", () => {
    assert.equal(loadAnalysisConfig({ MODEL_PROBE: "maybe" }).modelProbe, false);
  });
});

Deno.test("loadConfig() reads the shared limits and the daily budget", async (t) => {
  await t.step("defaults: no budget, no Redis", () => {
    const config = loadConfig({});
    assert.equal(config.userDailyBudgetUsd, 0);
    assert.equal(config.redisUrl, undefined);
    assert.equal(config.redisTimeoutMs, 50);
    assert.equal(config.redisSessionLeaseSec, 30);
  });
  await t.step("set values", () => {
    const config = loadConfig({
      USER_DAILY_BUDGET_USD: "2.50",
      REDIS_URL: "rediss://:pw@10.0.0.3:6378",
      REDIS_TIMEOUT_MS: "80",
      REDIS_SESSION_LEASE_SEC: "20",
    });
    assert.equal(config.userDailyBudgetUsd, 2.5);
    assert.equal(config.redisUrl, "rediss://:pw@10.0.0.3:6378");
    assert.equal(config.redisTimeoutMs, 80);
    assert.equal(config.redisSessionLeaseSec, 20);
  });
  await t.step("bad values: one line each, and the Redis URL (a password) never echoed", () => {
    const lines = refusal({
      USER_DAILY_BUDGET_USD: "-1",
      REDIS_URL: "http://user:topsecret@redis:6379",
      REDIS_TIMEOUT_MS: "0",
    });
    assert.deepEqual(lines, [
      "USER_DAILY_BUDGET_USD must be a number from 0 to 1000000",
      "REDIS_URL must be a redis:// or rediss:// URL with a host " +
      "(e.g. rediss://:PASSWORD@10.0.0.3:6378); the value is not shown",
      "REDIS_TIMEOUT_MS must be an integer from 1 to 10000",
    ]);
    assert.doesNotMatch(lines.join("\n"), /topsecret/);
    assert.deepEqual(refusal({ USER_DAILY_BUDGET_USD: "five" }), [
      "USER_DAILY_BUDGET_USD must be a number from 0 to 1000000",
    ]);
    assert.equal(refusal({ REDIS_URL: "redis://" }).length, 1);
    assert.deepEqual(refusal({ REDIS_URL: "rediss://h:6378", REDIS_CA_CERT: "not a pem" }), [
      "REDIS_CA_CERT must hold PEM certificates (-----BEGIN CERTIFICATE-----)",
    ]);
    assert.deepEqual(
      refusal({ REDIS_URL: "redis://h", REDIS_CA_CERT: "-----BEGIN CERTIFICATE-----\nx" }),
      ["REDIS_CA_CERT needs a rediss:// REDIS_URL (TLS)"],
    );
  });
  await t.step("listener settings: the replay never reads them", () => {
    const config = loadAnalysisConfig({ REDIS_URL: "nope", USER_DAILY_BUDGET_USD: "x" });
    assert.equal(config.redisUrl, undefined);
  });
});

Deno.test("CONSOLE: on or off; by default on only without authentication", async (t) => {
  const firebase = { FIREBASE_PROJECT_ID: "p" };
  await t.step("defaults", () => {
    assert.equal(loadConfig({}).console, true, "AUTH_MODE=none");
    assert.equal(loadConfig(firebase).console, false, "AUTH_MODE=firebase");
    assert.equal(loadConfig({ ...firebase, AUTH_MODE: "none" }).console, true);
    assert.equal(loadConfig({ CONSOLE: " " }).console, true, "blank is unset");
  });
  await t.step("explicit values win, in any case", () => {
    assert.equal(loadConfig({ CONSOLE: "off" }).console, false);
    assert.equal(loadConfig({ ...firebase, CONSOLE: "on" }).console, true);
    assert.equal(loadConfig({ ...firebase, CONSOLE: " ON " }).console, true);
  });
  await t.step("anything else is refused with one line", () => {
    assert.deepEqual(refusal({ CONSOLE: "true" }), ["CONSOLE must be one of on, off"]);
  });
  await t.step("only a listening server reads it", () => {
    assert.equal(loadAnalysisConfig({ CONSOLE: "maybe" }).console, true);
  });
});
