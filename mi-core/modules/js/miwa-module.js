// Write miwa MI command modules in JavaScript, built with componentize-js.
//
// A module declares itself with a `Module`, registers its commands with `command` (and
// its background work with `tick`), and exports `moduleApi = module.api()`:
//
//     import { Module, MiError } from "./miwa-module.js";   // this file, beside app.js
//     const module = new Module("hello", "1.0");
//     module.command("js_hello", "greets someone", [["name"]], ({ name }) => `hello, ${name}`);
//     export const moduleApi = module.api();
//
// Handlers get the matched recipe's parameters as an object and return any JSON value,
// or a Promise of one (`fetch` works, to the `allowed_outbound_hosts` of the `http`
// grant). Throwing `MiError` answers with that MI error; any other exception answers
// `500 <command> threw <Name>: <message>`. The capability wrappers work when the operator
// granted the capability; calling one that was not granted fails the call, naming it.

import * as wasiLog from "miwa:module/log@0.2.0";
import * as wasiStats from "miwa:module/stats@0.2.0";
import * as wasiCache from "miwa:module/cache@0.2.0";
import * as wasiEvents from "miwa:module/events@0.2.0";
import * as wasiMi from "miwa:module/mi@0.2.0";

/** An MI error: the reply's `error` member. */
export class MiError extends Error {
  constructor(code, message, data) {
    super(message);
    this.name = "MiError";
    this.code = code;
    this.data = data === undefined ? undefined : String(data);
  }
}

function witError(error) {
  return { code: error.code | 0, message: String(error.message), data: error.data };
}

/** Capability `log`: lines in the daemon's log at OpenSIPS levels, tagged with the module. */
export const log = {
  log: (level, message) => wasiLog.log(level, String(message)),
  error: (message) => wasiLog.log(-1, String(message)),
  warn: (message) => wasiLog.log(1, String(message)),
  info: (message) => wasiLog.log(3, String(message)),
  debug: (message) => wasiLog.log(4, String(message)),
};

/** Capability `stats`: the statistics the module declared, in its own group. */
export const stats = {
  add: (name, delta = 1) => wasiStats.add(name, BigInt(delta)),
  set: (name, value) => wasiStats.set(name, BigInt(value)),
  get: (name) => {
    const value = wasiStats.get(name);
    return value === undefined ? undefined : Number(value);
  },
};

/** Capability `cache`: the daemon's `local` store, under the module's key prefix. */
export const cache = {
  store(key, value, expire = 0) {
    try {
      wasiCache.store(key, String(value), expire);
    } catch {
      throw new MiError(500, "the cache is full");
    }
  },
  fetch: (key) => wasiCache.fetch(key),
  remove: (key) => wasiCache.remove(key),
};

/** Capability `events`: raise the events the module declared; false if nobody listens. */
export const events = {
  raise(event, params) {
    const values = Object.entries(params).map(([name, value]) =>
      Number.isInteger(value)
        ? [name, { tag: "int", val: value }]
        : [name, { tag: "text", val: String(value) }],
    );
    try {
      wasiEvents.raise(event, values);
      return true;
    } catch (refused) {
      if (refused?.payload === "no-subscribers") return false;
      throw new MiError(500, `event ${event} not raised: ${refused?.payload ?? refused}`);
    }
  },
};

/** Capability `mi`: run another MI command (a `miwa script` line); its result, parsed. */
export const mi = {
  call(line) {
    try {
      return JSON.parse(wasiMi.call(line));
    } catch (failed) {
      const error = failed?.payload;
      if (error && typeof error.code === "number") {
        throw new MiError(error.code, error.message, error.data);
      }
      throw failed;
    }
  },
};

/** A module's description and handlers. */
export class Module {
  constructor(name, version) {
    this.name = name;
    this.version = version;
    this.commands = [];
    this.handlers = new Map();
    this.events = [];
    this.statistics = [];
    this.onTick = undefined;
  }

  /** Registers `handler(params)` as command `name`; `recipes` lists its parameter sets. */
  command(name, help, recipes, handler, namedOnly = false) {
    this.commands.push({ name, help, namedOnly, recipes: recipes ?? [[]] });
    this.handlers.set(name, handler);
    return this;
  }

  /** Declares a statistic of the module's group: a counter, or a gauge. */
  statistic(name, gauge = false) {
    this.statistics.push({ name, kind: gauge ? "gauge" : "counter" });
    return this;
  }

  /** Declares an event the module may raise. */
  event(name) {
    this.events.push(name);
    return this;
  }

  /** Registers the tick, called every `tick_ms` when granted `tick` (may be async). */
  tick(handler) {
    this.onTick = handler;
    return this;
  }

  /** The `module-api` export: `export const moduleApi = module.api();`. */
  api() {
    const module = this;
    return {
      describe() {
        return {
          name: module.name,
          version: module.version,
          commands: module.commands,
          events: module.events,
          statistics: module.statistics,
        };
      },
      async call(command, params) {
        const handler = module.handlers.get(command);
        if (!handler) throw witError(new MiError(-32601, "Method not found"));
        try {
          return JSON.stringify(await handler(JSON.parse(params)));
        } catch (error) {
          if (error instanceof MiError) throw witError(error);
          throw witError(new MiError(500, `${command} threw ${error?.name ?? "Error"}: ${error?.message ?? error}`));
        }
      },
      async tick() {
        if (!module.onTick) return;
        try {
          await module.onTick();
        } catch (error) {
          throw `${error?.name ?? "Error"}: ${error?.message ?? error}`;
        }
      },
    };
  }
}
