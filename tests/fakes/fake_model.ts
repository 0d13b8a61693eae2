/**
 * A scripted {@link Model}: each call takes the next step of a script. It records every call
 * and whether its signal aborted, so tests can assert that a disconnect reached the model.
 */
import type {
  Conversation,
  FunctionCall,
  Model,
  ModelReply,
  ModelUsage,
} from "../../src/analysis/model.ts";

/** One scripted answer: a reply, a failure, a hang, or custom behaviour. */
export type Step =
  | { call: FunctionCall; usage?: Partial<ModelUsage>; delayMs?: number }
  | { text: string; finishReason?: string }
  | { throws: unknown }
  | { hang: true }
  | ((conversation: Conversation, signal: AbortSignal) => Promise<ModelReply>);

/** A recorded model call. */
export interface RecordedCall {
  turns: Conversation["turns"];
  signal: AbortSignal;
  /** Set when the call's signal aborted while the call was running. */
  aborted: boolean;
}

const USAGE: ModelUsage = { inputTokens: 100, outputTokens: 10, costUsd: 0.0001 };

/** Shorthand for a function-call step. */
export function call(name: string, args: Record<string, unknown> = {}): Step {
  return { call: { name, args } };
}

/** A model that follows a script; a call past its end fails the test loudly. */
export class ScriptedModel implements Model {
  readonly name = "scripted";
  readonly calls: RecordedCall[] = [];
  #steps: Step[];
  #abortWaiters: Array<() => void> = [];

  constructor(steps: Step[]) {
    this.#steps = [...steps];
  }

  /** Resolves once some call has seen its signal abort. */
  sawAbort(): Promise<void> {
    if (this.calls.some((c) => c.aborted)) return Promise.resolve();
    return new Promise((resolve) => this.#abortWaiters.push(resolve));
  }

  async generate(conversation: Conversation, signal: AbortSignal): Promise<ModelReply> {
    const record: RecordedCall = { turns: [...conversation.turns], signal, aborted: false };
    this.calls.push(record);
    const onAbort = () => {
      record.aborted = true;
      for (const wake of this.#abortWaiters.splice(0)) wake();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const step = this.#steps.shift();
      if (!step) throw new Error(`ScriptedModel: no step left for call ${this.calls.length}`);
      if (typeof step === "function") return await step(conversation, signal);
      if ("hang" in step) {
        return await new Promise<never>((_, reject) => {
          if (signal.aborted) reject(signal.reason);
          signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        });
      }
      if ("throws" in step) throw step.throws;
      if ("text" in step) {
        const reply: ModelReply = { text: step.text, content: { text: step.text }, usage: USAGE };
        if (step.finishReason) reply.finishReason = step.finishReason;
        return reply;
      }
      if (step.delayMs) await delay(step.delayMs, signal);
      return {
        functionCall: step.call,
        content: { functionCall: step.call },
        usage: { ...USAGE, ...step.usage },
      };
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }
}

/** The reply of a step that decides no_task_found. */
function noTaskReply(): ModelReply {
  return {
    functionCall: { name: "no_task_found", args: {} },
    content: {},
    usage: { inputTokens: 1, outputTokens: 1, costUsd: 0 },
  };
}

/** A step that decides no_task_found once `gate` resolves (or rejects when the call aborts). */
export function gated(gate: Promise<void>): Step {
  return async (_conversation: Conversation, signal: AbortSignal): Promise<ModelReply> => {
    await Promise.race([
      gate,
      new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
    ]);
    return noTaskReply();
  };
}

/** A step that records the request it was given, then decides no_task_found. */
export function recording(into: Conversation["request"][]): Step {
  return (conversation: Conversation) => {
    into.push(conversation.request);
    return Promise.resolve(noTaskReply());
  };
}

/** Waits `ms`, or rejects with the signal's reason. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
