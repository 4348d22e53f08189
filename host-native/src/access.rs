//! Who may run what: HTTP credentials (Basic with argon2 password hashes, Bearer tokens
//! stored as SHA-256 digests), roles made of command globs, a default role per transport,
//! and throttling of failed authentications per client address.

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::Engine as _;
use mi_core::access::Access;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use transports::{Authentication, TransportKind};

/// The built-in role that may run every command.
pub const FULL: &str = "full";

/// HTTP routes access control knows.
pub const ROUTES: [&str; 5] = ["mi", "xmlrpc", "html", "playground", "metrics"];

/// Most successful Basic credentials remembered (so that argon2 runs once per credential,
/// not once per request).
const VERIFIED_CACHE: usize = 1024;

/// Most addresses whose failed authentications are remembered; past it the oldest record
/// gives way, so that failures from many addresses cannot grow the table without bound.
const TRACKED_ADDRESSES: usize = 65_536;

/// `[access.roles.<name>]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RoleConfig {
    /// Command globs the role may run (`allow`, default `["*"]`).
    pub allow: Vec<String>,
    /// Command globs it may not run, winning over `allow` (`deny`, default none).
    pub deny: Vec<String>,
}

impl Default for RoleConfig {
    fn default() -> Self {
        RoleConfig {
            allow: vec!["*".into()],
            deny: Vec::new(),
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
        None
    }
}

struct Failures {
    count: u32,
    since: Instant,
}

/// The access policy in force.
pub struct AccessControl {
    config: AccessConfig,
    verified: Mutex<HashMap<[u8; 32], String>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
    /// Failed authentications (wrong credentials; a request without any is not a failure,
    /// it is how browsers ask for the challenge).
    pub failed: AtomicU64,
    /// Requests refused because their address failed too often.
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

impl AccessControl {
    /// The policy of a validated `[access]` section.
    pub fn new(config: AccessConfig) -> Self {
        AccessControl {
            config,
            verified: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            failed: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        }
    }

    /// What `role` may run; `None` for the `full` role (anything).
    pub fn access(&self, role: &str) -> Option<Access> {
        let config = self.config.roles.get(role)?;
        Some(Access {
            role: role.to_string(),
            allow: config.allow.clone(),
            deny: config.deny.clone(),
        })
    }

    /// The role of a caller: its credentials' role, or its transport's default.
    pub fn role<'a>(&'a self, transport: TransportKind, credentials: Option<&'a str>) -> &'a str {
        credentials.unwrap_or_else(|| {
            self.config
                .transports
                .get(transport.name())
                .map_or(FULL, String::as_str)
        })
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.config.failure_window)
    }

    fn throttled(&self, peer: IpAddr) -> bool {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let window = self.window();
        failures.retain(|_, f| f.since.elapsed() < window);
        failures
            .get(&peer)
            .is_some_and(|f| f.count >= self.config.max_failures)
    }

    fn fail(&self, peer: IpAddr) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= TRACKED_ADDRESSES && !failures.contains_key(&peer) {
            let window = self.window();
            failures.retain(|_, f| f.since.elapsed() < window);
            let oldest = failures
                .iter()
                .min_by_key(|(_, f)| f.since)
                .map(|(address, _)| *address);
            if let (true, Some(oldest)) = (failures.len() >= TRACKED_ADDRESSES, oldest) {
                failures.remove(&oldest);
            }
        }
        let entry = failures.entry(peer).or_insert(Failures {
            count: 0,
            since: Instant::now(),
        });
        entry.count += 1;
        tracing::warn!(%peer, failures = entry.count, "HTTP authentication failed");
    }

    /// The role and the user name of Basic credentials.
    fn basic(&self, encoded: &str) -> Option<(String, String)> {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (name, password) = text.split_once(':')?;
        let key = digest(&[name.as_bytes(), password.as_bytes()]);
        if let Some(role) = self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Some((role.clone(), name.to_string()));
        }
        let user = self.config.users.iter().find(|u| u.name == name)?;
        let hash = PasswordHash::new(&user.password).ok()?;
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .ok()?;
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_CACHE {
            verified.clear();
        }
        verified.insert(key, user.role.clone());
        Some((user.role.clone(), name.to_string()))
    }

    /// The role and the identity (`token:<name>`, or `token:<first 8 hex digits>` for a
    /// token without a name) of a Bearer token.
    fn bearer(&self, token: &str) -> Option<(String, String)> {
        let presented: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        let mut found = None;
        for configured in &self.config.tokens {
            let mut expected = [0u8; 32];
            let valid = configured.sha256.len() == 64
                && (0..32).all(|i| {
                    u8::from_str_radix(&configured.sha256[2 * i..2 * i + 2], 16)
                        .map(|b| expected[i] = b)
                        .is_ok()
                });
            if valid && bool::from(presented.ct_eq(&expected)) && found.is_none() {
                let name = if configured.name.is_empty() {
                    &configured.sha256[..8]
                } else {
                    configured.name.as_str()
                };
                found = Some((configured.role.clone(), format!("token:{name}")));
            }
        }
        found
    }

    /// Checks an HTTP request's `Authorization` header for `route`.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        peer: IpAddr,
        route: &str,
    ) -> Authentication {
        let required = !(self.config.users.is_empty() && self.config.tokens.is_empty())
            && self.config.protect.iter().any(|r| r == route);
        if !required {
            return Authentication::Granted {
                role: None,
                identity: None,
            };
        }
        if self.throttled(peer) {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            return Authentication::Throttled;
        }
        let role = authorization.and_then(|value| {
            let (scheme, credentials) = value.split_once(' ')?;
            if scheme.eq_ignore_ascii_case("basic") {
                self.basic(credentials)
            } else if scheme.eq_ignore_ascii_case("bearer") {
                self.bearer(credentials)
            } else {
                None
            }
        });
        match role {
            Some((role, identity)) => Authentication::Granted {
                role: Some(role),
                identity: Some(identity),
            },
            None => {
                if authorization.is_some() {
                    self.fail(peer);
                }
                Authentication::Refused
            }
        }
    }
}

impl AccessControl {
    /// Group `access`: `auth_failures` (wrong credentials) and `auth_throttled` (requests
    /// refused while their address was throttled).
    pub fn statistics(&self) -> Vec<mi_core::host::Statistic> {
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

    #[test]
    fn failures_from_many_addresses_stay_bounded() {
        let control = control();
        for n in 0..(TRACKED_ADDRESSES as u32 + 100) {
            control.fail(IpAddr::from(n.to_be_bytes()));
        }
        let failures = control.failures.lock().unwrap();
        assert_eq!(failures.len(), TRACKED_ADDRESSES);
        assert!(
            failures.contains_key(&IpAddr::from((TRACKED_ADDRESSES as u32 + 99).to_be_bytes())),
            "the newest address is tracked"
        );
    }

    #[test]
    fn credentials_grant_roles_and_failures_throttle() {
        let control = control();
        let peer: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        assert_eq!(
            control.authenticate(Some(&basic("ops", "s3cret")), peer, "mi"),
            Authentication::Granted {
                role: Some(FULL.into()),
                identity: Some("ops".into())
            }
        );
        assert_eq!(
            control.authenticate(Some("Bearer tok"), peer, "html"),
            Authentication::Granted {
                role: Some("readonly".into()),
                identity: Some("token:monitor".into())
            }
        );
        assert_eq!(
            control.authenticate(None, peer, "mi"),
            Authentication::Refused
        );
        assert_eq!(
            control.failed.load(Ordering::Relaxed),
            0,
            "no credentials is no failure"
        );
        assert_eq!(
            control.authenticate(Some(&basic("ops", "wrong")), peer, "mi"),
            Authentication::Refused
        );
        assert_eq!(
            control.authenticate(Some("Digest x"), peer, "mi"),
            Authentication::Refused
        );
        assert_eq!(
            control.authenticate(Some(&basic("ops", "s3cret")), peer, "mi"),
            Authentication::Throttled,
            "two failures throttle the address, even with good credentials"
        );
        assert_eq!(
            control.authenticate(Some("Bearer tok"), other, "mi"),
            Authentication::Granted {
                role: Some("readonly".into()),
                identity: Some("token:monitor".into())
            }
        );
        assert_eq!(control.failed.load(Ordering::Relaxed), 2);
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
