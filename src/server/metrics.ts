/**
 * Prometheus metrics, written in the text exposition format (0.0.4) by hand.
 *
 * Why not `prom-client`: it is built for Node (cluster aggregation, `process` default
 * metrics, `perf_hooks` GC hooks) and pulls in dependencies we would not use; what we need
 * is three metric kinds with labels, which fits in this file and is tested against the
 * format's rules.
 *
 * Label values are ours (outcome kinds, error codes, reasons), never user content, so the
 * number of series stays small and bounded.
 *
 * @module
 */

type Labels = Record<string, string>;

interface Metric {
  render(): string;
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

const NEEDS_ESCAPE = /[\\\n"]/;

function escapeLabel(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** `{k="v",…}`, the series' key and its text in the exposition (runs on every count). */
function labelText(labels: Labels): string {
  let text = "";
  for (const key in labels) {
    text += `${text ? "," : "{"}${key}="${escapeLabel(labels[key]!)}"`;
  }
  return text && `${text}}`;
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

function header(name: string, help: string, type: string): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
}

/** A monotonically increasing count, per label set. */
export class Counter<L extends string = never> implements Metric {
  #name: string;
  #help: string;
  #values = new Map<string, { labels: Labels; value: number }>();

  constructor(name: string, help: string) {
    this.#name = name;
    this.#help = help;
  }

  /** Adds `by` (default 1; negative amounts are ignored: counters only go up). */
  inc(labels: Record<L, string> = {} as Record<L, string>, by = 1): void {
    if (!(by > 0)) return;
    const key = labelText(labels);
    const entry = this.#values.get(key);
    if (entry) entry.value += by;
    else this.#values.set(key, { labels: { ...labels }, value: by });
  }

  /** The current value for `labels` (0 when never incremented). */
  get(labels: Record<L, string> = {} as Record<L, string>): number {
    return this.#values.get(labelText(labels))?.value ?? 0;
  }

  render(): string {
    let out = header(this.#name, this.#help, "counter");
    for (const [key, { value }] of this.#values) {
      out += `${this.#name}${key} ${formatNumber(value)}\n`;
    }
    return out;
  }
}

/** A value that goes up and down, or is read when scraped. */
export class Gauge implements Metric {
  #name: string;
  #help: string;
  #read: () => number;

  /** `read` is called at every scrape, so the gauge can never drift from the truth. */
  constructor(name: string, help: string, read: () => number) {
    this.#name = name;
    this.#help = help;
    this.#read = read;
  }

  render(): string {
    return `${header(this.#name, this.#help, "gauge")}${this.#name} ${
      formatNumber(this.#read())
    }\n`;
  }
}

/** Observations in cumulative buckets, with their sum and count. */
export class Histogram implements Metric {
  #name: string;
  #help: string;
  #bounds: number[];
  #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(name: string, help: string, buckets: number[]) {
    this.#name = name;
    this.#help = help;
    this.#bounds = [...buckets].sort((a, b) => a - b);
    this.#counts = new Array(this.#bounds.length).fill(0);
  }

  /** Records one observation. */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    this.#sum += value;
    this.#count++;
    const i = this.#bounds.findIndex((bound) => value <= bound);
    if (i >= 0) this.#counts[i]!++;
  }

  /** Number of observations so far. */
  get count(): number {
    return this.#count;
  }

  render(): string {
    let out = header(this.#name, this.#help, "histogram");
    let cumulative = 0;
    for (let i = 0; i < this.#bounds.length; i++) {
      cumulative += this.#counts[i]!;
      out += `${this.#name}_bucket{le="${formatNumber(this.#bounds[i]!)}"} ${cumulative}\n`;
    }
    out += `${this.#name}_bucket{le="+Inf"} ${this.#count}\n`;
    out += `${this.#name}_sum ${formatNumber(this.#sum)}\n`;
    out += `${this.#name}_count ${this.#count}\n`;
    return out;
  }
}

/** Seconds, from a fast local answer to a frame's whole deadline. */
const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 45, 60];

/** Seconds, for Redis: a loopback round trip up to well past any sane `REDIS_TIMEOUT_MS`. */
const REDIS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** Everything this service measures. */
export class Metrics {
  readonly sessionsTotal = new Counter("proactive_sessions_total", "Sessions opened.");
  readonly framesTotal = new Counter<"outcome">(
    "proactive_frames_total",
    "Frames answered, by outcome kind or server_error code.",
  );
  readonly frameDuration = new Histogram(
    "proactive_frame_duration_seconds",
    "Time from a frame's start of analysis to its terminal message.",
    SECONDS_BUCKETS,
  );
  readonly modelCallDuration = new Histogram(
    "proactive_model_call_duration_seconds",
    "Duration of one model call, retries included.",
    SECONDS_BUCKETS,
  );
  readonly modelCallErrors = new Counter<"reason">(
    "proactive_model_call_errors_total",
    "Model calls that failed, by reason.",
  );
  readonly modelFallbacks = new Counter<"model" | "reason">(
    "proactive_model_fallbacks_total",
    "Model calls that moved on to the next model of MODEL_FALLBACKS, by the model left and why.",
  );
  readonly toolCallsTotal = new Counter<"tool_kind">(
    "proactive_tool_calls_total",
    "Searches the desktop was asked to run, by tool kind.",
  );
  readonly toolWait = new Histogram(
    "proactive_tool_wait_seconds",
    "Time waited for the desktop's tool_result (or until the wait ended).",
    SECONDS_BUCKETS,
  );
  readonly toolTimeouts = new Counter(
    "proactive_tool_timeouts_total",
    "Tool waits that ended without a result.",
  );
  readonly tokensTotal = new Counter<"kind">(
    "proactive_model_tokens_total",
    "Model tokens, by kind (input, output, thinking; cached: the part of input from the cache).",
  );
  readonly costTotal = new Counter(
    "proactive_model_cost_usd_total",
    "Model cost in US dollars, from the price table.",
  );
  readonly rejectedTotal = new Counter<"reason">(
    "proactive_connections_rejected_total",
    "Upgrade requests refused before the WebSocket opened, by reason.",
  );
  readonly rateLimitedTotal = new Counter(
    "proactive_frames_rate_limited_total",
    "Frames refused with RATE_LIMITED.",
  );
  readonly helloTimeouts = new Counter(
    "proactive_hello_timeouts_total",
    "Connections closed (1008) because no client_hello came in time.",
  );
  readonly listItemsCut = new Counter<"list">(
    "proactive_message_list_items_cut_total",
    "List elements beyond their cap, cut from messages unexamined, by list path.",
  );
  readonly connectionTimeouts = new Counter<"phase">(
    "proactive_connection_timeouts_total",
    "Connections closed for sending their request head too slowly (phase head) or for getting " +
      "no response in time (phase response).",
  );
  readonly acceptErrors = new Counter(
    "proactive_accept_errors_total",
    "Failed accepts on the public port (e.g. out of file descriptors); each is retried.",
  );
  readonly framesSkipped = new Counter<"reason">(
    "proactive_frames_skipped_total",
    "Frames answered without a model call, by reason (unchanged_screen, privacy).",
  );
  readonly redactions = new Counter<"kind">(
    "proactive_redactions_total",
    "Findings redacted from frames before any model saw them, by kind (card, api_key, ...).",
  );
  readonly budgetLimitedTotal = new Counter(
    "proactive_frames_budget_limited_total",
    "Frames refused with RATE_LIMITED because the user's daily budget was spent.",
  );
  readonly redisDuration = new Histogram(
    "proactive_redis_command_duration_seconds",
    "Duration of one Redis command of the shared limits (answered, failed or timed out).",
    REDIS_BUCKETS,
  );
  readonly redisErrors = new Counter<"reason">(
    "proactive_redis_errors_total",
    "Redis failures of the shared limits, by reason (timeout, error, unavailable, connection, malformed).",
  );
  readonly redisFallbacks = new Counter<"op">(
    "proactive_redis_fallbacks_total",
    "Limit decisions taken with this process's own limiters because Redis did not answer in " +
      "time, by operation (session, frame).",
  );
  #metrics: Metric[];

  /** `activeSessions` is read at each scrape (the registry's size). */
  constructor(activeSessions: () => number) {
    const active = new Gauge(
      "proactive_sessions_active",
      "Open WebSocket sessions in this process.",
      activeSessions,
    );
    this.#metrics = [
      active,
      this.sessionsTotal,
      this.framesTotal,
      this.frameDuration,
      this.modelCallDuration,
      this.modelCallErrors,
      this.modelFallbacks,
      this.toolCallsTotal,
      this.toolWait,
      this.toolTimeouts,
      this.tokensTotal,
      this.costTotal,
      this.rejectedTotal,
      this.rateLimitedTotal,
      this.helloTimeouts,
      this.listItemsCut,
      this.connectionTimeouts,
      this.acceptErrors,
      this.framesSkipped,
      this.redactions,
      this.budgetLimitedTotal,
      this.redisDuration,
      this.redisErrors,
      this.redisFallbacks,
    ];
  }

  /** The exposition text served at `/metrics`. */
  render(): string {
    return this.#metrics.map((m) => m.render()).join("");
  }
}

/** The content type of {@link Metrics.render}'s text. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
