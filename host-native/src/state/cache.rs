//! The `local` key-value store behind `cache_store` / `cache_fetch` / `cache_remove`.

use mi_core::host::CacheError;
use std::collections::HashMap;
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

#[derive(Default)]
struct Store {
    entries: HashMap<(String, String), Entry>,
    bytes: usize,
}

fn entry_size(key: &(String, String), value: &str) -> usize {
    key.0.len() + key.1.len() + value.len()
}

impl Store {
    fn remove(&mut self, key: &(String, String)) {
        if let Some(old) = self.entries.remove(key) {
            self.bytes -= entry_size(key, &old.value);
        }
    }

    fn purge_expired(&mut self, now: Instant) {
        let expired: Vec<_> = self
            .entries
            .iter()
            .filter(|(_, e)| e.expires.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            self.remove(&key);
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
        let size = entry_size(&key, value);
        let fits = |store: &Store| {
            let replaced = store
                .entries
                .get(&key)
                .map_or(0, |e| entry_size(&key, &e.value));
            store.bytes - replaced + size <= self.max_bytes
        };
        if !fits(&store) {
            store.purge_expired(now);
            if !fits(&store) {
                return Err(CacheError::Full);
            }
        }
        store.remove(&key);
        let expires = (expire > 0).then(|| now + Duration::from_secs(u64::from(expire)));
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
        match store.entries.get(&key) {
            Some(entry) if entry.expires.is_some_and(|t| t <= Instant::now()) => {
                store.remove(&key);
                Ok(None)
            }
            Some(entry) => Ok(Some(entry.value.clone())),
            None => Ok(None),
        }
    }

    /// Removes `key` (absent is fine).
    pub fn remove(&self, system: &str, key: &str) -> Result<(), CacheError> {
        self.check(system)?;
        self.lock().remove(&(system.to_string(), key.to_string()));
        Ok(())
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
}
