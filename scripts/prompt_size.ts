/**
 * Prints the size of the default Gemini request for an empty context and a 60-task context:
 * characters and an estimate (characters / 4), and, when GEMINI_API_KEY is set, the exact
 * count from the Gemini countTokens API. `deno task prompt-size`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { GoogleGenAI } from "@google/genai";
import type { AnalysisRequest } from "../src/analysis/model.ts";
import { buildFramePrompt, SYSTEM_INSTRUCTION } from "../src/analysis/prompt.ts";
import { FUNCTION_DECLARATIONS } from "../src/models/gemini.ts";

const USAGE = `usage: deno task prompt-size

Prints the size of the default model request (system instruction, tools, frame prompt) for an
empty context and for 60 active tasks: characters and an estimate (characters / 4). With
GEMINI_API_KEY set it also asks Gemini's countTokens API (GEMINI_MODEL, default
gemini-2.5-flash) for the exact count; nothing else is sent anywhere.
  -h, --help  print this and exit`;

try {
  const { values } = parseArgs({
    args: Deno.args,
    strict: true,
    options: { help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
} catch (err) {
  console.error(`prompt-size: ${err instanceof Error ? err.message : err}\n${USAGE}`);
  Deno.exit(2);
}

const frame = {
  frameId: "1",
  appName: "Slack",
  windowTitle: "Slack | #finance",
  ocrText: "Sarah: Hey, can you send me the Q3 report by Friday?",
};
const tasks = Array.from({ length: 60 }, (_, i) => ({
  task_id: i + 1,
  description: `Follow up with the vendor about invoice ${1000 + i} and confirm the delivery date`,
  priority: i % 3 === 0 ? "high" : "medium",
  relevance_score: i + 1,
}));
const cases: Array<[string, AnalysisRequest]> = [
  ["empty context", { frame, context: {}, today: "2026-11-25" }],
  ["60 active tasks", { frame, context: { active_tasks: tasks }, today: "2026-11-25" }],
];

const tools = JSON.stringify(FUNCTION_DECLARATIONS);
const key = Deno.env.get("GEMINI_API_KEY");
const ai = key ? new GoogleGenAI({ apiKey: key, apiVersion: "v1beta" }) : undefined;
for (const [name, request] of cases) {
  const prompt = buildFramePrompt(request);
  const chars = SYSTEM_INSTRUCTION.length + tools.length + prompt.length;
  let exact = "";
  if (ai) {
    const counted = await ai.models.countTokens({
      model: Deno.env.get("GEMINI_MODEL") ?? "gemini-2.5-flash",
      contents: [SYSTEM_INSTRUCTION, tools, prompt].join("\n"),
    });
    exact = `, counted by Gemini: ${counted.totalTokens} tokens`;
  }
  console.log(
    `${name}: system ${SYSTEM_INSTRUCTION.length} + tools ${tools.length} + prompt ` +
      `${prompt.length} = ${chars} chars ≈ ${Math.round(chars / 4)} tokens${exact}`,
  );
}
