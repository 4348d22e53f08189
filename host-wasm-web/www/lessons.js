// Guided lessons: each step names what to do and checks the learner's actual calls.
// A check receives {method, params, reply} (reply = the parsed JSON-RPC reply or null) and
// the calls so far. A step with `event` instead waits for a notification the simulated
// node delivers to a subscriber ({method, params}), with the calls so far.

const ok = (call) => call.reply && "result" in call.reply;
const failed = (call, code) => call.reply && call.reply.error && call.reply.error.code === code;
const named = (call, name) => call.params && !Array.isArray(call.params) && name in call.params;
const errorText = (call) => call.reply && call.reply.error && call.reply.error.message;

// A parameter of a call by its name or, positional, by its place in the recipe.
const param = (call, name, index) => {
  if (!call.params) return undefined;
  return Array.isArray(call.params) ? call.params[index] : call.params[name];
};
const last = (history, method, index = 0) =>
  history.filter((h) => h.method === method && ok(h)).slice(-1 - index)[0];
const gateway = (call) => call.reply.result.State;
const destination = (call, uri) => {
  for (const partition of call.reply.result.PARTITIONS || [])
    for (const set of partition.SETS)
      for (const d of set.Destinations) if (d.URI === uri) return d;
  return null;
};
const subscribed = (c, event) => c.method === "event_subscribe" && ok(c) && param(c, "event", 0) === event;

// The six lessons on the simulated proxy's modules, the operator tasks they teach.
const TASKS = [
  {
    title: "Find where a user is registered and log them out",
    steps: [
      { text: "Dump the registrations with ul_dump: each AOR with its contacts.",
        check: (c) => c.method === "ul_dump" && ok(c) && Array.isArray(c.reply.result.Domains) },
      { text: "Pick a user and show where they are: ul_show_contact with table_name = location and aor = that user.",
        check: (c) => c.method === "ul_show_contact" && ok(c) && c.reply.result.Contacts.length > 0 },
      { text: "Log them out: ul_rm with table_name = location and the same aor.",
        check: (c, history) => c.method === "ul_rm" && ok(c)
          && param(c, "aor", 1) === param(last(history, "ul_show_contact"), "aor", 1) },
      { text: "Check: ul_show_contact for that user now answers 404 AOR not found.",
        check: (c, history) => c.method === "ul_show_contact" && errorText(c) === "AOR not found"
          && param(c, "aor", 1) === param(last(history, "ul_rm"), "aor", 1) },
    ],
  },
  {
    title: "See why calls fail and disable a gateway",
    steps: [
      { text: "Read the transaction statistics: get_statistics with statistics = [\"tm:\"]. The 4xx, 5xx and 6xx_transactions are failed calls.",
        check: (c) => c.method === "get_statistics" && ok(c) && "tm:5xx_transactions" in c.reply.result },
      { text: "List the routing gateways and their states with dr_gw_status.",
        check: (c) => c.method === "dr_gw_status" && ok(c) && Array.isArray(c.reply.result.Gateways) },
      { text: "List the carriers with dr_carrier_status.",
        check: (c) => c.method === "dr_carrier_status" && ok(c) && Array.isArray(c.reply.result.Carriers) },
      { text: "Take the unreliable gateway out of routing: dr_gw_status with gw_id = gw3 and status = 0.",
        check: (c) => c.method === "dr_gw_status" && ok(c) && c.params.gw_id === "gw3" && Number(c.params.status) === 0 },
      { text: "Check: dr_gw_status with gw_id = gw3 shows State Disabled MI.",
        check: (c) => c.method === "dr_gw_status" && ok(c) && gateway(c) === "Disabled MI" },
    ],
  },
  {
    title: "Drain a dispatcher destination for maintenance",
    steps: [
      { text: "List the destinations with ds_list and full = 1: media server A is sip:10.0.1.11:5060 in set 1.",
        check: (c) => c.method === "ds_list" && ok(c) && destination(c, "sip:10.0.1.11:5060") },
      { text: "Drain it: ds_set_state with state = i, group = 1, address = sip:10.0.1.11:5060.",
        check: (c) => c.method === "ds_set_state" && ok(c) && String(param(c, "state", 0)).startsWith("i") },
      { text: "Check with ds_list: it is Inactive, and new calls go to media server B.",
        check: (c) => c.method === "ds_list" && ok(c) && destination(c, "sip:10.0.1.11:5060").state === "Inactive" },
      { text: "Maintenance done: bring it back with ds_set_state state = a, same group and address.",
        check: (c) => c.method === "ds_set_state" && ok(c) && String(param(c, "state", 0)).startsWith("a") },
      { text: "Check with ds_list: it is Active again.",
        check: (c) => c.method === "ds_list" && ok(c) && destination(c, "sip:10.0.1.11:5060").state === "Active" },
    ],
  },
  {
    title: "Reload routing after a change",
    steps: [
      { text: "Change a state: dr_gw_status with gw_id = gw2 and status = 0.",
        check: (c) => c.method === "dr_gw_status" && ok(c) && c.params.gw_id === "gw2" && Number(c.params.status) === 0 },
      { text: "Reload the routing data with dr_reload: states are inherited by default.",
        check: (c) => c.method === "dr_reload" && ok(c) && !named(c, "inherit_state") },
      { text: "Check: dr_gw_status with gw_id = gw2 is still Disabled MI.",
        check: (c) => c.method === "dr_gw_status" && ok(c) && gateway(c) === "Disabled MI" },
      { text: "Reload again without inheriting: dr_reload with inherit_state = 0.",
        check: (c) => c.method === "dr_reload" && ok(c) && Number(param(c, "inherit_state", 0)) === 0 },
      { text: "Check: dr_gw_status with gw_id = gw2 is Active again, as the table says.",
        check: (c) => c.method === "dr_gw_status" && ok(c) && gateway(c) === "Active" },
      { text: "Reload the dispatcher's destinations too: ds_reload.",
        check: (c) => c.method === "ds_reload" && ok(c) },
    ],
  },
  {
    title: "Watch a call from INVITE to BYE",
    steps: [
      { text: "Subscribe to the dialog events: event_subscribe with event = E_DLG_STATE_CHANGED, socket = udp:127.0.0.1:9999, expire = 3600.",
        check: (c) => subscribed(c, "E_DLG_STATE_CHANGED") },
      { text: "Read the call statistics: get_statistics with statistics = [\"dialog:\", \"tm:\"].",
        check: (c) => c.method === "get_statistics" && ok(c) && "dialog:active_dialogs" in c.reply.result },
      { text: "Wait for an INVITE: the event log shows E_DLG_STATE_CHANGED with new_state 2, a call ringing (Advance 60 s hurries it).",
        event: (e) => e.method === "E_DLG_STATE_CHANGED" && e.params.new_state === 2 },
      { text: "See it with dlg_list: its state, its caller and callee.",
        check: (c) => c.method === "dlg_list" && ok(c) && c.reply.result.Dialogs.length > 0 },
      { text: "Wait for the end: E_DLG_STATE_CHANGED with new_state 5 (hung up with a BYE, or failed).",
        event: (e) => e.method === "E_DLG_STATE_CHANGED" && e.params.new_state === 5 },
      { text: "Read the statistics again: processed_dialogs or failed_dialogs has grown, and so has tm:UAS_transactions.",
        check: (c, history) => {
          if (c.method !== "get_statistics" || !ok(c) || !("dialog:processed_dialogs" in c.reply.result)) return false;
          const before = history.find((h) => h.method === "get_statistics" && ok(h) && "dialog:processed_dialogs" in h.reply.result).reply.result;
          const now = c.reply.result;
          const ended = (r) => r["dialog:processed_dialogs"] + r["dialog:failed_dialogs"];
          return ended(now) > ended(before) && now["tm:UAS_transactions"] > before["tm:UAS_transactions"];
        } },
    ],
  },
  {
    title: "Subscribe to registrations and see them arrive",
    steps: [
      { text: "Find the usrloc events in events_list.",
        check: (c) => c.method === "events_list" && ok(c) && JSON.stringify(c.reply.result).includes("E_UL_CONTACT_INSERT") },
      { text: "Subscribe: event_subscribe with event = E_UL_CONTACT_INSERT, socket = udp:127.0.0.1:9999, expire = 3600.",
        check: (c) => subscribed(c, "E_UL_CONTACT_INSERT") },
      { text: "Check subscribers_list: the subscription is there.",
        check: (c) => c.method === "subscribers_list" && ok(c) && JSON.stringify(c.reply.result).includes("E_UL_CONTACT_INSERT") },
      { text: "Wait for a phone to register: E_UL_CONTACT_INSERT arrives in the event log (Advance 60 s hurries it).",
        event: (e) => e.method === "E_UL_CONTACT_INSERT" },
      { text: "Look the new contact up: ul_show_contact with table_name = location and the event's aor.",
        check: (c, history, events) => c.method === "ul_show_contact" && ok(c)
          && events.some((e) => e.method === "E_UL_CONTACT_INSERT" && e.params.aor === param(c, "aor", 1)) },
    ],
  },
];

export const LESSONS = [...TASKS,
  {
    title: "Reading statistics",
    steps: [
      { text: "Run get_statistics for the whole core group: statistics = [\"core:\"].",
        check: (c) => c.method === "get_statistics" && ok(c) && "core:rcv_requests" in c.reply.result },
      { text: "Run it again a few seconds later: the counters have moved (the node is simulated, and busy).",
        check: (c, history) => c.method === "get_statistics" && ok(c) && history.filter((h) => h.method === "get_statistics" && ok(h)).length >= 2 },
      { text: "Reset one counter with reset_statistics statistics = [\"rcv_requests\"].",
        check: (c) => c.method === "reset_statistics" && ok(c) },
      { text: "List which statistics exist with list_statistics.",
        check: (c) => c.method === "list_statistics" && ok(c) },
    ],
  },
  {
    title: "Log levels per process",
    steps: [
      { text: "Run ps to see the processes and their PIDs.",
        check: (c) => c.method === "ps" && ok(c) },
      { text: "Set one process's level: log_level with level = 1 and pid = one of those PIDs.",
        check: (c) => c.method === "log_level" && ok(c) && "Log level" in c.reply.result },
      { text: "Run log_level without parameters: that process now shows level 1, the others 3.",
        check: (c) => c.method === "log_level" && ok(c) && Array.isArray(c.reply.result.Processes)
          && c.reply.result.Processes.some((p) => p["Log level"] === 1) },
      { text: "Set every process back at once: log_level with only level = 3.",
        check: (c) => c.method === "log_level" && ok(c) && "New global log level" in c.reply.result },
    ],
  },
  {
    title: "Subscribing to an event",
    steps: [
      { text: "List the events with events_list.",
        check: (c) => c.method === "events_list" && ok(c) },
      { text: "Subscribe: event_subscribe with event = E_CORE_THRESHOLD, socket = udp:127.0.0.1:9999, expire = 120.",
        check: (c) => c.method === "event_subscribe" && ok(c) },
      { text: "Check subscribers_list: your subscriber is there, its ttl counting down.",
        check: (c) => c.method === "subscribers_list" && ok(c) && JSON.stringify(c.reply.result).includes("udp:127.0.0.1:9999") },
      { text: "Raise it: raise_event with event = E_CORE_THRESHOLD and params = [\"hello\"]. The event log shows what the subscriber receives.",
        check: (c) => c.method === "raise_event" && ok(c) },
    ],
  },
  {
    title: "Parameter errors and recipes",
    steps: [
      { text: "Call log_level with three positional parameters, e.g. [1, 2, 3].",
        check: (c) => c.method === "log_level" && failed(c, -32602) },
      { text: "Ask which parameter sets (recipes) log_level has: which with command = log_level.",
        check: (c) => c.method === "which" && ok(c) && named(c, "command") || (c.method === "which" && ok(c) && Array.isArray(c.params) && c.params[0] === "log_level") },
      { text: "Call it with names that match no recipe, e.g. {\"lvl\": 3}.",
        check: (c) => c.method === "log_level" && failed(c, -32602) && c.reply.error.data === "Named parameters do not match" },
      { text: "Now a correct call: log_level with level = 4.",
        check: (c) => c.method === "log_level" && ok(c) },
    ],
  },
];
