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

/** What a logger and all its children share. */
interface LoggerCore {
  min: number;
  sink: (line: string, level: LogLevel) => void;
  now: () => Date;
}

/**
 * A logger and its fixed fields. Every session holds a child, so a child is one small
 * object: its methods live on the prototype and its fields are redacted on the first line
 * actually written.
 */
class JsonLogger implements Logger {
  readonly #core: LoggerCore;
  readonly #base: LogFields;
  #fixed: LogFields | undefined;

  constructor(core: LoggerCore, base: LogFields) {
    this.#core = core;
    this.#base = base;
  }

  debug(message: string, fields?: LogFields): void {
    this.#write("debug", message, fields);
  }

  info(message: string, fields?: LogFields): void {
    this.#write("info", message, fields);
  }

  warn(message: string, fields?: LogFields): void {
    this.#write("warn", message, fields);
  }

  error(message: string, fields?: LogFields): void {
    this.#write("error", message, fields);
  }

  child(fields: LogFields): Logger {
    return new JsonLogger(this.#core, { ...this.#base, ...fields });
  }

  #write(level: LogLevel, message: string, fields?: LogFields): void {
    const core = this.#core;
    if (LOG_LEVELS.indexOf(level) < core.min) return;
    this.#fixed ??= redact(this.#base);
    const line = { time: core.now().toISOString(), level, msg: message, ...this.#fixed };
    core.sink(JSON.stringify(fields ? { ...line, ...redact(fields) } : line), level);
  }
}

/** Creates a logger that writes one JSON object per line. */
export function createLogger(options: LoggerOptions, base: LogFields = {}): Logger {
  const core: LoggerCore = {
    min: LOG_LEVELS.indexOf(options.level),
    sink: options.sink ?? defaultSink,
    now: options.now ?? (() => new Date()),
  };
  return new JsonLogger(core, { ...base });
}

/** A logger that writes nothing, for tests and tools. */
export const silentLogger: Logger = createLogger({ level: "error", sink: () => {} });
