// The same MI call written for every transport and client, from a parsed JSON-RPC request.

const HTTP = "http://127.0.0.1:8888";

// Commands whose parameter at `index` (positional) or `name` (named) is an array that
// opensips-cli and `miwa call` build from the remaining arguments (spec: clients.md 4.3).
const ARRAY_PARAMS = {
  get_statistics: [0, "statistics"],
  list_statistics: [0, "statistics"],
  reset_statistics: [0, "statistics"],
  raise_event: [1, "params"],
};

export function shellQuote(text) {
  return /^[A-Za-z0-9_.:\/=@%+,-]+$/.test(text) ? text : "'" + text.replace(/'/g, "'\\''") + "'";
}

const scalar = (v) => typeof v === "string" || (typeof v === "number" && Number.isFinite(v));

// Arguments of `opensips-cli -x mi` / `miwa call`, or null when the rules cannot express them.
export function cliArgs(method, params) {
  const array = ARRAY_PARAMS[method];
  if (params === undefined || (Array.isArray(params) && params.length === 0)) return { json: false, args: [] };
  if (!Array.isArray(params) && typeof params === "object" && params !== null) {
    const args = [];
    for (const [name, value] of Object.entries(params)) {
      if (!/^[a-zA-Z._-]+$/.test(name)) return null;
      if (scalar(value)) args.push(`${name}=${value}`);
      else if (Array.isArray(value) && array && array[1] === name && value.every((v) => typeof v === "string" && !/\s/.test(v)))
        args.push(`${name}=${value.join(" ")}`);
      else return null;
    }
    return { json: false, args };
  }
  if (!Array.isArray(params)) return null;
  const last = params.length - 1;
  if (array && array[0] === last && Array.isArray(params[last]) && params.slice(0, last).every((v) => typeof v === "string")
      && params[last].every((v) => typeof v === "string")) {
    return { json: false, args: [...params.slice(0, last), ...params[last]] };
  }
  if (params.every((v) => typeof v === "string") && !params.some((v) => /^[a-zA-Z._-]+=/.test(v))) {
    return { json: false, args: params };
  }
  return { json: true, args: params.map((v) => (typeof v === "string" ? v : JSON.stringify(v))) };
}

function xmlValue(value) {
  if (typeof value === "string") {
    if (value === "") return null;
    const escaped = value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    return `<value><string>${escaped}</string></value>`;
  }
  if (Number.isInteger(value) && value >= -2147483648 && value <= 2147483647) return `<value><int>${value}</int></value>`;
  if (Array.isArray(value)) {
    const items = value.map(xmlValue);
    return items.includes(null) ? null : `<value><array><data>${items.join("")}</data></array></value>`;
  }
  return null;
}

// The XML-RPC body, or null for values XML-RPC cannot carry to OpenSIPS.
export function xmlrpcBody(method, params) {
  let inner = "";
  if (Array.isArray(params)) {
    const values = params.map(xmlValue);
    if (values.includes(null)) return null;
    inner = values.map((v) => `<param>${v}</param>`).join("");
  } else if (params && typeof params === "object") {
    const members = Object.entries(params).map(([name, value]) => {
      const v = xmlValue(value);
      return v && `<member><name>${name}</name>${v}</member>`;
    });
    if (members.includes(null) || members.length === 0) return null;
    inner = `<param><value><struct>${members.join("")}</struct></value></param>`;
  }
  return `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${inner}</params></methodCall>`;
}

function scriptLine(method, params) {
  if (params === undefined || (Array.isArray(params) && params.length === 0)) return method;
  if (Array.isArray(params)) {
    return params.every(scalar) ? [method, ...params.map(String)].join(" ") : null;
  }
  const parts = [method];
  for (const [name, value] of Object.entries(params)) {
    if (scalar(value) && !/\s/.test(String(value))) parts.push(`${name}=${value}`);
    else if (Array.isArray(value) && value.every((v) => scalar(v) && !/\s/.test(String(v))))
      parts.push(`${name}=__array(${value.join(" ")})`);
    else return null;
  }
  return parts.join(" ");
}

// Every form of the call: [{label, text, note?}]. `request` is the parsed request object,
// `body` its compact text, `module` the command's owner (for the /html URL).
export function equivalents(request, body, module) {
  const { method, params } = request;
  const out = [];
  out.push({ label: "curl (JSON-RPC over HTTP)", text: `curl -s -H 'Content-Type: application/json' -d ${shellQuote(body)} ${HTTP}/mi` });
  const cli = typeof method === "string" ? cliArgs(method, params) : null;
  if (cli) {
    const args = cli.args.map(shellQuote).join(" ");
    const j = cli.json ? "-- mi -j" : "mi";
    out.push({ label: "opensips-cli", text: `opensips-cli -x ${j} ${method}${args ? " " + args : ""}` });
    out.push({ label: "miwa call", text: `miwa call${cli.json ? " -j" : ""} ${method}${args ? " " + args : ""}` });
  } else {
    out.push({ label: "opensips-cli", text: "", note: "These parameter values cannot be written as opensips-cli arguments." });
  }
  out.push({
    label: "FIFO (mi_fifo)",
    text: `mkfifo -m 666 /tmp/miwa_reply; cat /tmp/miwa_reply & printf ':miwa_reply:%s' ${shellQuote(body)} > /tmp/opensips_fifo; wait; rm /tmp/miwa_reply`,
  });
  out.push({ label: "UDP datagram (mi_datagram)", text: `printf '%s' ${shellQuote(body)} | socat -t1 - UDP:127.0.0.1:8080` });
  const xml = typeof method === "string" ? xmlrpcBody(method, params) : null;
  out.push(xml
    ? { label: "XML-RPC (mi_xmlrpc_ng)", text: `curl -s -H 'Content-Type: text/xml' -d ${shellQuote(xml)} ${HTTP}/RPC2` }
    : { label: "XML-RPC (mi_xmlrpc_ng)", text: "", note: "XML-RPC carries only non-empty strings, 32-bit integers and arrays of them." });
  if (typeof method === "string" && module) {
    const arg = params === undefined ? "" : JSON.stringify(params);
    out.push({ label: "HTML interface (mi_html)", text: `${HTTP}/html/${encodeURIComponent(module)}/${encodeURIComponent(method)}?arg=${encodeURIComponent(arg)}` });
  }
  const line = typeof method === "string" ? scriptLine(method, params) : null;
  out.push(line
    ? { label: "miwa script (mi_script line)", text: `echo ${shellQuote(line)} | miwa script` }
    : { label: "miwa script (mi_script line)", text: "", note: "mi_script lines carry strings (and __array(...) for named arrays) only." });
  return out;
}
