// Drives the HTML interface in headless Chromium (Debian's, through playwright-core):
// navigate to a module, run `ps`, run `log_level` with a bad argument; assert on the
// rendered text; save screenshots. Usage: node html.mjs <base-url> <screenshot-dir>
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
  await page.getByRole('button', { name: 'Run log_level' }).click();
  const error = await page.locator('section.result.error').innerText();
  if (!error.includes('Error -32602: Invalid params') || !error.includes("Bad type for parameter 'level'")) fail(`error not shown: ${error}`);
  await page.screenshot({ path: `${shots}/html-log_level-error.png`, fullPage: true });
  console.log('html browser checks done');
} finally {
  await browser.close();
}
