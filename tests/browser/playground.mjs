// Drives the playground in headless Chromium (Debian's, through playwright-core): runs `ps`
// from the command list, `log_level` through its form, a malformed request; checks the
// transport equivalents of a named call; completes a lesson; compares the page's core with
// the daemon's on requests whose answers do not depend on state; saves screenshots.
// Usage: node playground.mjs <base-url> <screenshot-dir>
import { launch } from './chromium.mjs';
import { mkdirSync } from 'node:fs';

const [base, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await launch();
const fail = (message) => { console.error(`FAIL: ${message}`); process.exitCode = 1; };

async function open(context) {
  const page = await context.newPage();
  const outside = [];
  page.on('request', (r) => { if (!r.url().startsWith(base)) outside.push(r.url()); });
  await page.goto(`${base}/playground/?seed=1`);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, outside };
}

async function runRaw(page, text) {
  await page.getByRole('tab', { name: 'Raw JSON-RPC' }).click();
  await page.getByLabel('JSON-RPC request').fill(text);
  await page.locator('#run-raw').click();
  return page.locator('#reply').innerText();
}

try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const { page, outside } = await open(context);
  if (!(await page.locator('.banner').innerText()).includes('Simulated node')) fail('no simulation label');

  await page.locator('button.command[data-command="ps"]').click();
  await page.getByRole('tab', { name: 'Form' }).click();
  await page.locator('#run-form').click();
  const ps = await page.locator('#reply').innerText();
  if (!ps.includes('"Processes"') || !ps.includes('attendant')) fail(`ps reply: ${ps}`);
  await page.screenshot({ path: `${shots}/playground-ps.png`, fullPage: true });

  await page.locator('button.command[data-command="log_level"]').click();
  await page.getByRole('radio', { name: 'level', exact: true }).check();
  await page.locator('#field-level').fill('4');
  await page.locator('#run-form').click();
  const set = await page.locator('#reply').innerText();
  if (!set.includes('"New global log level": 4')) fail(`log_level reply: ${set}`);
  const raw = await page.getByLabel('JSON-RPC request').inputValue();
  const equivalent = async (label) => page.locator(`li.equivalent[data-label="${label}"] code`).innerText();
  const curl = await equivalent('curl (JSON-RPC over HTTP)');
  if (curl !== `curl -s -H 'Content-Type: application/json' -d '${raw}' http://127.0.0.1:8888/mi`) fail(`curl: ${curl}`);
  if (!raw.includes('"params":{"level":4}')) fail(`request: ${raw}`);
  const cli = await equivalent('opensips-cli');
  if (cli !== 'opensips-cli -x mi log_level level=4') fail(`opensips-cli: ${cli}`);
  const miwa = await equivalent('miwa call');
  if (miwa !== 'miwa call log_level level=4') fail(`miwa call: ${miwa}`);
  const html = await equivalent('HTML interface (mi_html)');
  if (html !== 'http://127.0.0.1:8888/html/core/log_level?arg=%7B%22level%22%3A4%7D') fail(`html: ${html}`);
  await page.screenshot({ path: `${shots}/playground-log_level.png`, fullPage: true });

  // The form's fields follow the parameter types of rpc.discover.
  const levelType = await page.locator('#field-level').getAttribute('type');
  if (levelType !== 'number') fail(`log_level's level field is ${levelType}, not a number field`);
  await page.locator('button.command[data-command="get_statistics"]').click();
  const statisticsKind = await page.locator('#field-statistics').getAttribute('data-type');
  if (statisticsKind !== 'string-array') fail(`get_statistics's statistics field: ${statisticsKind}`);
  await page.locator('#field-statistics').fill('core: shmem:');
  const statisticsRequest = await page.getByLabel('JSON-RPC request').inputValue();
  if (!statisticsRequest.includes('"params":{"statistics":["core:","shmem:"]}')) fail(`get_statistics request: ${statisticsRequest}`);
  await page.locator('#run-form').click();
  const statisticsReply = await page.locator('#reply').innerText();
  if (!statisticsReply.includes('"shmem:total_size"')) fail(`get_statistics reply: ${statisticsReply}`);
  await page.locator('button.command[data-command="cache_store"]').click();
  await page.getByRole('radio', { name: 'system, attr, value', exact: true }).check();
  await page.locator('#field-system').fill('local');
  await page.locator('#field-attr').fill('k');
  await page.locator('#field-value').fill('5');
  const storeRequest = await page.getByLabel('JSON-RPC request').inputValue();
  if (!storeRequest.includes('"value":"5"')) fail(`a string parameter stays a string: ${storeRequest}`);

  const broken = await runRaw(page, '{"jsonrpc":"2.0","method":"ps","id":1');
  if (!broken.includes('-32700')) fail(`parse error reply: ${broken}`);
  const why = await page.locator('#explanation').innerText();
  if (!why.startsWith('-32700 Parse error') || !why.includes('must be JSON')) fail(`explanation: ${why}`);
  await page.screenshot({ path: `${shots}/playground-parse-error.png`, fullPage: true });

  await page.getByLabel('Lesson', { exact: true }).selectOption({ label: 'Parameter errors and recipes' });
  await runRaw(page, '{"jsonrpc":"2.0","method":"log_level","params":[1,2,3],"id":1}');
  await runRaw(page, '{"jsonrpc":"2.0","method":"which","params":{"command":"log_level"},"id":2}');
  await runRaw(page, '{"jsonrpc":"2.0","method":"log_level","params":{"lvl":3},"id":3}');
  await runRaw(page, '{"jsonrpc":"2.0","method":"log_level","params":{"level":4},"id":4}');
  const status = await page.locator('#lesson-status').innerText();
  if (status !== 'Lesson complete: Parameter errors and recipes.') fail(`lesson status: ${status}`);
  if ((await page.locator('#lesson-steps li.done').count()) !== 4) fail('lesson steps not all checked');
  await page.screenshot({ path: `${shots}/playground-lesson.png`, fullPage: true });

  await runRaw(page, '{"jsonrpc":"2.0","method":"event_subscribe","params":["E_CORE_THRESHOLD","udp:127.0.0.1:9999",60],"id":5}');
  await runRaw(page, '{"jsonrpc":"2.0","method":"raise_event","params":["E_CORE_THRESHOLD",["hello"]],"id":6}');
  const journal = await page.locator('#journal').innerText();
  if (!journal.includes('{"jsonrpc":"2.0","method":"E_CORE_THRESHOLD","params":["hello"]}')) fail(`event log: ${journal}`);
  if ((await page.locator('#history li').count()) < 5) fail('history not kept');

  await page.getByRole('button', { name: 'Advance 60 s' }).click();
  const drawn = await page.locator('#charts-list svg').count();
  if (drawn !== 4) fail(`expected the 4 default charts of the simulated node, saw ${drawn}`);
  const lines = await page.locator('#charts-list figure').first().locator('polyline').count();
  if (lines !== 3) fail(`expected 3 lines of SIP traffic, saw ${lines}`);
  if (!(await page.locator('#charts-list figure').nth(1).innerText()).includes('(per second)')) fail('transactions are not drawn as rates');
  const points = (await page.locator('#charts-list figure').first().locator('polyline').first().getAttribute('points')).split(' ').length;
  if (points < 59) fail(`a minute of samples should draw about 60 points, saw ${points}`);
  await page.getByLabel('Chart more statistics').fill('tm:inuse_transactions');
  await page.getByRole('button', { name: 'Add chart' }).click();
  const picked = await page.locator('#charts-list figure').nth(4).innerText();
  if (!picked.includes('tm:inuse_transactions')) fail(`picked chart: ${picked}`);
  await page.getByLabel('Chart more statistics').fill('nonsense');
  await page.getByRole('button', { name: 'Add chart' }).click();
  if (!(await page.locator('#charts-list').innerText()).includes('Cannot chart nonsense')) fail('a bad chart spec is not explained');
  await page.locator('#charts-list figure').nth(5).getByRole('button', { name: 'Remove' }).click();
  await page.locator('#charts').screenshot({ path: `${shots}/playground-charts.png` });
  if (outside.length) fail(`requests left the page's origin: ${outside.join(' ')}`);

  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const small = await open(phone);
  await small.page.screenshot({ path: `${shots}/playground-phone.png`, fullPage: true });

  const all = JSON.parse(await page.evaluate(() => window.miwa.commands()));
  const commands = all.filter((c) => !c.simulated_module);
  const simulated = all.filter((c) => c.simulated_module).map((c) => c.name);
  if (!simulated.includes('ul_dump')) fail(`the simulated node's usrloc commands are not listed: ${simulated}`);
  const which = '{"jsonrpc":"2.0","method":"which","id":1}';
  const pageWhich = JSON.parse(JSON.parse(await page.evaluate((r) => window.miwa.handle(r), which)).text).result;
  const daemonWhich = (await (await fetch(`${base}/mi`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: which })).json()).result;
  if (JSON.stringify(pageWhich) !== JSON.stringify([...daemonWhich, ...simulated])) fail(`which: the page lists ${pageWhich}, the daemon ${daemonWhich} and the simulated modules ${simulated}`);
  const requests = [
    '{"jsonrpc":"2.0","method":"no_such","id":2}',
    '{"jsonrpc":"1.0","method":"ps","id":3}',
    '{"jsonrpc":"2.0","method":"ps","params":7,"id":4}',
    '{"jsonrpc":"2.0","method":"ps","id":5',
    '[]',
    '[{"jsonrpc":"2.0","method":"which","params":["ps"],"id":6},{"jsonrpc":"2.0","method":"x","id":7}]',
  ];
  for (const c of commands) {
    requests.push(JSON.stringify({ jsonrpc: '2.0', method: 'which', params: [c.name], id: c.name }));
    requests.push(JSON.stringify({ jsonrpc: '2.0', method: 'help', params: { mi_cmd: c.name }, id: 1 }));
    requests.push(JSON.stringify({ jsonrpc: '2.0', method: c.name, params: [1, 2, 3, 4, 5, 6, 7, 8, 9], id: 2 }));
    requests.push(JSON.stringify({ jsonrpc: '2.0', method: c.name, params: { no_such_parameter: 1 }, id: 3 }));
  }
  let differences = 0;
  for (const request of requests) {
    const inPage = JSON.parse(await page.evaluate((r) => window.miwa.handle(r), request)).text;
    const response = await fetch(`${base}/mi`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: request });
    const fromDaemon = await response.text();
    if (inPage !== fromDaemon) {
      differences += 1;
      fail(`different answers to ${request}\n  page:   ${inPage}\n  daemon: ${fromDaemon}`);
    }
  }
  console.log(`page and daemon answered ${requests.length} requests alike (${differences} differences)`);
  console.log('playground browser checks done');
} finally {
  await browser.close();
}
