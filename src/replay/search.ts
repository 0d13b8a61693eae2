/**
 * The desktop's two task searches as pure functions, shared by the replay store
 * (`task_store.ts`, on SQLite) and the developer console (in the browser, over the page's
 * task list). No Deno or Node API.
 *
 * - `search_keywords`: the query's plain word tokens, OR-ed, tokens of three or more
 *   characters also as prefixes, ranked by BM25 (k1 1.2, b 0.75) as SQLite FTS5 ranks them
 *   (`bm25()`, `unicode61 remove_diacritics 2` tokens), ties newest first.
 * - `search_similar`: cosine similarity of character-trigram count vectors.
 *
 * @module
 */
import type { ToolKind } from "../protocol/messages.ts";
import type { ToolResultItem } from "../protocol/types.ts";

/** Similarity below which `searchSimilar` reports nothing. */
export const MIN_SIMILARITY = 0.15;
/** Query tokens used at most. */
const MAX_QUERY_TOKENS = 16;
/** Most hits a search returns unless told otherwise. */
export const DEFAULT_LIMIT = 10;

/** Words that match nearly every task and would only add noise to an OR query. */
const STOPWORDS: ReadonlySet<string> = new Set(
  ("a an and are as at be by can could do for from have i in is it me my of on or our " +
    "please so that the this to up us we will with would you your").split(" "),
);

/**
 * Plain word tokens of `text` for FTS5: lowercase letters and digits only, stopwords and
 * repeats dropped, at most 16. Never contains FTS5 syntax.
 */
export function queryTokens(text: string): string[] {
  const tokens: string[] = [];
  for (const match of text.normalize("NFKC").toLowerCase().matchAll(/[\p{L}\p{N}]+/gu)) {
    const token = match[0];
    if (STOPWORDS.has(token) || tokens.includes(token)) continue;
    tokens.push(token);
    if (tokens.length === MAX_QUERY_TOKENS) break;
  }
  return tokens;
}

/**
 * An FTS5 MATCH expression for user text: every token quoted (`"q3" OR "report"*`), tokens of
 * three or more characters also matching as prefixes. `undefined` when nothing is left.
 */
export function ftsQuery(text: string): string | undefined {
  const tokens = queryTokens(text);
  if (tokens.length === 0) return undefined;
  // Tokens are letters and digits only, so the quotes cannot be broken out of.
  return tokens.map((t) => (t.length >= 3 ? `"${t}"*` : `"${t}"`)).join(" OR ");
}

/** Character-trigram counts of `text` (lowercased, accents and punctuation dropped). */
export function trigrams(text: string): Map<string, number> {
  const normal = text.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, " ").trim();
  const counts = new Map<string, number>();
  if (!normal) return counts;
  const padded = `  ${normal} `;
  for (let i = 0; i + 3 <= padded.length; i++) {
    const gram = padded.slice(i, i + 3);
    counts.set(gram, (counts.get(gram) ?? 0) + 1);
  }
  return counts;
}

/** Cosine similarity of two count vectors, 0..1. */
export function cosine(a: Map<string, number>, b: Map<string, number>): number {
  if (a.size === 0 || b.size === 0) return 0;
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let dot = 0;
  for (const [gram, count] of small) dot += count * (large.get(gram) ?? 0);
  const norm = (v: Map<string, number>) => {
    let sum = 0;
    for (const count of v.values()) sum += count * count;
    return Math.sqrt(sum);
  };
  return dot / (norm(a) * norm(b));
}

/** Character-trigram cosine similarity of two texts, 0..1. */
export function trigramSimilarity(a: string, b: string): number {
  return cosine(trigrams(a), trigrams(b));
}

/** A task as a search sees it: the protocol's result fields. */
export interface SearchableTask {
  task_id: number;
  description: string;
  status: ToolResultItem["status"];
  relevance_score?: number | null;
}

/** Word tokens of a stored text as FTS5's `unicode61 remove_diacritics 2` makes them. */
export function documentTokens(text: string): string[] {
  return Array.from(
    text.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase().matchAll(/[\p{L}\p{N}]+/gu),
    (match) => match[0],
  );
}

const K1 = 1.2;
const B = 0.75;

/**
 * `search_keywords` over `tasks`: what `TaskStore.searchKeywords` answers for the same tasks
 * (FTS5's bm25, best first, ties by higher `task_id`; similarity 0, as Omi sends).
 */
export function searchKeywords(
  tasks: readonly SearchableTask[],
  query: string,
  limit = DEFAULT_LIMIT,
): ToolResultItem[] {
  const phrases = queryTokens(query).map((token) => {
    const [folded = token] = documentTokens(token);
    return { token: folded, prefix: token.length >= 3 };
  });
  if (phrases.length === 0 || tasks.length === 0) return [];
  const docs = tasks.map((task) => ({ task, tokens: documentTokens(task.description) }));
  const avgdl = docs.reduce((sum, d) => sum + d.tokens.length, 0) / docs.length;
  const hits = (tokens: string[], p: { token: string; prefix: boolean }) =>
    tokens.reduce((n, t) => n + ((p.prefix ? t.startsWith(p.token) : t === p.token) ? 1 : 0), 0);
  const tf = docs.map((d) => phrases.map((p) => hits(d.tokens, p)));
  const idf = phrases.map((_, i) => {
    const rows = tf.filter((row) => row[i]! > 0).length;
    const value = Math.log((docs.length - rows + 0.5) / (rows + 0.5));
    return value <= 0 ? 1e-6 : value;
  });
  const scored: Array<{ task: SearchableTask; score: number }> = [];
  docs.forEach((d, row) => {
    let score = 0;
    let matched = false;
    phrases.forEach((_, i) => {
      const f = tf[row]![i]!;
      if (f === 0) return;
      matched = true;
      score += idf[i]! * (f * (K1 + 1)) / (f + K1 * (1 - B + (B * d.tokens.length) / avgdl));
    });
    if (matched) scored.push({ task: d.task, score });
  });
  scored.sort((a, b) => b.score - a.score || b.task.task_id - a.task.task_id);
  return scored.slice(0, limit).map(({ task }) => result(task, 0, "fts"));
}

/** `search_similar` over `tasks`: trigram cosine, most similar first, ties by higher id. */
export function searchSimilar(
  tasks: readonly SearchableTask[],
  query: string,
  limit = DEFAULT_LIMIT,
): ToolResultItem[] {
  const wanted = trigrams(query);
  if (wanted.size === 0) return [];
  const scored: Array<{ task: SearchableTask; similarity: number }> = [];
  for (const task of tasks) {
    const similarity = cosine(wanted, trigrams(task.description));
    if (similarity >= MIN_SIMILARITY) scored.push({ task, similarity });
  }
  scored.sort((a, b) => b.similarity - a.similarity || b.task.task_id - a.task.task_id);
  return scored.slice(0, limit).map(({ task, similarity }) =>
    result(task, Math.round(similarity * 1000) / 1000, "vector")
  );
}

/** The search a `tool_call_request` asks for, over `tasks`. */
export function searchTasks(
  tasks: readonly SearchableTask[],
  kind: ToolKind,
  query: string,
  limit = DEFAULT_LIMIT,
): ToolResultItem[] {
  return kind === "search_keywords"
    ? searchKeywords(tasks, query, limit)
    : searchSimilar(tasks, query, limit);
}

function result(
  task: SearchableTask,
  similarity: number,
  matchType: "fts" | "vector",
): ToolResultItem {
  return {
    task_id: task.task_id,
    description: task.description,
    status: task.status,
    similarity,
    match_type: matchType,
    relevance_score: task.relevance_score ?? 0,
  };
}
