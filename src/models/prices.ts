/**
 * Per-model token prices, for `usage.cost_usd`.
 *
 * Defaults are Google's published paid-tier prices for text/image input and output
 * (thinking is billed as output) and OpenAI list prices for a few models (to verify, see the
 * table), in USD per million tokens; `MODEL_PRICES` overrides or extends them, e.g.
 * `{"gemini-2.5-flash":{"input":0.3,"output":2.5,"cachedInput":0.075}}`.
 *
 * `cachedInput` is the price of input tokens Gemini's implicit cache served
 * (`usageMetadata.cachedContentTokenCount`, which `promptTokenCount` includes). The defaults
 * are input × 0.25, a quarter of the input price as the caching work was planned: Google's
 * own pricing page could not be read from where this was written, so the figure is not
 * verified (third-party summaries say the page now lists 10% of input, e.g. $0.03 for
 * 2.5 Flash). Set `cachedInput` in `MODEL_PRICES` to bill what the invoice says; left out,
 * it is input × {@link CACHED_INPUT_SHARE}.
 *
 * @module
 */
import { z } from "zod";

/** USD per million tokens. */
export interface Price {
  input: number;
  output: number;
  /** Input tokens served from the implicit cache; default input × {@link CACHED_INPUT_SHARE}. */
  cachedInput?: number;
}

/** Prices by model name. */
export type PriceTable = Record<string, Price>;

/** The cached-input price as a share of the input price, when a table does not give one. */
export const CACHED_INPUT_SHARE = 0.25;

/** Defaults (prompts up to 200k tokens, which is all we ever send). */
export const DEFAULT_PRICES: PriceTable = {
  "gemini-2.5-flash": { input: 0.3, output: 2.5, cachedInput: 0.075 },
  "gemini-2.5-flash-lite": { input: 0.1, output: 0.4, cachedInput: 0.025 },
  "gemini-2.5-pro": { input: 1.25, output: 10, cachedInput: 0.3125 },
  // OpenAI list prices (standard tier) as remembered when this was written, not checked against
  // openai.com/api/pricing: verify them, or set MODEL_PRICES. `cachedInput` is OpenAI's cached
  // input price (prompt_tokens_details.cached_tokens). gpt-4.1-nano is listed so that the
  // prefix match of priceOf() cannot bill it as gpt-4.1.
  "gpt-4.1": { input: 2, output: 8, cachedInput: 0.5 },
  "gpt-4.1-mini": { input: 0.4, output: 1.6, cachedInput: 0.1 },
  "gpt-4.1-nano": { input: 0.1, output: 0.4, cachedInput: 0.025 },
  "gpt-4o-mini": { input: 0.15, output: 0.6, cachedInput: 0.075 },
};

const PriceTableSchema = z.record(
  z.string().min(1),
  z.object({
    input: z.number().nonnegative(),
    output: z.number().nonnegative(),
    cachedInput: z.number().nonnegative().optional(),
  }),
);

/** Parses `MODEL_PRICES`; returns an error sentence instead of throwing. */
export function parsePrices(json: string): PriceTable | string {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return "MODEL_PRICES must be JSON";
  }
  const parsed = PriceTableSchema.safeParse(raw);
  if (!parsed.success) {
    return 'MODEL_PRICES must look like {"<model>":{"input":<usd per 1M>,"output":<usd per 1M>}}' +
      ' (optionally with "cachedInput":<usd per 1M>)';
  }
  const table: PriceTable = { ...DEFAULT_PRICES };
  for (const [model, price] of Object.entries(parsed.data)) {
    table[model] = {
      input: price.input,
      output: price.output,
      cachedInput: price.cachedInput ?? price.input * CACHED_INPUT_SHARE,
    };
  }
  return table;
}

/** The price of a model: exact name first, then the longest known prefix (versioned names). */
export function priceOf(table: PriceTable, model: string): Price | undefined {
  if (table[model]) return table[model];
  let best: string | undefined;
  for (const name of Object.keys(table)) {
    if (model.startsWith(name) && (!best || name.length > best.length)) best = name;
  }
  return best ? table[best] : undefined;
}

/** The tokens of one call, as Gemini counts them. */
export interface CallTokens {
  /** Prompt tokens, cached ones included (Gemini's `promptTokenCount`). */
  input: number;
  /** Of `input`, the tokens served from the cache (`cachedContentTokenCount`). */
  cachedInput?: number;
  /** Answer and thinking tokens together (both billed as output). */
  output: number;
}

/**
 * Cost in USD of one call: uncached input at the input price, cached input at the cached
 * price, output at the output price. Unknown models cost 0 (and the provider logs it once).
 */
export function costOf(price: Price | undefined, tokens: CallTokens): number {
  if (!price) return 0;
  const cached = Math.min(Math.max(0, tokens.cachedInput ?? 0), tokens.input);
  const cachedPrice = price.cachedInput ?? price.input * CACHED_INPUT_SHARE;
  return ((tokens.input - cached) * price.input + cached * cachedPrice +
    tokens.output * price.output) / 1_000_000;
}
