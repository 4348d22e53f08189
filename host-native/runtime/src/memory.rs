//! One budget for the linear memory of every WebAssembly instance in the daemon, the core's
//! and every module's (`core.max_total_memory`). Each instance's own cap (`max_memory`)
//! still applies; the budget bounds their sum, so no combination of instance counts and
//! caps can take more memory than configured. A growth past the budget is refused like a
//! growth past the instance's cap: that call traps and gets an MI error, nothing else.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Largest accepted linear-memory cap (`max_memory`) of one instance: 4 GiB, all a 32-bit
/// WebAssembly memory can address.
pub const MAX_MEMORY: usize = 4 << 30;

/// The daemon-wide linear-memory budget.
#[derive(Debug)]
pub struct MemoryBudget {
    used: AtomicUsize,
    limit: usize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(MemoryBudget {
            used: AtomicUsize::new(0),
            limit,
        })
    }

    /// Bytes of linear memory the live instances hold.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// The budget, bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// What one instance holds of the budget; given back when the instance (its store) is
/// dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<MemoryBudget>,
    size: usize,
}

impl Reservation {
    /// A reservation of nothing yet against `budget`.
    pub fn new(budget: Arc<MemoryBudget>) -> Self {
        Reservation { budget, size: 0 }
    }

    /// Grows the reservation to `desired` bytes; false (and unchanged) if the budget has
    /// no room for the difference.
    pub fn grow_to(&mut self, desired: usize) -> bool {
        let extra = desired.saturating_sub(self.size);
        let limit = self.budget.limit;
        let reserved = self
            .budget
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(extra).filter(|&total| total <= limit)
            });
        if reserved.is_ok() {
            self.size = self.size.max(desired);
        }
        reserved.is_ok()
    }

    /// The budget this reservation draws on.
    pub fn budget(&self) -> &MemoryBudget {
        &self.budget
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.size, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_bounds_the_sum_and_comes_back_on_drop() {
        let budget = MemoryBudget::new(10 << 20);
        let mut a = Reservation::new(budget.clone());
        let mut b = Reservation::new(budget.clone());
        assert!(a.grow_to(6 << 20));
        assert!(b.grow_to(4 << 20), "exactly at the limit");
        assert!(!b.grow_to((4 << 20) + 1), "one byte over");
        assert_eq!(budget.used(), 10 << 20);
        drop(a);
        assert_eq!(budget.used(), 4 << 20);
        assert!(b.grow_to(9 << 20));
        drop(b);
        assert_eq!(budget.used(), 0);
    }
}
