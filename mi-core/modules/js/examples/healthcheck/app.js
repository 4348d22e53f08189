// healthcheck: HTTP health checks of configured URLs, with status and latency, run by the
// module's tick and on command; raises E_HEALTHCHECK_CHANGED when a URL goes up or down.
// Grants: http (the URLs in allowed_outbound_hosts), cache (the URLs and their last
// results, shared by every instance), stats, events, tick.
import { Module, MiError, cache, events, stats } from "./miwa-module.js";

const module = new Module("healthcheck", "1.0")
  .statistic("checks")
  .statistic("failures")
  .statistic("up", true)
  .statistic("down", true)
  .event("E_HEALTHCHECK_CHANGED");

// Longest a single check may take, milliseconds; keep it below the module's io_timeout_ms.
const CHECK_TIMEOUT_MS = 500;

const load = (key, fallback) => JSON.parse(cache.fetch(key) ?? JSON.stringify(fallback));
const urls = () => load("urls", []);
const results = () => load("results", {});

function timeout(ms) {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms));
}

async function probe(url) {
  const started = Date.now();
  try {
    const response = await Promise.race([fetch(url), timeout(CHECK_TIMEOUT_MS)]);
    const ok = response.status >= 200 && response.status < 400;
    return { url, status: ok ? "up" : "down", code: response.status, latency_ms: Date.now() - started };
  } catch (error) {
    return { url, status: "down", code: 0, latency_ms: Date.now() - started, error: error.message };
  }
}

// Checks every URL, keeps the results and raises an event for each change of state.
async function checkAll() {
  const before = results();
  const checked = await Promise.all(urls().map(probe));
  const after = {};
  for (const result of checked) {
    result.checked = Math.floor(Date.now() / 1000);
    after[result.url] = result;
    stats.add("checks");
    if (result.status === "down") stats.add("failures");
    const previous = before[result.url]?.status ?? "unknown";
    if (previous !== result.status) {
      events.raise("E_HEALTHCHECK_CHANGED", { url: result.url, status: result.status, code: result.code });
    }
  }
  cache.store("results", JSON.stringify(after));
  stats.set("up", checked.filter((r) => r.status === "up").length);
  stats.set("down", checked.filter((r) => r.status === "down").length);
  return checked;
}

function listed() {
  const known = results();
  return urls().map((url) => known[url] ?? { url, status: "unknown" });
}

module
  .command("hc_add", "checks url from now on", [["url"]], ({ url }) => {
    if (!/^https?:\/\/[^/\s]+/.test(url)) throw new MiError(400, "Bad URL (http:// or https://)");
    const list = urls();
    if (list.includes(url)) throw new MiError(400, "URL already checked");
    list.push(url);
    cache.store("urls", JSON.stringify(list));
    return "OK";
  })
  .command("hc_remove", "stops checking url", [["url"]], ({ url }) => {
    const list = urls();
    if (!list.includes(url)) throw new MiError(404, "URL not checked");
    cache.store("urls", JSON.stringify(list.filter((u) => u !== url)));
    return "OK";
  })
  .command("hc_list", "every URL with its last result", [[]], () => ({ Checks: listed() }))
  .command("hc_check", "checks every URL now", [[]], async () => ({ Checks: await checkAll() }))
  .tick(checkAll);

export const moduleApi = module.api();
