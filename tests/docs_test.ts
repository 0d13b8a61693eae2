/**
 * Keeps `docs/protocol.md` true: every message, field and error code of the zod schemas is
 * described, every configuration variable it names exists, every section cited anywhere
 * exists, the example sessions are real messages, and no document cites an issue number.
 */
import assert from "node:assert/strict";
import type { z } from "zod";
import type { Model, ModelReply } from "../src/analysis/model.ts";
import { CONFIG_VARIABLES } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { decodeClientMessage } from "../src/protocol/codec.ts";
import {
  ActiveTask,
  AnalysisOutcome,
  ClientHello,
  ERROR_CODES,
  ExtractedTask,
  FrameEvent,
  Goal,
  GoAway,
  Heartbeat,
  PastTask,
  ServerError,
  ServerMessage,
  SessionContext,
  SessionReady,
  ToolCallCancel,
  ToolCallRequest,
  ToolResult,
  ToolResultItem,
  Usage,
} from "../src/protocol/messages.ts";
import { Metrics } from "../src/server/metrics.ts";
import { Session } from "../src/server/session.ts";

const ROOT = new URL("../", import.meta.url);
const DOC_PATH = "docs/protocol.md";
const doc = await Deno.readTextFile(new URL(DOC_PATH, ROOT));

/** Whether the doc names `name` as code (`` `name` ``). */
function mentions(name: string): boolean {
  return doc.includes("`" + name + "`");
}

type AnyObject = z.ZodObject<z.ZodRawShape>;

const OBJECTS: Record<string, AnyObject> = {
  ClientHello,
  SessionContext,
  ActiveTask,
  PastTask,
  Goal,
  FrameEvent,
  ToolResult,
  ToolResultItem,
  Heartbeat,
  SessionReady,
  ToolCallRequest,
  ExtractedTask,
  Usage,
  ServerError,
  ToolCallCancel,
  GoAway,
  ...Object.fromEntries(
    AnalysisOutcome.options.map((o, i) => [`AnalysisOutcome[${i}]`, o as unknown as AnyObject]),
  ),
};

/** Section numbers of the doc's headings: `## 5. Session rules` → 5, `### 5.1 …` → 5.1. */
function sections(markdown: string): Set<string> {
  const found = new Set<string>();
  for (const m of markdown.matchAll(/^#{2,4} (\d+(?:\.\d+)*)\.? /gm)) found.add(m[1]!);
  return found;
}

/** The repository's text files, relative paths, without what is not ours or generated. */
async function repoFiles(): Promise<string[]> {
  const skipDirs = new Set([".git", "node_modules", "dist", "coverage"]);
  const skipFiles = new Set(["deno.lock", "docs/protocol.schema.json"]);
  const files: string[] = [];
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(new URL(dir || ".", ROOT))) {
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory) {
        if (!skipDirs.has(entry.name)) await walk(path);
      } else if (entry.isFile && !skipFiles.has(path)) {
        files.push(path);
      }
    }
  }
  await walk("");
  return files.sort();
}

async function readText(path: string): Promise<string | undefined> {
  const bytes = await Deno.readFile(new URL(path, ROOT));
  if (bytes.length > 8 * 1024 * 1024 || bytes.includes(0)) return undefined;
  return new TextDecoder().decode(bytes);
}

Deno.test("docs/protocol.md describes the protocol the code speaks", async (t) => {
  await t.step("every message type and every field of the schemas", () => {
    const missing: string[] = [];
    for (const [name, schema] of Object.entries(OBJECTS)) {
      for (const [field, fieldSchema] of Object.entries(schema.shape)) {
        if (!mentions(field)) missing.push(`${name}.${field}`);
        if (field === "type" || field === "outcome_kind") {
          const literal = (fieldSchema as z.ZodLiteral<string>).value;
          if (!mentions(literal)) missing.push(`${name}: ${literal}`);
        }
      }
    }
    assert.deepEqual(missing, [], "undocumented in docs/protocol.md");
  });

  await t.step("every error code, in the table of §4", () => {
    const errors = doc.slice(doc.indexOf("\n## 4. "), doc.indexOf("\n## 5. "));
    for (const code of ERROR_CODES) {
      assert.ok(errors.includes("| `" + code + "`"), `error code ${code} missing from §4`);
    }
  });

  await t.step("only configuration variables that exist", () => {
    const known = new Set(CONFIG_VARIABLES);
    const codes = new Set<string>(ERROR_CODES);
    const named = new Set<string>();
    for (const m of doc.matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?:=[^`]*)?`/g)) {
      if (!codes.has(m[1]!)) named.add(m[1]!);
    }
    assert.ok(named.size >= 15, "the doc names the limits' variables");
    const unknown = [...named].filter((name) => !known.has(name));
    assert.deepEqual(unknown, [], "not in CONFIG_VARIABLES of src/config.ts");
  });
});

Deno.test("every docs/protocol.md § citation names a section that exists", async () => {
  const existing = sections(doc);
  for (const n of ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"]) {
    assert.ok(existing.has(n), `section ${n} exists`);
  }
  const bad: string[] = [];
  const stale: string[] = [];
  let cited = 0;
  for (const path of await repoFiles()) {
    const text = await readText(path);
    if (text === undefined) continue;
    for (const m of text.matchAll(/docs\/protocol\.md\s*\u00a7\s*(\d+(?:\.\d+)*)/g)) {
      cited++;
      if (!existing.has(m[1]!)) bad.push(`${path}: \u00a7${m[1]}`);
    }
    // The doc's own cross references.
    if (path === DOC_PATH) {
      for (const m of text.matchAll(/\u00a7(\d+(?:\.\d+)*)/g)) {
        if (!existing.has(m[1]!)) bad.push(`${path}: \u00a7${m[1]}`);
      }
    }
    // Citations of the contract's numbering, which is not ours.
    for (const m of text.matchAll(/(?<!docs\/)\bprotocol(?:\.md)? \u00a7\s*\d/g)) {
      stale.push(`${path}: ${m[0]}`);
    }
  }
  assert.ok(cited >= 10, "the code cites the doc");
  assert.deepEqual(bad, [], "citations of sections that do not exist");
  assert.deepEqual(stale, [], "citations must name docs/protocol.md");
});

Deno.test("README and ARCHITECTURE.md point at docs/protocol.md", async () => {
  for (const path of ["README.md", "ARCHITECTURE.md"]) {
    const text = await Deno.readTextFile(new URL(path, ROOT));
    assert.ok(text.includes("docs/protocol.md"), `${path} links docs/protocol.md`);
    assert.ok(!text.includes("shared/protocol.md"), `${path} links a file a clone lacks`);
  }
});

const CLIENT_TYPES = new Set(["client_hello", "frame_event", "tool_result", "heartbeat"]);

/** The JSON lines of the example sessions of §9, one array per session. */
function exampleSessions(): string[][] {
  const section = doc.slice(doc.indexOf("\n## 9. "), doc.indexOf("\n## 10. "));
  const blocks = [...section.matchAll(/```jsonl\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks.map((block) => block.trim().split("\n"));
}

Deno.test("the example sessions of docs/protocol.md §9 are valid messages", () => {
  const blocks = exampleSessions();
  assert.equal(blocks.length, 2, "two example sessions");
  const clientTypes = CLIENT_TYPES;
  const sessions = blocks.map((lines, b) =>
    lines.map((line, i) => {
      const where = `session ${b + 1}, line ${i + 1}`;
      const message = JSON.parse(line) as { type: string };
      if (clientTypes.has(message.type)) {
        const decoded = decodeClientMessage(line);
        assert.ok(decoded.ok, `${where}: ${decoded.ok ? "" : decoded.message}`);
      } else {
        const parsed = ServerMessage.safeParse(message);
        assert.ok(parsed.success, `${where}: ${parsed.error?.issues[0]?.message ?? ""}`);
      }
      return message as Record<string, unknown>;
    })
  );
  const [v10, v11] = sessions as [Record<string, unknown>[], Record<string, unknown>[]];
  assert.equal(v10[0]?.type, "client_hello");
  assert.equal(v10[1]?.type, "session_ready");
  assert.equal(v10[1]?.protocol_version, "1.0");
  assert.ok(v10.some((m) => m.type === "tool_call_request"));
  assert.ok(v10.some((m) => m.type === "tool_result"));
  assert.equal(v10.at(-1)?.outcome_kind, "extract_task");
  assert.equal(v11[1]?.protocol_version, "1.1");
  const cancel = v11.findIndex((m) => m.type === "tool_call_cancel");
  assert.ok(cancel > 0 && v11[cancel]?.reason === "deadline");
  assert.ok(v11.some((m) => m.type === "go_away"));
  assert.equal(v11.at(-1)?.code, "SHUTTING_DOWN");
});

Deno.test("no file in the repository cites an issue number", async () => {
  const found: string[] = [];
  // Screens of issue trackers are data: an eval case's OCR may quote a tracker's numbers.
  const data = (path: string) => path.endsWith(".jsonl");
  for (const path of (await repoFiles()).filter((path) => !data(path))) {
    const text = await readText(path);
    if (text === undefined) continue;
    for (const m of text.matchAll(/\bissue\s*#?\d+/gi)) found.push(`${path}: ${m[0]}`);
  }
  assert.deepEqual(found, []);
});

/** A model that answers from a script, one step per call. */
class ScriptModel implements Model {
  readonly name = "docs-script";
  calls = 0;
  constructor(private readonly steps: Array<() => Promise<ModelReply>>) {}
  generate(): Promise<ModelReply> {
    const step = this.steps[this.calls++];
    if (!step) return Promise.reject(new Error("script exhausted"));
    return step();
  }
}

function reply(name: string, args: Record<string, unknown>): () => Promise<ModelReply> {
  return () =>
    Promise.resolve({
      functionCall: { name, args },
      content: {},
      usage: { inputTokens: 100, outputTokens: 10, costUsd: 0 },
    });
}

/** Fields whose values are the run's own (ids, timings): only their presence is compared. */
const VOLATILE = new Set(["session_id", "request_id", "usage"]);

/**
 * Plays the client lines of an example into a real {@link Session} and checks that the
 * server lines are what it sends, in order, field by field (ids and usage figures aside).
 * `before` runs ahead of each expected server line, to drive drains and model answers.
 */
async function replay(
  lines: string[],
  model: ScriptModel,
  limits: { toolResultTimeoutMs: number; volatile?: string[] },
  before: (expected: Record<string, unknown>, session: Session) => Promise<void> | void,
): Promise<{ closeCode: number | undefined }> {
  const sent: Record<string, unknown>[] = [];
  let closeCode: number | undefined;
  const session = new Session({
    socket: {
      send: (text) => sent.push(JSON.parse(text)),
      close: (code) => closeCode = code,
    },
    model,
    limits: {
      analysisTimeoutMs: 45_000,
      modelCallTimeoutMs: 20_000,
      toolResultTimeoutMs: limits.toolResultTimeoutMs,
      maxMessageBytes: 16 * 1024 * 1024,
      maxPendingFrames: 4,
      maxPendingBytes: 8 * 1024 * 1024,
      helloTimeoutMs: 15_000,
    },
    log: createLogger({ level: "error", sink: () => {} }),
    metrics: new Metrics(() => 0),
  });
  const volatile = new Set([...VOLATILE, ...(limits.volatile ?? [])]);
  const requestIds = new Map<string, string>();
  let next = 0;
  try {
    for (const [i, line] of lines.entries()) {
      const expected = JSON.parse(line) as Record<string, unknown>;
      if (CLIENT_TYPES.has(expected.type as string)) {
        const id = expected.request_id as string | undefined;
        const actualId = id === undefined ? undefined : requestIds.get(id);
        session.handleMessage(
          actualId === undefined ? line : JSON.stringify({ ...expected, request_id: actualId }),
        );
        continue;
      }
      await before(expected, session);
      for (let waited = 0; sent.length <= next; waited += 5) {
        assert.ok(waited < 3_000, `line ${i + 1}: no ${String(expected.type)} was sent`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const actual = sent[next++]!;
      assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `line ${i + 1}`);
      for (const key of Object.keys(expected)) {
        if (volatile.has(key)) continue;
        assert.deepEqual(actual[key], expected[key], `line ${i + 1}: ${key}`);
      }
      if (expected.type === "tool_call_request") {
        requestIds.set(expected.request_id as string, actual.request_id as string);
      }
      if (expected.type === "tool_call_cancel") {
        const cancelled = requestIds.get(expected.request_id as string);
        assert.equal(actual.request_id, cancelled, `line ${i + 1}: the cancelled request`);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(sent.length, next, "nothing beyond the example is sent");
  } finally {
    session.close(1000, "done");
  }
  return { closeCode };
}

Deno.test("the example sessions of docs/protocol.md §9 are what the server does", async (t) => {
  const [v10, v11] = exampleSessions() as [string[], string[]];
  const outcome = (lines: string[], kind: string) =>
    lines.map((l) => JSON.parse(l)).find((m) => m.outcome_kind === kind);

  await t.step("9.1: a search round trip ending in extract_task", async () => {
    const done = outcome(v10, "extract_task");
    const search = v10.map((l) => JSON.parse(l)).find((m) => m.type === "tool_call_request");
    const model = new ScriptModel([
      reply(search.tool_kind, { query: search.query }),
      reply("extract_task", {
        ...done.task,
        context_summary: done.context_summary,
        current_activity: done.current_activity,
      }),
    ]);
    await replay(v10, model, { toolResultTimeoutMs: 10_000 }, () => {});
  });

  await t.step("9.2: tool_call_cancel on a timeout, then a go_away drain", async () => {
    const rejected = outcome(v11, "reject_task");
    const search = v11.map((l) => JSON.parse(l)).find((m) => m.type === "tool_call_request");
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    const model = new ScriptModel([
      reply(search.tool_kind, { query: search.query }),
      async () => {
        await gate;
        return await reply("reject_task", {
          reason: rejected.reason,
          context_summary: rejected.context_summary,
          current_activity: rejected.current_activity,
        })();
      },
    ]);
    const { closeCode } = await replay(
      v11,
      model,
      { toolResultTimeoutMs: 50, volatile: ["deadline_ms"] },
      async (expected, session) => {
        if (expected.type === "go_away") {
          while (model.calls < 2) await new Promise((resolve) => setTimeout(resolve, 5));
          session.drain(expected.reconnect_after_ms as number);
        }
        if (expected.outcome_kind === "reject_task") release();
      },
    );
    assert.equal(closeCode, 1001, "the drained session closes with 1001");
  });
});
