//! The `local` key-value store behind `cache_store` / `cache_fetch` / `cache_remove`.

use mi_core::host::CacheError;
use mi_core::json::{self, object, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Entry {
    value: String,
    expires: Option<Instant>,
}

/// Named cache systems sharing one size budget.
pub struct Cache {
    systems: Vec<String>,
    max_bytes: usize,
    inner: Mutex<Store>,
}

/// The entries, their size, and the entries with an expiry in expiry order, so expired
/// entries are dropped as time passes instead of holding memory until the cache fills.
#[derive(Default)]
struct Store {
    entries: HashMap<(String, String), Entry>,
    bytes: usize,
    deadlines: BTreeSet<(Instant, (String, String))>,
}

fn entry_size(key: &(String, String), value: &str) -> usize {
    key.0.len() + key.1.len() + value.len()
}

impl Store {
    fn remove(&mut self, key: &(String, String)) {
        if let Some(old) = self.entries.remove(key) {
            self.bytes -= entry_size(key, &old.value);
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
                    self.bytes -= entry_size(&key, &old.value);
                }
            }
        }
    }
}

impl Cache {
    /// A cache accepting the given system names, holding at most `max_bytes` of keys and values.
    pub fn new(systems: Vec<String>, max_bytes: usize) -> Self {
        Cache {
            systems,
            max_bytes,
            inner: Mutex::new(Store::default()),
        }
    }

    fn check(&self, system: &str) -> Result<(), CacheError> {
        if self.systems.iter().any(|s| s == system) {
            Ok(())
        } else {
            Err(CacheError::UnknownSystem)
        }
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
        self.check(system)?;
        let key = (system.to_string(), key.to_string());
        let now = Instant::now();
        let mut store = self.lock();
        store.purge_expired(now);
        let size = entry_size(&key, value);
        let replaced = store
            .entries
            .get(&key)
            .map_or(0, |e| entry_size(&key, &e.value));
        if store.bytes - replaced + size > self.max_bytes {
            return Err(CacheError::Full);
        }
        store.remove(&key);
        let expires = (expire > 0).then(|| now + Duration::from_secs(u64::from(expire)));
        if let Some(expires) = expires {
            store.deadlines.insert((expires, key.clone()));
        }
        store.bytes += size;
        store.entries.insert(
            key,
            Entry {
                value: value.to_string(),
                expires,
            },
        );
        Ok(())
    }

    /// The live value of `key`.
    pub fn fetch(&self, system: &str, key: &str) -> Result<Option<String>, CacheError> {
        self.check(system)?;
        let key = (system.to_string(), key.to_string());
        let mut store = self.lock();
        store.purge_expired(Instant::now());
        Ok(store.entries.get(&key).map(|entry| entry.value.clone()))
    }

    /// Removes `key` (absent is fine).
    pub fn remove(&self, system: &str, key: &str) -> Result<(), CacheError> {
        self.check(system)?;
        self.lock().remove(&(system.to_string(), key.to_string()));
        Ok(())
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
    pub fn save(&self, path: &Path) -> std::io::Result<usize> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let now = Instant::now();
        let unix = unix_now();
        let mut text = String::new();
        let mut count = 0;
        for ((system, key), entry) in self.lock().entries.iter() {
            let expires_at = match entry.expires {
                Some(t) if t <= now => continue,
                Some(t) => Value::num((unix + t.duration_since(now).as_secs() as i64 + 1) as f64),
                None => Value::Null,
            };
            text.push_str(&json::to_compact(&object([
                ("system", Value::str(system.clone())),
                ("key", Value::str(key.clone())),
                ("value", Value::str(entry.value.clone())),
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
        let cache = Cache::new(vec!["local".into()], 5 + 2 + 3);
        assert_eq!(cache.store("local", "ab", "xyz", 0), Ok(()));
        assert_eq!(cache.store("local", "ab", "xyzw", 0), Err(CacheError::Full));
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
            entry_size(&("local".into(), "kept".into()), "v")
                + entry_size(&("local".into(), "new".into()), "v")
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
