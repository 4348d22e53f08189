//! Who may run what: HTTP credentials (Basic with argon2 password hashes, Bearer tokens
//! stored as SHA-256 digests), roles made of command globs, a default role per transport,
//! and throttling of failed authentications.
//!
//! Secure defaults of the password check:
//! - an unknown user name costs the same argon2 check as a wrong password (against a hash
//!   of the same parameters), so names cannot be told apart by timing;
//! - the check runs on a blocking thread ([`Authentication::Deferred`]), at most
//!   `max_concurrent_hashes` at once (more are answered `429`), never on a thread that
//!   serves requests; credentials that passed once are remembered (by a digest) and
//!   cost a lookup;
//! - failures are counted per network (an IPv4 /24, an IPv6 /64: rotating addresses
//!   within one does not evade it) and per user name; a throttled network gets `429` for
//!   credentials not yet verified, and a user past `max_failures` is checked at most once
//!   a second from anywhere; credentials verified before are never refused, so a correct
//!   credential is not locked out by someone else's guessing.

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::Engine as _;
use mi_core::access::Access;
use miwa_state::settings::within;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use tokio::sync::watch;
use transports::{Authentication, Deferred, TransportKind};

/// The built-in role that may run every command.
pub(crate) const FULL: &str = "full";

/// HTTP routes access control knows.
pub(crate) const ROUTES: [&str; 5] = ["mi", "xmlrpc", "html", "playground", "metrics"];

/// Most successful Basic credentials remembered (so that argon2 runs once per credential,
/// not once per request).
const VERIFIED_CACHE: usize = 1024;

/// Most networks and user names whose failed authentications are remembered; past it the
/// oldest record gives way, so that failures from many sources cannot grow the table
/// without bound.
const TRACKED_SOURCES: usize = 65_536;

/// How often a user past `max_failures` may have a password checked, at most.
const USER_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// `[access.roles.<name>]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RoleConfig {
    /// Command globs the role may run (`allow`, default `["*"]`).
    pub allow: Vec<String>,
    /// Command globs it may not run, winning over `allow` (`deny`, default none).
    pub deny: Vec<String>,
    /// In front mode, the nodes it may reach: a selector over their labels
    /// (`nodes = "site=eu"`); default all. Other nodes are refused (`403`) and left out of
    /// `nodes_list` and `nodes_run`.
    pub nodes: Option<String>,
}

impl Default for RoleConfig {
    fn default() -> Self {
        RoleConfig {
            allow: vec!["*".into()],
            deny: Vec::new(),
            nodes: None,
        }
    }
}

/// `[[access.users]]`: HTTP Basic credentials.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// User name.
    pub name: String,
    /// The password's argon2 hash in PHC form (`miwa hash-password` prints one).
    pub password: String,
    /// The role granted.
    pub role: String,
}

/// `[[access.tokens]]`: HTTP Bearer credentials.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// SHA-256 of the token, hex (`miwa hash-token` prints one).
    pub sha256: String,
    /// The role granted.
    pub role: String,
    /// A name for logs and the audit log (`token:<name>`; default the hash's first 8 hex
    /// digits).
    #[serde(default)]
    pub name: String,
}

/// `[access]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// Roles by name; `full` is built in.
    pub roles: BTreeMap<String, RoleConfig>,
    /// Basic credentials.
    pub users: Vec<UserConfig>,
    /// Bearer credentials.
    pub tokens: Vec<TokenConfig>,
    /// HTTP routes that require credentials once any are configured (`protect`, default
    /// all: `mi`, `xmlrpc`, `html`, `playground`, `metrics`).
    pub protect: Vec<String>,
    /// The role of callers without credentials, per transport (`http`, `xmlrpc`, `html`,
    /// `fifo`, `udp`, `unix`; default `full`).
    pub transports: BTreeMap<String, String>,
    /// Failed authentications from one address before it is refused (`max_failures`,
    /// default 5).
    pub max_failures: u32,
    /// How long failures are remembered and an address stays refused, seconds
    /// (`failure_window`, default 60).
    pub failure_window: u64,
    /// Password checks (argon2) running at once, at most; more are answered `429`
    /// (`max_concurrent_hashes`, default 2, 1 … 64).
    pub max_concurrent_hashes: usize,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            roles: BTreeMap::new(),
            users: Vec::new(),
            tokens: Vec::new(),
            protect: ROUTES.iter().map(|r| r.to_string()).collect(),
            transports: BTreeMap::new(),
            max_failures: 5,
            failure_window: 60,
            max_concurrent_hashes: 2,
        }
    }
}

impl AccessConfig {
    /// What is wrong with the section, if anything.
    pub fn problem(&self) -> Option<String> {
        let known = |role: &str| role == FULL || self.roles.contains_key(role);
        if self.roles.contains_key(FULL) {
            return Some(format!("role `{FULL}` is built in and cannot be redefined"));
        }
        for user in &self.users {
            if !known(&user.role) {
                return Some(format!(
                    "user `{}` has unknown role `{}`",
                    user.name, user.role
                ));
            }
            if PasswordHash::new(&user.password).is_err() {
                return Some(format!(
                    "user `{}`: `password` must be an argon2 hash in PHC form (miwa hash-password), never plain text",
                    user.name
                ));
            }
        }
        for token in &self.tokens {
            if !known(&token.role) {
                return Some(format!("a token has unknown role `{}`", token.role));
            }
            if token.sha256.len() != 64 || !token.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Some("token `sha256` must be 64 hex digits (miwa hash-token)".into());
            }
        }
        for (transport, role) in &self.transports {
            if !TransportKind::ALL.iter().any(|k| k.name() == transport) {
                return Some(format!("unknown transport `{transport}` in `transports`"));
            }
            if !known(role) {
                return Some(format!("transport `{transport}` has unknown role `{role}`"));
            }
        }
        if let Some(route) = self.protect.iter().find(|r| !ROUTES.contains(&r.as_str())) {
            return Some(format!("unknown route `{route}` in `protect`"));
        }
        if self.max_failures == 0 || self.failure_window == 0 {
            return Some("`max_failures` and `failure_window` must be at least 1".into());
        }
        if let Err(problem) = within(self.max_concurrent_hashes, 1..=64) {
            return Some(format!("`max_concurrent_hashes` {problem}"));
        }
        None
    }
}

struct Failures {
    count: u32,
    since: Instant,
    /// For a user past `max_failures`: when its password may be checked next.
    next_check: Instant,
}

/// Where failed authentications are counted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Source {
    /// An IPv4 /24 or an IPv6 /64.
    Network(IpAddr),
    /// A user name, known or not.
    User(String),
}

/// The network `peer` belongs to, for throttling.
fn network(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            IpAddr::from([
                segments[0],
                segments[1],
                segments[2],
                segments[3],
                0,
                0,
                0,
                0,
            ])
        }
    }
}

/// The parts of the policy a reload replaces: the `[access]` section, and the decoy hash
/// an unknown user name is checked against.
struct Policy {
    config: AccessConfig,
    decoy: String,
    /// Each identity credentials grant (`bob`, `token:monitor`): its role, and the reload
    /// since which its entry is as it is (a changed password, token or role is a new
    /// entry).
    grants: HashMap<String, (String, u64)>,
}

impl Policy {
    /// The policy of `config` at reload `generation`, keeping from `before` the age of
    /// the entries that did not change.
    fn new(config: AccessConfig, generation: u64, before: Option<&Policy>) -> Self {
        let decoy = match config.users.is_empty() {
            true => String::new(),
            false => hash_password("the decoy for unknown user names").unwrap_or_default(),
        };
        let mut grants = HashMap::new();
        for (identity, role, secret) in entries(&config) {
            let since = before
                .and_then(|before| {
                    let kept = entries(&before.config)
                        .any(|(i, r, s)| i == identity && r == role && s == secret);
                    kept.then(|| before.grants.get(&identity).map(|(_, since)| *since))
                        .flatten()
                })
                .unwrap_or(generation);
            grants.insert(identity, (role.to_string(), since));
        }
        Policy {
            config,
            decoy,
            grants,
        }
    }
}

impl Policy {
    /// Whether `route` requires credentials: it is protected, and some exist.
    fn requires_credentials(&self, route: &str) -> bool {
        !(self.config.users.is_empty() && self.config.tokens.is_empty())
            && self.config.protect.iter().any(|r| r == route)
    }
}

/// Each credential of `config`: the identity it grants, its role, and its secret (the
/// password hash, the token digest).
fn entries(config: &AccessConfig) -> impl Iterator<Item = (String, &str, &str)> {
    let users = config
        .users
        .iter()
        .map(|u| (u.name.clone(), u.role.as_str(), u.password.as_str()));
    let tokens = config
        .tokens
        .iter()
        .map(|t| (token_identity(t), t.role.as_str(), t.sha256.as_str()));
    users.chain(tokens)
}

/// The identity a token grants: `token:<name>`, or `token:<first 8 hex digits>` for a
/// token without a name.
fn token_identity(token: &TokenConfig) -> String {
    match token.name.is_empty() {
        true => format!("token:{}", token.sha256.get(..8).unwrap_or_default()),
        false => format!("token:{}", token.name),
    }
}

/// The access policy in force. [`AccessControl::reload`] replaces it whole; every check
/// made after reads the new one.
pub struct AccessControl {
    policy: RwLock<Arc<Policy>>,
    /// Counts the reloads, for connections that hold credentials checked before.
    changes: watch::Sender<u64>,
    verified: Mutex<HashMap<[u8; 32], (String, String)>>,
    failures: Mutex<HashMap<Source, Failures>>,
    hashing: AtomicUsize,
    /// Failed authentications (wrong credentials; a request without any is not a failure,
    /// it is how browsers ask for the challenge).
    pub failed: AtomicU64,
    /// Requests refused because their network or user failed too often, or because too
    /// many password checks were running.
    pub throttled: AtomicU64,
}

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Gives a password check's slot back when dropped.
struct Hashing<'a>(&'a AtomicUsize);

impl Drop for Hashing<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl AccessControl {
    /// The policy of a validated `[access]` section.
    pub fn new(config: AccessConfig) -> Self {
        AccessControl {
            policy: RwLock::new(Arc::new(Policy::new(config, 0, None))),
            changes: watch::channel(0).0,
            verified: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            hashing: AtomicUsize::new(0),
            failed: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        }
    }

    /// The policy in force.
    fn policy(&self) -> Arc<Policy> {
        self.policy
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the policy with a validated `[access]` section: users, tokens, roles and
    /// transport defaults take effect at once, for every check made after. Credentials
    /// verified before stay verified only when their entry is unchanged. When the section
    /// changed, [`AccessControl::changes`] tells the connections that hold credentials,
    /// which ask [`AccessControl::holds`] whether theirs still do.
    pub fn reload(&self, config: AccessConfig) {
        let old = self.policy();
        if old.config == config {
            return;
        }
        let generation = *self.changes.borrow() + 1;
        let policy = Arc::new(Policy::new(config, generation, Some(&old)));
        {
            let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            verified.retain(|_, (_, identity)| {
                let before = old.grants.get(identity.as_str());
                matches!((before, policy.grants.get(identity.as_str())), (Some(b), Some(n)) if b == n)
            });
            *self.policy.write().unwrap_or_else(|e| e.into_inner()) = policy;
        }
        self.changes.send_replace(generation);
    }

    /// Whether credentials that granted `role` to `identity` at reload `since` (a value
    /// of [`AccessControl::changes`]) still do: the identity's entry is there, with that
    /// role, unchanged since. A caller without credentials (`identity` `None`) holds
    /// nothing that can be revoked: its role is its transport's, looked up each time.
    pub fn holds(&self, role: Option<&str>, identity: Option<&str>, since: u64) -> bool {
        let policy = self.policy();
        match (role, identity) {
            (Some(role), Some(identity)) => policy
                .grants
                .get(identity)
                .is_some_and(|(granted, from)| granted == role && *from <= since),
            // Without credentials: as long as route `mi` (WebSockets, event streams, MCP)
            // takes callers without them.
            (None, None) => !policy.requires_credentials("mi"),
            _ => false,
        }
    }

    /// Changes at each [`AccessControl::reload`].
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// What `role` may run; `None` for the `full` role (anything). A role the policy
    /// does not know (one a reload removed, held by an open connection) may run nothing.
    pub fn access(&self, role: &str) -> Option<Access> {
        if role == FULL {
            return None;
        }
        let policy = self.policy();
        let (allow, deny) = match policy.config.roles.get(role) {
            Some(config) => (config.allow.clone(), config.deny.clone()),
            None => (Vec::new(), vec!["*".to_string()]),
        };
        Some(Access {
            role: role.to_string(),
            allow,
            deny,
        })
    }

    /// The node selector `role` is scoped by (`nodes`), if any.
    pub fn node_scope(&self, role: &str) -> Option<String> {
        self.policy().config.roles.get(role)?.nodes.clone()
    }

    /// The role of a caller: its credentials' role, or its transport's default.
    /// Borrowed for a caller with credentials and for the built-in default (`full`): only
    /// a configured transport default is copied out of the policy.
    pub fn role<'a>(
        &self,
        transport: TransportKind,
        credentials: Option<&'a str>,
    ) -> std::borrow::Cow<'a, str> {
        match credentials {
            Some(role) => role.into(),
            None => match self.policy().config.transports.get(transport.name()) {
                Some(role) => role.clone().into(),
                None => FULL.into(),
            },
        }
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.policy().config.failure_window)
    }

    /// Whether `source` failed `max_failures` times within the window.
    fn over(&self, failures: &mut HashMap<Source, Failures>, source: &Source) -> bool {
        let window = self.window();
        failures.retain(|_, f| f.since.elapsed() < window);
        failures
            .get(source)
            .is_some_and(|f| f.count >= self.policy().config.max_failures)
    }

    fn throttled(&self, peer: IpAddr) -> bool {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        self.over(&mut failures, &Source::Network(network(peer)))
    }

    /// Whether the password of `user`, past `max_failures`, may not be checked yet (at
    /// most once per [`USER_CHECK_INTERVAL`]).
    fn user_waits(&self, user: &str) -> bool {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let source = Source::User(user.to_string());
        if !self.over(&mut failures, &source) {
            return false;
        }
        let Some(record) = failures.get_mut(&source) else {
            return false;
        };
        let now = Instant::now();
        if now < record.next_check {
            return true;
        }
        record.next_check = now + USER_CHECK_INTERVAL;
        false
    }

    fn fail(&self, peer: IpAddr, user: Option<&str>) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let sources = std::iter::once(Source::Network(network(peer)))
            .chain(user.map(|u| Source::User(u.to_string())));
        for source in sources {
            if failures.len() >= TRACKED_SOURCES && !failures.contains_key(&source) {
                let window = self.window();
                failures.retain(|_, f| f.since.elapsed() < window);
                let oldest = failures
                    .iter()
                    .min_by_key(|(_, f)| f.since)
                    .map(|(source, _)| source.clone());
                if let (true, Some(oldest)) = (failures.len() >= TRACKED_SOURCES, oldest) {
                    failures.remove(&oldest);
                }
            }
            let now = Instant::now();
            let entry = failures.entry(source).or_insert(Failures {
                count: 0,
                since: now,
                next_check: now,
            });
            entry.count += 1;
        }
        tracing::warn!(%peer, user, "HTTP authentication failed");
    }

    /// Basic credentials: granted at once when verified before; otherwise a deferred
    /// argon2 check (refused or throttled first when the network or the user is).
    fn basic(self: &Arc<Self>, encoded: &str, peer: IpAddr) -> Authentication {
        let Some((name, password)) = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|decoded| String::from_utf8(decoded).ok())
            .and_then(|text| {
                let (name, password) = text.split_once(':')?;
                Some((name.to_string(), password.to_string()))
            })
        else {
            self.fail(peer, None);
            return Authentication::Refused;
        };
        let key = digest(&[name.as_bytes(), password.as_bytes()]);
        if let Some((role, identity)) = self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Authentication::Granted {
                role: Some(role.clone()),
                identity: Some(identity.clone()),
            };
        }
        if self.throttled(peer) || self.user_waits(&name) {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            return Authentication::Throttled;
        }
        let control = self.clone();
        Authentication::Deferred(Deferred::new(move || {
            control.check_password(&name, &password, key, peer)
        }))
    }

    /// The argon2 check of Basic credentials, on a blocking thread.
    fn check_password(
        &self,
        name: &str,
        password: &str,
        key: [u8; 32],
        peer: IpAddr,
    ) -> Authentication {
        let policy = self.policy();
        if self.hashing.fetch_add(1, Ordering::AcqRel) >= policy.config.max_concurrent_hashes {
            self.hashing.fetch_sub(1, Ordering::AcqRel);
            self.throttled.fetch_add(1, Ordering::Relaxed);
            return Authentication::Throttled;
        }
        let _slot = Hashing(&self.hashing);
        let user = policy.config.users.iter().find(|u| u.name == name);
        let stored = user.map_or(policy.decoy.as_str(), |u| u.password.as_str());
        let matches = PasswordHash::new(stored).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        });
        match user.filter(|_| matches) {
            Some(user) => {
                let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
                if verified.len() >= VERIFIED_CACHE {
                    verified.clear();
                }
                verified.insert(key, (user.role.clone(), user.name.clone()));
                Authentication::Granted {
                    role: Some(user.role.clone()),
                    identity: Some(user.name.clone()),
                }
            }
            None => {
                self.fail(peer, Some(name));
                Authentication::Refused
            }
        }
    }

    /// The role and the identity (`token:<name>`, or `token:<first 8 hex digits>` for a
    /// token without a name) of a Bearer token.
    fn bearer(&self, token: &str) -> Option<(String, String)> {
        let presented: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        let mut found = None;
        for configured in &self.policy().config.tokens {
            let mut expected = [0u8; 32];
            let valid = configured.sha256.len() == 64
                && (0..32).all(|i| {
                    u8::from_str_radix(&configured.sha256[2 * i..2 * i + 2], 16)
                        .map(|b| expected[i] = b)
                        .is_ok()
                });
            if valid && bool::from(presented.ct_eq(&expected)) && found.is_none() {
                found = Some((configured.role.clone(), token_identity(configured)));
            }
        }
        found
    }

    /// Checks an HTTP request's `Authorization` header for `route`. A Bearer token is
    /// checked at once (a digest compared in constant time); Basic credentials not
    /// verified before are [`Authentication::Deferred`].
    pub fn authenticate(
        self: &Arc<Self>,
        authorization: Option<&str>,
        peer: IpAddr,
        route: &str,
    ) -> Authentication {
        if !self.policy().requires_credentials(route) {
            return Authentication::Granted {
                role: None,
                identity: None,
            };
        }
        let Some((scheme, credentials)) = authorization.and_then(|value| value.split_once(' '))
        else {
            if authorization.is_some() {
                self.fail(peer, None);
            }
            return Authentication::Refused;
        };
        if scheme.eq_ignore_ascii_case("basic") {
            return self.basic(credentials, peer);
        }
        let granted = scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| self.bearer(credentials))
            .flatten();
        match granted {
            Some((role, identity)) => Authentication::Granted {
                role: Some(role),
                identity: Some(identity),
            },
            None if self.throttled(peer) => {
                self.throttled.fetch_add(1, Ordering::Relaxed);
                Authentication::Throttled
            }
            None => {
                self.fail(peer, None);
                Authentication::Refused
            }
        }
    }
}

/// Group `access`: `auth_failures` (wrong credentials) and `auth_throttled` (requests
/// refused while their address was throttled).
impl miwa_state::StatisticsSource for AccessControl {
    fn statistics(&self) -> Vec<mi_core::host::Statistic> {
        [
            ("auth_failures", &self.failed),
            ("auth_throttled", &self.throttled),
        ]
        .into_iter()
        .map(|(name, value)| mi_core::host::Statistic {
            group: "access".into(),
            name: name.into(),
            value: value.load(Ordering::Relaxed),
            incremental: false,
        })
        .collect()
    }
}

/// The commands a role's or a redaction's pattern can name, as far as they are known at
/// start: the core's, the simulated modules', the front's; and the modules and nodes the
/// configuration names, whose commands are learnt only once they are loaded or probed.
pub struct KnownCommands {
    names: Vec<(String, String, String)>,
    later: Vec<String>,
}

impl KnownCommands {
    /// What the daemon knows, with `later` the configured modules and nodes and `added`
    /// the commands (name, module) the front adds.
    pub fn new(later: Vec<String>, added: &[(&str, &str)]) -> Self {
        let core = mi_core::commands::core_registry();
        let core_names = core.commands().iter().map(|c| {
            (
                c.name.to_string(),
                c.module.to_string(),
                core.name_4_0(c).to_string(),
            )
        });
        let simulated = mi_core::names::MODULE_COMMANDS_4_0
            .iter()
            .map(|(module, name, local)| {
                (
                    name.to_string(),
                    module.to_string(),
                    format!("{module}:{local}"),
                )
            });
        let front = added.iter().map(|(name, module)| {
            (
                name.to_string(),
                module.to_string(),
                format!("{module}:{name}"),
            )
        });
        KnownCommands {
            names: core_names.chain(simulated).chain(front).collect(),
            later,
        }
    }

    /// Whether `pattern` can name a command: one known now, or one of a configured
    /// module or node (a pattern with their name before its `:`, or any pattern without a
    /// `:` when there are some).
    pub fn named(&self, pattern: &str) -> bool {
        let known = self.names.iter().any(|(name, module, full)| {
            mi_core::names::CommandName {
                name,
                module,
                name_4_0: Some(full),
            }
            .matches(pattern)
        });
        known
            || match pattern.split_once(':') {
                Some((module, _)) => self.later.iter().any(|m| mi_core::access::glob(module, m)),
                None => !self.later.is_empty(),
            }
    }

    /// The first pattern of the configuration that can name no command, with its key.
    pub fn unmatched(&self, access: &AccessConfig, redact: &[String]) -> Option<String> {
        for (role, config) in &access.roles {
            for (list, patterns) in [("allow", &config.allow), ("deny", &config.deny)] {
                if let Some(pattern) = patterns.iter().find(|p| !self.named(p)) {
                    return Some(format!(
                        "access.roles.{role}.{list}: `{pattern}` names no command (a typo? patterns take 3.6 names, 4.0 names or `module:command`)"
                    ));
                }
            }
        }
        redact
            .iter()
            .filter_map(|rule| Some((rule, rule.rsplit_once(':')?.0)))
            .find(|(_, command)| !self.named(command))
            .map(|(rule, _)| format!("audit.redact: `{rule}` names no command"))
    }
}

/// An argon2 hash of `password` in PHC form, for `[[access.users]] password`.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    rustix::rand::getrandom(&mut salt, rustix::rand::GetRandomFlags::empty())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .to_string())
}

/// The hex SHA-256 of `token`, for `[[access.tokens]] sha256`.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control() -> AccessControl {
        let mut config = AccessConfig::default();
        config.roles.insert(
            "readonly".into(),
            RoleConfig {
                allow: vec!["ps".into(), "uptime".into(), "get_statistics".into()],
                deny: Vec::new(),
                nodes: None,
            },
        );
        config.users.push(UserConfig {
            name: "ops".into(),
            password: hash_password("s3cret").unwrap(),
            role: FULL.into(),
        });
        config.tokens.push(TokenConfig {
            sha256: hash_token("tok"),
            role: "readonly".into(),
            name: "monitor".into(),
        });
        config.max_failures = 2;
        assert_eq!(config.problem(), None);
        AccessControl::new(config)
    }

    fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    /// What `authorization` from `peer` comes to, a deferred check made at once.
    fn outcome(control: &Arc<AccessControl>, authorization: Option<&str>, peer: IpAddr) -> String {
        let outcome = match control.authenticate(authorization, peer, "mi") {
            Authentication::Deferred(check) => check.check(),
            other => other,
        };
        match outcome {
            Authentication::Granted { role, identity } => {
                format!(
                    "granted {} {}",
                    role.unwrap_or_default(),
                    identity.unwrap_or_default()
                )
            }
            Authentication::Refused => "refused".into(),
            Authentication::Throttled => "throttled".into(),
            Authentication::Deferred(_) => "deferred".into(),
        }
    }

    #[test]
    fn failures_from_many_sources_stay_bounded() {
        let control = control();
        for n in 0..(TRACKED_SOURCES as u32 + 100) {
            control.fail(IpAddr::from((n << 8).to_be_bytes()), None);
        }
        let failures = control.failures.lock().unwrap();
        assert_eq!(failures.len(), TRACKED_SOURCES);
        let newest = IpAddr::from(((TRACKED_SOURCES as u32 + 99) << 8).to_be_bytes());
        assert!(
            failures.contains_key(&Source::Network(newest)),
            "the newest network is tracked"
        );
    }

    #[test]
    fn credentials_grant_roles_and_failures_throttle_the_network_not_a_known_credential() {
        let control = Arc::new(control());
        let peer: IpAddr = [10, 0, 0, 1].into();
        let neighbour: IpAddr = [10, 0, 0, 77].into();
        let elsewhere: IpAddr = [10, 0, 1, 2].into();
        let good = basic("ops", "s3cret");
        assert_eq!(outcome(&control, Some(&good), peer), "granted full ops");
        assert_eq!(
            outcome(&control, Some("Bearer tok"), peer),
            "granted readonly token:monitor"
        );
        assert_eq!(outcome(&control, None, peer), "refused");
        assert_eq!(
            control.failed.load(Ordering::Relaxed),
            0,
            "no credentials is no failure"
        );
        assert_eq!(
            outcome(&control, Some(&basic("ops", "wrong")), peer),
            "refused"
        );
        assert_eq!(outcome(&control, Some("Digest x"), neighbour), "refused");
        assert_eq!(
            outcome(&control, Some(&basic("ops", "guess")), neighbour),
            "throttled",
            "two failures in the /24 throttle every address in it"
        );
        assert_eq!(
            outcome(&control, Some(&good), neighbour),
            "granted full ops",
            "a credential verified before is never refused"
        );
        assert_eq!(
            outcome(&control, Some("Bearer tok"), neighbour),
            "granted readonly token:monitor"
        );
        assert_eq!(
            outcome(&control, Some(&basic("ops", "wrong")), elsewhere),
            "refused"
        );
        assert_eq!(
            outcome(
                &control,
                Some(&basic("ops", "wrong again")),
                [10, 0, 2, 2].into()
            ),
            "refused",
            "the user, past max_failures, is checked once a second"
        );
        assert_eq!(
            outcome(&control, Some(&basic("ops", "wrong")), [10, 0, 3, 2].into()),
            "throttled"
        );
        assert_eq!(control.failed.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn an_unknown_user_costs_an_argon2_check_like_a_wrong_password() {
        let control = Arc::new(control());
        let time = |user: &str, peer: u8| {
            let started = Instant::now();
            assert_eq!(
                outcome(
                    &control,
                    Some(&basic(user, "nope")),
                    [10, 9, peer, 1].into()
                ),
                "refused"
            );
            started.elapsed()
        };
        let unknown = time("nobody", 1);
        let wrong = time("ops", 2);
        assert!(
            unknown * 4 > wrong,
            "unknown user {unknown:?}, wrong password {wrong:?}"
        );
    }

    #[test]
    fn roles_and_transport_defaults() {
        let control = control();
        assert_eq!(control.role(TransportKind::Fifo, None), FULL);
        assert_eq!(
            control.role(TransportKind::Http, Some("readonly")),
            "readonly"
        );
        assert!(control.access(FULL).is_none());
        let readonly = control.access("readonly").unwrap();
        assert!(readonly.permits("ps", "core") && !readonly.permits("kill", "core"));
        let gone = control.access("removed-by-a-reload").unwrap();
        assert!(!gone.permits("ps", "core"), "an unknown role runs nothing");
    }

    #[test]
    fn a_reload_revokes_at_once_what_it_removes_or_changes() {
        let control = Arc::new(control());
        let peer: IpAddr = "192.0.2.7".parse().unwrap();
        let ops = basic("ops", "s3cret");
        assert_eq!(outcome(&control, Some(&ops), peer), "granted full ops");
        let mut config = control.policy().config.clone();
        let start = *control.changes().borrow();
        // The same section again changes nothing.
        control.reload(config.clone());
        assert_eq!(*control.changes().borrow(), start);
        // The token's role narrows, the user goes.
        config.users.clear();
        config.tokens[0].role = FULL.into();
        control.reload(config.clone());
        let now = *control.changes().borrow();
        assert!(now > start);
        assert_eq!(outcome(&control, Some(&ops), peer), "refused");
        assert_eq!(
            outcome(&control, Some("Bearer tok"), peer),
            "granted full token:monitor"
        );
        // Connections opened before: the user's and the token's old grants are gone; a
        // grant made after the reload holds; callers without credentials hold theirs.
        assert!(!control.holds(Some(FULL), Some("ops"), start));
        assert!(!control.holds(Some("readonly"), Some("token:monitor"), start));
        assert!(!control.holds(Some(FULL), Some("token:monitor"), start));
        assert!(control.holds(Some(FULL), Some("token:monitor"), now));
        assert!(
            !control.holds(None, None, start),
            "route mi needs credentials"
        );
        // An entry a reload leaves as it was keeps holding.
        config.roles.insert("other".into(), RoleConfig::default());
        control.reload(config.clone());
        assert!(control.holds(Some(FULL), Some("token:monitor"), now));
        // A connection opened without credentials holds while route mi takes such
        // callers, and no longer once a reload protects it.
        config.protect = vec!["metrics".into()];
        control.reload(config.clone());
        assert!(control.holds(None, None, start));
        config.protect = vec!["mi".into()];
        control.reload(config);
        assert!(!control.holds(None, None, start));
    }

    #[test]
    fn plain_text_passwords_and_unknown_roles_are_refused() {
        let mut config = AccessConfig::default();
        config.users.push(UserConfig {
            name: "ops".into(),
            password: "hunter2".into(),
            role: FULL.into(),
        });
        assert!(config.problem().unwrap().contains("never plain text"));
        config.users[0].password = hash_password("x").unwrap();
        config.users[0].role = "nobody".into();
        assert!(config.problem().unwrap().contains("unknown role"));
    }
}
