/**
 * A {@link Model} decorator that measures every call: duration, errors, tokens and cost
 * into the metrics, and one OpenTelemetry span per call (Deno's built-in OTel; a no-op
 * unless `OTEL_DENO=true`). Attributes carry counts and names only, never user content.
 *
 * @module
 */
import { SpanStatusCode, trace } from "@opentelemetry/api";
import {
  type Conversation,
  type Model,
  ModelError,
  type ModelReply,
  type ModelUsage,
} from "../analysis/model.ts";
import type { Metrics } from "../server/metrics.ts";

const tracer = trace.getTracer("proactive");

/** Wraps `model` so that each call is counted in `metrics` and traced. */
export class InstrumentedModel implements Model {
  readonly name: string;
  #model: Model;
  #metrics: Metrics;

  constructor(model: Model, metrics: Metrics) {
    this.name = model.name;
    this.#model = model;
    this.#metrics = metrics;
  }

  generate(conversation: Conversation, signal: AbortSignal): Promise<ModelReply> {
    return tracer.startActiveSpan("model.generate", async (span) => {
      span.setAttribute("model.name", this.name);
      span.setAttribute("model.turn", conversation.turns.length);
      const started = performance.now();
      try {
        const reply = await this.#model.generate(conversation, signal);
        const { usage } = reply;
        this.#count(usage);
        span.setAttribute("model.input_tokens", usage.inputTokens);
        span.setAttribute("model.cached_input_tokens", usage.cachedInputTokens ?? 0);
        span.setAttribute("model.output_tokens", usage.outputTokens);
        if (reply.functionCall) span.setAttribute("model.function", reply.functionCall.name);
        if (reply.finishReason) span.setAttribute("model.finish_reason", reply.finishReason);
        return reply;
      } catch (err) {
        const reason = signal.aborted
          ? (signal.reason as { name?: string } | undefined)?.name === "TimeoutError"
            ? "timeout"
            : "aborted"
          : err instanceof ModelError
          ? err.code.toLowerCase()
          : "unknown";
        this.#metrics.modelCallErrors.inc({ reason });
        // A call that failed may have been billed (replies that could not be read).
        if (err instanceof ModelError && err.usage) this.#count(err.usage);
        span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
        throw err;
      } finally {
        this.#metrics.modelCallDuration.observe((performance.now() - started) / 1000);
        span.end();
      }
    });
  }

  /** Adds a call's tokens and cost to the metrics. */
  #count(usage: ModelUsage): void {
    this.#metrics.tokensTotal.inc({ kind: "input" }, usage.inputTokens);
    // Part of the input tokens, not on top of them: served from the prompt cache.
    this.#metrics.tokensTotal.inc({ kind: "cached" }, usage.cachedInputTokens ?? 0);
    this.#metrics.tokensTotal.inc({ kind: "output" }, usage.outputTokens);
    this.#metrics.tokensTotal.inc({ kind: "thinking" }, usage.thinkingTokens ?? 0);
    this.#metrics.costTotal.inc({}, usage.costUsd);
  }
}
