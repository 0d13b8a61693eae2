/**
 * `deno task eval` end to end, as a subprocess: an offline run over the fixtures with
 * `--json`, `--fail-under`, `--baseline`, two providers side by side (offline and Gemini
 * against the fake Gemini server, through the real SDK and the real analysis loop), and
 * `--provider openai:MODEL` against the fake OpenAI-compatible server.
 */
import assert from "node:assert/strict";
import { promptVersion } from "../../src/eval/run.ts";
import { runDeno } from "../fakes/deno_env.ts";
import { errorAnswer, FakeGemini, functionCallAnswer } from "../fakes/fake_gemini.ts";
import { FakeOpenAI, textAnswer, toolCallAnswer } from "../fakes/fake_openai.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FIXTURES = "tests/eval/fixtures";

function evalTask(args: string[], env: Record<string, string> = {}) {
  return runDeno(["task", "--quiet", "eval", ...args], { cwd: ROOT, env });
}

// deno-lint-ignore no-explicit-any
type Json = any;

async function readJson(path: string): Promise<Json> {
  return JSON.parse(await Deno.readTextFile(path));
}

const close = (a: number, b: number) => Math.abs(a - b) < 1e-9;

Deno.test("deno task eval: an offline run over the fixtures, --json, --fail-under, --baseline", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "eval_cli_" });
  try {
    const out = `${dir}/out.json`;
    await t.step("--json writes the report; the table goes to stdout", async () => {
      const { code, stdout, stderr } = await evalTask([
        FIXTURES,
        "--provider",
        "offline",
        "--json",
        out,
      ]);
      assert.equal(code, 0, stderr);
      assert.equal(stderr, "");
      assert.match(stdout, /^provider\s+offline$/m);
      assert.match(stdout, /^accuracy\s+85\.7%$/m);
      assert.match(stdout, /^tricky-notes\s+no_task_found\s+extract_task\s+Buy milk$/m);
      const report = await readJson(out);
      assert.equal(report.format, "proactive-eval/1");
      assert.deepEqual(report.inputs, [FIXTURES]);
      assert.equal(report.providers.length, 1);
      const p = report.providers[0];
      assert.equal(p.provider, "offline");
      assert.equal(p.model, "offline");
      assert.equal(p.thinking_budget, null);
      assert.equal(p.prompt_version, await promptVersion());
      assert.match(p.prompt_version, /^[0-9a-f]{12}$/);
      assert.equal(p.concurrency, 4);
      assert.equal(p.cases, 7);
      assert.equal(p.correct, 6);
      assert.ok(close(p.accuracy, 6 / 7));
      assert.deepEqual(p.confusion, {
        extract_task: { extract_task: 2, reject_task: 0, no_task_found: 0, error: 0 },
        reject_task: { extract_task: 0, reject_task: 2, no_task_found: 0, error: 0 },
        no_task_found: { extract_task: 1, reject_task: 0, no_task_found: 2, error: 0 },
      });
      assert.ok(close(p.extract.precision, 2 / 3));
      assert.equal(p.extract.recall, 1);
      assert.ok(close(p.extract.f1, 0.8));
      assert.equal(p.false_extracts, 1);
      assert.equal(p.duplicate_recall, 1);
      assert.equal(p.cost_per_1000_usd, 0);
      assert.equal(typeof p.latency_ms.p50, "number");
      assert.equal(typeof p.latency_ms.p95, "number");
      for (const key of ["model_calls", "tool_calls", "input_tokens", "output_tokens"]) {
        assert.equal(typeof p.per_case[key], "number", key);
      }
      // The offline model searched for the duplicate and found it in the seeded store.
      const dup = p.results.find((r: Json) => r.id === "slack-q3-duplicate");
      assert.equal(dup.got, "reject_task");
      assert.match(dup.detail, /Duplicates active task #41/);
      const deleted = p.results.find((r: Json) => r.id === "deleted-slides");
      assert.match(deleted.detail, /Duplicates deleted task #7/);
      assert.deepEqual(p.misses, [{
        id: "tricky-notes",
        where: `${FIXTURES}/b_more.jsonl:4`,
        expected: "no_task_found",
        got: "extract_task",
        detail: "Buy milk",
      }]);
      assert.deepEqual(p.results.map((r: Json) => r.id), [
        "slack-q3-report",
        "slack-q3-duplicate",
        "article-reading",
        "github-review",
        "deleted-slides",
        "spotify-idle",
        "tricky-notes",
      ]);
    });

    await t.step("--json - prints the report on stdout instead of the table", async () => {
      const { code, stdout, stderr } = await evalTask([FIXTURES, "--json", "-"]);
      assert.equal(code, 0, stderr);
      const report = JSON.parse(stdout);
      assert.equal(report.providers[0].provider, "offline");
      assert.equal(report.providers[0].correct, 6);
    });

    await t.step("--fail-under: exit 1 below, 0 at or above", async () => {
      const below = await evalTask([FIXTURES, "--provider", "offline", "--fail-under", "0.9"]);
      assert.equal(below.code, 1);
      assert.equal(
        below.stderr.trim(),
        "eval: accuracy below --fail-under 0.9: offline 0.857",
      );
      assert.match(below.stdout, /^accuracy\s+85\.7%$/m);
      const above = await evalTask([FIXTURES, "--fail-under", "85%", "--concurrency", "1"]);
      assert.equal(above.code, 0, above.stderr);
    });

    await t.step(
      "--baseline marks what got better and worse, and the cases that flipped",
      async () => {
        const old = await readJson(out);
        const p = old.providers[0];
        p.accuracy = 0.5;
        p.cost_per_1000_usd = 0;
        p.false_extracts = 0;
        p.prompt_version = "000000000000";
        for (const r of p.results) {
          if (r.id === "tricky-notes") r.correct = true;
          if (r.id === "github-review") r.correct = false;
        }
        const baseline = `${dir}/old.json`;
        await Deno.writeTextFile(baseline, JSON.stringify(old));
        const next = `${dir}/next.json`;
        const { code, stdout, stderr } = await evalTask([
          FIXTURES,
          "--provider",
          "offline",
          "--baseline",
          baseline,
          "--json",
          next,
        ]);
        assert.equal(code, 0, stderr);
        assert.match(stdout, /^accuracy\s+85\.7% \(\+35\.7pt better\)$/m);
        assert.match(stdout, /^false extracts\s+1 of 3 \(\+1 worse\)$/m);
        assert.match(stdout, /fixed github-review; broken tricky-notes/);
        assert.match(stdout, /prompt version changed/);
        const c = (await readJson(next)).providers[0].comparison;
        assert.equal(c.file, baseline);
        assert.equal(c.prompt_version_changed, true);
        assert.equal(c.model_changed, false);
        const marks = Object.fromEntries(c.metrics.map((m: Json) => [m.metric, m.mark]));
        assert.equal(marks.accuracy, "better");
        assert.equal(marks.false_extracts, "worse");
        assert.equal(marks.cost_per_1000_usd, "same");
        assert.deepEqual(c.fixed, ["github-review"]);
        assert.deepEqual(c.broken, ["tricky-notes"]);
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The fixture cases in order, as Gemini answers them with `--concurrency 1`. */
function geminiScript() {
  const summary = { context_summary: "A screen.", current_activity: "Working" };
  const task = (title: string) =>
    functionCallAnswer("extract_task", {
      title,
      description: title,
      priority: "medium",
      tags: [],
      source_app: "App",
      inferred_deadline: "",
      confidence: 0.9,
      source_category: "message",
      source_subcategory: "direct_request",
      relevance_score: 1,
      ...summary,
    });
  return [
    task("Send Sarah the Q3 report"), // slack-q3-report: right
    functionCallAnswer("search_keywords", { query: "Q3 report Sarah" }), // slack-q3-duplicate
    functionCallAnswer("reject_task", { reason: "Already task #41", ...summary }), // right
    functionCallAnswer("no_task_found", summary), // article-reading: right
    task("Review pull request #482"), // github-review: right
    task("Prepare the all-hands slides"), // deleted-slides: wrong (extracted)
    functionCallAnswer("no_task_found", summary), // spotify-idle: right
    functionCallAnswer("no_task_found", summary, {
      usage: { thoughtsTokenCount: 70 },
    }), // tricky-notes: right
  ];
}

Deno.test("deno task eval: offline and Gemini side by side in one report", async () => {
  const dir = await Deno.makeTempDir({ prefix: "eval_cli_" });
  try {
    await using fake = new FakeGemini(geminiScript());
    const out = `${dir}/out.json`;
    const { code, stdout, stderr } = await evalTask([
      FIXTURES,
      "--provider",
      "offline",
      "--provider",
      "gemini:gemini-2.5-flash-lite",
      "--concurrency",
      "1",
      "--json",
      out,
    ], { GEMINI_API_KEY: "dummy-key", GEMINI_BASE_URL: fake.baseUrl });
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^provider\s+offline\s+gemini:gemini-2\.5-flash-lite$/m);
    assert.match(stdout, /^thinking budget\s+-\s+512$/m);
    assert.match(stdout, /^media resolution\s+-\s+default$/m);
    assert.match(stdout, /^accuracy\s+85\.7%\s+85\.7%$/m);
    const report = await readJson(out);
    assert.deepEqual(report.providers.map((p: Json) => p.provider), [
      "offline",
      "gemini:gemini-2.5-flash-lite",
    ]);
    const [offline, gemini] = report.providers;
    assert.equal(gemini.kind, "gemini");
    assert.equal(gemini.model, "gemini-2.5-flash-lite");
    assert.equal(gemini.thinking_budget, 512);
    assert.equal(gemini.media_resolution, null);
    assert.equal(offline.media_resolution, null);
    assert.equal(gemini.prompt_version, offline.prompt_version);
    assert.equal(gemini.cases, 7);
    assert.equal(gemini.correct, 6);
    assert.deepEqual(gemini.confusion, {
      extract_task: { extract_task: 2, reject_task: 0, no_task_found: 0, error: 0 },
      reject_task: { extract_task: 1, reject_task: 1, no_task_found: 0, error: 0 },
      no_task_found: { extract_task: 0, reject_task: 0, no_task_found: 3, error: 0 },
    });
    assert.ok(close(gemini.extract.precision, 2 / 3));
    assert.equal(gemini.extract.recall, 1);
    assert.equal(gemini.false_extracts, 0);
    assert.equal(gemini.duplicate_recall, 0.5);
    assert.equal(gemini.totals.model_calls, 8);
    assert.equal(gemini.totals.tool_calls, 1);
    assert.equal(gemini.totals.input_tokens, 8000);
    assert.equal(gemini.totals.thinking_tokens, 70);
    // 8 calls of 1000 input and 50 output tokens, plus 70 thinking tokens, at $0.1 / $0.4 per 1M.
    const cost = (8000 * 0.1 + (400 + 70) * 0.4) / 1e6;
    assert.ok(close(gemini.totals.cost_usd, cost), String(gemini.totals.cost_usd));
    assert.ok(close(gemini.cost_per_1000_usd, (cost / 7) * 1000));
    assert.deepEqual(gemini.misses.map((m: Json) => [m.id, m.got, m.detail]), [
      ["deleted-slides", "extract_task", "Prepare the all-hands slides"],
    ]);
    // The search ran against the case's seeded store and came back with the context's id.
    assert.equal(fake.requests.length, 8);
    assert.match(fake.requests[0]!.path, /gemini-2\.5-flash-lite:generateContent$/);
    assert.equal(fake.requests[0]!.headers.get("x-goog-api-key"), "dummy-key");
    const answered = JSON.stringify(fake.requests[2]!.body);
    assert.match(answered, /Send the Q3 report to Sarah/);
    assert.match(answered, /41/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task eval: a case the model fails on counts in the error column", async () => {
  const dir = await Deno.makeTempDir({ prefix: "eval_cli_" });
  try {
    const cases = `${dir}/one.jsonl`;
    await Deno.writeTextFile(
      cases,
      JSON.stringify({
        id: "only",
        expect: "extract_task",
        frame: { app_name: "Slack", window_title: "DM", ocr_text: "Can you send the deck?" },
        context: {},
      }) + "\n",
    );
    // 400 is not retried: one request, one GEMINI_ERROR.
    await using fake = new FakeGemini([errorAnswer(400)]);
    const out = `${dir}/out.json`;
    const { code, stdout, stderr } = await evalTask(
      [cases, "--provider", "gemini", "--json", out],
      {
        GEMINI_API_KEY: "dummy-key",
        GEMINI_BASE_URL: fake.baseUrl,
        GEMINI_MEDIA_RESOLUTION: "low",
      },
    );
    assert.equal(code, 0, stderr);
    assert.match(
      stderr.trim(),
      /^eval: warning: every case of gemini ended in an error \(first: GEMINI_ERROR: .+\)$/,
    );
    assert.match(stdout, /^only\s+extract_task\s+GEMINI_ERROR\s+/m);
    const p = (await readJson(out)).providers[0];
    assert.equal(p.provider, "gemini");
    assert.equal(p.model, "gemini-2.5-flash");
    assert.equal(p.thinking_budget, 128);
    // GEMINI_MEDIA_RESOLUTION is in the report and in the request.
    assert.equal(p.media_resolution, "low");
    assert.match(stdout, /^media resolution\s+low$/m);
    const body = fake.requests[0]!.body as { generationConfig?: { mediaResolution?: string } };
    assert.equal(body.generationConfig?.mediaResolution, "MEDIA_RESOLUTION_LOW");
    assert.equal(p.errors, 1);
    assert.equal(p.accuracy, 0);
    assert.equal(p.confusion.extract_task.error, 1);
    assert.equal(fake.requests.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task eval --provider openai:MODEL runs against an OpenAI-compatible server", async () => {
  const dir = await Deno.makeTempDir({ prefix: "eval_cli_" });
  try {
    const summary = { context_summary: "A screen.", current_activity: "Working" };
    const task = (title: string) =>
      toolCallAnswer("extract_task", {
        title,
        description: title,
        priority: "medium",
        tags: [],
        source_app: "App",
        inferred_deadline: "",
        confidence: 0.9,
        source_category: "message",
        source_subcategory: "direct_request",
        relevance_score: 1,
        ...summary,
      });
    // The fixture cases in order (--concurrency 1), as a server that sometimes ignores
    // tool_choice answers them.
    await using fake = new FakeOpenAI([
      task("Send Sarah the Q3 report"), // slack-q3-report: right
      toolCallAnswer("search_keywords", { query: "Q3 report Sarah" }), // slack-q3-duplicate
      toolCallAnswer("reject_task", { reason: "Already task #41", ...summary }), // right
      textAnswer("Just an article."), // article-reading: a repair turn, then
      toolCallAnswer("no_task_found", summary), // right
      task("Review pull request #482"), // github-review: right
      task("Prepare the all-hands slides"), // deleted-slides: wrong (extracted)
      textAnswer("Music."), // spotify-idle: text twice → no function → no_task_found: right
      textAnswer("Still music."),
      toolCallAnswer("no_task_found", summary, {
        usage: {
          prompt_tokens: 1000,
          completion_tokens: 120,
          completion_tokens_details: { reasoning_tokens: 70 },
        },
      }), // tricky-notes: right
    ]);
    const out = `${dir}/out.json`;
    const { code, stdout, stderr } = await evalTask([
      FIXTURES,
      "--provider",
      "openai:gpt-4.1-mini",
      "--concurrency",
      "1",
      "--json",
      out,
    ], { OPENAI_API_KEY: "sk-dummy-key", OPENAI_BASE_URL: fake.baseUrl });
    assert.equal(code, 0, stderr);
    assert.equal(stderr, "");
    assert.match(stdout, /^provider\s+openai:gpt-4\.1-mini$/m);
    assert.match(stdout, /^thinking budget\s+-$/m);
    assert.match(stdout, /^media resolution\s+-$/m);
    assert.match(stdout, /^accuracy\s+85\.7%$/m);
    const p = (await readJson(out)).providers[0];
    assert.deepEqual([p.provider, p.kind, p.model], [
      "openai:gpt-4.1-mini",
      "openai",
      "gpt-4.1-mini",
    ]);
    assert.equal(p.thinking_budget, null);
    assert.equal(p.media_resolution, null);
    assert.equal(p.cases, 7);
    assert.equal(p.correct, 6);
    assert.equal(p.errors, 0);
    assert.deepEqual(p.misses.map((m: Json) => [m.id, m.got]), [[
      "deleted-slides",
      "extract_task",
    ]]);
    // 10 requests, 8 model calls as the loop counts them (a repair is part of its call).
    assert.equal(fake.requests.length, 10);
    assert.equal(p.totals.model_calls, 8);
    assert.equal(p.totals.tool_calls, 1);
    assert.equal(p.totals.input_tokens, 10_000);
    assert.equal(p.totals.thinking_tokens, 70);
    // gpt-4.1-mini: $0.40 / $1.60 per 1M; 9 answers of 50 tokens and one of 120.
    const cost = (10_000 * 0.4 + (9 * 50 + 120) * 1.6) / 1e6;
    assert.ok(close(p.totals.cost_usd, cost), String(p.totals.cost_usd));
    assert.equal(fake.requests[0]!.path, "/v1/chat/completions");
    assert.equal(fake.requests[0]!.headers.get("authorization"), "Bearer sk-dummy-key");
    assert.deepEqual(fake.requests.map((r) => r.refused), new Array(10).fill(undefined));
    // The search ran against the case's seeded store and went back under its call id.
    const answered = fake.bodies[2]!.messages.at(-1)!;
    assert.equal(answered.role, "tool");
    assert.match(String(answered.content), /#41 Send the Q3 report to Sarah/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
