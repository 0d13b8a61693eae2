/**
 * The privacy guard: secrets are redacted before any model sees a frame (checked on the real
 * GeminiModel's request body), the screenshot follows the text, sensitive apps and windows
 * are never analysed, and nothing found ever reaches a log line.
 */
import assert from "node:assert/strict";
import {
  DEFAULT_SKIP_APPS,
  DEFAULT_SKIP_TITLES,
  ibanValid,
  luhnValid,
  PrivacyGuard,
  redact,
  type RedactionKind,
} from "../../src/frames/privacy.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { GeminiModel } from "../../src/models/gemini.ts";
import { DEFAULT_PRICES } from "../../src/models/prices.ts";
import { FakeGemini, functionCallAnswer } from "../fakes/fake_gemini.ts";
import { call, ScriptedModel } from "../fakes/fake_model.ts";
import { startTestServer } from "../fakes/test_server.ts";

/** One secret of each kind, as OCR might read it, with the kind expected. */
const SECRETS: Array<[RedactionKind, string]> = [
  [
    "private_key",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAzX9q\n-----END RSA PRIVATE KEY-----",
  ],
  [
    "jwt",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
  ],
  ["api_key", "AKIAQWERTYUIOPASDF12"],
  ["api_key", "AIzaSyB7x2K9mQ4rT1vW8nC3pL6sD0fG5hJ2kL4"],
  ["api_key", "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"],
  ["api_key", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuv"],
  ["api_key", "xoxb-2048-4096-Zq8Lm3Np7Rt2"],
  ["api_key", "sk_live_51HqLyjWDarjtT1zdp7dcXyz"],
  ["api_key", "sk-proj-Ab3De6Gh9Jk2Mn5Pq8St1Vw4Yz7Bc0Ef"],
  ["api_key", "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1"],
  ["password", "hunter2!Secret"],
  ["card", "4111 1111 1111 1111"],
  ["card", "3782-822463-1OOO5"],
  ["iban", "DE89 3704 0044 0532 0130 00"],
  ["ssn", "219-09-9999"],
];

const LABELLED: Record<string, string> = { password: "Password: ", api_key: "" };

function screenText(): string {
  return SECRETS.map(([kind, secret]) => `${LABELLED[kind] ?? ""}${secret}`).join("\nnext ") +
    "\napi_key = 9fK2xQ7pL4mZ8wR1tY6u";
}

Deno.test("redact: every kind becomes its placeholder", () => {
  for (const [kind, secret] of SECRETS) {
    const text = `before ${LABELLED[kind] ?? ""}${secret} after`;
    const { text: out, counts } = redact(text);
    assert.equal(counts[kind], 1, `${kind}: ${secret}`);
    assert.ok(out.includes(`[redacted:${kind}]`), out);
    assert.ok(out.startsWith("before ") && out.endsWith(" after"), out);
  }
  assert.deepEqual(redact("token: 9fK2xQ7pL4mZ8wR1tY6u").text, "token: [redacted:api_key]");
  assert.deepEqual(redact("pwd=abc").text, "pwd=[redacted:password]");
  // Contacts only when asked.
  const contacts = "Mail bob.smith@example.com or call +1 415-555-0132";
  assert.deepEqual(redact(contacts).counts, {});
  assert.deepEqual(redact(contacts, { contacts: true }).counts, { email: 1, phone: 1 });
});

Deno.test("redact: ordinary screens are left alone", () => {
  for (
    const text of [
      "Order #112-3456789-1234567 shipped",
      "Version 2.14.3 (build 20240115)",
      "color: #ff00aa; background: #0A0B0C",
      "commit 3f2a9c1d4e5b6a7c8d9e0f1a2b3c4d5e6f7a8b9c",
      "id 550e8400-e29b-41d4-a716-446655440000",
      "2024-01-15 13:42:07 UTC",
      "Card ending 4242, 4111 1111 1111 1112 (not Luhn)",
      "SSN 000-12-3456, 666-12-3456, 900-12-3456, 123-00-4567",
      "DE89 3704 0044 0532 0130 01 (bad check)",
      "Forgot password? Reset it here",
      "token: 42",
    ]
  ) assert.deepEqual(redact(text).counts, {}, text);
});

Deno.test("checksums: Luhn and IBAN mod 97", () => {
  assert.ok(luhnValid("4111111111111111"));
  assert.ok(!luhnValid("4111111111111112"));
  assert.ok(ibanValid("GB82WEST12345698765432"));
  assert.ok(!ibanValid("GB82WEST12345698765433"));
});

Deno.test("skip lists: globs, case-insensitive; unset = defaults, empty = none", () => {
  const guard = new PrivacyGuard({
    skipApps: DEFAULT_SKIP_APPS,
    skipTitles: DEFAULT_SKIP_TITLES,
    redactContacts: false,
  });
  assert.ok(guard.skips("1password 8", ""));
  assert.ok(guard.skips("KeePassXC", "db.kdbx"));
  assert.ok(guard.skips("Firefox", "Mozilla Firefox Private Browsing"));
  assert.ok(guard.skips("Google Chrome", "New Tab - Google Chrome (Incognito)"));
  assert.ok(!guard.skips("Mail", "Inbox"));
  const defaults = loadConfig({});
  assert.deepEqual(defaults.privacySkipApps, [...DEFAULT_SKIP_APPS]);
  assert.deepEqual(defaults.privacySkipTitles, [...DEFAULT_SKIP_TITLES]);
  assert.equal(defaults.privacyRedactContacts, false);
  const none = loadConfig({ PRIVACY_SKIP_APPS: "", PRIVACY_SKIP_TITLES: " " });
  assert.deepEqual(none.privacySkipApps, []);
  assert.deepEqual(none.privacySkipTitles, []);
  const custom = loadConfig({ PRIVACY_SKIP_APPS: "Foo*, bar", PRIVACY_REDACT_CONTACTS: "true" });
  assert.deepEqual(custom.privacySkipApps, ["Foo*", "bar"]);
  assert.equal(custom.privacyRedactContacts, true);
  assert.throws(
    () => loadConfig({ PRIVACY_REDACT_CONTACTS: "maybe" }),
    /PRIVACY_REDACT_CONTACTS must be true or false/,
  );
});

const JPEG = "/9j/4AAQSkZJRgABAQ==";

function gemini(fake: FakeGemini) {
  return new GeminiModel({
    model: "gemini-2.5-flash",
    apiKey: "test-key",
    baseUrl: fake.baseUrl,
    thinkingBudget: 0,
    price: DEFAULT_PRICES["gemini-2.5-flash"],
    retryBaseMs: 5,
    log: createLogger({ level: "error", sink: () => {} }),
  });
}

function guard(): PrivacyGuard {
  return new PrivacyGuard({
    skipApps: DEFAULT_SKIP_APPS,
    skipTitles: DEFAULT_SKIP_TITLES,
    redactContacts: false,
  });
}

const NO_TASK = functionCallAnswer("no_task_found", {
  context_summary: "An admin console",
  current_activity: "Configuring a service",
});

Deno.test("secrets never reach the model, its screenshot neither, nor any log line", async () => {
  await using fake = new FakeGemini([NO_TASK]);
  const lines: string[] = [];
  await using server = startTestServer({
    model: gemini(fake),
    limits: { privacy: guard(), skipUnchangedMs: 0 },
    log: createLogger({ level: "debug", sink: (line) => lines.push(line) }),
  });
  await using client = await server.connect();
  await client.hello({ session_context: {} });
  const ocr = screenText();
  client.send({
    type: "frame_event",
    frame_number: 1,
    app_name: "Terminal",
    window_title: "deploy — Password: hunter2!Secret",
    ocr_text: ocr,
    jpeg_base64: JPEG,
  });
  const outcome = await client.expect("analysis_outcome");
  assert.equal(fake.requests.length, 1);
  const body = JSON.stringify(fake.requests[0]!.body);
  for (const [kind, secret] of SECRETS) {
    for (const part of secret.split(/\s+/).filter((p) => p.length >= 8)) {
      assert.ok(!body.includes(part), `${kind} reached the model: ${part}`);
    }
    assert.ok(body.includes(`[redacted:${kind}]`), kind);
  }
  assert.ok(!body.includes("9fK2xQ7pL4mZ8wR1tY6u"));
  assert.ok(!body.includes(JPEG) && !body.includes("inlineData"), "the screenshot was withheld");
  assert.match(outcome.context_summary, /screenshot withheld: sensitive text redacted/);
  const redactions = outcome.usage.redactions as Record<string, number>;
  assert.equal(redactions.api_key, 9);
  assert.equal(redactions.password, 2, "title and OCR");
  assert.equal(redactions.card, 2);
  assert.match(server.metrics.render(), /proactive_redactions_total\{kind="card"\} 2/);
  const logged = lines.join("\n");
  assert.ok(lines.length > 0);
  for (const [, secret] of SECRETS) {
    for (const part of secret.split(/\s+/).filter((p) => p.length >= 6)) {
      assert.ok(!logged.includes(part), `logged: ${part}`);
    }
  }
});

Deno.test("nothing redacted: the screenshot goes to the model and no redactions are sent", async () => {
  await using fake = new FakeGemini([NO_TASK]);
  await using server = startTestServer({ model: gemini(fake), limits: { privacy: guard() } });
  await using client = await server.connect();
  await client.hello({ session_context: {} });
  client.send({
    type: "frame_event",
    frame_number: 1,
    app_name: "Mail",
    window_title: "Inbox",
    ocr_text: "Order #112-3456789-1234567 ships on 2024-01-15",
    jpeg_base64: JPEG,
  });
  const outcome = await client.expect("analysis_outcome");
  assert.ok(JSON.stringify(fake.requests[0]!.body).includes(JPEG));
  assert.equal(outcome.usage.redactions, undefined);
  assert.doesNotMatch(outcome.context_summary, /withheld/);
});

Deno.test("sensitive apps and private windows are never analysed", async () => {
  const model = new ScriptedModel([call("no_task_found", { context_summary: "x" })]);
  await using server = startTestServer({ model, limits: { privacy: guard() } });
  await using client = await server.connect();
  await client.hello({ session_context: {} });
  const frames = [
    { app_name: "1Password 7", window_title: "Vault" },
    { app_name: "Bitwarden", window_title: "" },
    { app_name: "Safari", window_title: "Private Browsing — Apple" },
    { app_name: "Google Chrome", window_title: "Gmail - Google Chrome (Incognito)" },
    { app_name: "Microsoft Edge", window_title: "Bank [InPrivate]" },
  ];
  for (const [i, f] of frames.entries()) {
    client.send({ type: "frame_event", frame_number: i + 1, ocr_text: "secret", ...f });
    const outcome = await client.expect("analysis_outcome");
    assert.equal(outcome.outcome_kind, "no_task_found");
    assert.equal(outcome.usage.model_calls, 0);
    assert.equal(outcome.usage.skipped, "privacy");
  }
  assert.equal(model.calls.length, 0);
  assert.match(server.metrics.render(), /proactive_frames_skipped_total\{reason="privacy"\} 5/);
});
