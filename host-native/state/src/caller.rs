//! Who runs the request being handled on this thread, for `whoami`: set by the
//! dispatcher around each request (the outermost layer wins: the front, which knows the
//! nodes a role may reach, before miwa's own dispatcher), read by the host when the core
//! asks.

use mi_core::host::CallerFacts;
use std::cell::RefCell;

thread_local! {
    static CURRENT: RefCell<Option<CallerFacts>> = const { RefCell::new(None) };
}

/// Runs `f` with the caller `facts` make as the caller of what it handles on this thread,
/// unless an outer layer set one already (then `facts` is not called).
pub fn as_caller<R>(facts: impl FnOnce() -> CallerFacts, f: impl FnOnce() -> R) -> R {
    let set_here = CURRENT.with(|current| {
        let mut current = current.borrow_mut();
        if current.is_some() {
            return false;
        }
        *current = Some(facts());
        true
    });
    let result = f();
    if set_here {
        CURRENT.with(|current| current.borrow_mut().take());
    }
    result
}

/// The caller of the request being handled on this thread, if a dispatcher set one.
pub(crate) fn current() -> Option<CallerFacts> {
    CURRENT.with(|current| current.borrow().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(role: &str) -> CallerFacts {
        CallerFacts {
            transport: "http".into(),
            role: role.into(),
            identity: None,
            nodes: None,
        }
    }

    #[test]
    fn the_outer_layer_sets_the_caller_for_the_request_only() {
        assert_eq!(current(), None);
        let inner = as_caller(|| facts("outer"), || as_caller(|| facts("inner"), current));
        assert_eq!(inner.map(|c| c.role), Some("outer".to_string()));
        assert_eq!(current(), None);
    }
}
