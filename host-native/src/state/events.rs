//! The event interface: published events, subscribers, and datagram delivery of raised
//! events as JSON-RPC notifications. Delivery runs on its own thread behind a bounded queue,
//! so raising never waits for a subscriber.

use super::processes::ProcessTable;
use mi_core::host::{
    notification, EventParams, EventSubscribers, RaiseError, SubscribeError, Subscriber,
};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Events miwa publishes, in id order.
pub const CORE_EVENTS: [&str; 2] = ["E_CORE_SR_STATUS_CHANGED", "E_CORE_THRESHOLD"];

/// Raised events waiting for delivery, at most.
const QUEUE_DEPTH: usize = 4096;

/// Where a subscriber receives events.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Udp(SocketAddr),
    Unix(PathBuf),
}

/// Parses `udp:<host>:<port>` or `unix:<path>`.
fn parse_socket(socket: &str) -> Option<Target> {
    let (transport, address) = socket.split_once(':')?;
    match transport {
        "udp" => {
            let (host, port) = address.rsplit_once(':')?;
            let port: u16 = port.parse().ok()?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            (host, port).to_socket_addrs().ok()?.next().map(Target::Udp)
        }
        "unix" if !address.is_empty() => Some(Target::Unix(PathBuf::from(address))),
        _ => None,
    }
}

struct Subscription {
    event: usize,
    socket: String,
    target: Target,
    expire: u32,
    since: Instant,
}

impl Subscription {
    fn ttl(&self, now: Instant) -> i64 {
        i64::from(self.expire) - now.duration_since(self.since).as_secs() as i64
    }

    /// OpenSIPS drops a subscriber once `now > since + expire`.
    fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.since).as_secs_f64() > f64::from(self.expire)
    }
}

/// The event registry and its delivery queue.
pub struct Events {
    subscriptions: Mutex<Vec<Subscription>>,
    /// Events declared by modules, numbered after the core's; never removed, so ids and
    /// subscriptions survive a module reload.
    declared: Mutex<Vec<String>>,
    queue: SyncSender<(Target, Vec<u8>)>,
}

impl Events {
    /// The registry, with its delivery thread started (and listed in `processes`).
    pub fn start(processes: Arc<ProcessTable>) -> std::io::Result<Self> {
        let (queue, receiver) = sync_channel(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("event-delivery".into())
            .spawn(move || {
                processes.register_current("event delivery");
                deliver(receiver);
            })?;
        Ok(Events {
            subscriptions: Mutex::new(Vec::new()),
            declared: Mutex::new(Vec::new()),
            queue,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Subscription>> {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        subs.retain(|s| !s.expired(now));
        subs
    }

    /// Published event names, in id order: the core's, then those modules declared.
    pub fn names(&self) -> Vec<String> {
        let declared = self.declared.lock().unwrap_or_else(|e| e.into_inner());
        CORE_EVENTS
            .iter()
            .map(|s| s.to_string())
            .chain(declared.iter().cloned())
            .collect()
    }

    /// Publishes an event a module declared (no effect if it is already published).
    pub fn declare(&self, event: &str) {
        let mut declared = self.declared.lock().unwrap_or_else(|e| e.into_inner());
        if !CORE_EVENTS.contains(&event) && !declared.iter().any(|d| d == event) {
            declared.push(event.to_string());
        }
    }

    fn id(&self, event: &str) -> Option<usize> {
        self.names().iter().position(|e| e == event)
    }

    /// Adds or refreshes a subscription.
    pub fn subscribe(&self, event: &str, socket: &str, expire: u32) -> Result<(), SubscribeError> {
        let event = self.id(event).ok_or(SubscribeError::BadValue)?;
        let target = parse_socket(socket).ok_or(SubscribeError::BadValue)?;
        let mut subs = self.lock();
        let now = Instant::now();
        if let Some(existing) = subs
            .iter_mut()
            .find(|s| s.event == event && s.target == target)
        {
            existing.expire = expire;
            existing.since = now;
            return Ok(());
        }
        subs.insert(
            0,
            Subscription {
                event,
                socket: socket.to_string(),
                target,
                expire,
                since: now,
            },
        );
        Ok(())
    }

    /// Events that have live subscribers, with them (newest first).
    pub fn subscribers(&self) -> Vec<EventSubscribers> {
        let names = self.names();
        let subs = self.lock();
        let now = Instant::now();
        names
            .iter()
            .enumerate()
            .filter_map(|(id, name)| {
                let list: Vec<Subscriber> = subs
                    .iter()
                    .filter(|s| s.event == id)
                    .map(|s| Subscriber {
                        socket: s.socket.clone(),
                        expire: s.expire,
                        ttl: s.ttl(now),
                    })
                    .collect();
                (!list.is_empty()).then(|| EventSubscribers {
                    name: name.to_string(),
                    id: id as u32,
                    subscribers: list,
                })
            })
            .collect()
    }

    /// Queues `event` for every live subscriber.
    pub fn raise(&self, event: &str, params: &EventParams) -> Result<(), RaiseError> {
        let id = self.id(event).ok_or(RaiseError::NotRegistered)?;
        let targets: Vec<Target> = self
            .lock()
            .iter()
            .filter(|s| s.event == id)
            .map(|s| s.target.clone())
            .collect();
        if targets.is_empty() {
            return Err(RaiseError::NoSubscribers);
        }
        let payload = notification(event, params).into_bytes();
        for target in targets {
            match self.queue.try_send((target, payload.clone())) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    tracing::warn!(event, "event queue full, delivery dropped")
                }
                Err(TrySendError::Disconnected(_)) => return Err(RaiseError::Failed),
            }
        }
        Ok(())
    }
}

fn deliver(receiver: Receiver<(Target, Vec<u8>)>) {
    let udp = UdpSocket::bind(("0.0.0.0", 0)).ok();
    let unix = UnixDatagram::unbound().ok();
    for (target, payload) in receiver {
        let sent = match &target {
            Target::Udp(addr) => udp.as_ref().map(|s| s.send_to(&payload, addr)),
            Target::Unix(path) => unix.as_ref().map(|s| s.send_to(&payload, path)),
        };
        if let Some(Err(error)) = sent {
            tracing::debug!(?target, %error, "event delivery failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mi_core::host::EventValue;

    #[test]
    fn socket_syntax() {
        assert_eq!(
            parse_socket("udp:127.0.0.1:9999"),
            Some(Target::Udp("127.0.0.1:9999".parse().unwrap()))
        );
        assert_eq!(
            parse_socket("udp:[::1]:9999"),
            Some(Target::Udp("[::1]:9999".parse().unwrap()))
        );
        assert_eq!(
            parse_socket("unix:/tmp/x.sock"),
            Some(Target::Unix("/tmp/x.sock".into()))
        );
        for bad in [
            "udp:127.0.0.1",
            "udp:127.0.0.1:99999",
            "tcp:1.2.3.4:5",
            "unix:",
            "nothing",
        ] {
            assert_eq!(parse_socket(bad), None, "{bad}");
        }
    }

    #[test]
    fn notification_format() {
        let named = EventParams::Named(vec![
            ("ip".into(), EventValue::Text("10.0.0.1".into())),
            ("port".into(), EventValue::Int(5060)),
        ]);
        assert_eq!(
            notification("E_MY", &named),
            r#"{"jsonrpc":"2.0","method":"E_MY","params":{"ip":"10.0.0.1","port":5060}}"#
        );
        assert_eq!(
            notification("E_MY", &EventParams::None),
            r#"{"jsonrpc":"2.0","method":"E_MY"}"#
        );
        assert_eq!(
            notification("E_MY", &EventParams::Unnamed(vec!["a".into(), "5".into()])),
            r#"{"jsonrpc":"2.0","method":"E_MY","params":["a","5"]}"#
        );
    }
}
