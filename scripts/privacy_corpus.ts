/**
 * Writes the privacy guard's labelled corpus, eval/privacy/corpus.jsonl (README "Privacy
 * guard"): positives of every kind, with OCR-style noise, and negatives from ordinary screens.
 * Deterministic (a fixed seed), so the file only changes when this script does.
 *
 *     deno run --allow-write=eval/privacy scripts/privacy_corpus.ts
 *
 * Each line: `{ "text", "kinds": [...], "secret"?, "contacts"? }`; `secret` is the part that
 * must not survive redaction, `contacts` asks for `PRIVACY_REDACT_CONTACTS=true`.
 *
 * @module
 */
import { mulberry32 } from "./random.ts";

/** One labelled screen. */
export interface CorpusCase {
  text: string;
  kinds: string[];
  secret?: string;
  contacts?: boolean;
}

/** The corpus, from `seed`. */
export function buildCorpus(seed = 17): CorpusCase[] {
  const r = mulberry32(seed);
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(list: readonly T[]): T => list[int(list.length)]!;
  const digits = (n: number) => Array.from({ length: n }, () => String(int(10))).join("");
  const chars = (set: string, n: number) =>
    Array.from({ length: n }, () => set[int(set.length)]).join("");
  const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  const B64URL = ALNUM + "-_";
  const HEX = "0123456789abcdef";
  const b64url = (text: string) =>
    btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  /** OCR noise: a 0 read as O, a 1 as l or I. */
  const noisy = (text: string) => {
    if (r() < 0.35) text = text.replace(/0/, "O");
    if (r() < 0.35) text = text.replace(/1/, pick(["l", "I"]));
    return text;
  };
  const around = (s: string) =>
    pick([
      `Checkout\n${s}\nPlace order`,
      `Notes — ${s} — saved`,
      `From: billing\nPlease use ${s} for this.\nThanks`,
      `${s}`,
      `Settings > Account\n${s}\nLast updated 3 days ago`,
    ]);

  const luhnCheck = (body: string) => {
    let sum = 0;
    for (let i = 0; i < body.length; i++) {
      let d = Number(body[body.length - 1 - i]);
      if (i % 2 === 0) {
        d *= 2;
        if (d > 9) d -= 9;
      }
      sum += d;
    }
    return String((10 - (sum % 10)) % 10);
  };
  const mod97 = (s: string) => {
    let rest = 0;
    for (const ch of s) {
      const v = /[0-9]/.test(ch) ? ch : String(ch.charCodeAt(0) - 55);
      for (const d of v) rest = (rest * 10 + Number(d)) % 97;
    }
    return rest;
  };

  const cases: CorpusCase[] = [];
  const positive = (kind: string, secret: string, text: string, contacts = false) =>
    cases.push({ text, kinds: [kind], secret, ...(contacts ? { contacts } : {}) });

  // Cards: Visa, Mastercard, Amex, Discover; grouped by 4 (Amex 4-6-5), space, dash or none.
  for (let i = 0; i < 40; i++) {
    const brand = pick(["visa", "mc", "amex", "disc"] as const);
    const prefix = brand === "visa"
      ? "4"
      : brand === "mc"
      ? `5${1 + int(5)}`
      : brand === "amex"
      ? pick(["34", "37"])
      : "6011";
    const length = brand === "amex" ? 15 : 16;
    const body = prefix + digits(length - 1 - prefix.length);
    const number = body + luhnCheck(body);
    const sep = pick([" ", "-", "", "  "]);
    const groups = brand === "amex"
      ? [number.slice(0, 4), number.slice(4, 10), number.slice(10)]
      : number.match(/.{4}/g)!;
    const shown = noisy(groups.join(sep));
    positive(
      "card",
      shown,
      around(
        pick([
          `Card number: ${shown}`,
          `${shown}  exp 0${1 + int(9)}/2${7 + int(3)}`,
          `VISA ${shown}`,
          `Pay with ${shown}`,
        ]),
      ),
    );
  }

  // IBANs of several countries, grouped by 4 or not.
  const IBAN_FORMATS: Array<[string, () => string]> = [
    ["DE", () => digits(18)],
    ["FR", () => digits(23)],
    ["GB", () => chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4) + digits(14)],
    ["NL", () => chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4) + digits(10)],
    ["ES", () => digits(20)],
    ["IT", () => chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 1) + digits(22)],
    ["CH", () => digits(17)],
    ["BE", () => digits(12)],
  ];
  for (let i = 0; i < 40; i++) {
    const [country, bban] = pick(IBAN_FORMATS);
    const b = bban();
    const check = String(98 - mod97(b + country + "00")).padStart(2, "0");
    const iban = country + check + b;
    const shown = r() < 0.6 ? iban.match(/.{1,4}/g)!.join(" ") : iban;
    const text = r() < 0.3 ? shown.replace(/(\d{4,})0/, (_m, p) => `${p}O`) : shown;
    positive("iban", text, around(pick([`IBAN: ${text}`, `Send to ${text} (EUR)`, `${text}`])));
  }

  // US SSNs, valid ranges only.
  for (let i = 0; i < 40; i++) {
    let area = 1 + int(899);
    if (area === 666) area = 667;
    const ssn = `${String(area).padStart(3, "0")}-${String(1 + int(99)).padStart(2, "0")}-${
      String(1 + int(9999)).padStart(4, "0")
    }`;
    const shown = noisy(r() < 0.2 ? ssn.replace(/-/g, " ") : ssn);
    positive(
      "ssn",
      shown,
      around(pick([`SSN: ${shown}`, `Social Security Number ${shown}`, `${shown}`])),
    );
  }

  // Private key blocks, some cut off by the screen's edge.
  for (let i = 0; i < 30; i++) {
    const type = pick(["RSA ", "EC ", "OPENSSH ", "", "ENCRYPTED "]);
    const body = Array.from({ length: 2 + int(5) }, () => chars(ALNUM + "+/", 64)).join("\n");
    const block = `-----BEGIN ${type}PRIVATE KEY-----\n${body}` +
      (r() < 0.8 ? `\n-----END ${type}PRIVATE KEY-----` : "");
    positive("private_key", body.slice(0, 40), `$ cat ~/.ssh/id_key\n${block}\n$ `);
  }

  // JWTs.
  for (let i = 0; i < 30; i++) {
    const header = b64url(JSON.stringify({ alg: pick(["HS256", "RS256", "ES256"]), typ: "JWT" }));
    const payload = b64url(JSON.stringify({ sub: digits(8), iat: 1700000000 + int(1e7) }));
    const jwt = `${header}.${payload}.${chars(B64URL, 43)}`;
    positive("jwt", jwt, around(pick([`Authorization: Bearer ${jwt}`, `token ${jwt}`, `${jwt}`])));
  }

  // API keys of the known shapes, and labelled high-entropy values.
  const KEY_SHAPES: Array<() => string> = [
    () => pick(["AKIA", "ASIA"]) + chars(UPPER, 16),
    () => "AIza" + chars(B64URL, 35),
    () => pick(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]) + chars(ALNUM, 36),
    () => "github_pat_" + chars(ALNUM, 22) + "_" + chars(ALNUM, 59),
    () => `xox${pick(["a", "b", "p", "r", "s"])}-${digits(11)}-${digits(12)}-${chars(ALNUM, 24)}`,
    () => pick(["sk_live_", "rk_live_", "pk_live_"]) + chars(ALNUM, 24),
    () => "sk-" + chars(ALNUM, 48),
    () => "sk-proj-" + chars(B64URL, 64),
    () => "sk-ant-api03-" + chars(B64URL, 80),
  ];
  for (let i = 0; i < 45; i++) {
    const key = pick(KEY_SHAPES)();
    positive("api_key", key, around(pick([`export KEY=${key}`, `key: ${key}`, `${key}`])));
  }
  for (let i = 0; i < 15; i++) {
    const value = chars(ALNUM, 24 + int(16));
    const label = pick([
      "api_key",
      "apiKey",
      "API_KEY",
      "token",
      "access_token",
      "client_secret",
      "secret",
    ]);
    positive("api_key", value, around(`${label}${pick(["=", ": ", " = ", '": "'])}${value}`));
  }

  // Passwords after their label.
  for (let i = 0; i < 40; i++) {
    const value = pick([
      () => chars(ALNUM + "!@#$%^&*", 8 + int(8)),
      () => pick(["Summer", "Winter", "Dragon", "Monkey"]) + digits(4) + "!",
      () => digits(6),
    ])();
    const label = pick([
      "Password",
      "password",
      "PASSWORD",
      "pwd",
      "Passcode",
      "passwd",
      "Passphrase",
    ]);
    positive("password", value, around(`${label}${pick([": ", "=", " = ", ":"])}${value}`));
  }

  // Contacts (only with PRIVACY_REDACT_CONTACTS=true).
  for (let i = 0; i < 25; i++) {
    const email = `${pick(["anna", "bob.smith", "j.doe", "support+tag"])}${int(100)}@${
      pick(["example.com", "mail.co.uk", "corp.example.org"])
    }`;
    positive("email", email, around(`Reply to ${email}`), true);
    const phone = pick([
      () => `+1 ${digits(3)}-${digits(3)}-${digits(4)}`,
      () => `(${digits(3)}) ${digits(3)}-${digits(4)}`,
      () => `+44 20 ${digits(4)} ${digits(4)}`,
      () => `+49 30 ${digits(3)} ${digits(4)}`,
    ])();
    positive("phone", phone, around(`Call ${phone}`), true);
  }

  // Negatives: ordinary screens full of numbers and ids.
  const NEGATIVES: Array<() => string> = [
    () => `Order #${digits(3)}-${digits(7)}-${digits(7)} has shipped`,
    () => `Order number ${digits(10)} — arriving Tuesday`,
    () => `Tracking: 1Z${chars(UPPER, 6)}${digits(10)}`,
    () => `USPS tracking 9400 ${digits(4)} ${digits(4)} ${digits(4)} ${digits(4)} ${digits(2)}`,
    () => `FedEx ${digits(12)} in transit`,
    () =>
      `2026-${String(1 + int(12)).padStart(2, "0")}-${String(1 + int(28)).padStart(2, "0")} ${
        digits(2)
      }:${digits(2)}:${digits(2)} INFO request done`,
    () => `Version ${int(20)}.${int(30)}.${int(100)} (build ${digits(8)})`,
    () => `color: #${chars(HEX, 6)}; border: 1px solid #${chars(HEX, 3)};`,
    () => `commit ${chars(HEX, 40)}\nAuthor: dev`,
    () => `Merge ${chars(HEX, 7)} into main`,
    () =>
      `id: ${chars(HEX, 8)}-${chars(HEX, 4)}-4${chars(HEX, 3)}-a${chars(HEX, 3)}-${chars(HEX, 12)}`,
    () => `Ticket INC-${digits(7)} assigned to you`,
    () => `Meeting ID: ${digits(3)} ${digits(4)} ${digits(4)}`,
    () => `Invoice ${digits(4)}-${digits(6)} total $${int(9999)}.${digits(2)}`,
    () => `ISBN 978-${int(10)}-${digits(2)}-${digits(6)}-${int(10)}`,
    () => `Server 10.${int(255)}.${int(255)}.${int(255)}:${digits(4)} healthy`,
    () => `Reset your password — enter your new password below`,
    () => `Forgot password? We'll email you a link`,
    () => `token count: ${digits(4)}  latency ${digits(3)} ms`,
    () => `API key settings — create a key to get started`,
    () => `Transaction ${digits(16)} approved`,
    () => `Account ending in ${digits(4)}; statement ${digits(2)}/${digits(4)}`,
    () => `Employee ID ${digits(3)}-${digits(3)}-${digits(3)}`,
    () => `Case ${digits(3)}-${digits(2)}-${digits(5)} opened`,
    () => `sha256:${chars(HEX, 64)}`,
    () => `Room ${digits(3)}, floor ${int(20)}, ext. ${digits(4)}`,
    () => `Confirmation code: ${chars(UPPER, 6)}`,
    () => `Slack: ${pick(["#general", "#random", "#eng"])} — ${int(40)} new messages`,
    () => `Serial number ${chars(UPPER, 12)}`,
    () => `Coordinates ${int(90)}.${digits(6)}, ${int(180)}.${digits(6)}`,
  ];
  for (let i = 0; i < 330; i++) cases.push({ text: pick(NEGATIVES)(), kinds: [] });
  return cases;
}

if (import.meta.main) {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(
      "usage: deno task privacy-corpus\n\nRewrites eval/privacy/corpus.jsonl (deterministic).",
    );
    Deno.exit(0);
  }
  const cases = buildCorpus();
  await Deno.writeTextFile(
    "eval/privacy/corpus.jsonl",
    cases.map((c) => JSON.stringify(c)).join("\n") + "\n",
  );
  console.log(`wrote eval/privacy/corpus.jsonl: ${cases.length} cases`);
}
