//! Wrappers of the capabilities a module may be granted. Calling one that was not granted
//! fails the module's call (the daemon links it as a refusal naming the grant).

/// Capability `log`: lines in the daemon's log, tagged with the module's name.
pub mod log {
    use crate::bindings::miwa::module::log as wit;

    /// Writes `message` at an OpenSIPS level (-3 alert … 4 debug).
    pub fn log(level: i32, message: &str) {
        wit::log(level, message);
    }

    /// Writes at level -1 (error).
    pub fn error(message: &str) {
        log(-1, message);
    }

    /// Writes at level 1 (warning).
    pub fn warn(message: &str) {
        log(1, message);
    }

    /// Writes at level 3 (info).
    pub fn info(message: &str) {
        log(3, message);
    }

    /// Writes at level 4 (debug).
    pub fn debug(message: &str) {
        log(4, message);
    }
}

/// Capability `stats`: the statistics the module declared, in its own group.
pub mod stats {
    use crate::bindings::miwa::module::stats as wit;

    /// Adds `delta` (may be negative; the value saturates at 0). False if not declared.
    pub fn add(name: &str, delta: i64) -> bool {
        wit::add(name, delta)
    }

    /// Adds one.
    pub fn increment(name: &str) -> bool {
        add(name, 1)
    }

    /// Sets the value. False if not declared.
    pub fn set(name: &str, value: u64) -> bool {
        wit::set(name, value)
    }

    /// The current value, `None` if not declared.
    pub fn get(name: &str) -> Option<u64> {
        wit::get(name)
    }
}

/// Capability `cache`: the daemon's `local` store, under the module's own key prefix.
pub mod cache {
    use crate::bindings::miwa::module::cache as wit;

    /// The store is at its size limit.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Full;

    /// Stores `value` under `key` for `expire` seconds (0 = never).
    pub fn store(key: &str, value: &str, expire: u32) -> Result<(), Full> {
        wit::store(key, value, expire).map_err(|wit::CacheError::Full| Full)
    }

    /// The value under `key`, if present and not expired.
    pub fn fetch(key: &str) -> Option<String> {
        wit::fetch(key)
    }

    /// Removes `key`.
    pub fn remove(key: &str) {
        wit::remove(key)
    }
}

/// Capability `events`: raise the events declared in the description.
pub mod events {
    use crate::bindings::miwa::module::events as wit;

    /// An event parameter value.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum EventValue {
        /// An integer.
        Int(i32),
        /// A string.
        Text(String),
    }

    /// Why an event was not raised.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum RaiseError {
        /// The module did not declare the event.
        NotDeclared,
        /// Nobody is subscribed.
        NoSubscribers,
        /// Delivery could not be queued.
        Failed,
    }

    /// Raises `event` with named parameters.
    pub fn raise(event: &str, params: &[(&str, EventValue)]) -> Result<(), RaiseError> {
        let params: Vec<(String, wit::EventValue)> = params
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    EventValue::Int(n) => wit::EventValue::Int(*n),
                    EventValue::Text(t) => wit::EventValue::Text(t.clone()),
                };
                (name.to_string(), value)
            })
            .collect();
        wit::raise(event, &params).map_err(|e| match e {
            wit::RaiseError::NotDeclared => RaiseError::NotDeclared,
            wit::RaiseError::NoSubscribers => RaiseError::NoSubscribers,
            wit::RaiseError::Failed => RaiseError::Failed,
        })
    }
}

/// Capability `mi`: run another MI command, like OpenSIPS's mi_script `mi()`.
pub mod mi {
    use crate::bindings::miwa::module::mi as wit;
    use mi_core::json::{self, Value};
    use mi_core::MiError;

    /// Runs a `miwa script` line (`get_statistics statistics=__array(load:)`) and returns
    /// the command's result, or its MI error.
    pub fn call(line: &str) -> Result<Value, MiError> {
        let text = wit::call(line).map_err(|e| MiError {
            code: e.code,
            message: e.message,
            data: e.data,
        })?;
        json::parse(text.as_bytes(), 512)
            .map(|(value, _)| value)
            .map_err(|_| MiError::server_error("mi() returned a result that is not JSON"))
    }
}
