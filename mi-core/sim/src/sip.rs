//! The simulated proxy's SIP counters: OpenSIPS 3.6's `core:` message statistics, the
//! `sl` module's reply statistics and the `tm` module's transaction statistics, moved
//! together by what the modules do. A registration is one REGISTER answered statelessly;
//! a call is an INVITE transaction proxied (provisional and final replies relayed, the ACK
//! of a 2xx forwarded, that of a failure absorbed) and a BYE transaction at its end; a
//! request the proxy sends itself (`t_uac_dlg`, `dlg_end_dlg`'s BYEs) is a local UAC
//! transaction. Only one thing never happens here: bad messages, so the error and drop
//! counters stay at zero.
//!
//! Names and order are 3.6's (`core_stats.c`, `modules/sl/sl.c` `mod_stats`,
//! `modules/tm/tm.c` `mod_stats`, as a 3.6.8 node lists them).

use mi_core::host::Statistic;
use std::collections::BTreeMap;

/// The `core:` message counters in 3.6's order (`timestamp` follows them).
const CORE: [&str; 11] = [
    "rcv_requests",
    "rcv_replies",
    "fwd_requests",
    "fwd_replies",
    "drop_requests",
    "drop_replies",
    "err_requests",
    "err_replies",
    "bad_URIs_rcvd",
    "bad_msg_hdr",
    "slow_messages",
];

/// The `sl:` counters in 3.6's order.
const SL: [&str; 9] = [
    "1xx_replies",
    "2xx_replies",
    "3xx_replies",
    "4xx_replies",
    "5xx_replies",
    "6xx_replies",
    "sent_replies",
    "sent_err_replies",
    "received_ACKs",
];

/// The `tm:` counters in 3.6's order; `inuse_transactions` (not resettable) is the 12th.
const TM: [&str; 24] = [
    "received_replies",
    "relayed_replies",
    "local_replies",
    "UAS_transactions",
    "UAC_transactions",
    "2xx_transactions",
    "3xx_transactions",
    "4xx_transactions",
    "5xx_transactions",
    "6xx_transactions",
    "inuse_transactions",
    "cluster_reply_sent",
    "cluster_request_sent",
    "cluster_cancel_sent",
    "cluster_reply_recv",
    "cluster_request_recv",
    "cluster_cancel_recv",
    "retransmission_req_T1_1",
    "retransmission_req_T1_2",
    "retransmission_req_T1_3",
    "retransmission_req_T2",
    "retransmission_rpl_T2",
    "timeout_finalresponse",
    "timeout_finalresponse_inv",
];

/// Index of `inuse_transactions` in [`TM`]: a level, computed, never stored.
const INUSE: usize = 10;

/// The counters.
#[derive(Debug, Clone)]
pub struct Sip {
    core: [u64; CORE.len()],
    sl: [u64; SL.len()],
    tm: [u64; TM.len()],
    /// INVITE transactions ever created, per entry of tm's hash table.
    entries: BTreeMap<u32, u64>,
    started: i64,
}

fn at<const N: usize>(names: &[&str; N], name: &str) -> usize {
    names
        .iter()
        .position(|n| *n == name)
        .expect("a known counter")
}

impl Sip {
    /// Nothing counted yet; `timestamp` counts from `started`.
    pub fn new(started: i64) -> Sip {
        Sip {
            core: [0; CORE.len()],
            sl: [0; SL.len()],
            tm: [0; TM.len()],
            entries: BTreeMap::new(),
            started,
        }
    }

    fn core(&mut self, name: &str, by: u64) {
        self.core[at(&CORE, name)] += by;
    }

    fn tm(&mut self, name: &str, by: u64) {
        self.tm[at(&TM, name)] += by;
    }

    /// `2xx_transactions` … `6xx_transactions` for a final reply `code`.
    fn final_class(&mut self, code: u16) {
        if (200..700).contains(&code) {
            self.tm[at(&TM, "2xx_transactions") + usize::from(code / 100 - 2)] += 1;
        }
    }

    /// A REGISTER received and answered `200 OK` statelessly by the registrar.
    pub fn register(&mut self) {
        self.core("rcv_requests", 1);
        self.sl[at(&SL, "2xx_replies")] += 1;
        self.sl[at(&SL, "sent_replies")] += 1;
    }

    /// An INVITE received (its transaction in entry `hash_index` of tm's table),
    /// forwarded on one branch, and its `180 Ringing` relayed.
    pub fn invite(&mut self, hash_index: u32) {
        *self.entries.entry(hash_index).or_default() += 1;
        self.core("rcv_requests", 1);
        self.core("fwd_requests", 1);
        self.tm("UAS_transactions", 1);
        self.tm("UAC_transactions", 1);
        self.relayed_reply();
    }

    fn relayed_reply(&mut self) {
        self.core("rcv_replies", 1);
        self.core("fwd_replies", 1);
        self.tm("received_replies", 1);
        self.tm("relayed_replies", 1);
    }

    /// The final reply `code` of a proxied INVITE relayed, then its ACK: forwarded
    /// end to end after a 2xx, absorbed by the transaction after a failure.
    pub fn invite_answered(&mut self, code: u16) {
        self.relayed_reply();
        self.final_class(code);
        self.core("rcv_requests", 1);
        if code < 300 {
            self.core("fwd_requests", 1);
        }
    }

    /// A BYE from one side proxied to the other, and its `200 OK` relayed.
    pub fn bye(&mut self) {
        self.core("rcv_requests", 1);
        self.core("fwd_requests", 1);
        self.tm("UAS_transactions", 1);
        self.tm("UAC_transactions", 1);
        self.relayed_reply();
        self.final_class(200);
    }

    /// A request the proxy sends itself, answered `code`, or timed out (`None`: tm's
    /// local `408`).
    pub fn local_request(&mut self, code: Option<u16>) {
        self.tm("UAC_transactions", 1);
        match code {
            Some(code) => {
                self.core("rcv_replies", 1);
                self.tm("received_replies", 1);
                self.final_class(code);
            }
            None => {
                self.tm("timeout_finalresponse", 1);
                self.final_class(408);
            }
        }
    }

    /// A final reply `code` tm sent itself (`t_reply`).
    pub fn local_reply(&mut self, code: u16) {
        self.tm("local_replies", 1);
        self.final_class(code);
    }

    /// INVITE transactions ever created in entry `hash_index` of tm's table.
    pub fn entry_total(&self, hash_index: u32) -> u64 {
        self.entries.get(&hash_index).copied().unwrap_or(0)
    }

    /// The counters as statistics: `core:` (with `timestamp`, seconds since the start at
    /// `now`), `sl:` and `tm:`, whose `inuse_transactions` is `in_use`.
    pub fn statistics(&self, now: i64, in_use: u64) -> Vec<Statistic> {
        let core = CORE.iter().zip(self.core);
        let mut out: Vec<Statistic> = core
            .map(|(name, value)| Statistic::new("core", name, value, true))
            .collect();
        let timestamp = u64::try_from(now - self.started).unwrap_or(0);
        out.push(Statistic::new("core", "timestamp", timestamp, false));
        out.extend(
            SL.iter()
                .zip(self.sl)
                .map(|(name, value)| Statistic::new("sl", name, value, true)),
        );
        out.extend(
            TM.iter()
                .zip(self.tm)
                .enumerate()
                .map(|(i, (name, value))| match i == INUSE {
                    true => Statistic::new("tm", name, in_use, false),
                    false => Statistic::new("tm", name, value, true),
                }),
        );
        out
    }

    /// Resets one counter of `group`; false if it is none, or not resettable.
    pub fn reset_statistic(&mut self, group: &str, name: &str) -> bool {
        let (names, values): (&[&str], &mut [u64]) = match group {
            "core" => (&CORE, &mut self.core),
            "sl" => (&SL, &mut self.sl),
            "tm" => (&TM, &mut self.tm),
            _ => return false,
        };
        match names.iter().position(|n| *n == name) {
            Some(i) if !(group == "tm" && i == INUSE) => {
                values[i] = 0;
                true
            }
            _ => false,
        }
    }

    /// Resets every counter.
    pub fn reset_all(&mut self) {
        self.core = [0; CORE.len()];
        self.sl = [0; SL.len()];
        self.tm = [0; TM.len()];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(sip: &Sip, group: &str, name: &str) -> u64 {
        sip.statistics(0, 0)
            .into_iter()
            .find(|s| s.group == group && s.name == name)
            .map(|s| s.value)
            .unwrap()
    }

    #[test]
    fn a_call_moves_core_and_tm_together() {
        let mut sip = Sip::new(0);
        sip.invite(7);
        sip.invite_answered(200);
        sip.bye();
        assert_eq!(value(&sip, "core", "rcv_requests"), 3);
        assert_eq!(value(&sip, "core", "fwd_requests"), 3);
        assert_eq!(value(&sip, "core", "rcv_replies"), 3);
        assert_eq!(value(&sip, "tm", "UAS_transactions"), 2);
        assert_eq!(value(&sip, "tm", "2xx_transactions"), 2);
        sip.invite(7);
        sip.invite_answered(486);
        assert_eq!(sip.entry_total(7), 2);
        assert_eq!(value(&sip, "tm", "4xx_transactions"), 1);
        assert_eq!(value(&sip, "core", "fwd_requests"), 4);
        sip.local_request(None);
        assert_eq!(value(&sip, "tm", "timeout_finalresponse"), 1);
        assert!(!sip.reset_statistic("tm", "inuse_transactions"));
        assert!(sip.reset_statistic("core", "rcv_requests"));
        assert_eq!(value(&sip, "core", "rcv_requests"), 0);
    }
}
