// Guided lessons: each step names what to do and checks the learner's actual calls.
// A check receives {method, params, reply} (reply = the parsed JSON-RPC reply or null).

const ok = (call) => call.reply && "result" in call.reply;
const failed = (call, code) => call.reply && call.reply.error && call.reply.error.code === code;
const named = (call, name) => call.params && !Array.isArray(call.params) && name in call.params;

export const LESSONS = [
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
