import assert from "node:assert/strict";
import {
  ftsQuery,
  queryTokens,
  TaskStore,
  trigramSimilarity,
} from "../../src/replay/task_store.ts";
import { ToolResultItem } from "../../src/protocol/messages.ts";

function seeded(): TaskStore {
  const store = TaskStore.open({ now: () => new Date("2026-11-25T10:00:00Z") });
  store.add({ description: "Send Q3 report to Sarah", priority: "high" });
  store.add({ description: "Review pull request #482 in payments-api" });
  store.add({ description: "Book flights to Berlin", status: "completed" });
  store.add({ description: "Renew passport", status: "deleted" });
  return store;
}

Deno.test("TaskStore.searchKeywords() is FTS5 over descriptions", async (t) => {
  using store = seeded();

  await t.step("finds tasks sharing a word, in the protocol's tool_result shape", () => {
    const hits = store.searchKeywords("quarterly Q3 reports");
    assert.deepEqual(hits, [{
      task_id: 1,
      description: "Send Q3 report to Sarah",
      status: "active",
      similarity: 0,
      match_type: "fts",
      relevance_score: 0,
    }]);
    assert.ok(ToolResultItem.array().safeParse(hits).success);
  });

  await t.step("reports every status", () => {
    assert.deepEqual(store.searchKeywords("berlin flights").map((h) => h.status), ["completed"]);
    assert.deepEqual(store.searchKeywords("passport").map((h) => h.status), ["deleted"]);
  });

  await t.step("ranks the better match first", () => {
    store.add({ description: "Report the payments outage" });
    const hits = store.searchKeywords("payments pull request");
    assert.equal(hits[0]?.task_id, 2);
    assert.ok(hits.some((h) => h.task_id === 5));
  });

  await t.step("matches diacritics and prefixes", () => {
    store.add({ description: "Café opening checklist" });
    assert.equal(store.searchKeywords("cafe")[0]?.description, "Café opening checklist");
    assert.equal(store.searchKeywords("check")[0]?.description, "Café opening checklist");
  });

  const hostile = [
    '"foo" OR bar*',
    'description:"Send"',
    "NEAR(q3 report, 2)",
    "report AND (",
    "-report ^sarah",
    '"""',
    "*",
    "q3' ; DROP TABLE tasks; --",
    "\u0000null byte",
    "",
    "the and of to",
  ];
  for (const query of hostile) {
    await t.step(`never throws on ${JSON.stringify(query)}`, () => {
      const hits = store.searchKeywords(query);
      assert.ok(Array.isArray(hits));
    });
  }

  await t.step("treats FTS5 operators in the query as words", () => {
    assert.deepEqual(
      store.searchKeywords('description:"Send" NEAR(q3)').map((h) => h.task_id),
      [1],
    );
    assert.equal(store.size, 6, "the store survived hostile queries");
  });
});

Deno.test("ftsQuery() quotes plain tokens only", async (t) => {
  const table: Array<[string, string | undefined]> = [
    ['"foo" OR bar*', '"foo"* OR "bar"*'],
    ["Q3 report", '"q3" OR "report"*'],
    ["NEAR(a b)", '"near"* OR "b"'],
    ["the of and", undefined],
    ["", undefined],
  ];
  for (const [input, expected] of table) {
    await t.step(`${JSON.stringify(input)} → ${expected}`, () => {
      assert.equal(ftsQuery(input), expected);
    });
  }

  await t.step("keeps at most 16 tokens, without repeats", () => {
    const tokens = queryTokens(Array.from({ length: 40 }, (_, i) => `w${i % 20}`).join(" "));
    assert.equal(tokens.length, 16);
    assert.equal(new Set(tokens).size, 16);
  });
});

Deno.test("TaskStore.searchSimilar() ranks by character-trigram cosine", async (t) => {
  using store = seeded();

  await t.step("orders by similarity, most similar first", () => {
    store.add({ description: "Send the Q3 slides to Sarah" });
    const hits = store.searchSimilar("Send Q3 reprot to Sarah");
    assert.deepEqual(hits.slice(0, 2).map((h) => h.task_id), [1, 5]);
    for (const hit of hits) assert.equal(hit.match_type, "vector");
    const sims = hits.map((h) => h.similarity ?? 0);
    assert.deepEqual(sims, [...sims].sort((a, b) => b - a));
    assert.ok(sims[0]! > 0.6 && sims[0]! <= 1);
  });

  await t.step("leaves out unrelated tasks", () => {
    assert.deepEqual(store.searchSimilar("zzz qqq xxx"), []);
    assert.deepEqual(store.searchSimilar("  ...  "), []);
  });

  await t.step("honours the limit", () => {
    assert.equal(store.searchSimilar("send review book renew report", { limit: 2 }).length, 2);
  });
});

Deno.test("trigramSimilarity() is a cosine", async (t) => {
  const table: Array<[string, string, (s: number) => boolean]> = [
    ["Send Q3 report", "send q3 report!", (s) => Math.abs(s - 1) < 1e-9],
    ["Send Q3 report", "Send Q3 reports", (s) => s > 0.8 && s < 1],
    ["Send Q3 report", "Water the plants", (s) => s < 0.15],
    ["", "anything", (s) => s === 0],
  ];
  for (const [a, b, ok] of table) {
    await t.step(`${a} ~ ${b}`, () => {
      const s = trigramSimilarity(a, b);
      assert.ok(ok(s), `similarity ${s}`);
      assert.equal(s, trigramSimilarity(b, a));
    });
  }
});

Deno.test("TaskStore keeps extracted tasks for later frames", async (t) => {
  await t.step("added tasks are searchable and listed as active context", () => {
    using store = TaskStore.open();
    assert.equal(store.revision, 0);
    const task = store.add({ description: "Sign the vendor contract", priority: "high" });
    assert.equal(store.revision, 1);
    assert.equal(store.searchKeywords("vendor contract")[0]?.task_id, task.id);
    assert.equal(store.searchSimilar("sign vendor contract")[0]?.task_id, task.id);
    assert.deepEqual(store.activeTasks(), [
      { task_id: task.id, description: "Sign the vendor contract", priority: "high" },
    ]);
  });

  await t.step("a --db file keeps them across runs", () => {
    const path = Deno.makeTempFileSync({ suffix: ".sqlite" });
    try {
      {
        using first = TaskStore.open({ path });
        first.add({ description: "Pay the electricity bill" });
      }
      using second = TaskStore.open({ path });
      assert.deepEqual(second.list().map((x) => x.description), ["Pay the electricity bill"]);
      assert.equal(second.searchKeywords("electricity").length, 1);
    } finally {
      Deno.removeSync(path);
    }
  });
});
