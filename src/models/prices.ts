/**
 * Per-model token prices, for `usage.cost_usd`.
 *
 * Defaults are Google's published paid-tier prices for text/image input and output
 * (thinking is billed as output), in USD per million tokens; `MODEL_PRICES` overrides or
 * extends them, e.g. `{"gemini-2.5-flash":{"input":0.3,"output":2.5}}`.
 *
 * @module
 */
import { z } from "zod";

/** USD per million tokens. */
export interface Price {
  input: number;
  output: number;
}

/** Prices by model name. */
export type PriceTable = Record<string, Price>;

/** Defaults (prompts up to 200k tokens, which is all we ever send). */
export const DEFAULT_PRICES: PriceTable = {
  "gemini-2.5-flash": { input: 0.3, output: 2.5 },
  "gemini-2.5-flash-lite": { input: 0.1, output: 0.4 },
  "gemini-2.5-pro": { input: 1.25, output: 10 },
};

const PriceTableSchema = z.record(
  z.string().min(1),
  z.object({ input: z.number().nonnegative(), output: z.number().nonnegative() }),
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
    return 'MODEL_PRICES must look like {"<model>":{"input":<usd per 1M>,"output":<usd per 1M>}}';
  }
  return { ...DEFAULT_PRICES, ...parsed.data };
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

/** Cost in USD of one call. Unknown models cost 0 (and the provider logs it once). */
export function costOf(
  price: Price | undefined,
  inputTokens: number,
  outputTokens: number,
): number {
  if (!price) return 0;
  return (inputTokens * price.input + outputTokens * price.output) / 1_000_000;
}
