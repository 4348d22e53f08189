// Drives the HTML interface's statistics view in headless Chromium (Debian's, through
// playwright-core): the server-drawn charts are there, the page's script swaps in fresh
// ones, a picked chart is added; saves a screenshot. Usage: node charts.mjs <base-url> <dir>
import { launch } from './chromium.mjs';
import { mkdirSync } from 'node:fs';

const [base, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await launch();
const fail = (message) => { console.error(message); process.exitCode = 1; };
const watchdog = setTimeout(() => { console.error('charts.mjs: no end after 60 s'); process.exit(2); }, 60_000);
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  await page.goto(`${base}/html/statistics/get_statistics`);
  const charts = await page.locator('#charts svg').count();
  if (charts !== 5) fail(`expected the 5 default charts, saw ${charts}`);
  const before = await page.locator('#charts-list').innerHTML();
  await page.waitForFunction(() => Number(document.getElementById('charts').dataset.updates) >= 2, null, { timeout: 15_000 });
  const after = await page.locator('#charts-list').innerHTML();
  if (before === after) fail('the charts did not change after two refreshes');
  for (let i = 0; i < 20; i++) {
    await page.evaluate(() => fetch('/mi', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"jsonrpc":"2.0","method":"uptime","id":1}' }));
  }
  await page.getByLabel('Chart more statistics').fill('commands:uptime_calls,commands:uptime_errors');
  await page.getByRole('button', { name: 'Add chart' }).click();
  await page.waitForFunction(() => document.querySelectorAll('#charts svg').length === 6, null, { timeout: 10_000 });
  const picked = await page.locator('#charts figure').nth(5).innerText();
  if (!picked.includes('commands:uptime_calls')) fail(`the picked chart is not shown: ${picked}`);
  await page.waitForFunction(() => Number(document.getElementById('charts').dataset.updates) >= 3, null, { timeout: 15_000 });
  const requests = await page.locator('#charts figure').first().locator('polyline').count();
  if (requests < 1) fail('no line in the requests chart');
  await page.locator('#charts').screenshot({ path: `${shots}/html-charts.png` });
  console.log('chart browser checks done');
} finally {
  clearTimeout(watchdog);
  await browser.close();
}
