//! The simulated `usrloc` module of OpenSIPS 3.6: one table, `location` (`use_domain` off,
//! so an AOR is the user part), whose users register, refresh and let their contacts expire
//! on the simulated clock.
//!
//! Commands, with 3.6's recipes, reply members and error texts (`modules/usrloc/ul_mi.c`,
//! `ul_mod.c`): `ul_dump` (`[]`, `[brief]`), `ul_show_contact` (`[table_name, aor]`),
//! `ul_rm` (`[table_name, aor]`), `ul_rm_contact` (`[table_name, aor, contact]`),
//! `ul_flush` (`[]`). Statistics (group `usrloc`): `registered_users`, `location-users`,
//! `location-contacts`, `location-expires`. Events (`ul_evi.c`): `E_UL_AOR_INSERT`,
//! `E_UL_AOR_DELETE` (`domain`, `aor`), `E_UL_CONTACT_INSERT`, `E_UL_CONTACT_UPDATE`,
//! `E_UL_CONTACT_DELETE` (`domain`, `aor`, `uri`, `received`, `path`, `qval`,
//! `user_agent`, `socket`, `bflags`, `expires`, `callid`, `cseq`, `attr`, `latency`,
//! `shtag`).

use crate::random::Rng;
use crate::sip::Sip;
use crate::{command, Raised};
use mi_core::host::{EventParams, EventValue, ModuleCommand, Statistic};
use mi_core::json::Value;
use mi_core::params::Params;
use mi_core::MiError;
use std::collections::BTreeMap;

/// The module's name.
pub const MODULE: &str = "usrloc";

/// The one table.
const TABLE: &str = "location";

/// `hash_size` 9 (the default): 2⁹ slots.
const HASH_SIZE: u32 = 512;

/// The socket contacts registered over (the simulated node's SIP listener).
const SOCKET: &str = "udp:127.0.0.1:5060";

/// `Methods` of a contact whose REGISTER had no `Allow` header: all.
const ALL_METHODS: u32 = u32::MAX;

/// The simulated users: name, phone.
const USERS: [(&str, &str); 8] = [
    ("alice", "Linphone/5.2.5 (belle-sip/5.2.94)"),
    ("bob", "Zoiper rv2.10.20.6"),
    ("carol", "Grandstream GXP2170 1.0.11.64"),
    ("dave", "Yealink SIP-T46U 108.86.0.45"),
    ("erin", "MicroSIP/3.21.3"),
    (
        "frank",
        "Polycom/6.4.3.1029 PolycomVVX-VVX_450-UA/6.4.3.1029",
    ),
    ("grace", "Bria 6 release 6.6.1 stamp 121018"),
    ("heidi", "Cisco/SPA504G-7.6.2f"),
];

/// Registration lifetimes the phones ask for, seconds.
const LIFETIMES: [i64; 3] = [300, 600, 900];

/// One registered contact.
#[derive(Debug, Clone)]
struct Contact {
    uri: String,
    id: u64,
    expires: i64,
    callid: String,
    cseq: u32,
    user_agent: &'static str,
    /// Refreshes its phone will still send before it goes quiet.
    refreshes_left: u64,
}

/// The `location` table.
#[derive(Debug)]
pub struct Usrloc {
    aors: BTreeMap<String, Vec<Contact>>,
    expired: u64,
}

fn text(value: &str) -> EventValue {
    EventValue::Text(value.to_string())
}

fn int(value: i64) -> EventValue {
    EventValue::Int(i32::try_from(value).unwrap_or(i32::MAX))
}

fn aor_event(name: &'static str, aor: &str) -> Raised {
    (
        name,
        EventParams::Named(vec![
            ("domain".into(), text(TABLE)),
            ("aor".into(), text(aor)),
        ]),
    )
}

fn contact_event(name: &'static str, aor: &str, c: &Contact) -> Raised {
    let params = vec![
        ("domain", text(TABLE)),
        ("aor", text(aor)),
        ("uri", text(&c.uri)),
        ("received", text("")),
        ("path", text("")),
        ("qval", int(-1)),
        ("user_agent", text(c.user_agent)),
        ("socket", text(SOCKET)),
        ("bflags", int(0)),
        ("expires", int(c.expires)),
        ("callid", text(&c.callid)),
        ("cseq", int(i64::from(c.cseq))),
        ("attr", text("")),
        ("latency", int(0)),
        ("shtag", text("")),
    ];
    (
        name,
        EventParams::Named(params.into_iter().map(|(k, v)| (k.into(), v)).collect()),
    )
}

/// The module's commands (as `which` and `help` show them).
pub fn commands() -> Vec<ModuleCommand> {
    vec![
        command(MODULE, "ul_rm", None, false, &[&["table_name", "aor"]]),
        command(
            MODULE,
            "ul_rm_contact",
            None,
            false,
            &[&["table_name", "aor", "contact"]],
        ),
        command(MODULE, "ul_dump", None, false, &[&[], &["brief"]]),
        command(MODULE, "ul_flush", None, false, &[&[]]),
        command(
            MODULE,
            "ul_show_contact",
            None,
            false,
            &[&["table_name", "aor"]],
        ),
    ]
}

impl Usrloc {
    /// The table at `now`, with about half the users registered.
    pub fn new(rng: &mut Rng, now: i64) -> Usrloc {
        let mut usrloc = Usrloc {
            aors: BTreeMap::new(),
            expired: 0,
        };
        for (i, _) in USERS.iter().enumerate() {
            if rng.range(0, 1) == 0 {
                let contact = usrloc.new_contact(rng, i, now);
                usrloc.aors.insert(USERS[i].0.to_string(), vec![contact]);
            }
        }
        usrloc
    }

    fn new_contact(&self, rng: &mut Rng, user: usize, now: i64) -> Contact {
        let (name, user_agent) = USERS[user];
        let lifetime = LIFETIMES[rng.range(0, LIFETIMES.len() as u64 - 1) as usize];
        let port = 5060 + rng.range(0, 40) * 2;
        Contact {
            uri: format!("sip:{name}@192.0.2.{}:{port};transport=udp", 10 + user),
            id: (rng.next_u64() >> 16) | 1,
            expires: now + lifetime,
            callid: format!("{:016x}@192.0.2.{}", rng.next_u64(), 10 + user),
            cseq: rng.range(1, 20) as u32,
            user_agent,
            refreshes_left: rng.range(0, 3),
        }
    }

    /// One simulated second: phones register, refresh half-way through their lifetime (or
    /// go quiet), and contacts past their expiry are deleted.
    pub fn tick(&mut self, rng: &mut Rng, now: i64, sip: &mut Sip) -> Vec<Raised> {
        let mut raised = Vec::new();
        for (i, (name, _)) in USERS.iter().enumerate() {
            match self.aors.get_mut(*name) {
                None => {
                    if rng.range(0, 29) == 0 {
                        let contact = self.new_contact(rng, i, now);
                        raised.push(aor_event("E_UL_AOR_INSERT", name));
                        raised.push(contact_event("E_UL_CONTACT_INSERT", name, &contact));
                        sip.register();
                        self.aors.insert(name.to_string(), vec![contact]);
                    }
                }
                Some(contacts) => {
                    for contact in contacts.iter_mut() {
                        let lifetime = LIFETIMES[rng.range(0, LIFETIMES.len() as u64 - 1) as usize];
                        let remaining = contact.expires - now;
                        if contact.refreshes_left > 0 && remaining * 2 < lifetime {
                            contact.refreshes_left -= 1;
                            contact.expires = now + lifetime;
                            contact.cseq += 1;
                            raised.push(contact_event("E_UL_CONTACT_UPDATE", name, contact));
                            sip.register();
                        }
                    }
                }
            }
        }
        raised.extend(self.expire(now));
        raised
    }

    /// Deletes the contacts past their expiry, and the AORs left without one.
    fn expire(&mut self, now: i64) -> Vec<Raised> {
        let mut raised = Vec::new();
        let mut emptied = Vec::new();
        for (aor, contacts) in self.aors.iter_mut() {
            contacts.retain(|c| {
                let live = c.expires > now;
                if !live {
                    raised.push(contact_event("E_UL_CONTACT_DELETE", aor, c));
                }
                live
            });
            if contacts.is_empty() {
                emptied.push(aor.clone());
            }
        }
        self.expired += raised.len() as u64;
        for aor in emptied {
            self.aors.remove(&aor);
            raised.push(aor_event("E_UL_AOR_DELETE", &aor));
        }
        raised
    }

    /// The first contact of `aor`, if it is registered.
    pub fn contact_of(&self, aor: &str) -> Option<&str> {
        self.aors.get(aor)?.first().map(|c| c.uri.as_str())
    }

    /// The registered contact at `hostport` (`host:port` of its URI), if any.
    pub fn contact_at(&self, hostport: &str) -> Option<&str> {
        let contacts = self.aors.values().flatten();
        contacts
            .map(|c| c.uri.as_str())
            .find(|uri| uri.split(['@', ';']).nth(1) == Some(hostport))
    }

    /// The AORs registered now.
    pub fn aors(&self) -> Vec<String> {
        self.aors.keys().cloned().collect()
    }

    /// Group `usrloc`: `registered_users`, `location-users`, `location-contacts`,
    /// `location-expires`.
    pub fn statistics(&self) -> Vec<Statistic> {
        let contacts: usize = self.aors.values().map(Vec::len).sum();
        vec![
            Statistic::new(MODULE, "registered_users", self.aors.len() as u64, false),
            Statistic::new(MODULE, "location-users", self.aors.len() as u64, false),
            Statistic::new(MODULE, "location-contacts", contacts as u64, false),
            Statistic::new(MODULE, "location-expires", self.expired, true),
        ]
    }

    /// Resets `location-expires`, the one resettable statistic.
    pub fn reset_statistic(&mut self, name: &str) -> bool {
        let found = name == "location-expires";
        if found {
            self.expired = 0;
        }
        found
    }

    /// Runs `command` with the named `params` at `now`: its result, and the events it
    /// raised.
    pub fn call(
        &mut self,
        command: &str,
        params: &Params<'_>,
        now: i64,
    ) -> Result<(Value, Vec<Raised>), MiError> {
        match command {
            "ul_dump" => {
                let brief = match params.has("brief") {
                    true => params.int("brief")? != 0,
                    false => false,
                };
                Ok((self.dump(brief, now), Vec::new()))
            }
            "ul_flush" => Ok((Value::str("OK"), Vec::new())),
            "ul_show_contact" => {
                let aor = self.aor_of(params)?;
                let contacts = self
                    .aors
                    .get(&aor)
                    .ok_or_else(|| MiError::new(404, "AOR not found"))?;
                Ok((aor_item(&aor, contacts, false, now), Vec::new()))
            }
            "ul_rm" => {
                let aor = self.aor_of(params)?;
                let mut raised = Vec::new();
                if let Some(contacts) = self.aors.remove(&aor) {
                    for c in &contacts {
                        raised.push(contact_event("E_UL_CONTACT_DELETE", &aor, c));
                    }
                    raised.push(aor_event("E_UL_AOR_DELETE", &aor));
                }
                Ok((Value::str("OK"), raised))
            }
            "ul_rm_contact" => {
                let aor = self.aor_of(params)?;
                let contacts = self
                    .aors
                    .get_mut(&aor)
                    .ok_or_else(|| MiError::new(404, "AOR not found"))?;
                let uri = params.string("contact")?;
                let at = contacts
                    .iter()
                    .position(|c| c.uri == uri)
                    .ok_or_else(|| MiError::new(404, "Contact not found"))?;
                let gone = contacts.remove(at);
                let mut raised = vec![contact_event("E_UL_CONTACT_DELETE", &aor, &gone)];
                if contacts.is_empty() {
                    self.aors.remove(&aor);
                    raised.push(aor_event("E_UL_AOR_DELETE", &aor));
                }
                Ok((Value::str("OK"), raised))
            }
            _ => Err(MiError::method_not_found()),
        }
    }

    /// The AOR of `table_name` and `aor`, with the domain part dropped (`use_domain` is off).
    fn aor_of(&self, params: &Params<'_>) -> Result<String, MiError> {
        if params.string("table_name")? != TABLE {
            return Err(MiError::new(404, "Table not found"));
        }
        let aor = params.string("aor")?;
        Ok(aor.split('@').next().unwrap_or_default().to_string())
    }

    fn dump(&self, brief: bool, now: i64) -> Value {
        let aors = self
            .aors
            .iter()
            .map(|(aor, contacts)| aor_item(aor, contacts, brief, now))
            .collect();
        Value::Object(vec![(
            "Domains".into(),
            Value::Array(vec![Value::Object(vec![
                ("name".into(), Value::str(TABLE)),
                ("hash_size".into(), Value::num(HASH_SIZE)),
                ("AORs".into(), Value::Array(aors)),
            ])]),
        )])
    }
}

/// An AOR as `ul_dump` and `ul_show_contact` show it (`mi_add_aor_node`).
fn aor_item(aor: &str, contacts: &[Contact], brief: bool, now: i64) -> Value {
    let mut members = vec![("AOR".to_string(), Value::str(aor))];
    if brief {
        return Value::Object(members);
    }
    let contacts = contacts
        .iter()
        .map(|c| {
            let expires = if now > c.expires {
                Value::str("expired")
            } else {
                Value::num((c.expires - now) as f64)
            };
            Value::Object(vec![
                ("Contact".into(), Value::String(c.uri.clone())),
                ("ContactID".into(), Value::String(c.id.to_string())),
                ("Expires".into(), expires),
                ("Q".into(), Value::str("")),
                ("Callid".into(), Value::String(c.callid.clone())),
                ("Cseq".into(), Value::num(c.cseq)),
                ("User-agent".into(), Value::str(c.user_agent)),
                ("State".into(), Value::str("CS_NEW")),
                ("Flags".into(), Value::num(0)),
                ("Cflags".into(), Value::str("")),
                ("Socket".into(), Value::str(SOCKET)),
                ("Methods".into(), Value::num(ALL_METHODS)),
            ])
        })
        .collect();
    members.push(("Contacts".into(), Value::Array(contacts)));
    Value::Object(members)
}
