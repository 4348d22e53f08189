// Drives the playground's live mode in headless Chromium (Debian's, through playwright-core)
// against a daemon that protects /mi: the browser's credentials fetch a ticket and the
// browser's own WebSocket runs the calls; `ps` from the command list shows the daemon's
// processes; an event the daemon raises appears in the event log; a refused call shows
// the daemon's refusal. The browser's own WebSocket, driven from the page: a batch, a
// notification left unanswered, a used ticket refused, a role's refusal. A daemon without
// WebSockets offers no switch.
// Usage: node live.mjs <base-url> <user> <password> <viewer> <viewer-password>
//                      <base-url-without-ws> <screenshot-dir>
import { launch } from './chromium.mjs';
import { mkdirSync } from 'node:fs';

const [base, user, password, viewer, viewerPassword, staticBase, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await launch();
const fail = (message) => { console.error(`FAIL: ${message}`); process.exitCode = 1; };
let step = 'start';
const watchdog = setTimeout(() => { console.error(`FAIL: stuck at: ${step}`); process.exit(1); }, 60000);
const authorization = 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

async function mi(method, params) {
  const response = await fetch(`${base}/mi`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: authorization },
    body: JSON.stringify({ jsonrpc: '2.0', method, params, id: 1 }),
  });
  return (await response.json()).result;
}

try {
  const context = await browser.newContext({
    viewport: { width: 1400, height: 1000 },
    httpCredentials: { username: user, password },
  });
  const page = await context.newPage();
  const sockets = [];
  page.on('websocket', (socket) => sockets.push(socket.url()));
  await page.goto(`${base}/playground/`);
  await page.waitForSelector('body[data-ready="true"]');
  if (!(await page.locator('#banner').innerText()).includes('Simulated node')) fail('the simulated node is not the default');
  await page.getByLabel('This daemon').check();
  await page.waitForSelector('body[data-mode="live"]');
  if (!(await page.locator('#banner').innerText()).includes('This daemon, live')) fail('no live label');
  if (await page.locator('#sim-controls').isVisible()) fail('simulation controls shown in live mode');
  if (!sockets.some((url) => url === `${base.replace('http:', 'ws:')}/ws`)) fail(`no WebSocket to /ws: ${sockets}`);

  await page.locator('button.command[data-command="ps"]').click();
  await page.getByRole('tab', { name: 'Form' }).click();
  await page.locator('#run-form').click();
  await page.waitForFunction(() => document.getElementById('reply').innerText.includes('Processes'));
  const shown = JSON.parse(await page.locator('#reply').innerText()).result;
  const daemonPs = await mi('ps');
  const pids = (ps) => ps.Processes.map((p) => `${p.PID} ${p.Type}`).sort().join(', ');
  if (pids(shown) !== pids(daemonPs)) fail(`ps in the page: ${pids(shown)}; the daemon's: ${pids(daemonPs)}`);
  if (JSON.stringify(shown).includes('attendant') && !JSON.stringify(daemonPs).includes('attendant')) fail('simulated processes shown');
  await page.screenshot({ path: `${shots}/playground-live-ps.png`, fullPage: true });

  await mi('raise_event', ['E_CORE_THRESHOLD', ['raised for the live page']]);
  const expected = '{"jsonrpc":"2.0","method":"E_CORE_THRESHOLD","params":["raised for the live page"]}';
  await page.waitForFunction((text) => document.getElementById('journal').innerText.includes(text), expected, { timeout: 5000 })
    .catch(() => fail('the raised event never reached the event log'));
  await page.screenshot({ path: `${shots}/playground-live-event.png`, fullPage: true });

  await page.getByRole('tab', { name: 'Raw JSON-RPC' }).click();
  await page.getByLabel('JSON-RPC request').fill('{"jsonrpc":"2.0","method":"no_such","id":9}');
  await page.locator('#run-raw').click();
  await page.waitForFunction(() => document.getElementById('reply').innerText.includes('-32601'));

  await page.getByLabel('Simulated node').check();
  await page.waitForSelector('body[data-mode="simulated"]');
  await page.locator('button.command[data-command="ps"]').click();
  await page.getByRole('tab', { name: 'Form' }).click();
  await page.locator('#run-form').click();
  if (!(await page.locator('#reply').innerText()).includes('attendant')) fail('back on the simulated node, ps is not simulated');

  // The browser's WebSocket by hand: what each frame gets.
  const exchange = (target) => target.evaluate(async () => {
    const ticket = await (await fetch('/ws/ticket', { method: 'POST' })).json();
    const url = `ws://${location.host}/ws`;
    const open = (protocol) => new Promise((resolve) => {
      const socket = new WebSocket(url, [protocol]);
      socket.onopen = () => resolve(socket);
      socket.onclose = (closed) => resolve({ refused: closed.code });
    });
    const socket = await open(ticket.protocol);
    const frames = [];
    socket.onmessage = (m) => frames.push(String(m.data));
    socket.send('[{"jsonrpc":"2.0","method":"pwd","id":1},{"jsonrpc":"2.0","method":"nope","id":2}]');
    socket.send('{"jsonrpc":"2.0","method":"uptime"}');
    socket.send('{"jsonrpc":"2.0","method":"uptime","id":3}');
    const deadline = Date.now() + 5000;
    while (frames.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    socket.close();
    const reused = await open(ticket.protocol);
    return { frames, reused: reused.refused ?? 'opened', protocol: socket.protocol };
  });
  step = 'the browser WebSocket by hand';
  const own = await exchange(page);
  const batch = JSON.parse(own.frames[0] || 'null');
  if (!Array.isArray(batch) || batch[0].id !== 1 || batch[1].error.code !== -32601) fail(`batch over the browser's WebSocket: ${own.frames[0]}`);
  if (own.frames.length !== 2 || JSON.parse(own.frames[1]).id !== 3) fail(`the notification was answered, or uptime was not: ${own.frames}`);
  if (own.reused !== 1006) fail(`a used ticket opened a WebSocket: ${own.reused}`);
  if (!own.protocol.startsWith('miwa.ticket.')) fail(`subprotocol: ${own.protocol}`);

  step = 'a limited role';
  const limited = await browser.newContext({ httpCredentials: { username: viewer, password: viewerPassword } });
  const viewerPage = await limited.newPage();
  await viewerPage.goto(`${base}/playground/`);
  await viewerPage.waitForSelector('body[data-ready="true"]');
  const theirs = await exchange(viewerPage);
  const refusedBatch = JSON.parse(theirs.frames[0] || 'null');
  if (!Array.isArray(refusedBatch) || refusedBatch[0].error.code !== 403) fail(`a role's refusal: ${theirs.frames[0]}`);
  if (!JSON.parse(theirs.frames[1]).result) fail(`the role's allowed uptime: ${theirs.frames[1]}`);

  // (A browser without credentials would ask for them; the refusal itself, from node.)
  const status = (await fetch(`${base}/ws/ticket`, { method: 'POST' })).status;
  if (status !== 401) fail(`a ticket without credentials: ${status}`);

  step = 'a daemon without WebSockets';
  const plain = await browser.newContext();
  const hosted = await plain.newPage();
  await hosted.goto(`${staticBase}/playground/`);
  await hosted.waitForSelector('body[data-ready="true"]');
  if (await hosted.locator('#mode').isVisible()) fail('a daemon without WebSockets offers the live switch');
  console.log('playground live-mode checks done');
} finally {
  clearTimeout(watchdog);
  await browser.close();
}
