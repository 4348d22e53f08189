//! The simulated `tm` module of OpenSIPS 3.6: the transactions of the calls that ring, and
//! the requests an operator sends with `t_uac_dlg`. Its statistics are the SIP counters'
//! (`crate::sip`).
//!
//! Commands, with 3.6's recipes, checks, reply members and error texts (`modules/tm/tm.c`
//! `mi_cmds`; `modules/tm/mi.c`):
//! - `t_uac_dlg` (named parameters only: `method`, `ruri`, `headers`, and any of
//!   `next_hop`, `socket`, `body` in 3.6's eight recipes): the request goes to `next_hop`,
//!   else to the `ruri`, and the reply is its final one: `Status`, and for a real reply
//!   `Message` (its headers and body), with `RURI` and `Next-hop` after a 2xx; a request
//!   nobody answers times out with tm's local `408 Request Timeout`, `Status` only.
//! - `t_uac_cancel` (`[callid, cseq]`): cancels a ringing call's INVITE.
//! - `t_hash` (`[]`): tm's 65,536 hash entries with the INVITE transactions in each.
//! - `t_reply` (named only: `code`, `reason`, `trans_id`, `to_tag`, and `new_headers`,
//!   `body`): replies to a ringing call's INVITE, whose id is `hash_index:label`.

use crate::dialog::{DialogModule, Invite, TM_TABLE_ENTRIES};
use crate::sip::Sip;
use crate::{command, Raised};
use mi_core::host::ModuleCommand;
use mi_core::json::Value;
use mi_core::params::Params;
use mi_core::MiError;

/// The module's name.
pub const MODULE: &str = "tm";

/// The one listening socket.
const SOCKET: &str = "udp:127.0.0.1:5060";

/// The module's commands.
pub fn commands() -> Vec<ModuleCommand> {
    let uac: [&[&str]; 8] = [
        &["method", "ruri", "headers"],
        &["method", "ruri", "headers", "next_hop"],
        &["method", "ruri", "headers", "socket"],
        &["method", "ruri", "headers", "body"],
        &["method", "ruri", "headers", "next_hop", "socket"],
        &["method", "ruri", "headers", "next_hop", "body"],
        &["method", "ruri", "headers", "socket", "body"],
        &["method", "ruri", "headers", "next_hop", "socket", "body"],
    ];
    vec![
        command(MODULE, "t_uac_dlg", None, true, &uac),
        command(MODULE, "t_uac_cancel", None, false, &[&["callid", "cseq"]]),
        command(MODULE, "t_hash", None, false, &[&[]]),
        command(
            MODULE,
            "t_reply",
            None,
            true,
            &[
                &["code", "reason", "trans_id", "to_tag"],
                &["code", "reason", "trans_id", "to_tag", "new_headers"],
                &["code", "reason", "trans_id", "to_tag", "body"],
                &[
                    "code",
                    "reason",
                    "trans_id",
                    "to_tag",
                    "new_headers",
                    "body",
                ],
            ],
        ),
    ]
}

fn bad(code: i32, text: &str) -> MiError {
    MiError::new(code, text)
}

/// Where a request sent by `t_uac_dlg` went: its final reply, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A real reply: `code`, `reason`, and the Contact a 2xx gives.
    Reply {
        /// Its status code.
        code: u16,
        /// Its reason phrase.
        reason: &'static str,
        /// The answering side's Contact (2xx only).
        contact: Option<String>,
    },
    /// Nothing answered: tm's timer gives up with a local 408.
    Timeout,
}

/// A request `t_uac_dlg` accepted, its headers checked.
#[derive(Debug, Clone)]
pub struct Request {
    /// Its method.
    pub method: String,
    /// Where it goes: `next_hop`, else the R-URI.
    pub target: Uri,
    from: String,
    from_tag: Option<String>,
    to: String,
    callid: Option<String>,
    cseq: Option<u32>,
}

/// The parts of a SIP URI the simulated routing looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    /// The user part, if any.
    pub user: Option<String>,
    /// The host and port, as written.
    pub hostport: String,
}

/// `parse_uri`'s verdict, as far as the simulation needs it: `sip:`, `sips:` or `tel:`,
/// an optional user, a host.
fn parse_uri(text: &str) -> Option<Uri> {
    let lower = text.to_ascii_lowercase();
    let rest = ["sip:", "sips:", "tel:"]
        .iter()
        .find_map(|scheme| lower.strip_prefix(scheme).map(|_| &text[scheme.len()..]))?;
    let rest = rest.split([';', '?']).next().unwrap_or("");
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((user, host)) => (Some(user.to_string()), host),
        None => (None, rest),
    };
    let valid = |c: char| c.is_ascii_alphanumeric() || ".-:[]".contains(c);
    if hostport.is_empty() || !hostport.chars().all(valid) {
        return None;
    }
    Some(Uri {
        user,
        hostport: hostport.to_ascii_lowercase(),
    })
}

/// The URI of a From or To header's value: within `<…>`, else up to the parameters.
fn header_uri(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value.split(';').next().unwrap_or("").trim(),
    }
}

fn tag_of(value: &str) -> Option<String> {
    let after = match value.rfind('>') {
        Some(close) => &value[close..],
        None => value,
    };
    after
        .split(';')
        .skip(1)
        .find_map(|p| p.trim().strip_prefix("tag="))
        .map(str::to_string)
}

/// Checks `t_uac_dlg`'s parameters as 3.6 does, in its order.
pub fn request(params: &Params<'_>) -> Result<Request, MiError> {
    let method = params.string("method")?;
    let ruri = params.string("ruri")?;
    let ruri = parse_uri(&ruri).ok_or_else(|| bad(400, "Invalid ruri"))?;
    let next_hop = match params.has("next_hop") {
        true => {
            let hop = params.string("next_hop")?;
            Some(parse_uri(&hop).ok_or_else(|| bad(400, "Invalid next_hop"))?)
        }
        false => None,
    };
    if params.has("socket") {
        let socket = params.string("socket")?;
        if !socket.is_empty() && socket != SOCKET {
            return Err(bad(404, "Local socket not found"));
        }
    }
    let headers = params.string("headers")?.replace("\\r\\n", "\r\n");
    let body = match params.has("body") {
        true => params.string("body")?,
        false => String::new(),
    };
    let mut fields = Vec::new();
    for line in headers.split('\n').map(|l| l.trim_end_matches('\r')) {
        if line.is_empty() {
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad(400, "Bad headers"))?;
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() || name.contains(' ') {
            return Err(bad(400, "Bad headers"));
        }
        let name = match name.as_str() {
            "f" => "from".to_string(),
            "t" => "to".to_string(),
            "i" => "call-id".to_string(),
            "c" => "content-type".to_string(),
            "l" => "content-length".to_string(),
            _ => name,
        };
        fields.push((name, value.trim().to_string()));
    }
    let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    if !body.is_empty() && field("content-type").is_none() {
        return Err(bad(400, "Content-Type missing"));
    }
    if !body.is_empty() && field("content-length").is_some() {
        return Err(bad(400, "Content-Length disallowed"));
    }
    let to = field("to").ok_or_else(|| bad(400, "To missing"))?.clone();
    let from = field("from")
        .ok_or_else(|| bad(400, "From missing"))?
        .clone();
    if parse_uri(header_uri(&from)).is_none() {
        return Err(bad(400, "Error in From"));
    }
    let cseq = match field("cseq") {
        Some(value) => {
            let mut parts = value.split_whitespace();
            let number = parts.next().and_then(|n| n.parse::<u32>().ok());
            let number = number.ok_or_else(|| bad(400, "Bad CSeq number"))?;
            if parts.next() != Some(method.as_str()) {
                return Err(bad(400, "CSeq method mismatch"));
            }
            Some(number)
        }
        None => None,
    };
    Ok(Request {
        method,
        target: next_hop.unwrap_or(ruri),
        from_tag: tag_of(&from),
        from,
        to,
        callid: field("call-id").cloned(),
        cseq,
    })
}

/// The reply `t_uac_dlg` answers for `request` once its final reply is `answer`; the ids
/// the proxy makes up (Call-ID, tags, branch) come from `ids`.
pub fn uac_reply(request: &Request, answer: &Answer, ids: [u64; 3], sip: &mut Sip) -> Value {
    let (code, reason, contact) = match answer {
        Answer::Timeout => {
            sip.local_request(None);
            return Value::Object(vec![("Status".into(), Value::str("408 Request Timeout"))]);
        }
        Answer::Reply {
            code,
            reason,
            contact,
        } => (*code, *reason, contact),
    };
    sip.local_request(Some(code));
    let callid = request
        .callid
        .clone()
        .unwrap_or_else(|| format!("{:016x}@127.0.0.1", ids[0]));
    let from = match request.from_tag {
        Some(_) => request.from.clone(),
        None => format!("{};tag={:08x}", request.from, ids[1] as u32),
    };
    let to = match tag_of(&request.to) {
        Some(_) => request.to.clone(),
        None => format!("{};tag={:08x}", request.to, ids[2] as u32),
    };
    let mut message = format!(
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{:x}.0\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {callid}\r\nCSeq: {} {}\r\n",
        ids[0] as u32,
        request.cseq.unwrap_or(1),
        request.method,
    );
    if let Some(contact) = contact {
        message.push_str(&format!("Contact: <{contact}>\r\n"));
    }
    message.push_str("Content-Length: 0\r\n\r\n");
    let mut members = vec![(
        "Status".to_string(),
        Value::String(format!("{code} {reason}")),
    )];
    if let (200..=299, Some(contact)) = (code, contact) {
        members.push(("RURI".into(), Value::String(contact.clone())));
        members.push(("Next-hop".into(), Value::String(contact.clone())));
    }
    members.push(("Message".into(), Value::String(message)));
    Value::Object(members)
}

/// `t_uac_cancel`, `t_hash` and `t_reply`, on the ringing calls of `dialogs`.
pub fn call(
    command: &str,
    params: &Params<'_>,
    dialogs: &mut DialogModule,
    sip: &mut Sip,
    now: i64,
) -> Result<(Value, Vec<Raised>), MiError> {
    match command {
        "t_uac_cancel" => {
            let callid = params.string("callid")?;
            let cseq = params.string("cseq")?;
            let invite = dialogs
                .invites()
                .find(|i| i.callid == callid && i.cseq.to_string() == cseq.trim())
                .ok_or_else(|| bad(481, "No such transaction"))?;
            let raised = dialogs.fail_invite(invite.label);
            sip.local_request(Some(200));
            sip.invite_answered(487);
            Ok((Value::str("OK"), raised.into_iter().collect()))
        }
        "t_hash" => {
            let ringing: Vec<u32> = dialogs.invites().map(|i| i.hash_index).collect();
            let entries = (0..TM_TABLE_ENTRIES).map(|i| {
                let current = ringing.iter().filter(|&&h| h == i).count();
                Value::Object(vec![
                    ("index".into(), Value::num(i)),
                    ("Current".into(), Value::num(current as u32)),
                    ("Total".into(), Value::num(sip.entry_total(i) as f64)),
                ])
            });
            Ok((Value::Array(entries.collect()), Vec::new()))
        }
        "t_reply" => {
            let code = params.int("code")?;
            if code >= 700 {
                return Err(bad(400, "Invalid reply code"));
            }
            params.string("reason")?;
            let trans_id = params.string("trans_id")?;
            let (hash_index, label) = trans_id_of(&trans_id)?;
            params.string("to_tag")?;
            for name in ["new_headers", "body"] {
                if params.has(name) {
                    params.string(name)?;
                }
            }
            let invite: Invite = dialogs
                .invites()
                .find(|i| i.hash_index == hash_index && i.label == label)
                .ok_or_else(|| bad(404, "Transaction not found"))?;
            let code = u16::try_from(code).map_err(|_| bad(500, "Reply failed"))?;
            let raised = match code {
                0..=99 => return Err(bad(500, "Reply failed")),
                100..=199 => None,
                200..=299 => dialogs.answer_invite(invite.label, now),
                _ => dialogs.fail_invite(invite.label),
            };
            if code >= 200 {
                sip.local_reply(code);
            }
            Ok((Value::str("OK"), raised.into_iter().collect()))
        }
        _ => Err(MiError::method_not_found()),
    }
}

/// `hash_index:label` in decimal, or `label.hash_index` in reverse hexadecimal.
fn trans_id_of(text: &str) -> Result<(u32, u32), MiError> {
    if let Some((index, label)) = text.split_once(':') {
        let index = index
            .parse()
            .map_err(|_| bad(400, "Invalid index in old trans_id"))?;
        let label = label
            .parse()
            .map_err(|_| bad(400, "Invalid label in old trans_id"))?;
        return Ok((index, label));
    }
    let (label, index) = text
        .split_once('.')
        .ok_or_else(|| bad(400, "Invalid trans_id"))?;
    let label = reverse_hex(label).ok_or_else(|| bad(400, "Invalid label in trans_id"))?;
    let index = reverse_hex(index).ok_or_else(|| bad(400, "Invalid label in old trans_id"))?;
    Ok((index, label))
}

/// `reverse_hex2int`: hexadecimal, lowest digit first.
fn reverse_hex(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 8 {
        return None;
    }
    text.chars()
        .rev()
        .try_fold(0u32, |n, c| c.to_digit(16).map(|d| (n << 4) | d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Proxy;

    fn statistic(proxy: &Proxy, group: &str, name: &str) -> u64 {
        let all = proxy.statistics();
        let found = all.iter().find(|s| s.group == group && s.name == name);
        found.map(|s| s.value).unwrap()
    }

    #[test]
    fn calls_and_registrations_move_core_sl_tm_and_dialog_together() {
        let start = 1_800_000_000;
        let mut proxy = Proxy::new(9, start);
        let (mut calls, mut registers) = (0, 0);
        for second in 1..=900 {
            for (event, params) in proxy.advance_to(start + second) {
                let text = mi_core::host::notification(event, &params);
                calls += usize::from(text.contains(r#""old_state":1,"#));
                registers +=
                    usize::from(event == "E_UL_CONTACT_INSERT" || event == "E_UL_CONTACT_UPDATE");
            }
        }
        let get = |group: &str, name: &str| statistic(&proxy, group, name);
        let (byes, failed) = (
            get("dialog", "processed_dialogs"),
            get("dialog", "failed_dialogs"),
        );
        let (active, early) = (
            get("dialog", "active_dialogs"),
            get("dialog", "early_dialogs"),
        );
        assert!(
            calls > 20 && registers > 5,
            "{calls} calls, {registers} registrations"
        );
        assert_eq!(get("sl", "2xx_replies"), registers as u64);
        assert_eq!(get("tm", "UAS_transactions"), calls as u64 + byes);
        assert_eq!(calls as u64, byes + failed + active + early);
        assert_eq!(get("tm", "inuse_transactions"), early);
        let finals: u64 = ["2xx", "3xx", "4xx", "5xx", "6xx"]
            .iter()
            .map(|c| get("tm", &format!("{c}_transactions")))
            .sum();
        assert_eq!(finals, calls as u64 - early + byes);
        let acks = calls as u64 - early;
        assert_eq!(
            get("core", "rcv_requests"),
            registers as u64 + calls as u64 + acks + byes
        );
        assert_eq!(get("core", "timestamp"), 900);
        let (hash, _) = proxy.call("tm", "t_hash", "{}").unwrap();
        let totals: u64 = hash
            .split(r#""Total":"#)
            .skip(1)
            .map(|t| t.split('}').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(totals, calls as u64);
        assert_eq!(hash.matches(r#""index":"#).count(), 65_536);
    }

    #[test]
    fn t_uac_dlg_reaches_phones_gateways_or_nobody() {
        let mut proxy = Proxy::new(9, 1_800_000_000);
        proxy.advance_to(1_800_000_600);
        let aor = proxy
            .usrloc
            .aors()
            .into_iter()
            .next()
            .expect("someone registered");
        let contact = proxy.usrloc.contact_of(&aor).unwrap().to_string();
        let options = |ruri: &str| {
            format!(
                r#"{{"method":"OPTIONS","ruri":"{ruri}","headers":"From: <sip:ops@example.com>\r\nTo: <{ruri}>\r\nCSeq: 7 OPTIONS\r\n"}}"#
            )
        };
        let before = statistic(&proxy, "tm", "UAC_transactions");
        let (reply, _) = proxy
            .call(
                "tm",
                "t_uac_dlg",
                &options(&format!("sip:{aor}@example.com")),
            )
            .unwrap();
        assert!(
            reply.starts_with(&format!(
                r#"{{"Status":"200 OK","RURI":"{contact}","Next-hop":"{contact}","Message":"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK"#
            )),
            "{reply}"
        );
        assert!(reply.contains(r#"CSeq: 7 OPTIONS\r\n"#), "{reply}");
        assert_eq!(statistic(&proxy, "tm", "UAC_transactions"), before + 1);
        let (missing, _) = proxy
            .call("tm", "t_uac_dlg", &options("sip:nobody@example.com"))
            .unwrap();
        assert!(
            missing.starts_with(r#"{"Status":"404 Not Found","Message":"#),
            "{missing}"
        );
        let (gateway, _) = proxy
            .call("tm", "t_uac_dlg", &options("sip:10.0.3.1:5060"))
            .unwrap();
        assert!(gateway.starts_with(r#"{"Status":"200 OK","RURI":"sip:10.0.3.1:5060""#));
        let (silent, _) = proxy
            .call("tm", "t_uac_dlg", &options("sip:198.51.100.7"))
            .unwrap();
        assert_eq!(silent, r#"{"Status":"408 Request Timeout"}"#);
        let error = |params: &str| {
            let e = Proxy::new(9, 0)
                .call("tm", "t_uac_dlg", params)
                .unwrap_err();
            (e.code, e.message)
        };
        let call = |ruri: &str, headers: &str| {
            format!(r#"{{"method":"OPTIONS","ruri":"{ruri}","headers":"{headers}"}}"#)
        };
        assert_eq!(error(&call("mailto:x", "")), (400, "Invalid ruri".into()));
        assert_eq!(
            error(&call("sip:a@b", "nonsense")),
            (400, "Bad headers".into())
        );
        assert_eq!(
            error(&call("sip:a@b", "From: <sip:a@b>")),
            (400, "To missing".into())
        );
        assert_eq!(
            error(&call("sip:a@b", "To: <sip:a@b>")),
            (400, "From missing".into())
        );
        assert_eq!(
            error(&call(
                "sip:a@b",
                "To: <sip:a@b>\r\nFrom: <sip:a@b>\r\nCSeq: 1 INVITE"
            )),
            (400, "CSeq method mismatch".into())
        );
        assert_eq!(
            error(r#"{"method":"OPTIONS","ruri":"sip:a@b","headers":"","socket":"tcp:1.2.3.4:5"}"#),
            (404, "Local socket not found".into())
        );
    }

    #[test]
    fn a_ringing_call_can_be_cancelled_or_answered_by_its_transaction() {
        let mut proxy = Proxy::new(9, 1_800_000_000);
        let mut second = 0;
        let invite = loop {
            second += 1;
            proxy.advance_to(1_800_000_000 + second);
            if let Some(invite) = proxy.dialog.invites().next() {
                break invite;
            }
        };
        let cancel = format!(
            r#"{{"callid":"{}","cseq":"{}"}}"#,
            invite.callid, invite.cseq
        );
        let (ok, raised) = proxy.call("tm", "t_uac_cancel", &cancel).unwrap();
        assert_eq!((ok.as_str(), raised.len()), (r#""OK""#, 1));
        let gone = proxy.call("tm", "t_uac_cancel", &cancel).unwrap_err();
        assert_eq!(
            (gone.code, gone.message.as_str()),
            (481, "No such transaction")
        );
        let reply = |id: &str, code: u32| {
            format!(r#"{{"code":{code},"reason":"OK","trans_id":"{id}","to_tag":"t1"}}"#)
        };
        let missing = proxy.call("tm", "t_reply", &reply("1:1", 200)).unwrap_err();
        assert_eq!(
            (missing.code, missing.message.as_str()),
            (404, "Transaction not found")
        );
        let high = proxy.call("tm", "t_reply", &reply("1:1", 700)).unwrap_err();
        assert_eq!(high.message, "Invalid reply code");
        let next = loop {
            second += 1;
            proxy.advance_to(1_800_000_000 + second);
            if let Some(invite) = proxy.dialog.invites().next() {
                break invite;
            }
        };
        let id = format!("{}:{}", next.hash_index, next.label);
        let before = statistic(&proxy, "tm", "local_replies");
        proxy.call("tm", "t_reply", &reply(&id, 200)).unwrap();
        assert_eq!(statistic(&proxy, "tm", "local_replies"), before + 1);
        assert!(proxy.dialog.invites().all(|i| i.label != next.label));
    }

    #[test]
    fn uris_and_trans_ids_parse_as_3_6_s() {
        assert_eq!(
            parse_uri("sip:alice@example.com;transport=udp"),
            Some(Uri {
                user: Some("alice".into()),
                hostport: "example.com".into()
            })
        );
        assert_eq!(parse_uri("http://x"), None);
        assert_eq!(parse_uri("sip:"), None);
        assert_eq!(trans_id_of("12:34"), Ok((12, 34)));
        assert_eq!(trans_id_of("a1.3"), Ok((3, 0x1a)));
        assert_eq!(
            trans_id_of("x:1").unwrap_err().message,
            "Invalid index in old trans_id"
        );
        assert_eq!(trans_id_of("12").unwrap_err().message, "Invalid trans_id");
        assert_eq!(tag_of("<sip:a@b>;tag=xy"), Some("xy".into()));
        assert_eq!(tag_of("sip:a@b"), None);
    }
}
