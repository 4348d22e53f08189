// The miwa playground: the MI core compiled for the browser, on a simulated node; when a
// daemon serves the page, the same UI can run against that daemon instead (live.js).
import init, { Playground } from "./pkg/host_wasm_web.js";
import { equivalents } from "./equivalents.js";
import { LESSONS } from "./lessons.js";
import { daemonHere, LiveDaemon } from "./live.js";

const $ = (id) => document.getElementById(id);
const HISTORY_KEY = "miwa-playground-history";
const HISTORY_LIMIT = 50;

const page = {
  pg: null,
  commands: [],
  selected: null,
  recipe: 0,
  calls: [],
  lesson: 0,
  progress: [],
  events: [],
  nextId: 1,
  mode: "simulated",
  live: null,
  daemon: null,
  chartPicks: [],
};

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function seedFromUrl() {
  const seed = Number(new URLSearchParams(location.search).get("seed"));
  return Number.isInteger(seed) && seed >= 0 ? seed : 1;
}

function startNode() {
  const seed = Number($("seed").value) || 0;
  page.pg = new Playground(seed, Math.floor(Date.now() / 1000));
  $("stopped").hidden = true;
  $("journal").replaceChildren();
  updateClock();
}

function updateClock() {
  $("clock").textContent = new Date(page.pg.now() * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  renderCharts();
}

// ---- charts ----------------------------------------------------------------------------

function renderCharts() {
  if (page.mode !== "simulated") return;
  const charts = JSON.parse(page.pg.charts(page.chartPicks.join("\n")));
  const firstPick = charts.length - page.chartPicks.length;
  $("charts-list").replaceChildren(...charts.map((chart, i) => {
    const figure = el("figure", { class: "chart" });
    if (chart.svg) figure.innerHTML = chart.svg;
    else figure.append(el("p", { class: "alert", role: "alert" }, `Cannot chart ${chart.spec}: ${chart.error}`));
    if (i >= firstPick) {
      figure.append(el("figcaption", {}, "Picked: ", el("code", {}, chart.spec), " ", el("button", { type: "button", onclick: () => {
        page.chartPicks = page.chartPicks.filter((p) => p !== chart.spec);
        renderCharts();
      } }, "Remove")));
    }
    return figure;
  }));
}

function logEntry(kind, text) {
  $("journal").prepend(el("li", { class: kind }, text));
}

function drainJournal() {
  if (page.mode !== "simulated") return;
  const entries = JSON.parse(page.pg.journal());
  for (const entry of entries) {
    const text = entry.kind === "event" ? `→ ${entry.socket}  ${entry.text}` : entry.text;
    $("journal").prepend(el("li", { class: entry.kind }, text));
    if (entry.kind === "event") eventArrived(JSON.parse(entry.text));
  }
  if (page.pg.stopped()) $("stopped").hidden = false;
}

// ---- command list --------------------------------------------------------------------

function renderCommands() {
  const filter = $("filter").value.trim().toLowerCase();
  const groups = new Map();
  for (const command of page.commands) {
    if (filter && !command.name.includes(filter) && !command.module.includes(filter)) continue;
    if (!groups.has(command.module)) groups.set(command.module, []);
    groups.get(command.module).push(command);
  }
  const list = $("command-list");
  list.replaceChildren();
  for (const [module, commands] of groups) {
    const items = commands.map((c) =>
      el("li", {}, el("button", {
        type: "button", class: "command", "data-command": c.name,
        "aria-current": page.selected === c ? "true" : "false",
        onclick: () => selectCommand(c),
      }, c.name)));
    const narrow = window.matchMedia("(max-width: 44rem)").matches;
    const open = !narrow || filter || (page.selected && page.selected.module === module);
    list.append(el("details", open ? { open: "" } : {}, el("summary", {}, module), el("ul", {}, ...items)));
  }
}

// ---- parameter types -----------------------------------------------------------------

// The parameter schemas of every command, from the OpenRPC document `rpc.discover` answers
// (the page's own core, or the live daemon), attached to `commands` as `types`.
async function attachTypes(commands) {
  let document;
  if (page.live) {
    document = await page.live.call("rpc.discover");
  } else {
    const handled = JSON.parse(page.pg.handle('{"jsonrpc":"2.0","method":"rpc.discover","id":0}'));
    document = JSON.parse(handled.text).result;
  }
  const byName = new Map((document.methods || []).map((m) =>
    [m.name, Object.fromEntries((m.params || []).map((p) => [p.name, p.schema]))]));
  for (const command of commands) command.types = byName.get(command.name) || {};
}

// What a schema asks for: "integer", "string", "string-array" or "any".
function kindOf(schema) {
  const types = [].concat((schema && schema.type) || []);
  if (types[0] === "integer") return "integer";
  if (types[0] === "string") return "string";
  if (types[0] === "array") return "string-array";
  return "any";
}

// ---- the call form -------------------------------------------------------------------

// A field's value as its type reads it: integers as numbers, string arrays split at
// blanks, strings as typed; untyped values as numbers or JSON where they look like it.
function valueOf(text, kind) {
  const trimmed = text.trim();
  if (kind === "string") return text;
  if (kind === "string-array") return trimmed.split(/\s+/).filter((v) => v.length);
  if (/^-?\d+$/.test(trimmed)) return Number(trimmed);
  if (kind === "integer") return text;
  if (/^[\[{]/.test(trimmed)) {
    try { return JSON.parse(trimmed); } catch { /* kept as text */ }
  }
  return text;
}

function fieldKind(command, name) {
  return kindOf((command.types || {})[name]);
}

function formRequest() {
  const command = page.selected;
  const names = command.recipes[page.recipe] || [];
  const request = { jsonrpc: "2.0", method: command.name, id: page.nextId };
  if (names.length) {
    request.params = {};
    for (const name of names) {
      request.params[name] = valueOf($(`field-${name}`).value, fieldKind(command, name));
    }
  }
  return request;
}

function syncRaw() {
  if (!page.selected) return;
  $("raw").value = JSON.stringify(formRequest());
  renderEquivalents();
}

function renderRecipe() {
  const command = page.selected;
  const names = command.recipes[page.recipe] || [];
  const inputs = {
    integer: { type: "number", step: "1", inputmode: "numeric" },
    string: { type: "text" },
    "string-array": { type: "text", placeholder: "values separated by spaces" },
    any: { type: "text", placeholder: "text, a number or JSON" },
  };
  const fields = names.map((name) => {
    const kind = fieldKind(command, name);
    return el("p", {},
      el("label", { for: `field-${name}` }, name, el("span", { class: "param-type" }, ` (${kind})`)),
      el("input", { id: `field-${name}`, name, "data-type": kind, ...inputs[kind], autocomplete: "off", "aria-describedby": "value-hint", oninput: syncRaw }));
  });
  $("fields").replaceChildren(...fields);
  if (!names.length) $("fields").append(el("p", {}, "This recipe takes no parameters."));
  syncRaw();
}

function selectCommand(command) {
  page.selected = command;
  page.recipe = 0;
  $("command-name").textContent = command.name;
  const also = command.name_4_0 ? `; OpenSIPS 4.0 calls it ${command.name_4_0}, which works too` : "";
  $("command-help").textContent = `${command.help || "No help text."} (exported by ${command.module}${command.named_only ? "; named parameters only" : ""}${also})`;
  const radios = command.recipes.map((names, i) =>
    el("label", { class: "recipe" },
      el("input", { type: "radio", name: "recipe", value: String(i), ...(i === 0 ? { checked: "" } : {}),
        onchange: () => { page.recipe = i; renderRecipe(); } }),
      names.length ? names.join(", ") : "(no parameters)"));
  $("recipes").replaceChildren(el("legend", {}, "Recipe (parameter set)"), ...radios);
  renderRecipe();
  renderCommands();
}

// ---- running a call ------------------------------------------------------------------

function pretty(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}

async function run(requestText) {
  const outcome = page.mode === "live"
    ? await page.live.handle(requestText).catch((error) => ({ kind: "failed", text: String(error) }))
    : JSON.parse(page.pg.handle(requestText));
  if (outcome.kind === "failed") {
    $("reply").textContent = `(the daemon could not be reached: ${outcome.text})`;
    $("explanation").textContent = "";
    return;
  }
  let replyText = "";
  if (outcome.kind === "text" || outcome.kind === "parse_error") {
    replyText = outcome.text;
    $("reply").textContent = pretty(outcome.text);
  } else if (outcome.kind === "nothing") {
    $("reply").textContent = "(no reply: the request is a notification, it has no \"id\")";
  } else {
    $("reply").textContent = "(no JSON-RPC reply: the \"id\" cannot be echoed, so each transport answers its own failure: HTTP 500, FIFO \"failed to print response\", datagram \"500 Internal error\")";
  }
  $("explanation").textContent = replyText ? page.pg.explain(requestText, replyText) : "";
  page.nextId += 1;
  let parsed = null;
  try { parsed = JSON.parse(requestText); } catch { /* shown as a parse error */ }
  let reply = null;
  try { reply = JSON.parse(replyText); } catch { /* none */ }
  const call = { method: parsed && parsed.method, params: parsed && parsed.params, reply };
  page.calls.push(call);
  remember(requestText);
  checkLesson(call);
  renderEquivalents();
  drainJournal();
}

// ---- equivalents ---------------------------------------------------------------------

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Select and copy";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 1500);
}

function renderEquivalents() {
  const list = $("equivalents");
  list.replaceChildren();
  let request;
  try { request = JSON.parse($("raw").value); } catch {
    list.append(el("li", {}, "The request is not JSON yet: fix it to see it on every transport."));
    return;
  }
  if (Array.isArray(request) || typeof request !== "object" || request === null) {
    list.append(el("li", {}, "Batches and non-object requests: send the same text with curl, the FIFO or a datagram."));
    return;
  }
  const command = page.commands.find((c) => c.name === request.method);
  for (const form of equivalents(request, JSON.stringify(request), command && command.module)) {
    const item = el("li", { class: "equivalent", "data-label": form.label }, el("h3", {}, form.label));
    if (form.text) {
      const button = el("button", { type: "button", class: "copy" }, "Copy");
      button.addEventListener("click", () => copy(form.text, button));
      item.append(el("pre", {}, el("code", {}, form.text)), button);
    } else {
      item.append(el("p", { class: "note" }, form.note));
    }
    list.append(item);
  }
}

// ---- history and sharing ---------------------------------------------------------------

function savedCalls() {
  try { return JSON.parse(localStorage.getItem(HISTORY_KEY)) || []; } catch { return []; }
}

function remember(requestText) {
  const list = [requestText, ...savedCalls().filter((r) => r !== requestText)].slice(0, HISTORY_LIMIT);
  try { localStorage.setItem(HISTORY_KEY, JSON.stringify(list)); } catch { /* storage full or off */ }
  renderHistory();
}

function renderHistory() {
  const items = savedCalls().map((text) =>
    el("li", {}, el("button", { type: "button", class: "history-item", onclick: () => loadRaw(text) }, text)));
  $("history").replaceChildren(...items);
}

function loadRaw(text) {
  showTab("raw");
  $("raw").value = text;
  renderEquivalents();
}

function shareUrl() {
  const url = new URL(location.href);
  url.hash = "call=" + encodeURIComponent($("raw").value);
  return url.toString();
}

// ---- lessons ---------------------------------------------------------------------------

function renderLesson() {
  const lesson = LESSONS[page.lesson];
  const steps = lesson.steps.map((step, i) => {
    const done = page.progress[i];
    return el("li", { class: done ? "done" : "", "aria-label": `${done ? "Done: " : ""}${step.text}` },
      (done ? "✓ " : "") + step.text);
  });
  $("lesson-steps").replaceChildren(...steps);
  const finished = page.progress.length === lesson.steps.length && page.progress.every(Boolean);
  $("lesson-status").textContent = finished ? `Lesson complete: ${lesson.title}.` : "";
}

function checkLesson(call) {
  const lesson = LESSONS[page.lesson];
  const next = page.progress.findIndex((done) => !done);
  const index = next === -1 ? page.progress.length : next;
  const step = lesson.steps[index];
  if (step && step.check && call.method && step.check(call, page.calls, page.events)) page.progress[index] = true;
  renderLesson();
}

function eventArrived(notification) {
  page.events.push(notification);
  const lesson = LESSONS[page.lesson];
  const index = page.progress.findIndex((done) => !done);
  const step = lesson.steps[index];
  if (step && step.event && step.event(notification, page.calls)) {
    page.progress[index] = true;
    renderLesson();
  }
}

function pickLesson(index) {
  page.lesson = index;
  page.progress = LESSONS[index].steps.map(() => false);
  renderLesson();
}

// ---- tabs ------------------------------------------------------------------------------

function showTab(which) {
  for (const name of ["form", "raw"]) {
    const selected = name === which;
    $(`tab-${name}`).setAttribute("aria-selected", String(selected));
    $(`tab-${name}`).tabIndex = selected ? 0 : -1;
    $(`panel-${name}`).hidden = !selected;
  }
}

// ---- simulated node or this daemon -------------------------------------------------------

const BANNERS = {
  simulated: "<strong>Simulated node.</strong> Nothing here reaches a server: the MI core runs in your browser (the same core the miwa daemon runs, so replies and errors are exactly the daemon's), on an OpenSIPS node whose processes, statistics, cache, events and status reports are simulated.",
  live: "<strong>This daemon, live.</strong> Calls go to the miwa daemon that served this page, over its WebSocket, and change its real state; the event log shows the events it raises.",
};

async function useMode(mode) {
  $("banner").innerHTML = BANNERS[mode];
  $("banner").dataset.mode = mode;
  $("sim-controls").hidden = mode !== "simulated";
  $("charts").hidden = mode !== "simulated";
  $("journal").replaceChildren();
  if (mode === "live") {
    page.live = new LiveDaemon(page.daemon,
      (text) => logEntry("event", `← ${text}`),
      (text) => logEntry("log", text));
    try {
      await page.live.connect();
      page.commands = await page.live.commands();
      await attachTypes(page.commands);
    } catch (error) {
      logEntry("log", `the daemon could not be reached: ${error.message}`);
      $("mode-simulated").checked = true;
      return useMode("simulated");
    }
  } else {
    if (page.live) page.live.close();
    page.live = null;
    page.commands = JSON.parse(page.pg.commands());
    await attachTypes(page.commands);
  }
  page.mode = mode;
  const name = page.selected && page.selected.name;
  renderCommands();
  selectCommand(page.commands.find((c) => c.name === name) || page.commands.find((c) => c.name === "ps") || page.commands[0]);
  document.body.dataset.mode = mode;
}

// ---- start -----------------------------------------------------------------------------

async function main() {
  await init();
  $("seed").value = String(seedFromUrl());
  startNode();
  page.commands = JSON.parse(page.pg.commands());
  await attachTypes(page.commands);
  renderCommands();
  $("filter").addEventListener("input", renderCommands);
  $("panel-form").addEventListener("submit", (e) => { e.preventDefault(); if (page.selected) { syncRaw(); run($("raw").value); } });
  $("panel-raw").addEventListener("submit", (e) => { e.preventDefault(); run($("raw").value); });
  $("raw").addEventListener("input", renderEquivalents);
  $("tab-form").addEventListener("click", () => showTab("form"));
  $("tab-raw").addEventListener("click", () => showTab("raw"));
  for (const tab of ["form", "raw"]) {
    $(`tab-${tab}`).addEventListener("keydown", (e) => {
      if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
        const other = tab === "form" ? "raw" : "form";
        showTab(other);
        $(`tab-${other}`).focus();
      }
    });
  }
  $("advance").addEventListener("click", () => { page.pg.advance(60); updateClock(); drainJournal(); });
  $("reset").addEventListener("click", startNode);
  $("chart-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const spec = $("chart-spec").value.trim();
    if (spec && !page.chartPicks.includes(spec)) page.chartPicks.push(spec);
    $("chart-spec").value = "";
    renderCharts();
  });
  $("share").addEventListener("click", (e) => {
    const url = shareUrl();
    window.history.replaceState(null, "", url);
    copy(url, e.currentTarget);
  });
  $("lesson-pick").replaceChildren(...LESSONS.map((l, i) => el("option", { value: String(i) }, l.title)));
  $("lesson-pick").addEventListener("change", (e) => pickLesson(Number(e.target.value)));
  pickLesson(0);
  renderHistory();
  setInterval(() => { if (page.mode === "simulated") { page.pg.advance(1); updateClock(); drainJournal(); } }, 1000);
  page.daemon = await daemonHere();
  if (page.daemon) {
    $("mode").hidden = false;
    for (const mode of ["simulated", "live"]) {
      $(`mode-${mode}`).addEventListener("change", (e) => { if (e.target.checked) useMode(mode); });
    }
  }
  selectCommand(page.commands.find((c) => c.name === "ps") || page.commands[0]);
  const shared = new URLSearchParams(location.hash.slice(1)).get("call");
  if (shared) {
    loadRaw(shared);
    run(shared);
  }
  // For scripting the simulated node from the console (and for the tests).
  window.miwa = { handle: (text) => page.pg.handle(text), commands: () => page.pg.commands() };
  document.body.dataset.ready = "true";
}

main().catch((error) => {
  $("load-error").hidden = false;
  $("load-error").textContent = `The playground could not start: ${error}`;
});
