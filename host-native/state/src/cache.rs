//! The `local` key-value store behind `cache_store` / `cache_fetch` / `cache_remove`.

use mi_core::host::CacheError;
use mi_core::json::{self, object, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Entry {
    value: Box<str>,
    expires: Option<Instant>,
}

/// An entry's key: the index of its cache system and the key itself.
type Key = (u16, Box<str>);

/// Accounted bytes of one entry beyond its key and value: its hash-table slot at the
/// table's lowest load, rounded up.
pub(crate) const ENTRY_OVERHEAD: usize = 128;

/// Accounted bytes of an entry's place in the expiry index beyond its copy of the key.
pub(crate) const DEADLINE_OVERHEAD: usize = 96;

/// Heap bytes an allocation of `n` bytes takes: the allocator's 8-byte header, 16-byte
/// granules, 32 bytes at least; nothing for an empty string.
fn heap(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (n + 8).next_multiple_of(16).max(32)
    }
}

/// What an entry costs against `max_bytes`: its key and value as allocated, its table
/// slot, and for an entry that expires its place (and key copy) in the expiry index.
pub(crate) fn entry_cost(key: &str, value: &str, expires: bool) -> usize {
    let index = if expires {
        DEADLINE_OVERHEAD + heap(key.len())
    } else {
        0
    };
    ENTRY_OVERHEAD + heap(key.len()) + heap(value.len()) + index
}

/// Named cache systems sharing one size budget.
pub struct Cache {
    systems: Vec<String>,
    max_bytes: usize,
    inner: Mutex<Store>,
}

/// The entries, their cost, and the entries with an expiry in expiry order, so expired
/// entries are dropped as time passes instead of holding memory until the cache fills.
#[derive(Default)]
struct Store {
    entries: HashMap<Key, Entry>,
    bytes: usize,
    deadlines: BTreeSet<(Instant, Key)>,
}

fn cost_of(key: &Key, entry: &Entry) -> usize {
    entry_cost(&key.1, &entry.value, entry.expires.is_some())
}

impl Store {
    fn remove(&mut self, key: &Key) {
        if let Some(old) = self.entries.remove(key) {
            self.bytes -= cost_of(key, &old);
            if let Some(expires) = old.expires {
                self.deadlines.remove(&(expires, key.clone()));
            }
        }
    }

    /// Drops every entry whose expiry has passed.
    fn purge_expired(&mut self, now: Instant) {
        while self.deadlines.first().is_some_and(|(t, _)| *t <= now) {
            if let Some((_, key)) = self.deadlines.pop_first() {
                if let Some(old) = self.entries.remove(&key) {
                    self.bytes -= cost_of(&key, &old);
                }
            }
        }
        if self.entries.capacity() > 64 && self.entries.len() < self.entries.capacity() / 4 {
            self.entries.shrink_to_fit();
        }
    }
}

impl Cache {
    /// A cache accepting the given system names, its entries costing at most `max_bytes`
    /// (see [`entry_cost`]).
    pub fn new(systems: Vec<String>, max_bytes: usize) -> Self {
        Cache {
            systems,
            max_bytes,
            inner: Mutex::new(Store::default()),
        }
    }

    fn key(&self, system: &str, key: &str) -> Result<Key, CacheError> {
        let index = self
            .systems
            .iter()
            .position(|s| s == system)
            .ok_or(CacheError::UnknownSystem)?;
        Ok((index as u16, key.into()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `value`; `expire` seconds from now (0 = never).
    pub fn store(
        &self,
        system: &str,
        key: &str,
        value: &str,
        expire: u32,
    ) -> Result<(), CacheError> {
        let key = self.key(system, key)?;
        let now = Instant::now();
        let mut store = self.lock();
        store.purge_expired(now);
        let cost = entry_cost(&key.1, value, expire > 0);
        let replaced = store.entries.get(&key).map_or(0, |e| cost_of(&key, e));
        if store.bytes - replaced + cost > self.max_bytes {
            return Err(CacheError::Full);
        }
        store.remove(&key);
        let expires = (expire > 0).then(|| now + Duration::from_secs(u64::from(expire)));
        if let Some(expires) = expires {
            store.deadlines.insert((expires, key.clone()));
        }
        store.bytes += cost;
        store.entries.insert(
            key,
            Entry {
                value: value.into(),
                expires,
            },
        );
        Ok(())
    }

    /// The live value of `key`.
    pub fn fetch(&self, system: &str, key: &str) -> Result<Option<String>, CacheError> {
        let key = self.key(system, key)?;
        let mut store = self.lock();
        store.purge_expired(Instant::now());
        Ok(store.entries.get(&key).map(|entry| entry.value.to_string()))
    }

    /// The live entries of `system` whose key matches `glob` (see
    /// [`mi_core::glob::matches`]), sorted by key.
    pub(crate) fn fetch_matching(
        &self,
        system: &str,
        glob: &str,
    ) -> Result<Vec<(String, String)>, CacheError> {
        let (index, _) = self.key(system, "")?;
        let mut store = self.lock();
        store.purge_expired(Instant::now());
        let mut found: Vec<(String, String)> = store
            .entries
            .iter()
            .filter(|((system, key), _)| *system == index && mi_core::glob::matches(glob, key))
            .map(|((_, key), entry)| (key.to_string(), entry.value.to_string()))
            .collect();
        found.sort();
        Ok(found)
    }

    /// Removes `key` (absent is fine).
    pub fn remove(&self, system: &str, key: &str) -> Result<(), CacheError> {
        let key = self.key(system, key)?;
        self.lock().remove(&key);
        Ok(())
    }

    /// The accounted bytes of every entry (see [`entry_cost`]).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

/// Seconds since the Unix epoch.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Cache {
    /// Writes every live entry to `path` (one JSON object per line: `system`, `key`,
    /// `value`, `expires_at` in Unix seconds or null), atomically and readable by the
    /// daemon's user only. Returns how many entries were written.
    pub(crate) fn save(&self, path: &Path) -> std::io::Result<usize> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let now = Instant::now();
        let unix = unix_now();
        let mut text = String::new();
        let mut count = 0;
        for ((system, key), entry) in self.lock().entries.iter() {
            let system = &self.systems[usize::from(*system)];
            let expires_at = match entry.expires {
                Some(t) if t <= now => continue,
                Some(t) => Value::num((unix + t.duration_since(now).as_secs() as i64 + 1) as f64),
                None => Value::Null,
            };
            text.push_str(&json::to_compact(&object([
                ("system", Value::str(system.clone())),
                ("key", Value::str(key.to_string())),
                ("value", Value::str(entry.value.to_string())),
                ("expires_at", expires_at),
            ])));
            text.push('\n');
            count += 1;
        }
        let temp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        Ok(count)
    }

    /// Restores entries saved by [`Cache::save`]: those expired in the meantime, of unknown
    /// systems, unreadable, or over the size limit are skipped. Returns (restored, skipped).
    pub fn load(&self, path: &Path) -> std::io::Result<(usize, usize)> {
        let text = std::fs::read_to_string(path)?;
        let unix = unix_now();
        let (mut restored, mut skipped) = (0, 0);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let entry = json::parse(line.as_bytes(), 4).ok().and_then(|(v, _)| {
                let text = |name| match v.get_ci(name) {
                    Some(Value::String(s)) => Some(s.clone()),
                    _ => None,
                };
                let expire = match v.get_ci("expires_at") {
                    Some(Value::Number(at)) => {
                        let left = *at as i64 - unix;
                        if left <= 0 {
                            return None;
                        }
                        u32::try_from(left).ok()?
                    }
                    _ => 0,
                };
                Some((text("system")?, text("key")?, text("value")?, expire))
            });
            match entry {
                Some((system, key, value, expire))
                    if self.store(&system, &key, &value, expire).is_ok() =>
                {
                    restored += 1
                }
                _ => skipped += 1,
            }
        }
        Ok((restored, skipped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_limit_edge() {
        let cache = Cache::new(vec!["local".into()], entry_cost("ab", "xyz", false));
        assert_eq!(cache.store("local", "ab", "xyz", 0), Ok(()));
        assert_eq!(
            cache.store("local", "ab", &"x".repeat(25), 0),
            Err(CacheError::Full),
            "25 bytes take a larger allocation than 3"
        );
        assert_eq!(
            cache.store("local", "ab", "xyz", 10),
            Err(CacheError::Full),
            "an expiring entry also costs its place in the expiry index"
        );
        assert_eq!(
            cache.fetch("local", "ab"),
            Ok(Some("xyz".into())),
            "a refused overwrite keeps the old value"
        );
        assert_eq!(cache.store("local", "ab", "123", 0), Ok(()));
        assert_eq!(cache.fetch("local", "ab"), Ok(Some("123".into())));
        assert_eq!(
            cache.store("other", "a", "b", 0),
            Err(CacheError::UnknownSystem)
        );
    }

    #[test]
    fn expired_entries_release_their_memory_as_time_passes() {
        let cache = Cache::new(vec!["local".into()], 1 << 20);
        for i in 0..1000 {
            cache.store("local", &format!("k{i}"), "v", 1).unwrap();
        }
        cache.store("local", "k0", "v", 1).unwrap();
        cache.store("local", "kept", "v", 0).unwrap();
        assert_eq!(
            cache.lock().deadlines.len(),
            1000,
            "a replaced key has one deadline"
        );
        std::thread::sleep(Duration::from_millis(1100));
        cache.store("local", "new", "v", 1).unwrap();
        let store = cache.lock();
        assert_eq!(store.entries.len(), 2, "only 'kept' and 'new' remain");
        assert_eq!(store.deadlines.len(), 1);
        assert_eq!(
            store.bytes,
            entry_cost("kept", "v", false) + entry_cost("new", "v", true)
        );
    }

    #[test]
    fn every_entry_costs_its_overhead() {
        assert_eq!(heap(0), 0);
        assert_eq!(heap(1), 32);
        assert_eq!(heap(24), 32);
        assert_eq!(heap(25), 48);
        let tiny = entry_cost("k", "", false);
        assert_eq!(tiny, ENTRY_OVERHEAD + 32);
        let cache = Cache::new(vec!["local".into()], 100 * tiny);
        let mut stored = 0;
        while cache.store("local", &format!("{stored:x}"), "", 0).is_ok() {
            stored += 1;
        }
        assert_eq!(stored, 100, "empty values still cost their entry");
        assert_eq!(cache.bytes(), 100 * tiny);
        let big = Cache::new(vec!["local".into()], 1 << 20);
        assert_eq!(
            big.store("local", "k", &"v".repeat(1 << 20), 0),
            Err(CacheError::Full)
        );
        big.store("local", "k", &"v".repeat((1 << 20) - 1024), 0)
            .unwrap();
    }

    #[test]
    fn fetches_by_glob() {
        let cache = Cache::new(vec!["local".into(), "other".into()], 1 << 20);
        cache.store("local", "u:b", "2", 0).unwrap();
        cache.store("local", "u:a", "1", 60).unwrap();
        cache.store("local", "x", "3", 0).unwrap();
        cache.store("other", "u:c", "4", 0).unwrap();
        assert_eq!(
            cache.fetch_matching("local", "u:*"),
            Ok(vec![("u:a".into(), "1".into()), ("u:b".into(), "2".into())])
        );
        assert_eq!(
            cache.fetch_matching("nope", "*"),
            Err(CacheError::UnknownSystem)
        );
    }

    #[test]
    fn snapshots_keep_live_entries_and_their_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.snapshot");
        let cache = Cache::new(vec!["local".into()], 1 << 20);
        cache.store("local", "forever", "v1", 0).unwrap();
        cache.store("local", "hour", "v2", 3600).unwrap();
        cache.store("local", "quote\"d", "line\nbreak", 0).unwrap();
        assert_eq!(cache.save(&path).unwrap(), 3);
        std::fs::write(
            &path,
            std::fs::read_to_string(&path).unwrap()
                + "{\"system\":\"local\",\"key\":\"gone\",\"value\":\"x\",\"expires_at\":1}\nnot json\n",
        )
        .unwrap();
        let restored = Cache::new(vec!["local".into()], 1 << 20);
        assert_eq!(restored.load(&path).unwrap(), (3, 2));
        assert_eq!(restored.fetch("local", "forever"), Ok(Some("v1".into())));
        assert_eq!(restored.fetch("local", "hour"), Ok(Some("v2".into())));
        assert_eq!(
            restored.fetch("local", "quote\"d"),
            Ok(Some("line\nbreak".into()))
        );
        assert_eq!(restored.fetch("local", "gone"), Ok(None));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
