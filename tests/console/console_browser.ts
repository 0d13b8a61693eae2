/**
 * Browser runner of the console tests, run by `console_test.ts` (and by
 * `scripts/console_screenshots.ts`) in its own process: playwright-core needs `--allow-all`
 * in Deno.
 *
 *     deno run -A tests/console/console_browser.ts <http://host:port> <out dir> [options]
 *
 * Options: `--chromium <path>`, `--by-hand` (one more frame, with a screenshot dropped on the
 * page, its search answered by hand), `--privacy` (one more frame, with a card number),
 * `--protocol 1.0|1.1`,
 * `--screenshots <dir>` (writes `console-1280.png` and `console-390.png` there). A token for
 * Firebase auth comes from `PROACTIVE_CONSOLE_TOKEN`, never the command line.
 *
 * Drives the page as a developer would: adds a task and a goal, connects, sends the README's
 * Slack example, lets the page answer the search from its list, reads the timeline, sends the
 * same frame twice more (deduped against the extracted task, then skipped), saves the first frame as an eval case (the download lands in the out dir
 * as `case.jsonl`), tabs through the controls, and looks at the page 390 px wide. Prints one
 * JSON line: {@link RunResult}.
 */
import { parseArgs } from "node:util";
import { chromium, type Page } from "playwright-core";
import { CHROMIUM_ARGS, watchPage } from "../fakes/chromium.ts";

/** One frame card as the page shows it. */
export interface FrameView {
  outcome: string;
  steps: Array<{ kind: string; text: string }>;
  head: string;
}

/** What the run saw. */
export interface RunResult {
  pageErrors: string[];
  consoleErrors: string[];
  /** Every URL the page requested. */
  requests: string[];
  status: string;
  /** Frames in the order they were sent. */
  frames: FrameView[];
  activeTasks: string[];
  totals: Record<string, string>;
  /** Types of the raw log's rows, in order, with their direction. */
  log: string[];
  /** The first logged `frame_event`, expanded, as the page lays it out. */
  loggedFrame: string;
  evalCase: string;
  /** Element ids reached by pressing Tab from the top of the page. */
  tabOrder: string[];
  /** The screenshot preview's description (`--by-hand` runs send one). */
  preview: string;
  /** Document width at 390 px (no horizontal scrolling when ≤ 390). */
  narrowScrollWidth: number;
  screenshots: string[];
}

const READ_FRAMES =
  `(() => [...document.querySelectorAll("article.frame")].reverse().map((card) => ({
  outcome: card.getAttribute("data-outcome") ?? "",
  head: card.querySelector(".head")?.textContent ?? "",
  steps: [...card.querySelectorAll("ol.steps li")].map((li) => ({
    kind: li.getAttribute("data-step") ?? "",
    text: li.textContent ?? "",
  })),
})))()`;

const READ_STATE = `(() => ({
  status: document.getElementById("status")?.textContent ?? "",
  activeTasks: [...document.querySelectorAll("#list-active li:not(.empty)")].map((li) =>
    li.firstElementChild?.textContent ?? ""),
  totals: Object.fromEntries([...document.querySelectorAll("#totals > div")].map((d) =>
    [d.querySelector("span")?.textContent ?? "", d.querySelector("b")?.textContent ?? ""])),
  log: [...document.querySelectorAll("#log details")].map((d) =>
    (d.classList.contains("in") ? "in " : "out ") + (d.getAttribute("data-type") ?? "")),
}))()`;

async function frames(page: Page): Promise<FrameView[]> {
  return await page.evaluate(READ_FRAMES) as FrameView[];
}

/**
 * Waits until `count` frames are shown and the newest (the first card) has its terminal or
 * failed: frames are sent one at a time, so then all have. (A selector, not a function: the
 * page's CSP forbids evaluating strings in it.)
 */
async function waitForFrames(page: Page, count: number): Promise<void> {
  await page.waitForSelector(
    `#timeline article.frame:nth-last-child(${count}):first-child:not([data-outcome="running…"])`,
    { timeout: 30_000 },
  );
}

/** Runs the whole scenario against the console at `base`. */
export async function runConsole(options: {
  base: string;
  outDir: string;
  chromiumPath: string;
  token?: string;
  byHand: boolean;
  /** Send a fourth frame with a card number on it. */
  privacy?: boolean;
  protocol?: "1.0" | "1.1";
  screenshots?: string;
}): Promise<RunResult> {
  const browser = await chromium.launch({
    executablePath: options.chromiumPath,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  try {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 800 },
      acceptDownloads: true,
    });
    const page = await context.newPage();
    const { pageErrors, consoleErrors, requests } = watchPage(page);
    await page.goto(`${options.base}/console`, { waitUntil: "load" });

    // The context: one unrelated task and a goal, typed in as a user would.
    await page.fill("#add-active", "Book flights to Berlin");
    await page.press("#add-active", "Enter");
    await page.fill("#add-goals", "Ship the Q4 roadmap");
    await page.click('button[aria-label="Add to Goals"]');
    if (options.token !== undefined) await page.fill("#token", options.token);
    if (options.protocol) await page.selectOption("#version", options.protocol);
    await page.click("#connect");
    try {
      await page.waitForSelector('#status[data-state="connected"]', { timeout: 20_000 });
    } catch (err) {
      const status = await page.evaluate('document.getElementById("status")?.textContent');
      throw new Error(`not connected (status: ${status}): ${err}`);
    }

    // The README's Slack example is the form's default; the search is answered from the list.
    await page.fill("#app", "Slack");
    await page.fill("#title", "#general");
    await page.fill("#ocr", "Hey, can you send me the Q3 report by Friday?");
    await page.click("#send");
    await waitForFrames(page, 1);
    // The same screen again: the extracted task is in the list now (a new context), so the
    // model sees it again and the search finds the task; a third time nothing has changed.
    await page.click("#send");
    await waitForFrames(page, 2);
    await page.click("#send");
    await waitForFrames(page, 3);

    let preview = "";
    if (options.byHand) {
      // With a screenshot dropped on the page: a 2000×1000 PNG drawn by the browser, which the
      // page must resize to 1280 px and encode as JPEG.
      await page.evaluate(`(async () => {
        const c = document.createElement("canvas");
        c.width = 2000; c.height = 1000;
        const g = c.getContext("2d");
        g.fillStyle = "#fff"; g.fillRect(0, 0, 2000, 1000);
        g.fillStyle = "#123"; g.font = "64px sans-serif"; g.fillText("Send the Q3 report", 80, 200);
        const blob = await new Promise((resolve) => c.toBlob(resolve, "image/png"));
        const data = new DataTransfer();
        data.items.add(new File([blob], "screen.png", { type: "image/png" }));
        const drop = document.getElementById("drop");
        drop.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
        drop.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
      })()`);
      await page.waitForSelector("#preview:not([hidden])");
      preview = await page.getAttribute("#preview", "alt") ?? "";
      await page.selectOption("#answer-mode", "hand");
      await page.fill("#ocr", "Reminder: please send the Q3 report to Sarah before Friday");
      await page.click("#send");
      await page.waitForSelector("#tool-send", { timeout: 20_000 });
      await page.click("#tool-send");
      await waitForFrames(page, 4);
      await page.selectOption("#answer-mode", "list");
      await page.click("#clear-image");
    }

    if (options.privacy) {
      // A card number on the screen: redacted before any model, the timeline says so.
      await page.fill("#ocr", "Card number: 4111 1111 1111 1111 — pay the invoice by Friday");
      await page.click("#send");
      await waitForFrames(page, 4);
      await page.fill("#ocr", "Hey, can you send me the Q3 report by Friday?");
    }

    const screenshots: string[] = [];
    if (options.screenshots) {
      const path = `${options.screenshots}/console-1280.png`;
      await page.screenshot({ path });
      screenshots.push(path);
    }

    // Save the first frame as an eval case.
    const firstSave = page.locator("article.frame").last().locator("button.save-eval");
    await firstSave.click();
    await page.waitForSelector("#eval-dialog[open]");
    const downloaded = page.waitForEvent("download");
    await page.click("#eval-download");
    const download = await downloaded;
    const casePath = `${options.outDir}/case.jsonl`;
    await download.saveAs(casePath);
    const evalCase = await Deno.readTextFile(casePath);

    // The raw log: the first frame_event, opened.
    const firstFrame = page.locator('#log details[data-type="frame_event"]').first();
    await firstFrame.locator("summary").click();
    const loggedFrame = await firstFrame.locator("pre").textContent() ?? "";

    const state = await page.evaluate(READ_STATE) as Pick<
      RunResult,
      "status" | "activeTasks" | "totals" | "log"
    >;
    const seen = await frames(page);

    // Keyboard: Tab from the top reaches every control of the form.
    await page.evaluate("document.activeElement?.blur(); window.scrollTo(0, 0)");
    const tabOrder: string[] = [];
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press("Tab");
      tabOrder.push(await page.evaluate("document.activeElement?.id ?? ''") as string);
    }

    await page.setViewportSize({ width: 390, height: 844 });
    const narrowScrollWidth = await page.evaluate(
      "document.documentElement.scrollWidth",
    ) as number;
    if (options.screenshots) {
      const path = `${options.screenshots}/console-390.png`;
      await page.screenshot({ path, fullPage: true });
      screenshots.push(path);
    }
    await page.click("#disconnect");
    await context.close();
    return {
      pageErrors,
      consoleErrors,
      requests,
      ...state,
      frames: seen,
      loggedFrame,
      evalCase,
      tabOrder,
      preview,
      narrowScrollWidth,
      screenshots,
    };
  } finally {
    await browser.close();
  }
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      chromium: { type: "string", default: "/usr/bin/chromium" },
      "by-hand": { type: "boolean", default: false },
      privacy: { type: "boolean", default: false },
      protocol: { type: "string" },
      screenshots: { type: "string" },
    },
  });
  const [base, outDir] = positionals;
  if (!base || !outDir) {
    console.error("usage: console_browser.ts <http://host:port> <out dir> [options]");
    Deno.exit(2);
  }
  const token = Deno.env.get("PROACTIVE_CONSOLE_TOKEN");
  const result = await runConsole({
    base,
    outDir,
    chromiumPath: values.chromium,
    byHand: values["by-hand"],
    privacy: values.privacy,
    ...(values.protocol === "1.0" || values.protocol === "1.1"
      ? { protocol: values.protocol }
      : {}),
    ...(token ? { token } : {}),
    ...(values.screenshots ? { screenshots: values.screenshots } : {}),
  });
  console.log(JSON.stringify(result));
  Deno.exit(0);
}
