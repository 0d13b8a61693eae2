/**
 * Configuration: the environment variables (the README's table; what clients see of them is
 * docs/protocol.md §7), read and validated once at start-up.
 *
 * `loadConfig` takes a plain record (so tests need no real environment) and either returns a
 * typed {@link Config} or throws a {@link ConfigError} with one clear line per bad variable.
 * Secrets are never echoed in those lines.
 *
 * @module
 */
import { z } from "zod";
import { DEFAULT_PRICES, parsePrices, type PriceTable } from "./models/prices.ts";
import { MEDIA_RESOLUTION_LEVELS, type MediaResolutionLevel } from "./models/media_resolution.ts";
import { DEFAULT_SKIP_APPS, DEFAULT_SKIP_TITLES, parseGlobList } from "./frames/privacy.ts";

/** OpenAI's own endpoint, the default `OPENAI_BASE_URL`. */
export const DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1";

/** The providers a model can come from. */
export const MODEL_PROVIDERS = ["gemini", "vertex", "openai", "offline"] as const;
/** A model provider. */
export type ModelProvider = (typeof MODEL_PROVIDERS)[number];

/** One model of `MODEL_FALLBACKS`: its provider and name (none for `offline`). */
export interface ModelRef {
  provider: ModelProvider;
  model: string;
}

/** Most entries `MODEL_FALLBACKS` takes. */
export const MAX_FALLBACKS = 5;

/**
 * `MODEL_FALLBACKS`: comma-separated `provider:model` entries (`offline` alone), or the
 * sentence saying what is wrong. Each entry uses its provider's settings (keys, base URLs).
 */
export function parseModelFallbacks(value: string): ModelRef[] | string {
  const refs: ModelRef[] = [];
  const entries = value.split(",").map((entry) => entry.trim()).filter(Boolean);
  if (entries.length > MAX_FALLBACKS) {
    return `MODEL_FALLBACKS takes at most ${MAX_FALLBACKS} models, got ${entries.length}`;
  }
  for (const entry of entries) {
    const colon = entry.indexOf(":");
    const provider = (colon < 0 ? entry : entry.slice(0, colon)).trim().toLowerCase();
    const model = colon < 0 ? "" : entry.slice(colon + 1).trim();
    if (!(MODEL_PROVIDERS as readonly string[]).includes(provider)) {
      return `MODEL_FALLBACKS entry ${quoted(entry)}: the provider must be one of ${
        MODEL_PROVIDERS.join(", ")
      } (as provider:model)`;
    }
    if (provider !== "offline" && (!model || /\s/.test(model))) {
      return `MODEL_FALLBACKS entry ${quoted(entry)}: write it as ${provider}:MODEL_NAME`;
    }
    refs.push({ provider: provider as ModelProvider, model: provider === "offline" ? "" : model });
  }
  return refs;
}

/** Log levels, most verbose first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** A log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The validated configuration of one process. */
export interface Config {
  port: number;
  host: string;
  modelProvider: ModelProvider;
  geminiApiKey?: string;
  geminiModel: string;
  geminiBaseUrl?: string;
  /** Thinking tokens per model call (0 = off where the model allows it). */
  geminiThinkingBudget: number;
  /** Tokens per image sent to the model (`GEMINI_MEDIA_RESOLUTION`); unset: the model's default. */
  geminiMediaResolution?: MediaResolutionLevel;
  /** Vertex AI project and location (`MODEL_PROVIDER=vertex`). */
  googleCloudProject?: string;
  googleCloudLocation: string;
  /** OpenAI-compatible server (`MODEL_PROVIDER=openai`): key, if the server needs one. */
  openaiApiKey?: string;
  /** Its base URL, without a trailing slash (`https://api.openai.com/v1` by default). */
  openaiBaseUrl: string;
  /** Model name (Azure: the deployment name). */
  openaiModel: string;
  /** Whether the screenshot is sent (`OPENAI_VISION`); false sends text only. */
  openaiVision: boolean;
  /** Further models, in order, for calls the primary cannot answer (`MODEL_FALLBACKS`). */
  modelFallbacks: ModelRef[];
  /** How long a model that failed is skipped (`MODEL_COOLDOWN_SEC`), seconds. */
  modelCooldownSec: number;
  /** Probe every model at start; not ready until the primary answered (`MODEL_PROBE`). */
  modelProbe: boolean;
  /** Token prices by model, defaults merged with `MODEL_PRICES`. */
  modelPrices: PriceTable;
  authMode: "firebase" | "none";
  firebaseProjectId?: string;
  firebaseJwksUrl: string;
  /** Allowed clock skew when checking token times, seconds. */
  firebaseClockToleranceSec: number;
  toolResultTimeoutMs: number;
  modelCallTimeoutMs: number;
  analysisTimeoutMs: number;
  maxMessageBytes: number;
  maxPendingFrames: number;
  /** Bytes the frames waiting in one session's queue may hold in all. */
  maxPendingBytes: number;
  /** Elements kept per list of a message; more are cut before they are parsed. */
  listCaps: { activeTasks: number; pastTasks: number; goals: number; toolResults: number };
  maxSessions: number;
  maxSessionsPerUser: number;
  /** Frames per user per minute; 0 turns the budget off. */
  rateLimitFramesPerMinute: number;
  /** US dollars of model cost per user per UTC day (`USER_DAILY_BUDGET_USD`); 0 turns it off. */
  userDailyBudgetUsd: number;
  /** Redis for limits shared by every process (`REDIS_URL`, may hold a password); unset: per process. */
  redisUrl?: string;
  /** PEM CA certificate(s) a `rediss://` server's certificate is checked against; unset: system. */
  redisCaCert?: string;
  /** The bound on every Redis command, ms (`REDIS_TIMEOUT_MS`). */
  redisTimeoutMs: number;
  /** How long a session's lease in Redis outlives its last renewal, seconds. */
  redisSessionLeaseSec: number;
  /** Seconds without a pong before a WebSocket peer is considered dead. */
  idleTimeoutSec: number;
  /** How long a drain lets running frames finish before closing every socket. */
  drainTimeoutMs: number;
  /** How long a connection may take to send `client_hello` before it is closed (1008). */
  helloTimeoutMs: number;
  /** How long a connection may take to send a complete request head; 0 turns the guard off. */
  headerTimeoutMs: number;
  /** Port of the Prometheus `/metrics` listener (never the public port). */
  metricsPort: number;
  /** How long an analysed screen answers for an identical one, seconds; 0 turns it off. */
  skipUnchangedSec: number;
  /** Bits two `screen_hash`es may differ in and still count as the same screen. */
  skipHashDistance: number;
  /** App-name globs never analysed (`PRIVACY_SKIP_APPS`; unset: the defaults, "": none). */
  privacySkipApps: string[];
  /** Window-title globs never analysed (`PRIVACY_SKIP_TITLES`; unset: defaults, "": none). */
  privacySkipTitles: string[];
  /** Also redact e-mail addresses and phone numbers (`PRIVACY_REDACT_CONTACTS`). */
  privacyRedactContacts: boolean;
  /** Serve the developer console at `/console` (`CONSOLE`; default on only with AUTH_MODE=none). */
  console: boolean;
  logLevel: LogLevel;
}

/** Start-up refused: `lines` holds one sentence per bad variable. */
export class ConfigError extends Error {
  /** One line per bad variable, each naming it. */
  readonly lines: string[];

  constructor(lines: string[]) {
    super(lines.join("\n"));
    this.name = "ConfigError";
    this.lines = lines;
  }
}

/** Google's JWK set for Firebase ID tokens. */
export const DEFAULT_FIREBASE_JWKS_URL =
  "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

/** An IPv6 literal, bare or in brackets, with an optional zone (`fe80::1%eth0`). */
const IPV6_HOST =
  /^(?:\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:%[A-Za-z0-9_.-]+)?\]|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:%[A-Za-z0-9_.-]+)?)$/;
/** A host name or IPv4 address: dot-separated labels of letters, digits, `-` and `_`. */
const NAME_HOST = /^(?=.{1,253}$)[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*\.?$/;

/**
 * Whether `host` is written like something a socket can listen on: an IP address or a host
 * name. (Whether it resolves to an address of this machine is only known when listening.)
 */
export function isHostSyntax(host: string): boolean {
  return IPV6_HOST.test(host) || NAME_HOST.test(host);
}

/** A value quoted for an error line: never spans lines, never runs on. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

/** Whether `host` only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function intVar(name: string, fallback: number, min: number, max: number) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === "") return fallback;
      const n = Number(value.trim());
      if (!Number.isSafeInteger(n) || n < min || n > max) {
        ctx.addIssue({
          code: "custom",
          message: `${name} must be an integer from ${min} to ${max}`,
        });
        return z.NEVER;
      }
      return n;
    });
}

function enumVar<const T extends readonly [string, ...string[]]>(name: string, values: T) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === "") return undefined;
      const v = value.trim().toLowerCase();
      if (!(values as readonly string[]).includes(v)) {
        ctx.addIssue({ code: "custom", message: `${name} must be one of ${values.join(", ")}` });
        return z.NEVER;
      }
      return v as T[number];
    });
}

function urlVar(name: string) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === "") return undefined;
      try {
        const url = new URL(value.trim());
        if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error();
        return url.href;
      } catch {
        ctx.addIssue({ code: "custom", message: `${name} must be an http(s) URL` });
        return z.NEVER;
      }
    });
}

/** A non-negative decimal number (e.g. US dollars) from `min` to `max`. */
function numberVar(name: string, fallback: number, min: number, max: number) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === "") return fallback;
      const text = value.trim();
      const n = Number(text);
      if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(n) || n < min || n > max) {
        ctx.addIssue({ code: "custom", message: `${name} must be a number from ${min} to ${max}` });
        return z.NEVER;
      }
      return n;
    });
}

/**
 * `REDIS_URL`: `redis://` or `rediss://` (TLS), host required. The value may hold a password,
 * so the error line never repeats it.
 */
function redisUrlVar(name: string) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === "") return undefined;
      let url: URL | undefined;
      try {
        url = new URL(value.trim());
      } catch {
        url = undefined;
      }
      if (!url || (url.protocol !== "redis:" && url.protocol !== "rediss:") || !url.hostname) {
        ctx.addIssue({
          code: "custom",
          message: `${name} must be a redis:// or rediss:// URL with a host ` +
            "(e.g. rediss://:PASSWORD@10.0.0.3:6378); the value is not shown",
        });
        return z.NEVER;
      }
      return value.trim();
    });
}

function boolVar(name: string, fallback: boolean) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === "") return fallback;
      const v = value.trim().toLowerCase();
      if (v === "true" || v === "1") return true;
      if (v === "false" || v === "0") return false;
      ctx.addIssue({ code: "custom", message: `${name} must be true or false` });
      return z.NEVER;
    });
}

/** Most globs a skip list takes, and the longest glob. */
const MAX_GLOBS = 100;
const MAX_GLOB_LENGTH = 200;

/** A comma-separated glob list: unset gives `defaults`, an empty value none. */
function globListVar(name: string, defaults: readonly string[]) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      const globs = parseGlobList(value, defaults);
      if (globs.length > MAX_GLOBS || globs.some((g) => g.length > MAX_GLOB_LENGTH)) {
        ctx.addIssue({
          code: "custom",
          message:
            `${name} takes at most ${MAX_GLOBS} comma-separated globs of at most ${MAX_GLOB_LENGTH} characters`,
        });
        return z.NEVER;
      }
      return globs;
    });
}

const optText = z.string().optional().transform((v) => v?.trim() || undefined);

const EnvSchema = z.object({
  PORT: intVar("PORT", 8080, 0, 65535),
  HOST: optText,
  MODEL_PROVIDER: enumVar("MODEL_PROVIDER", MODEL_PROVIDERS),
  GEMINI_API_KEY: optText,
  GEMINI_MODEL: optText,
  GEMINI_BASE_URL: urlVar("GEMINI_BASE_URL"),
  GEMINI_THINKING_BUDGET: intVar("GEMINI_THINKING_BUDGET", 128, 0, 32_768),
  GEMINI_MEDIA_RESOLUTION: enumVar("GEMINI_MEDIA_RESOLUTION", MEDIA_RESOLUTION_LEVELS),
  GOOGLE_CLOUD_PROJECT: optText,
  GOOGLE_CLOUD_LOCATION: optText,
  OPENAI_API_KEY: optText,
  OPENAI_BASE_URL: urlVar("OPENAI_BASE_URL"),
  OPENAI_MODEL: optText,
  OPENAI_VISION: boolVar("OPENAI_VISION", true),
  MODEL_FALLBACKS: z.string().optional().transform((value, ctx) => {
    if (value === undefined || value.trim() === "") return [] as ModelRef[];
    const refs = parseModelFallbacks(value);
    if (typeof refs === "string") {
      ctx.addIssue({ code: "custom", message: refs });
      return z.NEVER;
    }
    return refs;
  }),
  MODEL_COOLDOWN_SEC: intVar("MODEL_COOLDOWN_SEC", 30, 0, 3_600),
  MODEL_PROBE: boolVar("MODEL_PROBE", false),
  MODEL_PRICES: z.string().optional().transform((value, ctx) => {
    if (value === undefined || value.trim() === "") return DEFAULT_PRICES;
    const table = parsePrices(value);
    if (typeof table === "string") {
      ctx.addIssue({ code: "custom", message: table });
      return z.NEVER;
    }
    return table;
  }),
  AUTH_MODE: enumVar("AUTH_MODE", ["firebase", "none"] as const),
  FIREBASE_PROJECT_ID: optText,
  FIREBASE_JWKS_URL: urlVar("FIREBASE_JWKS_URL"),
  FIREBASE_CLOCK_TOLERANCE_SEC: intVar("FIREBASE_CLOCK_TOLERANCE_SEC", 5, 0, 300),
  TOOL_RESULT_TIMEOUT_MS: intVar("TOOL_RESULT_TIMEOUT_MS", 10_000, 1, 600_000),
  MODEL_CALL_TIMEOUT_MS: intVar("MODEL_CALL_TIMEOUT_MS", 20_000, 1, 600_000),
  ANALYSIS_TIMEOUT_MS: intVar("ANALYSIS_TIMEOUT_MS", 45_000, 1, 600_000),
  MAX_MESSAGE_BYTES: intVar("MAX_MESSAGE_BYTES", 16 * 1024 * 1024, 1024, 64 * 1024 * 1024),
  MAX_PENDING_FRAMES: intVar("MAX_PENDING_FRAMES", 4, 1, 1000),
  MAX_PENDING_BYTES: intVar("MAX_PENDING_BYTES", 8 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  // Bounded so that a full context stays well inside the decoder's 200 000-value budget.
  MAX_ACTIVE_TASKS: intVar("MAX_ACTIVE_TASKS", 1000, 1, 10_000),
  MAX_PAST_TASKS: intVar("MAX_PAST_TASKS", 500, 1, 5_000),
  MAX_GOALS: intVar("MAX_GOALS", 100, 1, 1_000),
  MAX_TOOL_RESULTS: intVar("MAX_TOOL_RESULTS", 50, 1, 500),
  MAX_SESSIONS: intVar("MAX_SESSIONS", 10_000, 1, 1_000_000),
  MAX_SESSIONS_PER_USER: intVar("MAX_SESSIONS_PER_USER", 5, 1, 10_000),
  RATE_LIMIT_FRAMES_PER_MINUTE: intVar("RATE_LIMIT_FRAMES_PER_MINUTE", 120, 0, 1_000_000),
  USER_DAILY_BUDGET_USD: numberVar("USER_DAILY_BUDGET_USD", 0, 0, 1_000_000),
  REDIS_URL: redisUrlVar("REDIS_URL"),
  REDIS_CA_CERT: z.string().optional().transform((value, ctx) => {
    if (value === undefined || value.trim() === "") return undefined;
    if (!value.includes("-----BEGIN CERTIFICATE-----")) {
      ctx.addIssue({
        code: "custom",
        message: "REDIS_CA_CERT must hold PEM certificates (-----BEGIN CERTIFICATE-----)",
      });
      return z.NEVER;
    }
    return value.trim();
  }),
  REDIS_TIMEOUT_MS: intVar("REDIS_TIMEOUT_MS", 50, 1, 10_000),
  REDIS_SESSION_LEASE_SEC: intVar("REDIS_SESSION_LEASE_SEC", 30, 1, 3_600),
  IDLE_TIMEOUT_SEC: intVar("IDLE_TIMEOUT_SEC", 30, 1, 3_600),
  DRAIN_TIMEOUT_MS: intVar("DRAIN_TIMEOUT_MS", 20_000, 0, 600_000),
  HELLO_TIMEOUT_MS: intVar("HELLO_TIMEOUT_MS", 15_000, 1, 600_000),
  HEADER_TIMEOUT_MS: intVar("HEADER_TIMEOUT_MS", 10_000, 0, 600_000),
  METRICS_PORT: intVar("METRICS_PORT", 9464, 0, 65535),
  SKIP_UNCHANGED_SEC: intVar("SKIP_UNCHANGED_SEC", 300, 0, 86_400),
  SKIP_HASH_DISTANCE: intVar("SKIP_HASH_DISTANCE", 4, 0, 64),
  PRIVACY_SKIP_APPS: globListVar("PRIVACY_SKIP_APPS", DEFAULT_SKIP_APPS),
  PRIVACY_SKIP_TITLES: globListVar("PRIVACY_SKIP_TITLES", DEFAULT_SKIP_TITLES),
  PRIVACY_REDACT_CONTACTS: boolVar("PRIVACY_REDACT_CONTACTS", false),
  CONSOLE: enumVar("CONSOLE", ["on", "off"] as const),
  LOG_LEVEL: enumVar("LOG_LEVEL", LOG_LEVELS),
});

/** The variables this service reads, for documentation and tests. */
export const CONFIG_VARIABLES = Object.keys(EnvSchema.shape);

/** `OPENAI_BASE_URL` (already a valid URL) without its trailing slash, or the default. */
function openaiBaseUrl(url: string | undefined): string {
  return url ? url.replace(/\/+$/, "") : DEFAULT_OPENAI_BASE_URL;
}

/** The defaults that depend on other variables. */
function derived(e: {
  HOST?: string | undefined;
  MODEL_PROVIDER?: Config["modelProvider"] | undefined;
  GEMINI_API_KEY?: string | undefined;
  AUTH_MODE?: Config["authMode"] | undefined;
  FIREBASE_PROJECT_ID?: string | undefined;
}) {
  return {
    host: e.HOST ?? "127.0.0.1",
    modelProvider: e.MODEL_PROVIDER ?? (e.GEMINI_API_KEY ? "gemini" : "offline"),
    authMode: e.AUTH_MODE ?? (e.FIREBASE_PROJECT_ID ? "firebase" : "none"),
  } as const;
}

/** Reads and validates the configuration; throws {@link ConfigError} when it is bad. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = EnvSchema.safeParse(env);
  const lines = parsed.success ? [] : parsed.error.issues.map((issue) => issue.message);
  // Rules across variables still run when other variables are bad: one line for each.
  const picked = EnvSchema.pick({
    HOST: true,
    MODEL_PROVIDER: true,
    GEMINI_API_KEY: true,
    GOOGLE_CLOUD_PROJECT: true,
    OPENAI_API_KEY: true,
    MODEL_FALLBACKS: true,
    AUTH_MODE: true,
    FIREBASE_PROJECT_ID: true,
  }).safeParse(env);
  if (picked.success) {
    const { host, modelProvider, authMode } = derived(picked.data);
    const hostOk = isHostSyntax(host);
    if (!hostOk) {
      lines.push(`HOST must be an IP address or a host name, got ${quoted(host)}`);
    }
    if (hostOk && authMode === "none" && !isLoopback(host)) {
      lines.push(
        `AUTH_MODE=none is refused when HOST is not loopback (HOST=${host}); set FIREBASE_PROJECT_ID`,
      );
    }
    if (authMode === "firebase" && !picked.data.FIREBASE_PROJECT_ID) {
      lines.push("FIREBASE_PROJECT_ID is required when AUTH_MODE=firebase");
    }
    // The primary and each fallback need their provider's credentials; one line per provider.
    const providers = new Map<ModelProvider, string>([[modelProvider, "MODEL_PROVIDER"]]);
    for (const ref of picked.data.MODEL_FALLBACKS) {
      if (!providers.has(ref.provider)) providers.set(ref.provider, "MODEL_FALLBACKS");
    }
    for (const [provider, by] of providers) {
      const named = by === "MODEL_PROVIDER"
        ? `MODEL_PROVIDER=${provider}`
        : `MODEL_FALLBACKS has ${provider}`;
      if (provider === "gemini" && !picked.data.GEMINI_API_KEY) {
        lines.push(`GEMINI_API_KEY is required when ${named}`);
      }
      if (provider === "vertex" && !picked.data.GOOGLE_CLOUD_PROJECT) {
        lines.push(`GOOGLE_CLOUD_PROJECT is required when ${named}`);
      }
      if (provider === "openai" && !picked.data.OPENAI_API_KEY) {
        // OpenAI's own API needs a key; a local server (another OPENAI_BASE_URL) may not. A
        // bad URL has its own line.
        const base = EnvSchema.shape.OPENAI_BASE_URL.safeParse(env.OPENAI_BASE_URL);
        if (base.success && openaiBaseUrl(base.data) === DEFAULT_OPENAI_BASE_URL) {
          const when = by === "MODEL_PROVIDER"
            ? `${named} uses api.openai.com`
            : "MODEL_FALLBACKS has an openai model on api.openai.com";
          lines.push(
            `OPENAI_API_KEY is required when ${when} ` +
              "(set OPENAI_BASE_URL for a server that needs no key)",
          );
        }
      }
    }
  }
  if (parsed.success && parsed.data.ANALYSIS_TIMEOUT_MS <= parsed.data.TOOL_RESULT_TIMEOUT_MS) {
    lines.push("ANALYSIS_TIMEOUT_MS must be larger than TOOL_RESULT_TIMEOUT_MS");
  }
  if (
    parsed.success && parsed.data.METRICS_PORT !== 0 &&
    parsed.data.METRICS_PORT === parsed.data.PORT
  ) {
    lines.push("METRICS_PORT must differ from PORT: metrics are never served on the public port");
  }
  if (
    parsed.success && parsed.data.REDIS_CA_CERT &&
    !parsed.data.REDIS_URL?.toLowerCase().startsWith("rediss:")
  ) {
    lines.push("REDIS_CA_CERT needs a rediss:// REDIS_URL (TLS)");
  }
  if (!parsed.success || lines.length) throw new ConfigError(lines);

  const e = parsed.data;
  const { host, modelProvider, authMode } = derived(e);
  const config: Config = {
    port: e.PORT,
    host,
    modelProvider,
    geminiModel: e.GEMINI_MODEL ?? "gemini-2.5-flash",
    geminiThinkingBudget: e.GEMINI_THINKING_BUDGET,
    googleCloudLocation: e.GOOGLE_CLOUD_LOCATION ?? "us-central1",
    openaiBaseUrl: openaiBaseUrl(e.OPENAI_BASE_URL),
    openaiModel: e.OPENAI_MODEL ?? "gpt-4.1-mini",
    openaiVision: e.OPENAI_VISION,
    modelFallbacks: e.MODEL_FALLBACKS,
    modelCooldownSec: e.MODEL_COOLDOWN_SEC,
    modelProbe: e.MODEL_PROBE,
    modelPrices: e.MODEL_PRICES,
    authMode,
    firebaseJwksUrl: e.FIREBASE_JWKS_URL ?? DEFAULT_FIREBASE_JWKS_URL,
    firebaseClockToleranceSec: e.FIREBASE_CLOCK_TOLERANCE_SEC,
    toolResultTimeoutMs: e.TOOL_RESULT_TIMEOUT_MS,
    modelCallTimeoutMs: e.MODEL_CALL_TIMEOUT_MS,
    analysisTimeoutMs: e.ANALYSIS_TIMEOUT_MS,
    maxMessageBytes: e.MAX_MESSAGE_BYTES,
    maxPendingFrames: e.MAX_PENDING_FRAMES,
    maxPendingBytes: e.MAX_PENDING_BYTES,
    listCaps: {
      activeTasks: e.MAX_ACTIVE_TASKS,
      pastTasks: e.MAX_PAST_TASKS,
      goals: e.MAX_GOALS,
      toolResults: e.MAX_TOOL_RESULTS,
    },
    maxSessions: e.MAX_SESSIONS,
    maxSessionsPerUser: e.MAX_SESSIONS_PER_USER,
    rateLimitFramesPerMinute: e.RATE_LIMIT_FRAMES_PER_MINUTE,
    userDailyBudgetUsd: e.USER_DAILY_BUDGET_USD,
    redisTimeoutMs: e.REDIS_TIMEOUT_MS,
    redisSessionLeaseSec: e.REDIS_SESSION_LEASE_SEC,
    idleTimeoutSec: e.IDLE_TIMEOUT_SEC,
    drainTimeoutMs: e.DRAIN_TIMEOUT_MS,
    helloTimeoutMs: e.HELLO_TIMEOUT_MS,
    headerTimeoutMs: e.HEADER_TIMEOUT_MS,
    metricsPort: e.METRICS_PORT,
    skipUnchangedSec: e.SKIP_UNCHANGED_SEC,
    skipHashDistance: e.SKIP_HASH_DISTANCE,
    privacySkipApps: e.PRIVACY_SKIP_APPS,
    privacySkipTitles: e.PRIVACY_SKIP_TITLES,
    privacyRedactContacts: e.PRIVACY_REDACT_CONTACTS,
    console: (e.CONSOLE ?? (authMode === "none" ? "on" : "off")) === "on",
    logLevel: e.LOG_LEVEL ?? "info",
  };
  if (e.GEMINI_API_KEY) config.geminiApiKey = e.GEMINI_API_KEY;
  if (e.GEMINI_BASE_URL) config.geminiBaseUrl = e.GEMINI_BASE_URL;
  if (e.GEMINI_MEDIA_RESOLUTION) config.geminiMediaResolution = e.GEMINI_MEDIA_RESOLUTION;
  if (e.GOOGLE_CLOUD_PROJECT) config.googleCloudProject = e.GOOGLE_CLOUD_PROJECT;
  if (e.OPENAI_API_KEY) config.openaiApiKey = e.OPENAI_API_KEY;
  if (e.FIREBASE_PROJECT_ID) config.firebaseProjectId = e.FIREBASE_PROJECT_ID;
  if (e.REDIS_URL) config.redisUrl = e.REDIS_URL;
  if (e.REDIS_CA_CERT) config.redisCaCert = e.REDIS_CA_CERT;
  return config;
}

/**
 * Variables that only a listening server reads: its address, authentication, the
 * process-wide limits, the drain, the request-head guard, the metrics port and the log level.
 */
export const SERVER_ONLY_VARIABLES = [
  "PORT",
  "HOST",
  "AUTH_MODE",
  "FIREBASE_PROJECT_ID",
  "FIREBASE_JWKS_URL",
  "FIREBASE_CLOCK_TOLERANCE_SEC",
  "MAX_SESSIONS",
  "MAX_SESSIONS_PER_USER",
  "RATE_LIMIT_FRAMES_PER_MINUTE",
  "USER_DAILY_BUDGET_USD",
  "REDIS_URL",
  "REDIS_CA_CERT",
  "REDIS_TIMEOUT_MS",
  "REDIS_SESSION_LEASE_SEC",
  "DRAIN_TIMEOUT_MS",
  "HEADER_TIMEOUT_MS",
  "METRICS_PORT",
  "MODEL_PROBE",
  "CONSOLE",
  "LOG_LEVEL",
] as const satisfies readonly (keyof typeof EnvSchema.shape)[];

/**
 * {@link loadConfig} for an in-process server on loopback without authentication (the replay
 * command): the {@link SERVER_ONLY_VARIABLES} are not read, so they are never refused; the
 * model, prices, deadlines and per-session limits are validated as usual. The listen,
 * authentication and process-wide fields of the result are defaults, not the environment's.
 */
export function loadAnalysisConfig(env: Record<string, string | undefined>): Config {
  const used = { ...env };
  for (const name of SERVER_ONLY_VARIABLES) delete used[name];
  return loadConfig(used);
}
