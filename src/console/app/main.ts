/**
 * The developer console in the browser (served as `/console/app.js`): connects to this
 * server's `/v1/proactive` with the reference client, edits the session context, sends
 * frames, answers searches from the page's task list or by hand, and shows each frame's
 * timeline, the session's totals and the raw message log. Nothing leaves the page but the
 * protocol's own messages; the token (with Firebase auth) travels in the upgrade's
 * `Sec-WebSocket-Protocol`, never in a URL, and is never stored.
 *
 * Type-checked on its own (`deno.json` here: the DOM's types), bundled by
 * `deno task console-build`.
 *
 * @module
 */
import { type FrameFields, type FrameTerminal, ProactiveClient } from "../../client/client.ts";
import type { WebSocketConstructor } from "../../client/connection.ts";
import type { ToolCallRequest, ToolResultItem } from "../../protocol/types.ts";
import {
  addExtracted,
  addItem,
  answerSearch,
  type ConsoleContext,
  type ContextList,
  emptyContext,
  evalCase,
  evalCaseProblem,
  type Expectation,
  forLog,
  type FrameRecord,
  markSent,
  removeItem,
  type SearchStep,
  SentContexts,
  sessionContext,
  timeline,
  type TimelineStep,
  totals,
} from "../state.ts";

const MAX_IMAGE_WIDTH = 1280;
const JPEG_QUALITY = 0.8;
const MAX_LOG_ROWS = 500;

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
};

/** Builds an element: `h("li", { class: "x" }, "text", child)`. */
function h(
  tag: string,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: Array<Node | string | undefined>
): HTMLElement {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) if (child !== undefined) el.append(child);
  return el;
}

const state = {
  context: emptyContext(),
  frames: [] as FrameRecord[],
  client: undefined as ProactiveClient | undefined,
  jpegBase64: undefined as string | undefined,
  logStarted: performance.now(),
  /** The tool call waiting for an answer by hand, and how to answer it. */
  pendingTool: undefined as
    | {
      request: ToolCallRequest;
      resolve: (items: ToolResultItem[]) => void;
      reject: (e: Error) => void;
    }
    | undefined,
  frameCounter: 0,
};

// ---------------------------------------------------------------------------------------
// The context lists.

const LISTS: Array<{ list: ContextList; title: string }> = [
  { list: "active", title: "Active tasks" },
  { list: "completed", title: "Completed tasks" },
  { list: "deleted", title: "Deleted tasks" },
  { list: "goals", title: "Goals" },
];

function setContext(next: ConsoleContext): void {
  state.context = next;
  state.client?.updateContext(sessionContext(next));
  renderLists();
}

function renderLists(): void {
  const root = $("lists");
  root.replaceChildren();
  for (const { list, title } of LISTS) {
    const items = state.context[list];
    const ul = h("ul", { class: "items", id: `list-${list}` });
    items.forEach((item, index) => {
      const text = "title" in item ? item.title : item.description;
      const id = "goal_id" in item ? item.goal_id : String(item.task_id);
      ul.append(h(
        "li",
        {},
        h("span", {}, h("span", { class: "id" }, `#${id}`), text),
        button("×", () => setContext(removeItem(state.context, list, index)), {
          class: "icon",
          "aria-label": `Remove ${text}`,
        }),
      ));
    });
    if (items.length === 0) ul.append(h("li", { class: "empty" }, "none"));
    const input = h("input", {
      type: "text",
      id: `add-${list}`,
      placeholder: list === "goals" ? "Add a goal" : "Add a task",
      "aria-label": `Add to ${title}`,
    }) as HTMLInputElement;
    const add = () => {
      setContext(addItem(state.context, list, input.value));
      $<HTMLInputElement>(`add-${list}`).focus();
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        add();
      }
    });
    root.append(
      h("h3", {}, `${title} (${items.length})`),
      ul,
      h("div", { class: "row" }, input, button("Add", add, { "aria-label": `Add to ${title}` })),
    );
  }
}

function button(
  label: string,
  onClick: () => void,
  attrs: Record<string, string> = {},
): HTMLButtonElement {
  const b = h("button", { type: "button", ...attrs }, label) as HTMLButtonElement;
  b.addEventListener("click", onClick);
  return b;
}

// ---------------------------------------------------------------------------------------
// Connecting.

function setStatus(text: string, state: "idle" | "connected" | "failed"): void {
  const el = $("status");
  el.textContent = text;
  el.dataset.state = state;
}

/** The context each frame went out with, read off the outgoing messages. */
const sentContexts = new SentContexts();

/** An outgoing message: a frame's record gets the context it was actually sent with. */
function noteSent(text: string): void {
  const sent = sentContexts.observe(text);
  if (!sent) return;
  const frame = state.frames.find((f) => f.id === sent.frameId);
  if (frame) markSent(frame, sent.context);
}

/** The browser's WebSocket, logging every message both ways into the raw log. */
const LoggedWebSocket = class extends WebSocket {
  constructor(url: string, init?: unknown) {
    super(url, init as string | string[] | undefined);
    this.addEventListener("message", (event) => {
      if (typeof event.data === "string") logMessage("in", event.data);
    });
  }

  override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
    if (typeof data === "string") {
      logMessage("out", data);
      noteSent(data);
    }
    super.send(data as string);
  }
} as unknown as WebSocketConstructor;

async function connect(): Promise<void> {
  const version = $<HTMLSelectElement>("version").value as "1.0" | "1.1";
  const tokenInput = document.getElementById("token") as HTMLInputElement | null;
  if (tokenInput && !tokenInput.value.trim()) {
    setStatus("a Firebase ID token is needed", "failed");
    tokenInput.focus();
    return;
  }
  $<HTMLButtonElement>("connect").disabled = true;
  setStatus("connecting…", "idle");
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/proactive`;
  try {
    const client = await ProactiveClient.connect({
      url,
      protocolVersion: version,
      appVersion: "console",
      context: sessionContext(state.context),
      WebSocket: LoggedWebSocket,
      ...(tokenInput ? { token: () => tokenInput.value.trim(), tokenTransport: "protocol" } : {}),
      onEvent: (event) => {
        if (event.kind === "connected") {
          setStatus(`connected (${event.protocolVersion})`, "connected");
          $("session").textContent = `session ${event.sessionId.slice(0, 8)}`;
        } else if (event.kind === "disconnected") {
          setStatus(`disconnected (${event.code})`, "failed");
        } else if (event.kind === "reconnecting") setStatus("reconnecting…", "idle");
        else if (event.kind === "reconnect_failed") {
          setStatus("could not reconnect", "failed");
        }
      },
    });
    state.client = client;
    setStatus(`connected (${client.session?.protocol_version ?? version})`, "connected");
    $("session").textContent = `session ${client.session?.session_id.slice(0, 8) ?? ""}`;
    $<HTMLButtonElement>("disconnect").disabled = false;
    $<HTMLButtonElement>("send").disabled = false;
    $<HTMLSelectElement>("version").disabled = true;
  } catch (err) {
    setStatus(`not connected: ${err instanceof Error ? err.message : String(err)}`, "failed");
    $<HTMLButtonElement>("connect").disabled = false;
  }
}

async function disconnect(): Promise<void> {
  const client = state.client;
  state.client = undefined;
  $<HTMLButtonElement>("disconnect").disabled = true;
  $<HTMLButtonElement>("send").disabled = true;
  await client?.close();
  setStatus("not connected", "idle");
  $("session").textContent = "";
  $<HTMLButtonElement>("connect").disabled = false;
  $<HTMLSelectElement>("version").disabled = false;
}

// ---------------------------------------------------------------------------------------
// Screenshots: decoded, resized and encoded in the page.

async function useImage(file: File): Promise<void> {
  const error = $("frame-error");
  error.textContent = "";
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, MAX_IMAGE_WIDTH / bitmap.width);
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext("2d")!.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const dataUrl = canvas.toDataURL("image/jpeg", JPEG_QUALITY);
    state.jpegBase64 = dataUrl.slice(dataUrl.indexOf(",") + 1);
    const preview = $<HTMLImageElement>("preview");
    preview.src = dataUrl;
    preview.alt = `Screenshot, ${canvas.width}×${canvas.height}`;
    preview.hidden = false;
    $("clear-image").hidden = false;
    $("drop-hint").textContent = `${canvas.width}×${canvas.height} JPEG, ${
      kb(state.jpegBase64.length * 0.75)
    } — drop another to replace it`;
  } catch {
    error.textContent = "That file could not be read as an image";
  }
}

function clearImage(): void {
  state.jpegBase64 = undefined;
  const preview = $<HTMLImageElement>("preview");
  preview.hidden = true;
  preview.removeAttribute("src");
  $("clear-image").hidden = true;
  $("drop-hint").textContent =
    "Drop a screenshot here, or press Enter to choose one (resized to 1280 px, JPEG)";
}

function kb(bytes: number): string {
  return bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${Math.round(bytes)} B`;
}

// ---------------------------------------------------------------------------------------
// Frames and searches.

async function sendFrame(): Promise<void> {
  const client = state.client;
  if (!client) return;
  $("frame-error").textContent = "";
  const id = `console-${Date.now().toString(36)}-${++state.frameCounter}`;
  const fields: FrameFields = {
    screenshot_id: id,
    app_name: $<HTMLInputElement>("app").value,
    window_title: $<HTMLInputElement>("title").value,
    ocr_text: $<HTMLTextAreaElement>("ocr").value,
  };
  if (state.jpegBase64) fields.jpeg_base64 = state.jpegBase64;
  const frame: FrameRecord = {
    id,
    fields,
    context: sessionContext(state.context),
    sentAt: performance.now(),
    searches: [],
  };
  state.frames.unshift(frame);
  render();
  try {
    const terminal = await client.analyzeFrame(fields, {
      onToolCall: (request, signal) => answerTool(frame, request, signal),
    });
    finish(frame, terminal);
  } catch (err) {
    frame.ms = performance.now() - frame.sentAt;
    frame.error = err instanceof Error ? err.message : String(err);
    render();
  }
}

function finish(frame: FrameRecord, terminal: FrameTerminal): void {
  frame.terminal = terminal;
  frame.ms = performance.now() - frame.sentAt;
  if (terminal.type === "analysis_outcome" && terminal.outcome_kind === "extract_task") {
    // The next frame dedupes against it.
    setContext(addExtracted(state.context, terminal.task));
  }
  render();
}

async function answerTool(
  frame: FrameRecord,
  request: ToolCallRequest,
  signal: AbortSignal,
): Promise<ToolResultItem[]> {
  const started = performance.now();
  const byHand = $<HTMLSelectElement>("answer-mode").value === "hand";
  const step: SearchStep = {
    requestId: request.request_id,
    toolKind: request.tool_kind,
    query: request.query,
    results: [],
    ms: 0,
    byHand,
  };
  frame.searches.push(step);
  const suggested = answerSearch(state.context, request.tool_kind, request.query);
  try {
    const results = byHand ? await askByHand(request, suggested, signal) : suggested;
    step.results = results;
    return results;
  } catch (err) {
    if (signal.aborted) step.cancelled = true;
    else step.error = err instanceof Error ? err.message : String(err);
    throw err;
  } finally {
    step.ms = performance.now() - started;
    render();
  }
}

/** Shows the request with the list's hits to pick from; resolves with the picked ones. */
function askByHand(
  request: ToolCallRequest,
  suggested: ToolResultItem[],
  signal: AbortSignal,
): Promise<ToolResultItem[]> {
  const root = $("pending");
  return new Promise<ToolResultItem[]>((resolve, reject) => {
    const checks = suggested.map((item, i) => {
      const box = h("input", {
        type: "checkbox",
        id: `pick-${i}`,
        checked: true,
      }) as HTMLInputElement;
      return { box, item };
    });
    const done = () => {
      root.replaceChildren();
      signal.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      done();
      reject(new Error("cancelled"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const send = button("Send results", () => {
      done();
      resolve(checks.filter((c) => c.box.checked).map((c) => c.item));
    }, { class: "primary", id: "tool-send" });
    const fail = button("Answer with an error", () => {
      done();
      reject(new Error("answered with an error from the console"));
    }, { id: "tool-error" });
    root.replaceChildren(h(
      "div",
      { class: "pending", role: "region", "aria-label": "Search to answer" },
      h("h3", {}, `${request.tool_kind}: “${request.query}”`),
      h(
        "p",
        { class: "hint" },
        `The server waits ${Math.round(request.deadline_ms / 1000)} s for the answer.`,
      ),
      ...(checks.length === 0
        ? [h("p", { class: "empty" }, "The task list has no match.")]
        : checks.map(({ box, item }, i) =>
          h(
            "label",
            { for: `pick-${i}` },
            box,
            `#${item.task_id} ${item.description} (${item.status})`,
          )
        )),
      h("div", { class: "row" }, send, fail),
    ));
    send.focus();
  });
}

// ---------------------------------------------------------------------------------------
// Rendering.

function render(): void {
  renderTotals();
  const root = $("timeline");
  if (state.frames.length === 0) {
    root.replaceChildren(h("p", { class: "empty" }, "No frame yet."));
    return;
  }
  root.replaceChildren(...state.frames.map(renderFrame));
}

function renderTotals(): void {
  const t = totals(state.frames);
  const cell = (value: string, label: string) =>
    h("div", {}, h("b", {}, value), h("span", {}, label));
  $("totals").replaceChildren(
    cell(String(t.frames), "frames"),
    cell(String(t.modelCalls), "model calls"),
    cell(String(t.searches), "searches"),
    cell(String(t.skipped), "skipped"),
    cell(t.inputTokens.toLocaleString("en-US"), "input tokens"),
    cell(t.cachedInputTokens.toLocaleString("en-US"), "cached"),
    cell(t.outputTokens.toLocaleString("en-US"), "output tokens"),
    cell(usd(t.costUsd), "cost"),
  );
}

function usd(n: number): string {
  return `$${n < 0.01 ? n.toFixed(6) : n.toFixed(4)}`;
}

function ms(n: number): string {
  return `${Math.round(n)} ms`;
}

function renderFrame(frame: FrameRecord): HTMLElement {
  const terminal = frame.terminal;
  const kind = terminal?.type === "analysis_outcome"
    ? terminal.outcome_kind
    : terminal?.type === "server_error"
    ? "server_error"
    : frame.error !== undefined
    ? "failed"
    : "running…";
  const cost = terminal?.type === "analysis_outcome" ? usd(terminal.usage.cost_usd) : "";
  const card = h(
    "article",
    { class: "frame", "data-frame": frame.id, "data-outcome": kind },
    h(
      "div",
      { class: "head" },
      h(
        "span",
        {},
        frame.fields.app_name || "(no app)",
        " · ",
        h("span", { class: "badge " + kind }, kind),
      ),
      h(
        "span",
        { class: "hint" },
        [frame.ms === undefined ? "" : ms(frame.ms), cost].filter(Boolean).join(" · "),
      ),
    ),
    h("ol", { class: "steps" }, ...timeline(frame).map(renderStep)),
  );
  if (terminal) {
    card.append(h(
      "div",
      { class: "actions" },
      button("Save as eval case", () => openEvalDialog(frame), { class: "save-eval" }),
    ));
  }
  return card;
}

function renderStep(step: TimelineStep): HTMLElement {
  const li = (t: string, kind: string, ...what: Array<Node | string>) =>
    h(
      "li",
      { "data-step": kind },
      h("span", { class: "t" }, t),
      h("div", { class: "what" }, ...what),
    );
  switch (step.kind) {
    case "sent":
      return li(
        "0 ms",
        "sent",
        `frame sent, ${kb(step.bytes)}${step.image ? " with a screenshot" : ", text only"}`,
      );
    case "skipped":
      return li("", "skipped", `skipped: ${step.reason.replace("_", " ")} — no model call`);
    case "privacy":
      return li(
        "",
        "privacy",
        `privacy guard redacted ${
          Object.entries(step.redactions).map(([k, n]) => `${n} ${k}`).join(", ")
        }`,
      );
    case "model_call": {
      const c = step.call;
      return li(
        ms(c.ms),
        "model_call",
        `model call ${step.index + 1} (${c.model})${c.function ? ` → ${c.function}` : ""}: `,
        `${c.input_tokens.toLocaleString("en-US")} in (${
          c.cached_input_tokens.toLocaleString("en-US")
        } cached), `,
        `${(c.output_tokens + c.thinking_tokens).toLocaleString("en-US")} out, ${usd(c.cost_usd)}`,
      );
    }
    case "search": {
      const s = step.search;
      const result = s.cancelled
        ? "cancelled"
        : s.error !== undefined
        ? `error: ${s.error}`
        : `${s.results.length} result${s.results.length === 1 ? "" : "s"}${
          s.results.length ? `: ${s.results.map((r) => `#${r.task_id}`).join(", ")}` : ""
        }`;
      return li(
        ms(s.ms),
        "search",
        `${s.toolKind} “${s.query}”${s.byHand ? " (by hand)" : ""} → ${result}`,
      );
    }
    case "terminal":
      return li(ms(step.atMs), "terminal", terminalView(step.message));
    case "failed":
      return li(ms(step.atMs), "failed", `failed: ${step.error}`);
  }
}

function terminalView(message: FrameTerminal): HTMLElement {
  const rows: Array<[string, string]> = [];
  if (message.type === "server_error") {
    rows.push(["type", "server_error"], ["code", message.code], ["message", message.message]);
  } else {
    rows.push(["outcome", message.outcome_kind]);
    if (message.outcome_kind === "extract_task") {
      const t = message.task;
      rows.push(
        ["task", t.title],
        ["description", t.description],
        ["priority", t.priority],
        ["deadline", t.inferred_deadline || "—"],
        ["confidence", String(t.confidence)],
        ["tags", t.tags.join(", ") || "—"],
      );
    }
    if (message.outcome_kind === "reject_task") rows.push(["reason", message.reason]);
    rows.push(
      ["summary", message.context_summary],
      ["activity", message.current_activity || "—"],
      ["model", message.usage.model ?? "—"],
      [
        "model / tool / total",
        `${message.usage.model_ms} / ${message.usage.tool_ms} / ${message.usage.total_ms} ms`,
      ],
      ["cost", usd(message.usage.cost_usd)],
    );
  }
  const dl = h("dl", { class: "fields" });
  for (const [k, v] of rows) dl.append(h("dt", {}, k), h("dd", {}, v));
  return h("div", {}, `${message.type}`, dl);
}

function logMessage(direction: "in" | "out", text: string): void {
  const root = $("log");
  if (root.querySelector(".empty")) root.replaceChildren();
  let type = "?";
  try {
    type = String((JSON.parse(text) as { type?: unknown }).type ?? "?");
  } catch {
    // not JSON: shown as text
  }
  const at = ((performance.now() - state.logStarted) / 1000).toFixed(3);
  const row = h(
    "details",
    { class: direction, "data-type": type },
    h(
      "summary",
      {},
      h(
        "span",
        { class: "dir", "aria-label": direction === "in" ? "received" : "sent" },
        direction === "in" ? "←" : "→",
      ),
      `${at} s  ${type}  (${kb(new TextEncoder().encode(text).length)})`,
    ),
  );
  // The JSON is laid out only when the row is opened.
  row.addEventListener("toggle", () => {
    if ((row as HTMLDetailsElement).open && !row.querySelector("pre")) {
      row.append(h("pre", {}, forLog(text)));
    }
  });
  root.append(row);
  while (root.childElementCount > MAX_LOG_ROWS) root.firstElementChild?.remove();
  root.scrollTop = root.scrollHeight;
}

// ---------------------------------------------------------------------------------------
// Eval cases.

let evalFrame: FrameRecord | undefined;

function openEvalDialog(frame: FrameRecord): void {
  evalFrame = frame;
  const terminal = frame.terminal;
  const expect: Expectation = terminal?.type === "analysis_outcome"
    ? terminal.outcome_kind
    : "no_task_found";
  $<HTMLSelectElement>("eval-expect").value = expect;
  $<HTMLTextAreaElement>("eval-text").value = evalCase(frame, frame.id, expect);
  $("eval-error").textContent = "";
  $<HTMLDialogElement>("eval-dialog").showModal();
  $<HTMLTextAreaElement>("eval-text").focus();
}

function onExpectChange(): void {
  const text = $<HTMLTextAreaElement>("eval-text");
  const expect = $<HTMLSelectElement>("eval-expect").value;
  try {
    const value = JSON.parse(text.value) as Record<string, unknown>;
    value.expect = expect;
    text.value = JSON.stringify(value);
  } catch {
    if (evalFrame) text.value = evalCase(evalFrame, evalFrame.id, expect as Expectation);
  }
}

function downloadEvalCase(): void {
  const text = $<HTMLTextAreaElement>("eval-text").value.trim();
  const problem = evalCaseProblem(text);
  if (problem) {
    $("eval-error").textContent = problem;
    return;
  }
  const id = (JSON.parse(text) as { id: string }).id.replace(/[^A-Za-z0-9._-]+/g, "-");
  const url = URL.createObjectURL(new Blob([`${text}\n`], { type: "application/jsonl" }));
  const a = h("a", { href: url, download: `${id}.jsonl` }) as HTMLAnchorElement;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  $<HTMLDialogElement>("eval-dialog").close();
}

// ---------------------------------------------------------------------------------------
// Wiring.

function start(): void {
  renderLists();
  render();
  $("connect").addEventListener("click", () => void connect());
  $("disconnect").addEventListener("click", () => void disconnect());
  $("frame-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void sendFrame();
  });
  const drop = $("drop");
  const file = $<HTMLInputElement>("file");
  drop.addEventListener("click", () => file.click());
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      file.click();
    }
  });
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.dataset.over = "";
  });
  drop.addEventListener("dragleave", () => delete drop.dataset.over);
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    delete drop.dataset.over;
    const dropped = e.dataTransfer?.files[0];
    if (dropped) void useImage(dropped);
  });
  file.addEventListener("change", () => {
    const chosen = file.files?.[0];
    if (chosen) void useImage(chosen);
    file.value = "";
  });
  $("clear-image").addEventListener("click", clearImage);
  $("eval-expect").addEventListener("change", onExpectChange);
  $("eval-download").addEventListener("click", downloadEvalCase);
}

start();
