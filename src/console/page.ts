/**
 * The developer console's HTML and CSS: one page, system fonts, no external resource. Its
 * only script is `/console/app.js` (`app/main.ts`, bundled), which fills in the lists, the
 * timeline and the log.
 *
 * @module
 */

/** How the page authenticates: nothing, or a Firebase ID token the user pastes. */
export type ConsoleAuth = "none" | "firebase";

const STYLE = `
:root { color-scheme: light; --fg: #1d232b; --muted: #5d6773; --line: #d9dee4; --bg: #f5f7f9;
  --card: #fff; --accent: #2457c5; --ok: #1c7c43; --warn: #a35c00; --bad: #b42318;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: 8px 12px; align-items: center; padding: 10px 16px;
  background: var(--card); border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 2; }
header h1 { font-size: 16px; margin: 0 8px 0 0; }
.status { padding: 2px 10px; border-radius: 999px; background: #eceff3; color: var(--muted); font-size: 12px; }
.status[data-state="connected"] { background: #e3f4ea; color: var(--ok); }
.status[data-state="failed"] { background: #fde8e6; color: var(--bad); }
main { display: grid; grid-template-columns: minmax(240px, 300px) minmax(300px, 1fr) minmax(320px, 1.2fr);
  gap: 12px; padding: 12px 16px; align-items: start; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px; min-width: 0; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0 0 8px; }
h3 { font-size: 13px; margin: 10px 0 4px; }
label { display: block; font-size: 12px; color: var(--muted); margin: 6px 0 2px; }
input, select, textarea, button { font: inherit; color: inherit; }
input[type=text], input[type=password], textarea, select { width: 100%; padding: 6px 8px;
  border: 1px solid var(--line); border-radius: 6px; background: #fff; }
textarea { resize: vertical; min-height: 90px; }
button { padding: 6px 12px; border: 1px solid var(--line); border-radius: 6px; background: #fff; cursor: pointer; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button:disabled { opacity: .5; cursor: default; }
button.icon { padding: 0 6px; line-height: 20px; font-size: 12px; }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
.row { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
.row > input[type=text] { flex: 1; width: auto; min-width: 0; }
ul.items { list-style: none; margin: 0; padding: 0; }
ul.items li { display: flex; gap: 6px; justify-content: space-between; align-items: baseline;
  padding: 3px 0; border-bottom: 1px dashed var(--line); overflow-wrap: anywhere; }
ul.items li .id { color: var(--muted); font-size: 11px; margin-right: 4px; }
.empty { color: var(--muted); font-style: italic; font-size: 12px; }
.drop { margin-top: 6px; border: 1px dashed #9aa5b1; border-radius: 6px; padding: 10px; text-align: center;
  color: var(--muted); font-size: 12px; }
.drop[data-over] { border-color: var(--accent); background: #eef3fd; }
.drop img { display: block; max-width: 100%; max-height: 120px; margin: 6px auto 0; }
.totals { display: grid; grid-template-columns: repeat(auto-fit, minmax(90px, 1fr)); gap: 6px; margin-bottom: 10px; }
.totals div { background: var(--bg); border-radius: 6px; padding: 6px 8px; }
.totals b { display: block; font-size: 15px; }
.totals span { font-size: 11px; color: var(--muted); }
.frame { border: 1px solid var(--line); border-radius: 8px; margin-bottom: 10px; overflow: hidden; }
.frame > .head { display: flex; justify-content: space-between; gap: 8px; flex-wrap: wrap;
  background: var(--bg); padding: 6px 10px; font-weight: 600; }
.badge { font-size: 12px; padding: 1px 8px; border-radius: 999px; background: #eceff3; }
.badge.extract_task { background: #e3f4ea; color: var(--ok); }
.badge.reject_task { background: #fff1dc; color: var(--warn); }
.badge.server_error, .badge.failed { background: #fde8e6; color: var(--bad); }
ol.steps { list-style: none; margin: 0; padding: 6px 10px; }
ol.steps li { display: grid; grid-template-columns: 64px 1fr; gap: 8px; padding: 3px 0; font-size: 13px; }
ol.steps .t { color: var(--muted); font-variant-numeric: tabular-nums; text-align: right; }
ol.steps .what { overflow-wrap: anywhere; }
dl.fields { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 4px 0 0; font-size: 12px; }
dl.fields dt { color: var(--muted); }
dl.fields dd { margin: 0; overflow-wrap: anywhere; }
.frame .actions { padding: 0 10px 8px; }
.pending { border: 1px solid var(--warn); background: #fff8ec; border-radius: 8px; padding: 10px; margin-bottom: 10px; }
.pending label { display: flex; gap: 6px; align-items: baseline; color: var(--fg); font-size: 13px; }
#log { max-height: 420px; overflow: auto; font-size: 12px; }
#log details { border-bottom: 1px solid var(--line); padding: 2px 0; }
#log summary { cursor: pointer; font-variant-numeric: tabular-nums; }
#log .dir { display: inline-block; width: 18px; font-weight: 700; }
#log .out .dir { color: var(--accent); }
#log .in .dir { color: var(--ok); }
pre { margin: 4px 0; padding: 6px; background: var(--bg); border-radius: 6px; overflow: auto; max-height: 300px;
  font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre-wrap; overflow-wrap: anywhere; }
dialog { border: 1px solid var(--line); border-radius: 8px; max-width: min(720px, 94vw); width: 100%; }
dialog textarea { min-height: 180px; font: 12px/1.4 ui-monospace, Menlo, Consolas, monospace; }
.error { color: var(--bad); font-size: 12px; min-height: 1em; }
.hint { color: var(--muted); font-size: 12px; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
@media (max-width: 1100px) { main { grid-template-columns: minmax(240px, 1fr) minmax(300px, 1.4fr); }
  #timeline-section { grid-column: 1 / -1; } }
@media (max-width: 700px) { main { grid-template-columns: 1fr; padding: 8px; gap: 8px; }
  header { padding: 8px; position: static; } #timeline-section { grid-column: auto; } ol.steps li { grid-template-columns: 52px 1fr; } }
`;

/** The console's HTML page. */
export function consolePage(options: { auth: ConsoleAuth }): string {
  const token = options.auth === "firebase"
    ? `<label class="sr-only" for="token">Firebase ID token</label>
  <input type="password" id="token" placeholder="Firebase ID token" autocomplete="off" style="max-width:260px">`
    : "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>proactive console</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body data-auth="${options.auth}">
<header>
  <h1>proactive console</h1>
  <span class="status" id="status" role="status" data-state="idle">not connected</span>
  <label class="sr-only" for="version">Protocol version</label>
  <select id="version" style="width:auto"><option value="1.1">protocol 1.1</option><option value="1.0">protocol 1.0</option></select>
  ${token}
  <button id="connect" class="primary" type="button">Connect</button>
  <button id="disconnect" type="button" disabled>Disconnect</button>
  <span class="hint" id="session"></span>
</header>
<main>
  <section aria-labelledby="context-h">
    <h2 id="context-h">Session context</h2>
    <p class="hint">Sent with the next frame. Searches are answered from these lists.</p>
    <div id="lists"></div>
  </section>
  <section aria-labelledby="frame-h">
    <h2 id="frame-h">Frame</h2>
    <form id="frame-form">
      <label for="app">App name</label>
      <input type="text" id="app" value="Slack">
      <label for="title">Window title</label>
      <input type="text" id="title" value="#general">
      <label for="ocr">OCR text</label>
      <textarea id="ocr">Hey, can you send me the Q3 report by Friday?</textarea>
      <div class="drop" id="drop" tabindex="0" role="button" aria-describedby="drop-hint">
        <span id="drop-hint">Drop a screenshot here, or press Enter to choose one (resized to 1280 px, JPEG)</span>
        <input type="file" id="file" accept="image/*" class="sr-only" tabindex="-1">
        <img id="preview" alt="" hidden>
      </div>
      <div class="row" style="margin-top:6px">
        <button type="button" id="clear-image" class="icon" hidden>Remove screenshot</button>
      </div>
      <label for="answer-mode">Searches</label>
      <select id="answer-mode">
        <option value="list">answered from the task list</option>
        <option value="hand">answered by hand</option>
      </select>
      <div class="row" style="margin-top:10px">
        <button type="submit" id="send" class="primary" disabled>Send frame</button>
        <span class="error" id="frame-error" role="alert"></span>
      </div>
    </form>
    <div id="pending"></div>
  </section>
  <section id="timeline-section" aria-labelledby="timeline-h">
    <h2 id="timeline-h">Timeline</h2>
    <div class="totals" id="totals"></div>
    <div id="timeline"><p class="empty">No frame yet.</p></div>
    <h2 style="margin-top:14px">Messages</h2>
    <div id="log" aria-live="off"><p class="empty">Nothing sent yet.</p></div>
  </section>
</main>
<dialog id="eval-dialog" aria-labelledby="eval-h">
  <form method="dialog" id="eval-form">
    <h2 id="eval-h">Save as eval case</h2>
    <p class="hint">One line of <code>deno task eval</code>'s format: the frame, the context it was sent with, and the outcome as <code>expect</code>. Edit before saving.</p>
    <label for="eval-expect">Expect</label>
    <select id="eval-expect">
      <option value="extract_task">extract_task</option>
      <option value="reject_task">reject_task</option>
      <option value="no_task_found">no_task_found</option>
    </select>
    <label for="eval-text">Case (JSONL)</label>
    <textarea id="eval-text" spellcheck="false"></textarea>
    <p class="error" id="eval-error" role="alert"></p>
    <div class="row">
      <button type="button" id="eval-download" class="primary">Download .jsonl</button>
      <button type="submit" value="cancel">Close</button>
    </div>
  </form>
</dialog>
<script type="module" src="/console/app.js"></script>
</body>
</html>
`;
}
