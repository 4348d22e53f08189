//! WebSocket tickets: how a browser, which cannot set an `Authorization` header on a
//! WebSocket, opens an authenticated `/ws`.
//!
//! The page asks `POST /ws/ticket` with its credentials (the browser sends the Basic
//! credentials it holds for the origin, or the page's own `Authorization`), gets a ticket,
//! and opens the WebSocket offering the subprotocol `miwa.ticket.<ticket>`; the upgrade is
//! then granted the role and identity the ticket was issued to, and the daemon answers with
//! that subprotocol, as browsers require. Secure defaults:
//! - a ticket is 128 random bits, good for one upgrade and for `ttl` (30 s by default);
//! - it never travels in a URL (so it is in no access log); an event stream
//!   (`/events?…&ticket=`) is the one exception, for `EventSource`, which can set neither
//!   headers nor subprotocols — it is as single-use and short-lived there;
//! - at most `per_owner` tickets are outstanding per owner (an identity, or the address of
//!   a caller without credentials); issuing one more forgets that owner's oldest, so one
//!   caller cannot push out everyone else's;
//! - at most `capacity` tickets are outstanding; issuing one more forgets the oldest;
//! - the ticket answer is `Cache-Control: no-store`, and the upgrade's `Origin` check
//!   still applies, so a page of another site can neither read a ticket nor use one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The subprotocol prefix that carries a ticket.
pub const PROTOCOL_PREFIX: &str = "miwa.ticket.";

/// Who a ticket was issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The role granted.
    pub role: Option<String>,
    /// Who the credentials named.
    pub identity: Option<String>,
    /// The access rules' version when the credentials were granted
    /// ([`crate::Dispatcher::access_changes`]).
    pub granted_at: u64,
}

struct Issued {
    holder: Holder,
    owner: String,
    expires: Instant,
    serial: u64,
}

/// Outstanding tickets.
pub struct Tickets {
    issued: Mutex<HashMap<String, Issued>>,
    ttl: Duration,
    capacity: usize,
    per_owner: usize,
    serial: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Tickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tickets")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Tickets {
    /// Tickets good for `ttl`, at most `capacity` outstanding, and at most `per_owner` of
    /// them for one owner.
    pub fn new(ttl: Duration, capacity: usize, per_owner: usize) -> Tickets {
        Tickets {
            issued: Mutex::new(HashMap::new()),
            ttl,
            capacity: capacity.max(1),
            per_owner: per_owner.max(1),
            serial: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How long a ticket is good for.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new ticket for `holder`, counted against `owner`'s share, or `None` when no
    /// randomness could be had.
    pub fn issue(&self, holder: Holder, owner: &str) -> Option<String> {
        let bytes: [u8; 16] = crate::random_bytes()?;
        let ticket: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        issued.retain(|_, t| t.expires > now);
        let owned = issued.values().filter(|t| t.owner == owner).count();
        if owned >= self.per_owner {
            let oldest = issued
                .iter()
                .filter(|(_, t)| t.owner == owner)
                .min_by_key(|(_, t)| t.serial)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                issued.remove(&oldest);
            }
        }
        if issued.len() >= self.capacity {
            let oldest = issued
                .iter()
                .min_by_key(|(_, t)| t.serial)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                issued.remove(&oldest);
            }
        }
        let serial = self
            .serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        issued.insert(
            ticket.clone(),
            Issued {
                holder,
                owner: owner.to_string(),
                expires: now + self.ttl,
                serial,
            },
        );
        Some(ticket)
    }

    /// Whom `ticket` was issued to, if it is outstanding and not expired; it is used up.
    pub fn redeem(&self, ticket: &str) -> Option<Holder> {
        let issued = self
            .issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(ticket)?;
        (issued.expires > Instant::now()).then_some(issued.holder)
    }
}

/// The ticket offered in a `Sec-WebSocket-Protocol` value (comma-separated subprotocols).
pub fn offered(protocols: &str) -> Option<&str> {
    protocols
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix(PROTOCOL_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::{offered, Holder, Tickets};
    use std::time::Duration;

    fn holder(role: &str) -> Holder {
        Holder {
            role: Some(role.into()),
            identity: Some("ops".into()),
            granted_at: 0,
        }
    }

    #[test]
    fn a_ticket_is_good_once_and_only_until_it_expires() {
        let tickets = Tickets::new(Duration::from_millis(50), 8, 8);
        let ticket = tickets.issue(holder("admin"), "ops").unwrap();
        assert_eq!(ticket.len(), 32);
        assert_eq!(tickets.redeem(&ticket), Some(holder("admin")));
        assert_eq!(tickets.redeem(&ticket), None, "used up");
        let late = tickets.issue(holder("admin"), "ops").unwrap();
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(tickets.redeem(&late), None, "expired");
        assert_eq!(tickets.redeem("nope"), None);
    }

    #[test]
    fn past_capacity_the_oldest_is_forgotten() {
        let tickets = Tickets::new(Duration::from_secs(30), 2, 2);
        let first = tickets.issue(holder("a"), "x").unwrap();
        let second = tickets.issue(holder("b"), "y").unwrap();
        let third = tickets.issue(holder("c"), "z").unwrap();
        assert_eq!(tickets.redeem(&first), None);
        assert_eq!(tickets.redeem(&second), Some(holder("b")));
        assert_eq!(tickets.redeem(&third), Some(holder("c")));
    }

    #[test]
    fn one_owner_cannot_push_out_another_owners_tickets() {
        let tickets = Tickets::new(Duration::from_secs(30), 100, 3);
        let theirs = tickets.issue(holder("admin"), "admin").unwrap();
        let mine: Vec<String> = (0..1024)
            .map(|_| tickets.issue(holder("ro"), "ro").unwrap())
            .collect();
        assert_eq!(tickets.redeem(&theirs), Some(holder("admin")));
        let good = mine.iter().filter(|t| tickets.redeem(t).is_some()).count();
        assert_eq!(good, 3, "only the owner's newest per_owner tickets stay");
    }

    #[test]
    fn the_ticket_is_found_among_offered_subprotocols() {
        assert_eq!(offered("chat, miwa.ticket.abc"), Some("abc"));
        assert_eq!(offered("chat"), None);
    }
}
