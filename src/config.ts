/**
 * Configuration: the environment of protocol.md §6, read and validated once at start-up.
 *
 * `loadConfig` takes a plain record (so tests need no real environment) and either returns a
 * typed {@link Config} or throws a {@link ConfigError} with one clear line per bad variable.
 * Secrets are never echoed in those lines.
 *
 * @module
 */
import { z } from "zod";

/** Log levels, most verbose first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** A log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The validated configuration of one process. */
export interface Config {
  port: number;
  host: string;
  modelProvider: "gemini" | "vertex" | "offline";
  geminiApiKey?: string;
  geminiModel: string;
  geminiBaseUrl?: string;
  authMode: "firebase" | "none";
  firebaseProjectId?: string;
  firebaseJwksUrl: string;
  toolResultTimeoutMs: number;
  modelCallTimeoutMs: number;
  analysisTimeoutMs: number;
  maxMessageBytes: number;
  maxPendingFrames: number;
  maxSessions: number;
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

const optText = z.string().optional().transform((v) => v?.trim() || undefined);

const EnvSchema = z.object({
  PORT: intVar("PORT", 8080, 0, 65535),
  HOST: optText,
  MODEL_PROVIDER: enumVar("MODEL_PROVIDER", ["gemini", "vertex", "offline"] as const),
  GEMINI_API_KEY: optText,
  GEMINI_MODEL: optText,
  GEMINI_BASE_URL: urlVar("GEMINI_BASE_URL"),
  AUTH_MODE: enumVar("AUTH_MODE", ["firebase", "none"] as const),
  FIREBASE_PROJECT_ID: optText,
  FIREBASE_JWKS_URL: urlVar("FIREBASE_JWKS_URL"),
  TOOL_RESULT_TIMEOUT_MS: intVar("TOOL_RESULT_TIMEOUT_MS", 10_000, 1, 600_000),
  MODEL_CALL_TIMEOUT_MS: intVar("MODEL_CALL_TIMEOUT_MS", 20_000, 1, 600_000),
  ANALYSIS_TIMEOUT_MS: intVar("ANALYSIS_TIMEOUT_MS", 45_000, 1, 600_000),
  MAX_MESSAGE_BYTES: intVar("MAX_MESSAGE_BYTES", 16 * 1024 * 1024, 1024, 64 * 1024 * 1024),
  MAX_PENDING_FRAMES: intVar("MAX_PENDING_FRAMES", 4, 1, 1000),
  MAX_SESSIONS: intVar("MAX_SESSIONS", 10_000, 1, 1_000_000),
  LOG_LEVEL: enumVar("LOG_LEVEL", LOG_LEVELS),
});

/** The variables this service reads, for documentation and tests. */
export const CONFIG_VARIABLES = Object.keys(EnvSchema.shape);

/** Reads and validates the configuration; throws {@link ConfigError} when it is bad. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => issue.message));
  }
  const e = parsed.data;
  const lines: string[] = [];
  const host = e.HOST ?? "127.0.0.1";
  const modelProvider = e.MODEL_PROVIDER ?? (e.GEMINI_API_KEY ? "gemini" : "offline");
  const authMode = e.AUTH_MODE ?? (e.FIREBASE_PROJECT_ID ? "firebase" : "none");

  if (authMode === "none" && !isLoopback(host)) {
    lines.push(
      `AUTH_MODE=none is refused when HOST is not loopback (HOST=${host}); set FIREBASE_PROJECT_ID`,
    );
  }
  if (authMode === "firebase") {
    lines.push("AUTH_MODE=firebase is not available in this build yet; use AUTH_MODE=none");
  }
  if (modelProvider !== "offline") {
    lines.push(
      `MODEL_PROVIDER=${modelProvider} is not available in this build yet; use MODEL_PROVIDER=offline`,
    );
  }
  if (e.ANALYSIS_TIMEOUT_MS <= e.TOOL_RESULT_TIMEOUT_MS) {
    lines.push("ANALYSIS_TIMEOUT_MS must be larger than TOOL_RESULT_TIMEOUT_MS");
  }
  if (lines.length) throw new ConfigError(lines);

  const config: Config = {
    port: e.PORT,
    host,
    modelProvider,
    geminiModel: e.GEMINI_MODEL ?? "gemini-2.5-flash",
    authMode,
    firebaseJwksUrl: e.FIREBASE_JWKS_URL ?? DEFAULT_FIREBASE_JWKS_URL,
    toolResultTimeoutMs: e.TOOL_RESULT_TIMEOUT_MS,
    modelCallTimeoutMs: e.MODEL_CALL_TIMEOUT_MS,
    analysisTimeoutMs: e.ANALYSIS_TIMEOUT_MS,
    maxMessageBytes: e.MAX_MESSAGE_BYTES,
    maxPendingFrames: e.MAX_PENDING_FRAMES,
    maxSessions: e.MAX_SESSIONS,
    logLevel: e.LOG_LEVEL ?? "info",
  };
  if (e.GEMINI_API_KEY) config.geminiApiKey = e.GEMINI_API_KEY;
  if (e.GEMINI_BASE_URL) config.geminiBaseUrl = e.GEMINI_BASE_URL;
  if (e.FIREBASE_PROJECT_ID) config.firebaseProjectId = e.FIREBASE_PROJECT_ID;
  return config;
}
