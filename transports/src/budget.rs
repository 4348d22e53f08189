//! A byte budget shared by many connections: request bodies being read and replies not
//! yet sent take their size from it and give it back when dropped.
//!
//! Taking and giving back are one atomic operation each, with no lock: every request on
//! every connection passes through the budget, and a lock there made the workers wait on
//! each other. Nobody waits for room: what does not fit is refused at once (the caller
//! answers `503`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// At most `max` bytes taken at once, over all holders.
#[derive(Debug)]
pub struct ByteBudget {
    taken: AtomicUsize,
    max: usize,
}

impl ByteBudget {
    /// A budget of `max` bytes, shared.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            taken: AtomicUsize::new(0),
            max,
        })
    }

    /// Takes `bytes` if they are free, held until the returned share is dropped.
    pub fn take(self: &Arc<Self>, bytes: usize) -> Option<Share> {
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                taken.checked_add(bytes).filter(|&all| all <= self.max)
            })
            .ok()?;
        Some(Share {
            budget: self.clone(),
            bytes,
        })
    }

    /// Bytes taken now.
    pub fn taken(&self) -> usize {
        self.taken.load(Ordering::Acquire)
    }

    /// The budget's size in bytes.
    pub fn max(&self) -> usize {
        self.max
    }
}

/// Bytes held of a [`ByteBudget`], given back on drop.
#[derive(Debug)]
pub struct Share {
    budget: Arc<ByteBudget>,
    bytes: usize,
}

impl Share {
    /// Adds `other`'s bytes to this share (both must be of the same budget).
    pub fn merge(&mut self, mut other: Share) {
        debug_assert!(Arc::ptr_eq(&self.budget, &other.budget));
        self.bytes += std::mem::take(&mut other.bytes);
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget.taken.fetch_sub(self.bytes, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ByteBudget;

    #[test]
    fn takes_up_to_the_edge_and_gives_back_on_drop() {
        let budget = ByteBudget::new(100);
        let most = budget.take(99).expect("99 of 100 bytes fit");
        let last = budget.take(1).expect("the 100th byte fits");
        assert!(
            budget.take(1).is_none(),
            "one byte over the budget is refused"
        );
        assert_eq!(budget.taken(), 100);
        drop(last);
        assert_eq!(budget.taken(), 99);
        drop(most);
        assert_eq!(budget.taken(), 0);
        assert!(budget.take(100).is_some());
        assert_eq!(budget.taken(), 0, "a dropped share gives its bytes back");
    }

    #[test]
    fn merged_shares_give_back_once() {
        let budget = ByteBudget::new(10);
        let mut all = budget.take(4).unwrap();
        all.merge(budget.take(6).unwrap());
        assert_eq!(all.bytes(), 10);
        assert!(budget.take(1).is_none());
        drop(all);
        assert_eq!(budget.taken(), 0);
    }

    #[test]
    fn huge_requests_do_not_overflow() {
        let budget = ByteBudget::new(usize::MAX);
        let _held = budget.take(usize::MAX).unwrap();
        assert!(budget.take(1).is_none());
    }

    #[test]
    fn concurrent_holders_never_exceed_the_budget() {
        let budget = ByteBudget::new(1000);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let budget = budget.clone();
                scope.spawn(move || {
                    for _ in 0..10_000 {
                        if let Some(share) = budget.take(300) {
                            assert!(budget.taken() <= 1000);
                            drop(share);
                        }
                    }
                });
            }
        });
        assert_eq!(budget.taken(), 0);
    }
}
