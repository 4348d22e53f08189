//! The simulated `dialog` module of OpenSIPS 3.6: calls from the registered users to the
//! PSTN. A call rings (early), then is answered (confirmed) or fails, and is hung up
//! after a while or ended with `dlg_end_dlg`. Each caller is counted in the dialog
//! profile `caller`.
//!
//! Commands, with 3.6's recipes, reply members and error texts (`modules/dialog/dialog.c`
//! `mi_cmds`; `dlg_hash.c` `internal_mi_print_dlg`, `internal_mi_print_dlgs`,
//! `mi_match_print_dlg`; `dlg_req_within.c` `mi_terminate_dlg`; `dlg_profile.c`
//! `mi_get_profile`):
//! - `dlg_list` (named parameters only: `{}`, `{callid}`, `{callid, from_tag}`,
//!   `{index, counter}`);
//! - `dlg_end_dlg` (`[dialog_id]`, `[dialog_id, extra_hdrs]`);
//! - `profile_get_size` (`[profile]`, `[profile, value]`).
//!
//! Statistics (group `dialog`): `active_dialogs`, `early_dialogs`, `processed_dialogs`,
//! `expired_dialogs`, `failed_dialogs`. Event: `E_DLG_STATE_CHANGED` (`id`, `db_id`,
//! `callid`, `from_tag`, `to_tag`, `old_state`, `new_state`). Dates are UTC: the simulated
//! node runs in UTC.

use crate::random::Rng;
use crate::sip::Sip;
use crate::{command, Raised};
use mi_core::host::{EventParams, EventValue, ModuleCommand, Statistic};
use mi_core::json::Value;
use mi_core::params::Params;
use mi_core::MiError;

/// The module's name.
pub const MODULE: &str = "dialog";

/// The event a state change raises.
pub const EVENT: &str = "E_DLG_STATE_CHANGED";

/// The one dialog profile (with values: the caller's AOR).
const PROFILE: &str = "caller";

/// `MI_DIALOG_NOT_FOUND`.
const NOT_FOUND: &str = "Requested Dialog not found";

/// `DLG_STATE_EARLY`, `DLG_STATE_CONFIRMED`, `DLG_STATE_DELETED`.
const EARLY: u32 = 2;
const CONFIRMED: u32 = 4;
const DELETED: u32 = 5;

/// The socket calls come in on.
const SOCKET: &str = "udp:127.0.0.1:5060";

/// The dialog hash table's size (`hash_size` default 4096).
const HASH_SIZE: u32 = 4096;

#[derive(Debug, Clone)]
struct Dialog {
    h_entry: u32,
    h_id: u32,
    state: u32,
    start: i64,
    ends: i64,
    answer_at: i64,
    /// The final reply a call that fails gets (0: it is answered).
    fails_with: u16,
    callid: String,
    caller: String,
    callee: String,
    from_tag: String,
    to_tag: String,
    caller_contact: String,
    cseq: u32,
}

impl Dialog {
    /// `dlg_get_did`: the entry and id in reverse hexadecimal, joined by `.`.
    fn did(&self) -> String {
        format!("{}.{}", reverse_hex(self.h_entry), reverse_hex(self.h_id))
    }

    /// `db_id`: the entry in the high 32 bits, the id in the low ones.
    fn db_id(&self) -> u64 {
        (u64::from(self.h_entry) << 32) + u64::from(self.h_id)
    }
}

/// Final replies of the calls that fail, in the odds they come.
const FAILURES: [u16; 6] = [486, 486, 480, 404, 503, 603];

/// `TM_TABLE_ENTRIES`: tm's transaction hash table has 2¹⁶ entries.
pub const TM_TABLE_ENTRIES: u32 = 1 << 16;

/// An INVITE transaction still waiting for its final reply, as tm knows it.
#[derive(Debug, Clone)]
pub struct Invite {
    /// Its Call-ID.
    pub callid: String,
    /// Its CSeq number.
    pub cseq: u32,
    /// Its entry in tm's hash table.
    pub hash_index: u32,
    /// Its label within the entry.
    pub label: u32,
}

/// `int2reverse_hex`: lowest digit first.
fn reverse_hex(mut n: u32) -> String {
    let mut out = String::new();
    loop {
        out.push(char::from_digit(n % 16, 16).unwrap_or('0'));
        n /= 16;
        if n == 0 {
            return out;
        }
    }
}

/// The module's state.
#[derive(Debug, Default)]
pub struct DialogModule {
    dialogs: Vec<Dialog>,
    next_id: u32,
    processed: u64,
    expired: u64,
    failed: u64,
}

/// The module's commands.
pub fn commands() -> Vec<ModuleCommand> {
    vec![
        command(
            MODULE,
            "dlg_list",
            None,
            true,
            &[
                &[],
                &["callid"],
                &["callid", "from_tag"],
                &["index", "counter"],
            ],
        ),
        command(
            MODULE,
            "dlg_end_dlg",
            None,
            false,
            &[&["dialog_id"], &["dialog_id", "extra_hdrs"]],
        ),
        command(
            MODULE,
            "profile_get_size",
            None,
            false,
            &[&["profile"], &["profile", "value"]],
        ),
    ]
}

fn state_event(dialog: &Dialog, old: u32, new: u32) -> Raised {
    let text = |value: &str| EventValue::Text(value.to_string());
    (
        EVENT,
        EventParams::Named(vec![
            ("id".into(), text(&dialog.did())),
            ("db_id".into(), text(&dialog.db_id().to_string())),
            ("callid".into(), text(&dialog.callid)),
            ("from_tag".into(), text(&dialog.from_tag)),
            ("to_tag".into(), text(&dialog.to_tag)),
            ("old_state".into(), EventValue::Int(old as i32)),
            ("new_state".into(), EventValue::Int(new as i32)),
        ]),
    )
}

/// The entry of an INVITE transaction in tm's hash table, from its Call-ID and CSeq number
/// (FNV-1a, where tm uses its own string hash: the entries differ from a real node's, the
/// spread is alike).
fn tm_hash(callid: &str, cseq: u32) -> u32 {
    let bytes = callid.bytes().chain(cseq.to_string().into_bytes());
    let hash = bytes.fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash % TM_TABLE_ENTRIES
}

/// `%Y-%m-%d %H:%M:%S` of Unix time `secs`, UTC.
fn date(secs: i64) -> String {
    let ctime = mi_core::time::ctime(secs, 0);
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| ctime[4..7] == **m)
    .map_or(1, |i| i + 1);
    let day = ctime[8..10].trim();
    format!("{}-{month:02}-{:0>2} {}", &ctime[20..], day, &ctime[11..19])
}

impl DialogModule {
    /// No call yet.
    pub fn new() -> DialogModule {
        DialogModule::default()
    }

    /// One simulated second: a registered user not already on a call may call the PSTN; ringing calls are
    /// answered or fail; answered calls past their length hang up.
    pub fn tick(
        &mut self,
        rng: &mut Rng,
        now: i64,
        registered: &[String],
        sip: &mut Sip,
    ) -> Vec<Raised> {
        let mut raised = Vec::new();
        let idle: Vec<&String> = registered
            .iter()
            .filter(|user| self.dialogs.iter().all(|d| &d.caller != *user))
            .collect();
        if !idle.is_empty() && rng.range(0, 5) == 0 {
            let caller = idle[rng.range(0, idle.len() as u64 - 1) as usize].clone();
            self.next_id += 1;
            let dialog = Dialog {
                h_entry: rng.range(0, u64::from(HASH_SIZE) - 1) as u32,
                h_id: self.next_id,
                state: EARLY,
                start: 0,
                ends: 0,
                answer_at: now + rng.range(1, 4) as i64,
                fails_with: match rng.range(0, 3) {
                    0 => FAILURES[rng.range(0, FAILURES.len() as u64 - 1) as usize],
                    _ => 0,
                },
                callid: format!("{:016x}-{}", rng.next_u64(), self.next_id),
                callee: format!("sip:+1555{:07}@pstn.example.com", rng.range(0, 9_999_999)),
                from_tag: format!("{:08x}", rng.next_u64() as u32),
                to_tag: format!("{:08x}", rng.next_u64() as u32),
                caller_contact: format!("sip:{caller}@192.0.2.99:5060"),
                caller: caller.clone(),
                cseq: rng.range(1, 200) as u32,
            };
            raised.push(state_event(&dialog, 1, EARLY));
            sip.invite(tm_hash(&dialog.callid, dialog.cseq));
            self.dialogs.push(dialog);
        }
        for dialog in &mut self.dialogs {
            if dialog.state == EARLY && now >= dialog.answer_at {
                if dialog.fails_with != 0 {
                    raised.push(state_event(dialog, EARLY, DELETED));
                    sip.invite_answered(dialog.fails_with);
                    dialog.state = DELETED;
                    self.failed += 1;
                } else {
                    raised.push(state_event(dialog, EARLY, CONFIRMED));
                    sip.invite_answered(200);
                    dialog.state = CONFIRMED;
                    dialog.start = now;
                    dialog.ends = now + rng.range(20, 240) as i64;
                }
            } else if dialog.state == CONFIRMED && now >= dialog.ends {
                raised.push(state_event(dialog, CONFIRMED, DELETED));
                sip.bye();
                dialog.state = DELETED;
                self.processed += 1;
            }
        }
        self.dialogs.retain(|d| d.state != DELETED);
        raised
    }

    /// The INVITE transactions of the calls still ringing.
    pub fn invites(&self) -> impl Iterator<Item = Invite> + '_ {
        self.dialogs
            .iter()
            .filter(|d| d.state == EARLY)
            .map(|d| Invite {
                callid: d.callid.clone(),
                cseq: d.cseq,
                hash_index: tm_hash(&d.callid, d.cseq),
                label: d.h_id,
            })
    }

    /// Ends the ringing call of INVITE transaction `label` with a failure tm sent (a
    /// CANCEL's 487, a `t_reply`): the event it raises, or `None` if no call rings with
    /// that label.
    pub fn fail_invite(&mut self, label: u32) -> Option<Raised> {
        let at = self
            .dialogs
            .iter()
            .position(|d| d.state == EARLY && d.h_id == label)?;
        let dialog = self.dialogs.remove(at);
        self.failed += 1;
        Some(state_event(&dialog, EARLY, DELETED))
    }

    /// Answers the ringing call of INVITE transaction `label` with a 2xx tm sent
    /// (`t_reply`) at `now`: the event it raises, or `None` if no call rings with that
    /// label. The call then lasts a minute.
    pub fn answer_invite(&mut self, label: u32, now: i64) -> Option<Raised> {
        let dialog = self
            .dialogs
            .iter_mut()
            .find(|d| d.state == EARLY && d.h_id == label)?;
        dialog.state = CONFIRMED;
        dialog.start = now;
        dialog.ends = now + 60;
        Some(state_event(dialog, EARLY, CONFIRMED))
    }

    /// Ends the first call `matching`, as `dlg_end_dlg` does: BYEs to both sides of an
    /// answered one, a CANCEL for one still ringing. The event it raises, or `None` if no
    /// call matches.
    fn terminate(&mut self, matching: impl Fn(&Dialog) -> bool, sip: &mut Sip) -> Option<Raised> {
        let at = self.dialogs.iter().position(matching)?;
        let dialog = self.dialogs.remove(at);
        if dialog.state == CONFIRMED {
            self.processed += 1;
            sip.local_request(Some(200));
            sip.local_request(Some(200));
        } else {
            self.failed += 1;
            sip.local_request(Some(200));
        }
        Some(state_event(&dialog, dialog.state, DELETED))
    }

    /// Ends the call with Call-ID `callid` (rtpengine's `teardown`, through the dialog
    /// API): the event it raises, or `None` if no call has it.
    pub fn terminate_callid(&mut self, callid: &str, sip: &mut Sip) -> Option<Raised> {
        self.terminate(|d| d.callid == callid, sip)
    }

    /// The ids of the ongoing calls, ringing or answered.
    pub fn ongoing(&self) -> Vec<u32> {
        self.dialogs.iter().map(|d| d.h_id).collect()
    }

    /// Group `dialog`.
    pub fn statistics(&self) -> Vec<Statistic> {
        let count = |state| self.dialogs.iter().filter(|d| d.state == state).count() as u64;
        vec![
            Statistic::new(MODULE, "active_dialogs", count(CONFIRMED), false),
            Statistic::new(MODULE, "early_dialogs", count(EARLY), false),
            Statistic::new(MODULE, "processed_dialogs", self.processed, true),
            Statistic::new(MODULE, "expired_dialogs", self.expired, true),
            Statistic::new(MODULE, "failed_dialogs", self.failed, true),
        ]
    }

    /// Resets one of the counters; false if `name` is none.
    pub fn reset_statistic(&mut self, name: &str) -> bool {
        let counter = match name {
            "processed_dialogs" => &mut self.processed,
            "expired_dialogs" => &mut self.expired,
            "failed_dialogs" => &mut self.failed,
            _ => return false,
        };
        *counter = 0;
        true
    }

    /// Resets every counter.
    pub fn reset_all_statistics(&mut self) {
        for name in ["processed_dialogs", "expired_dialogs", "failed_dialogs"] {
            self.reset_statistic(name);
        }
    }

    /// Runs `command` with its parameters bound by name at `now`.
    pub fn call(
        &mut self,
        command: &str,
        params: &Params<'_>,
        now: i64,
        sip: &mut Sip,
    ) -> Result<(Value, Vec<Raised>), MiError> {
        match command {
            "dlg_list" if params.has("index") => {
                let index = params.int("index")?.max(0) as usize;
                let counter = params.int("counter")?.max(0) as usize;
                let dialogs = self.dialogs.iter().skip(index).take(counter);
                let dialogs = dialogs.map(|d| self.item(d, now)).collect();
                Ok((
                    Value::Object(vec![
                        ("count".into(), Value::num(self.dialogs.len() as f64)),
                        ("Dialogs".into(), Value::Array(dialogs)),
                    ]),
                    Vec::new(),
                ))
            }
            "dlg_list" if params.has("callid") => {
                let callid = params.string("callid")?;
                let from_tag = match params.has("from_tag") {
                    true => Some(params.string("from_tag")?),
                    false => None,
                };
                let found = self.dialogs.iter().find(|d| {
                    d.callid == callid && from_tag.as_ref().is_none_or(|t| *t == d.from_tag)
                });
                let dialog = found.ok_or_else(|| MiError::new(404, "No such dialog"))?;
                Ok((
                    Value::Object(vec![("Dialog".into(), self.item(dialog, now))]),
                    Vec::new(),
                ))
            }
            "dlg_list" => {
                let dialogs = self.dialogs.iter().map(|d| self.item(d, now)).collect();
                Ok((
                    Value::Object(vec![("Dialogs".into(), Value::Array(dialogs))]),
                    Vec::new(),
                ))
            }
            "dlg_end_dlg" => {
                let id = params.string("dialog_id")?;
                if params.has("extra_hdrs") {
                    params.string("extra_hdrs")?;
                }
                let raised = self
                    .terminate(
                        |d| d.did() == id || d.db_id().to_string() == id || d.callid == id,
                        sip,
                    )
                    .ok_or_else(|| MiError::new(404, NOT_FOUND))?;
                Ok((Value::str("OK"), vec![raised]))
            }
            "profile_get_size" => {
                if params.string("profile")? != PROFILE {
                    return Err(MiError::new(404, "Profile not found"));
                }
                let value = match params.has("value") {
                    true => Some(params.string("value")?),
                    false => None,
                };
                let count = self
                    .dialogs
                    .iter()
                    .filter(|d| value.as_ref().is_none_or(|v| *v == d.caller))
                    .count();
                let profile = Value::Object(vec![
                    ("name".into(), Value::str(PROFILE)),
                    ("value".into(), value.map_or(Value::Null, Value::String)),
                    ("count".into(), Value::num(count as f64)),
                    ("shared".into(), Value::str("no")),
                    ("replicated".into(), Value::str("no")),
                ]);
                Ok((Value::Object(vec![("Profile".into(), profile)]), Vec::new()))
            }
            _ => Err(MiError::method_not_found()),
        }
    }

    /// One dialog as `internal_mi_print_dlg` prints it (without context).
    fn item(&self, d: &Dialog, now: i64) -> Value {
        let mut members = vec![
            ("ID".to_string(), Value::String(d.did())),
            ("db_id".into(), Value::String(d.db_id().to_string())),
            ("state".into(), Value::num(d.state)),
            ("user_flags".into(), Value::str("")),
            ("timestart".into(), Value::num(d.start as f64)),
        ];
        if d.start != 0 {
            members.push(("datestart".into(), Value::String(date(d.start))));
        }
        let timeout = if d.state == CONFIRMED {
            d.ends.max(now)
        } else {
            0
        };
        members.push(("timeout".into(), Value::num(timeout as f64)));
        if timeout != 0 {
            members.push(("dateout".into(), Value::String(date(timeout))));
        }
        members.extend([
            ("callid".to_string(), Value::String(d.callid.clone())),
            (
                "from_uri".into(),
                Value::String(format!("sip:{}@example.com", d.caller)),
            ),
            ("to_uri".into(), Value::String(d.callee.clone())),
            ("caller_tag".into(), Value::String(d.from_tag.clone())),
            (
                "caller_contact".into(),
                Value::String(d.caller_contact.clone()),
            ),
            ("callee_cseq".into(), Value::str("0")),
            ("caller_route_set".into(), Value::str("")),
            ("caller_bind_addr".into(), Value::str(SOCKET)),
        ]);
        let callees = if d.state == CONFIRMED {
            vec![Value::Object(vec![
                ("callee_tag".into(), Value::String(d.to_tag.clone())),
                ("callee_contact".into(), Value::str("sip:10.0.2.21:5060")),
                ("caller_cseq".into(), Value::String(d.cseq.to_string())),
                ("callee_route_set".into(), Value::str("")),
                ("callee_bind_addr".into(), Value::str(SOCKET)),
            ])]
        } else {
            Vec::new()
        };
        members.push(("CALLEES".into(), Value::Array(callees)));
        Value::Object(members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_dates_are_opensips_s() {
        assert_eq!(reverse_hex(0x1a3), "3a1");
        assert_eq!(reverse_hex(0), "0");
        assert_eq!(date(1_800_000_000), "2027-01-15 08:00:00");
    }
}
