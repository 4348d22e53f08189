//! Per-client shares of a pool: how many of the HTTP listener's connections, WebSocket
//! connections or event streams one client (an address, or a network of addresses) may
//! hold at once, so that idle or slow connections from one source cannot take everyone
//! else's place.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Who counts as one client: addresses within one IPv4 and one IPv6 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientPrefixes {
    /// The IPv4 prefix length (32: each address is a client).
    pub v4: u8,
    /// The IPv6 prefix length (64: each /64 is a client).
    pub v6: u8,
}

impl ClientPrefixes {
    /// The client `peer` belongs to: its address masked to the prefix.
    pub fn client(&self, peer: IpAddr) -> IpAddr {
        match peer {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.v4.min(32)))
                    .unwrap_or(0);
                IpAddr::from((bits & mask).to_be_bytes())
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.v6.min(128)))
                    .unwrap_or(0);
                IpAddr::from((bits & mask).to_be_bytes())
            }
        }
    }
}

/// The shares in use, per client.
#[derive(Debug)]
pub struct ClientShares {
    held: Mutex<HashMap<IpAddr, usize>>,
    per_client: usize,
    prefixes: ClientPrefixes,
    refused: AtomicU64,
}

/// One held share; given back when dropped.
#[derive(Debug)]
pub struct Share {
    shares: Arc<ClientShares>,
    client: IpAddr,
}

impl ClientShares {
    /// At most `per_client` shares for one client of `prefixes`.
    pub fn new(per_client: usize, prefixes: ClientPrefixes) -> Arc<Self> {
        Arc::new(ClientShares {
            held: Mutex::new(HashMap::new()),
            per_client: per_client.max(1),
            prefixes,
            refused: AtomicU64::new(0),
        })
    }

    /// A share for `peer`, or `None` when its client holds `per_client` already.
    pub fn take(self: &Arc<Self>, peer: IpAddr) -> Option<Share> {
        let client = self.prefixes.client(peer);
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let count = held.entry(client).or_insert(0);
        if *count >= self.per_client {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *count += 1;
        Some(Share {
            shares: self.clone(),
            client,
        })
    }

    /// How many clients hold shares now.
    pub fn clients(&self) -> usize {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// How many shares were refused since the start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut held = self.shares.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = held.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_holds_at_most_its_share_and_gives_it_back() {
        let shares = ClientShares::new(2, ClientPrefixes { v4: 24, v6: 64 });
        let a: IpAddr = [10, 0, 0, 1].into();
        let same_net: IpAddr = [10, 0, 0, 200].into();
        let other: IpAddr = [10, 0, 1, 1].into();
        let first = shares.take(a).unwrap();
        let _second = shares.take(same_net).unwrap();
        assert!(shares.take(a).is_none(), "the /24 holds its two");
        assert!(
            shares.take(other).is_some(),
            "another client is not affected"
        );
        drop(first);
        assert!(shares.take(a).is_some(), "a share given back is free again");
        let per_address = ClientShares::new(1, ClientPrefixes { v4: 32, v6: 128 });
        let _one = per_address.take(a).unwrap();
        let _two = per_address
            .take(same_net)
            .expect("another address is another client");
        assert_eq!(per_address.clients(), 2);
        assert_eq!((shares.refused(), per_address.refused()), (1, 0));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let v6_same: IpAddr = "2001:db8::ffff:1".parse().unwrap();
        assert_eq!(
            ClientPrefixes { v4: 32, v6: 64 }.client(v6),
            ClientPrefixes { v4: 32, v6: 64 }.client(v6_same)
        );
    }
}
