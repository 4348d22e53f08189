// The playground's live mode: the same UI against the miwa daemon that served the page,
// over its WebSocket (/ws). The connection is opened with a single-use ticket fetched from
// /ws/ticket with the browser's credentials for the daemon, and subscribed (socket "ws:")
// to the daemon's events, which arrive as notifications for the event log.

const REPLY_WAIT_MS = 5000;

// Whether a daemon serves this page: it answers live.json beside it.
export async function daemonHere() {
  try {
    const answer = await fetch("live.json", { cache: "no-store" });
    if (!answer.ok) return null;
    return await answer.json();
  } catch {
    return null;
  }
}

function expectsReply(text) {
  try {
    const request = JSON.parse(text);
    if (Array.isArray(request)) return request.some((r) => !r || typeof r !== "object" || "id" in r || typeof r.method !== "string");
    return !(request && typeof request === "object" && typeof request.method === "string" && !("id" in request));
  } catch {
    return true;
  }
}

function isNotification(text) {
  try {
    const frame = JSON.parse(text);
    return frame && !Array.isArray(frame) && typeof frame.method === "string" && !("id" in frame);
  } catch {
    return false;
  }
}

export class LiveDaemon {
  constructor(where, onEvent, onLog) {
    this.where = where;
    this.onEvent = onEvent;
    this.onLog = onLog;
    this.socket = null;
    this.waiting = [];
  }

  async connect() {
    const ticket = await fetch(new URL(this.where.ticket, location.href), { method: "POST", credentials: "same-origin" });
    if (!ticket.ok) throw new Error(`the daemon refused a ticket (HTTP ${ticket.status})`);
    const { protocol } = await ticket.json();
    const url = new URL(this.where.ws, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(url, [protocol]);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error("the WebSocket could not be opened"));
    });
    socket.onmessage = (message) => this.received(String(message.data));
    socket.onclose = (closed) => {
      this.socket = null;
      this.onLog(`connection closed (${closed.code}${closed.reason ? " " + closed.reason : ""}); the next call reconnects`);
      for (const waiter of this.waiting.splice(0)) waiter(null);
    };
    this.socket = socket;
    await this.subscribe();
  }

  received(text) {
    if (isNotification(text)) {
      this.onEvent(text);
      return;
    }
    const waiter = this.waiting.shift();
    if (waiter) waiter(text);
  }

  async socketReady() {
    if (!this.socket) await this.connect();
    return this.socket;
  }

  // Sends `text`; resolves to the reply text, or null when none comes.
  async send(text) {
    const socket = await this.socketReady();
    if (!expectsReply(text)) {
      socket.send(text);
      return null;
    }
    const reply = new Promise((resolve) => {
      const waiter = (answer) => { clearTimeout(timer); resolve(answer); };
      const timer = setTimeout(() => {
        const at = this.waiting.indexOf(waiter);
        if (at !== -1) this.waiting.splice(at, 1);
        resolve(null);
      }, REPLY_WAIT_MS);
      this.waiting.push(waiter);
    });
    socket.send(text);
    return reply;
  }

  async call(method, params) {
    const reply = await this.send(JSON.stringify({ jsonrpc: "2.0", method, params, id: 1 }));
    const parsed = reply && JSON.parse(reply);
    if (!parsed || parsed.error) throw new Error(`${method}: ${parsed ? parsed.error.message : "no reply"}`);
    return parsed.result;
  }

  // The outcome the page shows, as the simulated node's handle() gives it.
  async handle(text) {
    const reply = await this.send(text);
    if (reply === null) return expectsReply(text) ? { kind: "unprintable" } : { kind: "nothing" };
    return { kind: "text", text: reply };
  }

  // The daemon's commands, from `which` and `help`, in the form the command list takes.
  async commands() {
    const names = await this.call("which");
    const batch = names.flatMap((name, i) => [
      { jsonrpc: "2.0", method: "which", params: [name], id: 2 * i },
      { jsonrpc: "2.0", method: "help", params: [name], id: 2 * i + 1 },
    ]);
    const replies = JSON.parse(await this.send(JSON.stringify(batch)));
    const byId = new Map(replies.map((r) => [r.id, r.result]));
    return names.map((name, i) => {
      const help = byId.get(2 * i + 1) || {};
      return {
        name,
        module: help["Exported by"] || "core",
        help: help.Help || "",
        recipes: byId.get(2 * i) || [[]],
        named_only: false,
      };
    });
  }

  // Subscribes the connection to every event the daemon publishes, up to its limit per
  // connection (events.max_per_channel).
  async subscribe() {
    const events = await this.call("events_list");
    let subscribed = 0;
    for (const event of events.Events || []) {
      const reply = JSON.parse(await this.send(JSON.stringify({ jsonrpc: "2.0", method: "event_subscribe", params: [event.name, "ws:", 3600], id: 1 })));
      if (reply.error) {
        this.onLog(`subscribed to ${subscribed} events; ${event.name} and later refused: ${reply.error.message}`);
        return;
      }
      subscribed += 1;
    }
    this.onLog(`subscribed to the daemon's ${subscribed} events`);
  }

  close() {
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close();
      this.socket = null;
    }
  }
}
