// Drives the HTML interface in headless Chromium (Debian's, through playwright-core):
// navigate to a module, run `ps`, run `log_level` with a bad argument, then through its
// typed recipe forms (`log_level`, `get_statistics`); assert on the rendered text; save
// screenshots. Usage: node html.mjs <base-url> <screenshot-dir>
import { launch } from './chromium.mjs';
import { mkdirSync } from 'node:fs';

const [base, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await launch();
const fail = (message) => { console.error(message); process.exitCode = 1; };
try {
  const page = await browser.newPage();
  await page.goto(`${base}/html`);
  if (!(await page.locator('nav').innerText()).includes('core')) fail('no core module in the menu');
  await page.getByRole('link', { name: 'core', exact: true }).click();
  await page.getByRole('link', { name: 'ps', exact: true }).click();
  if (!(await page.locator('h2#command-title').innerText()).includes('ps')) fail('ps page not shown');
  await page.getByRole('button', { name: 'Run ps' }).click();
  const result = await page.locator('section.result pre').innerText();
  if (!result.includes('"Processes"') || !result.includes('MI worker')) fail(`ps result missing: ${result}`);
  await page.screenshot({ path: `${shots}/html-ps.png`, fullPage: true });

  await page.getByRole('link', { name: 'log_level', exact: true }).click();
  await page.getByLabel('Parameters as JSON').fill('{"level": "loud"}');
  await page.getByRole('button', { name: 'Run log_level', exact: true }).click();
  const error = await page.locator('section.result.error').innerText();
  if (!error.includes('Error -32602: Invalid params') || !error.includes("Bad type for parameter 'level'")) fail(`error not shown: ${error}`);
  await page.screenshot({ path: `${shots}/html-log_level-error.png`, fullPage: true });

  // A recipe's own form, its fields typed from rpc.discover: a number field for an integer.
  const level = page.locator('#r1-level');
  if (await level.getAttribute('type') !== 'number') fail(`level field type: ${await level.getAttribute('type')}`);
  await level.fill('4');
  await page.getByRole('button', { name: 'Run log_level with level', exact: true }).click();
  const set = await page.locator('section.result pre').innerText();
  if (!/"New global log level":\s*4/.test(set)) fail(`typed form result: ${set}`);
  const sent = await page.getByLabel('Parameters as JSON').inputValue();
  if (sent !== '{"level":4}') fail(`the JSON the typed form sent: ${sent}`);
  await page.getByRole('link', { name: 'statistics', exact: true }).click();
  await page.getByRole('link', { name: 'get_statistics', exact: true }).click();
  const statistics = page.locator('#r0-statistics');
  if (await statistics.getAttribute('data-type') !== 'string-array') fail('statistics is not a string array field');
  await statistics.fill('core: shmem:');
  await page.getByRole('button', { name: 'Run get_statistics with statistics', exact: true }).click();
  const stats = await page.locator('section.result pre').innerText();
  if (!stats.includes('"shmem:total_size"') || !stats.includes('"core:timestamp"')) fail(`typed array result: ${stats}`);
  await page.screenshot({ path: `${shots}/html-typed-form.png`, fullPage: true });
  console.log('html browser checks done');
} finally {
  await browser.close();
}
