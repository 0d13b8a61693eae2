import assert from "node:assert/strict";
import {
  boundedParse,
  DEFAULT_ARRAY_CAP,
  MAX_DEPTH,
  MAX_SCALAR_CHARS,
  MAX_VALUES,
  MAX_WHITESPACE,
} from "../../src/protocol/bounded_json.ts";

const CAPS = { "session_context.active_tasks": 3, "results": 2 };

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

const TRICKY = ['"', "\\", "]", "}", "[", "{", ",", ":", " ", "\n", "é", "😀", "\u0000", "a"];

function randomString(next: () => number): string {
  let s = "";
  const length = Math.floor(next() * 12);
  for (let i = 0; i < length; i++) s += TRICKY[Math.floor(next() * TRICKY.length)];
  return s;
}

function randomValue(next: () => number, depth: number): unknown {
  const pick = next();
  if (depth > 4 || pick < 0.3) {
    const scalar = Math.floor(next() * 5);
    return [null, true, -12.5e3, randomString(next), Math.floor(next() * 1e6)][scalar];
  }
  if (pick < 0.65) {
    return Array.from({ length: Math.floor(next() * 6) }, () => randomValue(next, depth + 1));
  }
  const obj: Record<string, unknown> = {};
  for (let i = Math.floor(next() * 6); i > 0; i--) {
    obj[randomString(next)] = randomValue(next, depth + 1);
  }
  return obj;
}

Deno.test("boundedParse() reads what JSON.parse reads when nothing is over a limit", () => {
  const next = random(7);
  for (let i = 0; i < 2000; i++) {
    const value = randomValue(next, 0);
    for (const text of [JSON.stringify(value), JSON.stringify(value, null, 2)]) {
      const parsed = boundedParse(text, {});
      assert.ok(parsed.ok, text);
      assert.deepEqual(parsed.value, value, text);
      assert.deepEqual(parsed.cut, {});
    }
  }
});

Deno.test("boundedParse() cuts arrays to their caps without parsing the rest", async (t) => {
  await t.step("a capped path keeps its cap and counts the rest", () => {
    const text = JSON.stringify({
      session_context: { active_tasks: [1, 2, 3, 4, 5, { a: "]" }], goals: [1, 2, 3, 4] },
      results: ["a", "b,c", "d"],
    });
    const parsed = boundedParse(text, CAPS);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value, {
      session_context: { active_tasks: [1, 2, 3], goals: [1, 2, 3, 4] },
      results: ["a", "b,c"],
    });
    assert.deepEqual(parsed.cut, { "session_context.active_tasks": 3, "results": 1 });
  });
  await t.step("elements past the cap are never parsed (junk there goes unnoticed)", () => {
    const parsed = boundedParse('{"results":[1,2,@@ not json "]" @@]}', CAPS);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value, { results: [1, 2] });
  });
  await t.step("any other array keeps the default cap", () => {
    const items = Array.from({ length: DEFAULT_ARRAY_CAP + 10 }, (_, i) => i);
    const parsed = boundedParse(JSON.stringify({ junk: items, deep: { x: [[...items]] } }), CAPS);
    assert.ok(parsed.ok);
    const value = parsed.value as { junk: number[]; deep: { x: number[][] } };
    assert.equal(value.junk.length, DEFAULT_ARRAY_CAP);
    assert.equal(value.deep.x[0]!.length, DEFAULT_ARRAY_CAP);
    assert.deepEqual(parsed.cut, { "*": 20 });
  });
  await t.step("a path is matched by its keys, not by a string that looks like one", () => {
    const text = '{"a":"results","x":{"results":[1,2,3]},"results":[1,2,3]}';
    const parsed = boundedParse(text, CAPS);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value, { a: "results", x: { results: [1, 2, 3] }, results: [1, 2] });
  });
  await t.step("millions of elements are cut with memory to spare", () => {
    const text = `{"session_context":{"active_tasks":[${"{},".repeat(2_000_000)}{}]}}`;
    const parsed = boundedParse(text, CAPS);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.cut, { "session_context.active_tasks": 1_999_998 });
  });
});

Deno.test("boundedParse() refuses shapes that would cost more than parsing them", async (t) => {
  await t.step("nesting deeper than the limit", () => {
    const ok = boundedParse("[".repeat(MAX_DEPTH) + "]".repeat(MAX_DEPTH), {});
    assert.ok(ok.ok);
    const deep = boundedParse("[".repeat(5_000_000) + "]".repeat(5_000_000), {});
    assert.deepEqual(deep, {
      ok: false,
      message: `Message nests deeper than ${MAX_DEPTH} levels`,
    });
  });
  await t.step("more values than the limit, even spread over many arrays", () => {
    const inner = `[${"0,".repeat(DEFAULT_ARRAY_CAP - 1)}0]`;
    const rows = Math.ceil(MAX_VALUES / DEFAULT_ARRAY_CAP) + 10;
    const members = Array.from({ length: rows }, (_, i) => `"k${i}":${inner}`);
    const text = `{"a":{${members.join(",")}}}`;
    const parsed = boundedParse(text, {});
    assert.deepEqual(parsed, {
      ok: false,
      message: `Message has more than ${MAX_VALUES} JSON values`,
    });
  });
  await t.step("whitespace beyond the limit, also inside a cut region", () => {
    const message = `Message has more than ${MAX_WHITESPACE} characters of whitespace`;
    const spaces = " ".repeat(MAX_WHITESPACE + 1);
    assert.deepEqual(boundedParse(`{"type":"heartbeat"${spaces}}`, {}), { ok: false, message });
    assert.deepEqual(boundedParse(`{"results":[1,2,3${spaces}]}`, CAPS), { ok: false, message });
    assert.ok(boundedParse(`{"type":${" ".repeat(1000)}"heartbeat"}`, {}).ok);
  });
  await t.step("a number longer than the limit", () => {
    assert.deepEqual(boundedParse(`[1${"0".repeat(MAX_SCALAR_CHARS)}]`, {}), {
      ok: false,
      message: `Message has a number longer than ${MAX_SCALAR_CHARS} characters`,
    });
    assert.ok(boundedParse(`[1${"0".repeat(MAX_SCALAR_CHARS - 2)}]`, {}).ok);
  });
  await t.step("text that is not JSON, also with an unterminated string", () => {
    for (const text of ["{", '{"a":"b', '{"a":"b\\"}', "[1,,2]", '{"a" 1}', "tru"]) {
      assert.deepEqual(boundedParse(text, {}), { ok: false, message: "Message is not valid JSON" });
    }
  });
});

Deno.test("boundedParse() skips long and escape-dense strings exactly", () => {
  const cases = [
    "A".repeat(1_000_000),
    '\\"'.repeat(100_000),
    "\\".repeat(100_001),
    "\\u0041".repeat(10_000),
    'x"],'.repeat(10_000),
  ];
  for (const s of cases) {
    const text = JSON.stringify({ type: "frame_event", ocr_text: s, results: [1, 2, 3] });
    const parsed = boundedParse(text, CAPS);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value, { type: "frame_event", ocr_text: s, results: [1, 2] });
  }
});

Deno.test("boundedParse() accepts exactly what JSON.parse accepts (mutated texts)", () => {
  const next = random(11);
  const inserts = [
    '"',
    "\\",
    "]",
    "}",
    "[",
    "{",
    ",",
    ":",
    " ",
    "\t",
    "\u0001",
    "0",
    "-",
    "e",
    ".",
  ];
  let refused = 0;
  for (let i = 0; i < 5000; i++) {
    const text = JSON.stringify(randomValue(next, 0));
    const at = Math.floor(next() * (text.length + 1));
    const kind = Math.floor(next() * 3);
    const insert = inserts[Math.floor(next() * inserts.length)]!;
    const mutated = kind === 0
      ? text.slice(0, at) + text.slice(at + 1)
      : kind === 1
      ? text.slice(0, at) + insert + text.slice(at)
      : text.slice(0, at) + insert + text.slice(at + 1);
    let expected: unknown;
    let valid = true;
    try {
      expected = JSON.parse(mutated);
    } catch {
      valid = false;
    }
    const parsed = boundedParse(mutated, {});
    assert.equal(parsed.ok, valid, mutated);
    if (parsed.ok) assert.deepEqual(parsed.value, expected, mutated);
    else refused++;
  }
  assert.ok(refused > 1000, "most mutations break the JSON");
});

Deno.test("boundedParse() refuses broken JSON where it breaks, before the rest is walked", () => {
  // With the grammar checked as it goes, the scan stops at the error: the refusal comes
  // before the values budget (which the rest of the text would exceed) is reached.
  // An object is never cut: without the grammar check this rest exceeds the values budget.
  const members = Array.from({ length: MAX_VALUES + 10 }, (_, i) => `"k${i}":0`);
  const rest = `{${members.join(",")}}`;
  for (
    const broken of [
      '{"a" 1,',
      '{"a":01,',
      '{"a":"\\x",',
      '{"a":tru,',
      "[1 2,",
      '{"a":"\u0001",',
      `{"a":"${"a".repeat(1000)}\\x${"a".repeat(1000)}",`,
      `{"a":"${"a".repeat(1000)}\u0001",`,
    ]
  ) {
    assert.deepEqual(boundedParse(`${broken}"b":${rest}}`, {}), {
      ok: false,
      message: "Message is not valid JSON",
    }, broken);
  }
});

Deno.test("boundedParse() accepts long strings with escapes before a large tail", () => {
  // Long strings followed by much text are checked natively: escaped backslashes and every
  // escape JSON.stringify writes must pass, whatever precedes them.
  const next = random(5);
  const pieces = ["\\", '"', "\n", "\t", "\u0001", "é", "C:\\Users\\me", "x", "/", "\\U"];
  const tail = "A".repeat(1_200_000);
  for (let i = 0; i < 200; i++) {
    let ocr = "x".repeat(300);
    for (let k = Math.floor(next() * 40); k > 0; k--) {
      ocr += pieces[Math.floor(next() * pieces.length)];
    }
    if (next() < 0.3) ocr += "\\";
    const value = { type: "frame_event", ocr_text: ocr, jpeg_base64: tail };
    const parsed = boundedParse(JSON.stringify(value), {});
    assert.ok(parsed.ok, JSON.stringify(ocr));
    assert.deepEqual(parsed.value, value);
  }
});

Deno.test("boundedParse() matches caps by own key, escaped or not, never by inherited ones", () => {
  const items = JSON.stringify(Array.from({ length: 100 }, (_, i) => i));
  for (const key of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
    const parsed = boundedParse(`{"${key}":${items}}`, CAPS);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.cut, { "*": 100 - DEFAULT_ARRAY_CAP }, key);
  }
  const escaped = boundedParse(`{"re\\u0073ults":${items}}`, CAPS);
  assert.ok(escaped.ok);
  assert.deepEqual(escaped.cut, { results: 98 });
});

Deno.test("boundedParse() shares long root strings with the message, and only those", () => {
  const image = "QUJD".repeat(50_000);
  const text = JSON.stringify({
    type: "frame_event",
    jpeg_base64: image,
    ocr_text: `${"x".repeat(70_000)}\n`,
    nested: { long: image },
  });
  const parsed = boundedParse(text, {});
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.value, JSON.parse(text));
  // Duplicate keys: the last one wins, as in JSON.parse.
  const twice = `{"a":"${image}","a":"short"}`;
  const dup = boundedParse(twice, {});
  assert.ok(dup.ok);
  assert.deepEqual(dup.value, JSON.parse(twice));
  const many = `{${Array.from({ length: 40 }, (_, i) => `"k${i}":"${image}"`).join(",")}}`;
  const all = boundedParse(many, {});
  assert.ok(all.ok);
  assert.deepEqual(all.value, JSON.parse(many));
});
