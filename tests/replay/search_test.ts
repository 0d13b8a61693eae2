/**
 * The pure searches of `search.ts` (the console's, in the browser) answer as the SQLite
 * store of the replays does, for the same tasks and queries.
 */
import assert from "node:assert/strict";
import { type SearchableTask, searchKeywords, searchTasks } from "../../src/replay/search.ts";
import { TaskStore } from "../../src/replay/task_store.ts";
import { mulberry32 } from "../../scripts/random.ts";

const WORDS = (
  "send report q3 sarah review pull request payments api book flight berlin renew passport " +
  "invoice pay dana mockups onboarding deploy staging fix login bug café résumé update slides " +
  "quarterly budget call mom dentist appointment reply email contract sign draft agenda"
).split(" ");

function corpus(random: () => number, n: number): Array<Omit<SearchableTask, "task_id">> {
  const statuses = ["active", "active", "completed", "deleted"] as const;
  return Array.from({ length: n }, () => {
    const length = 2 + Math.floor(random() * 6);
    const words = Array.from({ length }, () => WORDS[Math.floor(random() * WORDS.length)]!);
    return {
      description: words.join(random() < 0.3 ? ", " : " "),
      status: statuses[Math.floor(random() * statuses.length)]!,
    };
  });
}

Deno.test("search.ts answers as TaskStore does", async (t) => {
  const random = mulberry32(18);
  const tasks = corpus(random, 60);
  using store = TaskStore.open();
  const listed: SearchableTask[] = tasks.map((task) => {
    const stored = store.add({ description: task.description, status: task.status });
    return { ...task, task_id: stored.id, relevance_score: 0 };
  });
  const queries = [
    ...Array.from({ length: 40 }, () => {
      const n = 1 + Math.floor(random() * 4);
      return Array.from({ length: n }, () => WORDS[Math.floor(random() * WORDS.length)]!)
        .join(" ");
    }),
    "Cafe resume", // diacritics folded on both sides
    "rep", // a prefix of "report" and "reply"
    "the and of", // stopwords only: nothing
    "",
    "Send Q3 reprot to Sarah", // a typo: similarity still finds it
  ];

  await t.step("search_keywords: the same tasks in the same order (FTS5 bm25)", () => {
    let nonEmpty = 0;
    for (const query of queries) {
      const expected = store.searchKeywords(query);
      const actual = searchKeywords(listed, query);
      assert.deepEqual(actual, expected, `query ${JSON.stringify(query)}`);
      if (expected.length > 1) nonEmpty++;
    }
    assert.ok(nonEmpty >= 20, `only ${nonEmpty} queries ranked more than one task`);
  });

  await t.step("search_similar: the same tasks, order and similarities", () => {
    for (const query of queries) {
      assert.deepEqual(
        searchTasks(listed, "search_similar", query),
        store.searchSimilar(query),
        `query ${JSON.stringify(query)}`,
      );
    }
  });

  await t.step("limit and an empty list", () => {
    assert.equal(searchKeywords(listed, "report", 3).length, 3);
    assert.deepEqual(searchKeywords([], "report"), []);
    assert.deepEqual(searchTasks([], "search_similar", "report"), []);
  });
});
