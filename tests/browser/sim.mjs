// The simulated host through the wasm-bindgen API, in node: a handful of commands and
// errors. Usage: node sim.mjs <playground-dir>
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.argv[2];
const { initSync, Playground } = await import(pathToFileURL(join(dir, 'pkg/host_wasm_web.js')).href);
initSync({ module: readFileSync(join(dir, 'pkg/host_wasm_web_bg.wasm')) });

let failures = 0;
const check = (ok, message) => { if (!ok) { console.error(`FAIL: ${message}`); failures += 1; } };
const pg = new Playground(7, 1800000000);
const call = (method, params) => {
  const request = { jsonrpc: '2.0', method, id: 1 };
  if (params !== undefined) request.params = params;
  const outcome = JSON.parse(pg.handle(JSON.stringify(request)));
  return JSON.parse(outcome.text);
};

const uptime = call('uptime');
check(uptime.result['Up time'] === '0 [sec]', `uptime at start: ${JSON.stringify(uptime)}`);
pg.advance(90);
check(call('uptime').result['Up time'] === '90 [sec]', 'uptime after advance(90)');
const counters = call('get_statistics', [['core:', 'tm:', 'sl:']]).result;
const stats = counters['core:rcv_requests'];
check(stats > 0 && stats >= counters['tm:UAS_transactions'] + counters['sl:2xx_replies'],
  `rcv_requests counts the calls' and registrations' requests: ${JSON.stringify(counters)}`);
const again = new Playground(7, 1800000000);
again.advance(90);
check(JSON.parse(JSON.parse(again.handle('{"jsonrpc":"2.0","method":"get_statistics","params":[["rcv_requests"]],"id":1}')).text).result['core:rcv_requests'] === stats,
  'the same seed gives the same simulation');
check(call('cache_store', ['local', 'k', 'v', 5]).result === 'OK', 'cache_store');
check(call('cache_fetch', ['local', 'k']).result.value === 'v', 'cache_fetch before expiry');
pg.advance(5);
check(call('cache_fetch', ['local', 'k']).error.message === 'Value not found', 'cache entry expired');
check(call('log_level', { level: 2, pid: 2103 }).result['Log level'] === 2, 'log_level for one pid');
const levels = call('log_level').result.Processes;
check(levels.find((p) => p.PID === 2103)['Log level'] === 2 && levels.find((p) => p.PID === 2100)['Log level'] === 3, 'ps shows per-process levels');
check(call('log_level', { level: 2, pid: 1 }).error.data === 'Bad PID', 'unknown pid');
check(call('event_subscribe', ['E_CORE_THRESHOLD', 'udp:127.0.0.1:9999', 60]).result === 'OK', 'event_subscribe');
check(call('raise_event', ['E_CORE_THRESHOLD', ['x']]).result === 'OK', 'raise_event');
const journal = JSON.parse(pg.journal());
check(journal.length === 1 && journal[0].text === '{"jsonrpc":"2.0","method":"E_CORE_THRESHOLD","params":["x"]}', `journal: ${JSON.stringify(journal)}`);
check(call('nope').error.code === -32601, 'method not found');
const parse = JSON.parse(pg.handle('{"jsonrpc":'));
check(parse.kind === 'parse_error' && JSON.parse(parse.text).error.code === -32700, 'parse error');
check(pg.explain('{"jsonrpc":', parse.text).startsWith('-32700 Parse error'), 'parse error explained');
check(JSON.parse(pg.handle('{"jsonrpc":"2.0","method":"ps"}')).kind === 'nothing', 'notification');
check(JSON.parse(pg.commands()).some((c) => c.name === 'ps' && c.module === 'core'), 'commands list');
check(call('kill').result === 'OK' && pg.stopped(), 'kill stops the simulated node');
if (failures) process.exit(1);
console.log('simulated host checks done');
