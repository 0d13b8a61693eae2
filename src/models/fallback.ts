/**
 * A chain of models (`MODEL_FALLBACKS`): the primary first, then each fallback in order. A
 * call that fails for a reason another model would not share — rate limited (429), a server
 * error (5xx), the network, or no answer in time — after the model's own retries goes to the
 * next model, within the call's deadline. Any other failure (a refused key, a bad request,
 * an unreadable reply) is the frame's answer: another model would not fix the configuration.
 *
 * - **Time.** With another model left to try, an attempt gets half of the time left, so a
 *   primary that hangs leaves the next one time to answer; the last model gets all of it.
 *   A model is not tried with less than {@link MIN_ATTEMPT_MS} left.
 * - **Cool-down.** A model that failed is skipped for `cooldownMs`, so a pod does not pay
 *   each frame's timeout while its primary is down; it is tried first again once the time is
 *   up. When every model is cooling down, they are tried anyway, the one whose cool-down ends
 *   first first: a frame still gets its chance. Entering and leaving a cool-down is logged
 *   once each, with the model's name and the reason only.
 * - **A tool loop stays where it started.** Once a model asked for a search (the desktop
 *   got a `tool_call_request`), the frame's next calls go to that model alone: the next one
 *   would not know its history (and, for Gemini, its thought signatures).
 * - Every reply says which model gave it ({@link ModelReply.model}), so `usage.model` names
 *   the model that decided.
 *
 * @module
 */
import type {
  AnalysisRequest,
  Conversation,
  Model,
  ModelReply,
  ModelUsage,
} from "../analysis/model.ts";
import { addModelUsage, ModelError } from "../analysis/model.ts";
import { abortable } from "../async/abortable.ts";
import { Deadline } from "../async/deadline.ts";
import type { Logger } from "../log.ts";

/** Why a call moved on to the next model: a metric label. */
export type FallbackReason = "rate_limited" | "server_error" | "network" | "timeout";

/** Least time left worth trying another model in, ms. */
export const MIN_ATTEMPT_MS = 1_000;

/** Options of {@link FallbackModel}. */
export interface FallbackModelOptions {
  /** The primary, then the fallbacks, in order; at least one. */
  models: Model[];
  /** How long a model that failed is skipped, ms (0: never skipped). */
  cooldownMs: number;
  log: Logger;
  /** Called each time a call leaves `model` for the next one. */
  onFallback?: (model: string, reason: FallbackReason) => void;
  /** Monotonic milliseconds; injectable for tests. */
  now?: () => number;
}

/** The reason `err` should move a call to the next model, or none when it should not. */
export function fallbackReason(err: unknown): FallbackReason | undefined {
  if (!(err instanceof ModelError)) return undefined;
  switch (err.code) {
    case "NETWORK":
      return "network";
    case "TIMEOUT":
      return "timeout";
    case "HTTP":
      if (err.status === 429) return "rate_limited";
      return err.status !== undefined && err.status >= 500 ? "server_error" : undefined;
    default:
      return undefined;
  }
}

/** A {@link Model} that tries a chain of models (see the module doc). */
export class FallbackModel implements Model {
  readonly name: string;
  readonly #models: Model[];
  readonly #cooldownMs: number;
  readonly #log: Logger;
  readonly #onFallback: ((model: string, reason: FallbackReason) => void) | undefined;
  readonly #now: () => number;
  /** Models cooling down, with when their cool-down ends. */
  readonly #coolingUntil = new Map<Model, number>();
  /** The model each frame's conversation is with, once one answered. */
  readonly #pinned = new WeakMap<AnalysisRequest, Model>();

  constructor(options: FallbackModelOptions) {
    if (options.models.length === 0) throw new RangeError("FallbackModel needs a model");
    this.#models = options.models;
    this.name = options.models[0]!.name;
    this.#cooldownMs = options.cooldownMs;
    this.#log = options.log;
    this.#onFallback = options.onFallback;
    this.#now = options.now ?? (() => performance.now());
  }

  /** The models of the chain, primary first. */
  get models(): readonly Model[] {
    return this.#models;
  }

  async generate(conversation: Conversation, signal: AbortSignal): Promise<ModelReply> {
    const pinned = this.#pinned.get(conversation.request);
    if (pinned && conversation.turns.length > 0) {
      return named(await pinned.generate(conversation, signal), pinned);
    }
    const order = this.#order();
    let failure: unknown;
    /** What the models that failed were billed: spend of this call, whoever answers it. */
    const spent: ModelUsage = {
      inputTokens: 0,
      cachedInputTokens: 0,
      outputTokens: 0,
      thinkingTokens: 0,
      costUsd: 0,
    };
    /** The model that failed last, reported once the next one is actually tried. */
    let previous: { name: string; reason: FallbackReason } | undefined;
    for (let i = 0; i < order.length; i++) {
      const model = order[i]!;
      const last = i === order.length - 1;
      const left = (conversation.deadline ?? Infinity) - performance.now();
      if (i > 0 && left < MIN_ATTEMPT_MS) break;
      if (previous) this.#onFallback?.(previous.name, previous.reason);
      // Half the time left, unless the next model could not be tried in the other half:
      // then this one may take it all.
      const budget = !last && Number.isFinite(left) && left / 2 >= MIN_ATTEMPT_MS
        ? left / 2
        : undefined;
      using attempt = budget === undefined ? undefined : new Deadline(budget, signal);
      const attemptSignal = attempt?.signal ?? signal;
      try {
        // Raced against the attempt's signal: a provider that does not honour it (a
        // credential lookup that waits on its own timeout) cannot take the next model's time.
        const reply = await abortable(
          model.generate(
            budget === undefined
              ? conversation
              : { ...conversation, deadline: performance.now() + budget },
            attemptSignal,
          ),
          attemptSignal,
        );
        this.#recovered(model);
        this.#pinned.set(conversation.request, model);
        addModelUsage(reply.usage, spent);
        return named(reply, model);
      } catch (err) {
        if (signal.aborted) throw err;
        const reason = attempt?.expired ? "timeout" : fallbackReason(err);
        if (!reason) throw err instanceof ModelError ? err.billed(spent) : err;
        if (err instanceof ModelError && err.usage) addModelUsage(spent, err.usage);
        this.#coolDown(model, reason);
        failure = attempt?.expired ? new ModelError("TIMEOUT", "Model request timed out") : err;
        previous = { name: model.name, reason };
      }
    }
    // Every failure here is a ModelError whose usage is in `spent` already.
    const error = failure instanceof ModelError
      ? failure
      : new ModelError("TIMEOUT", "Model request timed out");
    throw new ModelError(error.code, error.message, { status: error.status, usage: spent });
  }

  /** The models to try: those not cooling down in order, then the rest by when they cool. */
  #order(): Model[] {
    const now = this.#now();
    const ready: Model[] = [];
    const cooling: Model[] = [];
    for (const model of this.#models) {
      // A model whose cool-down is over stays marked as failing until it answers.
      const until = this.#coolingUntil.get(model);
      if (until === undefined || until <= now) ready.push(model);
      else cooling.push(model);
    }
    cooling.sort((a, b) => this.#coolingUntil.get(a)! - this.#coolingUntil.get(b)!);
    return [...ready, ...cooling];
  }

  #coolDown(model: Model, reason: FallbackReason): void {
    if (this.#models.length < 2 || this.#cooldownMs <= 0) return;
    const wasCooling = this.#coolingUntil.has(model);
    this.#coolingUntil.set(model, this.#now() + this.#cooldownMs);
    if (!wasCooling) {
      this.#log.warn("model failing: the next model takes its calls", {
        model: model.name,
        reason,
        cooldown_ms: this.#cooldownMs,
      });
    }
  }

  #recovered(model: Model): void {
    if (this.#coolingUntil.delete(model)) {
      this.#log.info("model answering again", { model: model.name });
    }
  }
}

/** `reply`, naming `model` as the one that gave it unless a nested chain already did. */
function named(reply: ModelReply, model: Model): ModelReply {
  if (reply.model === undefined) reply.model = model.name;
  return reply;
}
