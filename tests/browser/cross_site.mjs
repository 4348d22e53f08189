// A hostile page in headless Chromium (Debian's, through playwright-core) tries the daemon
// from another site: an <img> GET of /html/core/kill, a self-submitting form POST of
// cache_store to /html, a no-cors fetch POST to /mi, and a DNS-rebinding page (a name of
// the attacker's that resolves to the daemon's address). Then, as a control, the daemon's
// own page runs cache_store from its form. Prints one JSON line: what the browser saw.
// Usage: node cross_site.mjs <daemon-port>
import { launch } from './chromium.mjs';
import http from 'node:http';

const port = Number(process.argv[2]);
const daemon = `http://127.0.0.1:${port}`;
const attack = `<!DOCTYPE html><html><body>
<img src="${daemon}/html/core/kill?arg=">
<iframe name="sink"></iframe>
<form id="f" method="post" action="${daemon}/html/core/cache_store" target="sink">
<input name="arg" value='["local","csrf","pwned"]'></form>
<script>
document.getElementById('f').submit();
fetch('${daemon}/mi', {method: 'POST', mode: 'no-cors', headers: {'Content-Type': 'text/plain'},
  body: '{"jsonrpc":"2.0","method":"cache_store","params":["local","fetched","pwned"],"id":1}'})
  .catch(() => {}).finally(() => { document.title = 'done'; });
</script></body></html>`;
const server = http.createServer((_, res) => { res.setHeader('Content-Type', 'text/html'); res.end(attack); });
await new Promise((ready) => server.listen(0, '127.0.0.1', ready));
const attacker = `http://attacker.test:${server.address().port}/`;

const browser = await launch(['--host-resolver-rules=MAP attacker.test 127.0.0.1, MAP rebind.test 127.0.0.1']);
const seen = { responses: [], rebinding: null, rebinding_fetch: null, own_form: null };
try {
  const page = await browser.newPage();
  page.on('response', (r) => {
    if (r.url().startsWith(daemon)) seen.responses.push([r.request().method(), new URL(r.url()).pathname, r.status()]);
  });
  await page.goto(attacker);
  await page.waitForFunction(() => document.title === 'done', null, { timeout: 10000 });
  await page.waitForTimeout(500);

  const rebound = await page.goto(`http://rebind.test:${port}/html/core/ps?arg=`);
  seen.rebinding = rebound.status();
  seen.rebinding_fetch = await page.evaluate(async () => {
    const r = await fetch('/mi', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: '{"jsonrpc":"2.0","method":"cache_store","params":["local","rebound","pwned"],"id":1}'});
    return r.status;
  });

  await page.goto(`${daemon}/html/core/cache_store`);
  await page.getByLabel('Parameters as JSON').fill('["local","mine","ok"]');
  await page.getByRole('button', { name: 'Run cache_store', exact: true }).click();
  seen.own_form = await page.locator('section.result').innerText();
} finally {
  await browser.close();
  server.close();
}
console.log(JSON.stringify(seen));
