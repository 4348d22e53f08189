// Completes each task lesson of the playground in headless Chromium, the way a learner
// would: calls typed as raw JSON-RPC, their parameters read from the simulated proxy's
// earlier replies, "Advance 60 s" pressed while a step waits for an event. Saves a
// screenshot of each finished lesson.
// Usage: node lessons.mjs <base-url> <screenshot-dir>
import { launch } from './chromium.mjs';
import { mkdirSync } from 'node:fs';

const [base, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await launch();
const fail = (message) => { console.error(`FAIL: ${message}`); process.exitCode = 1; };

let id = 0;
async function call(page, method, params) {
  id += 1;
  const request = { jsonrpc: '2.0', method, id };
  if (params !== undefined) request.params = params;
  await page.getByRole('tab', { name: 'Raw JSON-RPC' }).click();
  await page.getByLabel('JSON-RPC request').fill(JSON.stringify(request));
  await page.locator('#run-raw').click();
  return JSON.parse(await page.locator('#reply').innerText());
}

const done = (page) => page.locator('#lesson-steps li.done').count();

// Presses "Advance 60 s" until the lesson's step `index` (from 0) is done.
async function waitForStep(page, index, what) {
  for (let i = 0; i < 60 && (await done(page)) <= index; i += 1) {
    await page.locator('#advance').click();
  }
  if ((await done(page)) <= index) fail(`${what} never arrived`);
}

const subscribe = (page, event) =>
  call(page, 'event_subscribe', { event, socket: 'udp:127.0.0.1:9999', expire: 3600 });

const lessons = {
  'Find where a user is registered and log them out': async (page) => {
    const dump = await call(page, 'ul_dump');
    const aor = dump.result.Domains[0].AORs[0].AOR;
    await call(page, 'ul_show_contact', ['location', aor]);
    await call(page, 'ul_rm', { table_name: 'location', aor });
    const gone = await call(page, 'ul_show_contact', { table_name: 'location', aor });
    if (gone.error?.message !== 'AOR not found') fail(`after ul_rm: ${JSON.stringify(gone)}`);
  },
  'See why calls fail and disable a gateway': async (page) => {
    await call(page, 'get_statistics', { statistics: ['tm:'] });
    await call(page, 'dr_gw_status', {});
    await call(page, 'dr_carrier_status', {});
    await call(page, 'dr_gw_status', { gw_id: 'gw3', status: 0 });
    await call(page, 'dr_gw_status', { gw_id: 'gw3' });
  },
  'Drain a dispatcher destination for maintenance': async (page) => {
    const address = 'sip:10.0.1.11:5060';
    await call(page, 'ds_list', { full: 1 });
    await call(page, 'ds_set_state', { state: 'i', group: '1', address });
    await call(page, 'ds_list', {});
    await call(page, 'ds_set_state', ['a', '1', address]);
    await call(page, 'ds_list', {});
  },
  'Reload routing after a change': async (page) => {
    await call(page, 'dr_gw_status', { gw_id: 'gw2', status: 0 });
    await call(page, 'dr_reload');
    await call(page, 'dr_gw_status', { gw_id: 'gw2' });
    await call(page, 'dr_reload', { inherit_state: 0 });
    await call(page, 'dr_gw_status', { gw_id: 'gw2' });
    await call(page, 'ds_reload');
  },
  'Watch a call from INVITE to BYE': async (page) => {
    await subscribe(page, 'E_DLG_STATE_CHANGED');
    await call(page, 'get_statistics', { statistics: ['dialog:', 'tm:'] });
    await waitForStep(page, 2, 'a ringing call');
    await call(page, 'dlg_list', {});
    if ((await done(page)) < 4) {
      // The call seen ringing may already be over: wait for one that is on.
      for (let i = 0; i < 60 && (await done(page)) < 4; i += 1) {
        await page.locator('#advance').click();
        await call(page, 'dlg_list', {});
      }
    }
    await waitForStep(page, 4, 'the end of a call');
    await call(page, 'get_statistics', { statistics: ['dialog:', 'tm:'] });
  },
  'Subscribe to registrations and see them arrive': async (page) => {
    await call(page, 'events_list');
    await subscribe(page, 'E_UL_CONTACT_INSERT');
    await call(page, 'subscribers_list');
    await waitForStep(page, 3, 'E_UL_CONTACT_INSERT');
    const journal = await page.locator('#journal').innerText();
    const line = journal.split('\n').find((l) => l.includes('"method":"E_UL_CONTACT_INSERT"'));
    const aor = JSON.parse(line.slice(line.indexOf('{'))).params.aor;
    await call(page, 'ul_show_contact', { table_name: 'location', aor });
  },
};

try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  for (const [title, steps] of Object.entries(lessons)) {
    const page = await context.newPage();
    await page.goto(`${base}/playground/?seed=3`);
    await page.waitForSelector('body[data-ready="true"]');
    await page.getByLabel('Lesson', { exact: true }).selectOption({ label: title });
    const total = await page.locator('#lesson-steps li').count();
    await steps(page);
    const status = await page.locator('#lesson-status').innerText();
    if (status !== `Lesson complete: ${title}.`) {
      const left = await page.locator('#lesson-steps li:not(.done)').allInnerTexts();
      fail(`${title}: ${await done(page)} of ${total} steps; left: ${left.join(' | ')}`);
    }
    const name = title.toLowerCase().replace(/[^a-z0-9]+/g, '-');
    await page.screenshot({ path: `${shots}/lesson-${name}.png`, fullPage: true });
    await page.close();
  }
} finally {
  await browser.close();
}
