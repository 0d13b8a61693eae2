/**
 * The privacy guard's cost: the detector on 12,000 characters of OCR text, µs per frame.
 *
 *     deno task bench-privacy
 *
 * The text mixes ordinary screen lines (numbers, ids, dates) with a few secrets, as a busy
 * screen would; the first runs warm the JIT and are not counted.
 *
 * @module
 */
import { redact } from "../src/frames/privacy.ts";

const LINES = [
  "Order #112-3456789-1234567 has shipped — arriving Tuesday",
  "2026-11-25 13:42:07 INFO request done in 42 ms (build 20261125)",
  "commit 3f2a9c1d4e5b6a7c8d9e0f1a2b3c4d5e6f7a8b9c Merge branch 'main'",
  "Meeting ID: 845 2931 0042 — join from the browser",
  "Re: Q3 report — Sarah asked for the numbers by Friday, see the attached sheet",
  "color: #ff00aa; border: 1px solid #ccc; id 550e8400-e29b-41d4-a716-446655440000",
  "Invoice 2026-000123 total $1,234.56 due 12/15",
];
const SECRETS = [
  "Card number: 4111 1111 1111 1111",
  "password: hunter2!",
  "export KEY=AKIAQWERTYUIOPASDF12",
  "IBAN DE89 3704 0044 0532 0130 00",
];

/**
 * About `size` characters of screen text, a secret every 40 lines (none with
 * `secrets: false`: an ordinary busy screen, whose frame keeps its screenshot).
 */
export function screen(size = 12_000, { secrets = true } = {}): string {
  const out: string[] = [];
  let length = 0;
  for (let i = 0; length < size; i++) {
    const line = secrets && i % 40 === 39
      ? SECRETS[(i / 40 | 0) % SECRETS.length]!
      : LINES[i % LINES.length]!;
    out.push(line);
    length += line.length + 1;
  }
  return out.join("\n").slice(0, size);
}

if (import.meta.main) {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(
      "usage: deno task bench-privacy\n\nPrints the privacy detector's cost on 12,000 characters of OCR text, µs per frame.",
    );
    Deno.exit(0);
  }
  const text = screen();
  const runs = 500;
  for (let i = 0; i < 50; i++) redact(text);
  const started = performance.now();
  for (let i = 0; i < runs; i++) redact(text);
  const us = ((performance.now() - started) * 1000) / runs;
  const contacts = performance.now();
  for (let i = 0; i < runs; i++) redact(text, { contacts: true });
  const usContacts = ((performance.now() - contacts) * 1000) / runs;
  console.log(
    `redact: ${text.length} characters, ${us.toFixed(0)} µs per frame (${
      usContacts.toFixed(0)
    } µs with PRIVACY_REDACT_CONTACTS)`,
  );
}
