//! The event interface: published events, subscribers, and delivery of raised events as
//! JSON-RPC notifications over `udp:`, `unix:`, `tcp:` and `flatstore:` sockets, and to
//! push channels (`ws:`, `sse:`: the subscribing connection itself).
//!
//! Raising costs the same whatever the number of subscribers: the notification is built
//! once and handed to a fan-out thread that polls for it while events keep coming (a
//! raising request does not wake a thread). The fan-out thread sends to datagram
//! subscribers itself, non-blocking (a full socket buffer is a counted drop), and queues for
//! stream and file subscribers, each of which has its own bounded queue and delivery
//! thread: a slow or dead subscriber only overflows its own queue (counted as dropped).
//!
//! Memory is bounded: a notification is at most `max_event` bytes; the fan-out queue holds
//! at most `fanout_depth` events and `fanout_bytes` bytes, every subscriber's queue at most
//! `queue_depth` events and `queue_bytes` bytes; there are at most `max_subscribers`
//! subscriptions. Notifications held by the events interface are therefore at most
//! `fanout_bytes + max_subscribers × queue_bytes` (a push channel has one queue of
//! `queue_bytes` for its subscriptions, at most `max_per_channel`, and only a channel
//! with a subscription is pushed to).

mod channel;
mod datagram;
mod outlet;
mod target;

pub use channel::on_channel;
pub(crate) use outlet::{on_delivery_thread, DeliverySettings};

use channel::{Channels, Named};
use datagram::DatagramSender;
use mi_core::host::{
    notification, EventParams, EventSubscribers, RaiseError, Statistic, SubscribeError, Subscriber,
};
use outlet::{Outlet, Tally};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use target::Target;

/// Events miwa publishes, in id order.
pub const CORE_EVENTS: [&str; 5] = [
    "E_CORE_SR_STATUS_CHANGED",
    "E_CORE_THRESHOLD",
    "E_CORE_LOG",
    "E_MODULE_LOADED",
    "E_MODULE_UNLOADED",
];

/// Counters of one event.
#[derive(Debug, Default)]
pub(crate) struct EventCounters {
    raised: AtomicU64,
    /// Notifications delivered, over all its subscribers.
    pub sent: AtomicU64,
    /// Notifications dropped, over all its subscribers.
    pub dropped: AtomicU64,
}

struct Subscription {
    event: usize,
    socket: String,
    target: Target,
    expire: u32,
    since: Instant,
    sink: Sink,
}

/// How a subscriber is served.
#[derive(Clone)]
enum Sink {
    /// Datagrams, sent by the fan-out thread.
    Datagram(Arc<Tally>),
    /// Streams and files, through their own queue and thread.
    Stream(Arc<Outlet>),
    /// A push channel, through its connection's queue.
    Push(Arc<transports::push::PushQueue>, Arc<Tally>),
}

impl Sink {
    fn tally(&self) -> &Tally {
        match self {
            Sink::Datagram(tally) | Sink::Push(_, tally) => tally,
            Sink::Stream(outlet) => &outlet.tally,
        }
    }

    fn queued(&self) -> usize {
        match self {
            Sink::Datagram(_) => 0,
            Sink::Stream(outlet) => outlet.queued(),
            Sink::Push(queue, _) => queue.queued(),
        }
    }

    fn queued_bytes(&self) -> usize {
        match self {
            Sink::Datagram(_) => 0,
            Sink::Stream(outlet) => outlet.queued_bytes(),
            Sink::Push(queue, _) => queue.queued_bytes(),
        }
    }
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

/// The subscriptions, shared with the fan-out thread.
#[derive(Default)]
struct Subscriptions {
    list: Mutex<Vec<Subscription>>,
}

impl Subscriptions {
    /// The live subscriptions (expired ones are closed and removed first).
    fn lock(&self) -> MutexGuard<'_, Vec<Subscription>> {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        list.retain(|s| {
            let keep = !s.expired(now);
            if let (false, Sink::Stream(outlet)) = (keep, &s.sink) {
                outlet.close();
            }
            keep
        });
        list
    }
}

/// The event registry and its delivery.
pub struct Events {
    declared: Mutex<Vec<String>>,
    counters: Mutex<Vec<Arc<EventCounters>>>,
    subscriptions: Arc<Subscriptions>,
    fanout: SyncSender<(usize, Arc<[u8]>)>,
    /// Bytes of notifications in the fan-out queue.
    fanout_bytes: Arc<AtomicUsize>,
    settings: DeliverySettings,
    flatstore_dir: Option<PathBuf>,
    channels: Channels,
}

/// How often the fan-out thread looks for raised events while events keep coming: it does
/// not sleep on the channel then, so raising an event does not have to wake a thread, and
/// delivery starts within this period.
const IDLE_POLL: Duration = Duration::from_millis(1);

/// After this long without events the fan-out thread sleeps on the channel (the next
/// raise wakes it), so an idle daemon stays idle.
const POLLING: Duration = Duration::from_millis(200);

/// Most events the fan-out thread takes from its channel at once.
const FANOUT_BATCH: usize = 256;

/// Queues raised events for their subscribers, a batch at a time: one pass over the
/// subscriptions and one push per subscriber for everything that arrived together.
fn fan_out(
    subscriptions: Arc<Subscriptions>,
    receiver: Receiver<(usize, Arc<[u8]>)>,
    queued_bytes: Arc<AtomicUsize>,
    attempts: u32,
) {
    outlet::mark_delivery_thread();
    let mut datagrams = DatagramSender::default();
    let mut batch = Vec::with_capacity(FANOUT_BATCH);
    let mut for_one = Vec::with_capacity(FANOUT_BATCH);
    let mut last_event = Instant::now();
    loop {
        let first = match outlet::spin_then(|| receiver.try_recv().ok()) {
            Some(first) => first,
            None if last_event.elapsed() > POLLING => match receiver.recv() {
                Ok(first) => first,
                Err(_) => return,
            },
            None => match receiver.try_recv() {
                Ok(first) => first,
                Err(TryRecvError::Empty) => {
                    std::thread::sleep(IDLE_POLL);
                    continue;
                }
                Err(TryRecvError::Disconnected) => return,
            },
        };
        last_event = Instant::now();
        batch.push(first);
        while batch.len() < FANOUT_BATCH {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let targets: Vec<(usize, Target, Sink)> = subscriptions
            .lock()
            .iter()
            .map(|s| (s.event, s.target.clone(), s.sink.clone()))
            .collect();
        for (event, target, sink) in &targets {
            let mine = batch
                .iter()
                .filter(|(raised, _)| raised == event)
                .map(|(_, payload)| payload);
            match sink {
                Sink::Datagram(tally) => {
                    for payload in mine {
                        if datagrams.send(target, payload, attempts) {
                            tally.count_sent();
                        } else {
                            tally.count_dropped(1);
                        }
                    }
                }
                Sink::Stream(outlet) => {
                    for_one.extend(mine.cloned());
                    if !for_one.is_empty() {
                        outlet.push(&for_one);
                        for_one.clear();
                    }
                }
                Sink::Push(queue, tally) => {
                    for payload in mine {
                        queue.push(payload.clone(), tally.clone());
                    }
                }
            }
        }
        let taken: usize = batch.iter().map(|(_, payload)| payload.len()).sum();
        queued_bytes.fetch_sub(taken, Ordering::AcqRel);
        batch.clear();
    }
}

impl Events {
    /// The registry, with its fan-out thread started; `flatstore_dir` is where `flatstore:`
    /// subscribers may write (`None`: flatstore is off).
    pub fn start(
        settings: DeliverySettings,
        flatstore_dir: Option<PathBuf>,
    ) -> std::io::Result<Self> {
        let (fanout, receiver) = sync_channel(settings.fanout_depth);
        let subscriptions = Arc::new(Subscriptions::default());
        let shared = subscriptions.clone();
        let fanout_bytes = Arc::new(AtomicUsize::new(0));
        let queued_bytes = fanout_bytes.clone();
        std::thread::Builder::new()
            .name("event-fanout".into())
            .spawn(move || fan_out(shared, receiver, queued_bytes, settings.attempts))?;
        Ok(Events {
            declared: Mutex::new(Vec::new()),
            counters: Mutex::new(
                CORE_EVENTS
                    .iter()
                    .map(|_| Arc::new(EventCounters::default()))
                    .collect(),
            ),
            subscriptions,
            fanout,
            fanout_bytes,
            settings,
            flatstore_dir,
            channels: Channels::new(settings.queue_depth, settings.queue_bytes),
        })
    }

    /// Opens a push channel of `kind` (a connection that receives its events itself).
    pub fn open_channel(&self, kind: transports::push::ChannelKind) -> transports::Channel {
        self.channels.start(kind)
    }

    /// Queues the notification `payload` on channel `id` (a caller's own connection);
    /// `false` when it is gone or its queue is full.
    pub fn push_to_channel(&self, id: transports::ChannelId, payload: &[u8]) -> bool {
        self.channels.push(id, payload)
    }

    /// Closes channel `id`: its subscriptions end and its queue is let go.
    pub fn close_channel(&self, id: transports::ChannelId) {
        self.subscriptions
            .lock()
            .retain(|s| s.target != Target::Channel(id));
        self.channels.end(id);
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
            self.counters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Arc::new(EventCounters::default()));
        }
    }

    fn id(&self, event: &str) -> Option<usize> {
        CORE_EVENTS.iter().position(|e| *e == event).or_else(|| {
            let declared = self.declared.lock().unwrap_or_else(|e| e.into_inner());
            declared
                .iter()
                .position(|d| d == event)
                .map(|i| i + CORE_EVENTS.len())
        })
    }

    fn counters(&self, id: usize) -> Arc<EventCounters> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())[id].clone()
    }

    /// Adds or refreshes a subscription.
    pub fn subscribe(&self, event: &str, socket: &str, expire: u32) -> Result<(), SubscribeError> {
        let event = self.id(event).ok_or(SubscribeError::BadValue)?;
        let (target, queue) = match self.channels.resolve(socket) {
            Named::Own(id, queue) => (Target::Channel(id), Some(queue)),
            Named::Refused => return Err(SubscribeError::BadValue),
            Named::NotAChannel => (
                target::parse(socket, self.flatstore_dir.as_deref())
                    .ok_or(SubscribeError::BadValue)?,
                None,
            ),
        };
        let mut subs = self.subscriptions.lock();
        let now = Instant::now();
        if let Some(existing) = subs
            .iter_mut()
            .find(|s| s.event == event && s.target == target)
        {
            existing.expire = expire;
            existing.since = now;
            return Ok(());
        }
        if subs.len() >= self.settings.max_subscribers {
            // Logging may raise E_CORE_LOG, which needs the subscriptions: unlock first.
            drop(subs);
            tracing::warn!(
                socket,
                limit = self.settings.max_subscribers,
                "subscription refused: events.max_subscribers reached"
            );
            return Err(SubscribeError::TooMany);
        }
        if let Target::Channel(id) = target {
            let here = subs.iter().filter(|s| s.target == target).count();
            if here >= self.settings.max_per_channel {
                drop(subs);
                tracing::warn!(
                    channel = id,
                    limit = self.settings.max_per_channel,
                    "subscription refused: events.max_per_channel reached"
                );
                return Err(SubscribeError::TooMany);
            }
        }
        let socket = match target {
            Target::Channel(id) => self.channels.socket(id).unwrap_or_default(),
            _ => socket.to_string(),
        };
        let sink = match target {
            Target::Udp(_) | Target::Unix(_) => {
                Sink::Datagram(Arc::new(Tally::new(self.counters(event))))
            }
            Target::Tcp(_) | Target::Flatstore(_) => Sink::Stream(
                Outlet::start(target.clone(), self.settings, self.counters(event))
                    .map_err(|_| SubscribeError::BadValue)?,
            ),
            Target::Channel(_) => Sink::Push(
                queue.ok_or(SubscribeError::BadValue)?,
                Arc::new(Tally::new(self.counters(event))),
            ),
        };
        subs.insert(
            0,
            Subscription {
                event,
                socket,
                target,
                expire,
                since: now,
                sink,
            },
        );
        Ok(())
    }

    /// Events that have live subscribers, with them (newest first).
    pub fn subscribers(&self) -> Vec<EventSubscribers> {
        let names = self.names();
        let subs = self.subscriptions.lock();
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

    /// Whether `event` has a live subscriber (a cheap check before building its params).
    pub fn subscribed(&self, event: &str) -> bool {
        self.id(event)
            .is_some_and(|id| self.subscriptions.lock().iter().any(|s| s.event == id))
    }

    /// Whether `event` has a subscriber that has not expired.
    pub fn listened(&self, event: &str) -> bool {
        let now = Instant::now();
        self.id(event).is_some_and(|id| {
            self.subscriptions
                .lock()
                .iter()
                .any(|s| s.event == id && !s.expired(now))
        })
    }

    /// Queues `event` for every live subscriber; returns at once.
    pub fn raise(&self, event: &str, params: &EventParams) -> Result<(), RaiseError> {
        let id = self.id(event).ok_or(RaiseError::NotRegistered)?;
        if !self.subscriptions.lock().iter().any(|s| s.event == id) {
            return Err(RaiseError::NoSubscribers);
        }
        let payload: Arc<[u8]> = notification(event, params).into_bytes().into();
        let counters = self.counters(id);
        let size = payload.len();
        if size > self.settings.max_event {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                event,
                bytes = size,
                limit = self.settings.max_event,
                "event refused: over events.max_event"
            );
            return Err(RaiseError::TooLarge);
        }
        let limit = self.settings.fanout_bytes;
        let reserved =
            self.fanout_bytes
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                    (held + size <= limit).then_some(held + size)
                });
        if reserved.is_err() {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(RaiseError::Failed);
        }
        match self.fanout.try_send((id, payload)) {
            Ok(()) => {
                counters.raised.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                self.fanout_bytes.fetch_sub(size, Ordering::AcqRel);
                counters.dropped.fetch_add(1, Ordering::Relaxed);
                Err(RaiseError::Failed)
            }
            Err(TrySendError::Disconnected(_)) => {
                self.fanout_bytes.fetch_sub(size, Ordering::AcqRel);
                Err(RaiseError::Failed)
            }
        }
    }

    /// Statistics: group `events` (per event: raised, sent, dropped) and group
    /// `event_subscribers` (per live subscriber: sent, dropped, queued, queued_bytes).
    pub fn statistics(&self) -> Vec<Statistic> {
        let stat = |group: &str, name: String, value: u64, incremental| Statistic {
            group: group.into(),
            name,
            value,
            incremental,
        };
        let names = self.names();
        let counters = self
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut out = Vec::new();
        for (name, c) in names.iter().zip(counters.iter()) {
            out.push(stat(
                "events",
                format!("{name}_raised"),
                c.raised.load(Ordering::Relaxed),
                true,
            ));
            out.push(stat(
                "events",
                format!("{name}_sent"),
                c.sent.load(Ordering::Relaxed),
                true,
            ));
            out.push(stat(
                "events",
                format!("{name}_dropped"),
                c.dropped.load(Ordering::Relaxed),
                true,
            ));
        }
        for s in self.subscriptions.lock().iter() {
            let key = format!("{}/{}", names[s.event], s.socket);
            out.push(stat(
                "event_subscribers",
                format!("{key}/sent"),
                s.sink.tally().sent.load(Ordering::Relaxed),
                false,
            ));
            out.push(stat(
                "event_subscribers",
                format!("{key}/dropped"),
                s.sink.tally().dropped.load(Ordering::Relaxed),
                false,
            ));
            out.push(stat(
                "event_subscribers",
                format!("{key}/queued"),
                s.sink.queued() as u64,
                false,
            ));
            out.push(stat(
                "event_subscribers",
                format!("{key}/queued_bytes"),
                s.sink.queued_bytes() as u64,
                false,
            ));
        }
        out
    }

    /// Resets one `events` counter; false if `name` is not one.
    pub fn reset_statistic(&self, name: &str) -> bool {
        let names = self.names();
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        for (event, c) in names.iter().zip(counters.iter()) {
            let Some(kind) = name.strip_prefix(event.as_str()) else {
                continue;
            };
            let counter = match kind {
                "_raised" => &c.raised,
                "_sent" => &c.sent,
                "_dropped" => &c.dropped,
                _ => continue,
            };
            counter.store(0, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// Resets every `events` counter.
    pub fn reset_all_statistics(&self) {
        for c in self
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            c.raised.store(0, Ordering::Relaxed);
            c.sent.store(0, Ordering::Relaxed);
            c.dropped.store(0, Ordering::Relaxed);
        }
    }
}
