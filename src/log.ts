/**
 * JSON-line logger, and the only place that redacts.
 *
 * Callers pass structured fields; this module drops the values of fields that may carry
 * secrets or user content and shortens user ids to 8 characters, so a careless call site
 * cannot leak them. Log messages themselves are fixed strings written by us.
 *
 * @module
 */
import { LOG_LEVELS, type LogLevel } from "./config.ts";

/** Field values a log line may carry. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** A structured logger; `child` adds fields to every line (session id, user id, …). */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  level: LogLevel;
  /** Where finished lines go; default: stdout (stderr for warn and error). */
  sink?: (line: string, level: LogLevel) => void;
  /** Clock for the `time` field; injectable for tests. */
  now?: () => Date;
}

/** Fields whose values never reach a log line. */
const REDACTED_FIELDS = new Set([
  "token",
  "authorization",
  "api_key",
  "apikey",
  "key",
  "ocr_text",
  "jpeg_base64",
  "screenshot",
  "title",
  "description",
  "window_title",
  "query",
  "text",
  "prompt",
]);

/** User ids are personal data: keep enough to correlate, not to identify. */
export function truncateUserId(userId: string): string {
  return userId.length > 8 ? `${userId.slice(0, 8)}…` : userId;
}

function redact(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const k = key.toLowerCase();
    if (REDACTED_FIELDS.has(k)) out[key] = "[redacted]";
    else if ((k === "uid" || k === "user_id" || k === "user") && typeof value === "string") {
      out[key] = truncateUserId(value);
    } else if (typeof value === "string" && value.length > 200) {
      out[key] = `${value.slice(0, 200)}…`;
    } else out[key] = value;
  }
  return out;
}

function defaultSink(line: string, level: LogLevel): void {
  if (level === "warn" || level === "error") console.error(line);
  else console.log(line);
}

/** Creates a logger that writes one JSON object per line. */
export function createLogger(options: LoggerOptions, base: LogFields = {}): Logger {
  const min = LOG_LEVELS.indexOf(options.level);
  const sink = options.sink ?? defaultSink;
  const now = options.now ?? (() => new Date());
  const fixed = redact(base);
  const write = (level: LogLevel, message: string, fields?: LogFields) => {
    if (LOG_LEVELS.indexOf(level) < min) return;
    const line = { time: now().toISOString(), level, msg: message, ...fixed };
    sink(JSON.stringify(fields ? { ...line, ...redact(fields) } : line), level);
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => createLogger(options, { ...base, ...fields }),
  };
}

/** A logger that writes nothing, for tests and tools. */
export const silentLogger: Logger = createLogger({ level: "error", sink: () => {} });
