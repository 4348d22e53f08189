//! Native stack budgets of the threads that run WebAssembly.
//!
//! wasmtime runs a synchronous call on the calling thread's own stack: the WebAssembly
//! frames may use up to the engine's `max_wasm_stack` below the point of entry, and the
//! host code between nested entries (a core call running a module command whose `mi()`
//! runs the core again, and so on) and the host functions WebAssembly calls use that stack
//! too. A thread whose stack cannot hold every level at its cap overflows its guard page,
//! which aborts the whole process. Two defences, so that no accepted configuration can:
//!
//! - every thread that may run WebAssembly (HTTP workers and the runtime's blocking
//!   threads, datagram and FIFO workers, the thread that loads modules at start) is
//!   spawned with [`StackPlan::thread_stack`] bytes, the worst case of the configuration:
//!   `BASE + levels × (core cap + HOST_FRAMES) + levels × (largest module cap + HOST_FRAMES)`,
//!   where `levels` is 1 plus the deepest `mi_depth` of a module granted `mi` (0 module
//!   levels when no module is declared);
//! - before each entry into WebAssembly, [`check`] makes sure the stack left holds the
//!   callee's cap plus [`HOST_FRAMES`], and refuses the call with a clean error otherwise
//!   (a thread the daemon did not size, or a module loaded later with larger limits than
//!   the threads were sized for, which [`fits`] refuses at load already).

use std::sync::atomic::{AtomicUsize, Ordering};

/// Largest accepted `max_wasm_stack`, of the core and of a module: 64 MiB.
pub const MAX_WASM_STACK: usize = 64 << 20;

/// Deepest accepted module `mi_depth`.
pub const MAX_MI_DEPTH: u32 = 8;

/// Native stack kept for host code at each WebAssembly level: the entry trampolines, the
/// host functions WebAssembly calls, the dispatch between levels.
pub const HOST_FRAMES: usize = 256 << 10;

/// Native stack kept for what runs before the first level: the runtime and transport
/// frames, and native parsing and printing at the deepest accepted nesting.
pub(crate) const BASE: usize = 1 << 20;

/// The smallest stack a WebAssembly thread gets (the Rust default for spawned threads).
pub(crate) const MIN_THREAD_STACK: usize = 2 << 20;

/// Thread stacks are rounded up to this.
const GRANULE: usize = 64 << 10;

/// The stack size the daemon's WebAssembly threads were spawned with; 0 until set.
static THREAD_STACK: AtomicUsize = AtomicUsize::new(0);

/// How deep WebAssembly can nest on one thread, and how much stack each level may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackPlan {
    /// The core's `max_wasm_stack`.
    pub core: usize,
    /// The largest module `max_wasm_stack` (0 without modules).
    pub module: usize,
    /// Nesting levels: 1 plus the deepest `mi_depth` of a module granted `mi`.
    pub levels: usize,
}

impl StackPlan {
    /// The plan of a core with a `max_wasm_stack` of `core` bytes and no modules.
    pub fn core(core: usize) -> StackPlan {
        StackPlan {
            core,
            module: 0,
            levels: 1,
        }
    }

    /// This plan with one more module: its `max_wasm_stack`, and its `mi_depth` if it may
    /// call the MI (`None`: it may not, so it adds no level).
    pub fn with(self, max_wasm_stack: usize, mi_depth: Option<u32>) -> StackPlan {
        let levels = mi_depth.map_or(1, |depth| depth as usize + 1);
        StackPlan {
            core: self.core,
            module: self.module.max(max_wasm_stack),
            levels: self.levels.max(levels),
        }
    }

    /// The worst case: every level at its cap, with host frames, above [`BASE`].
    pub(crate) fn worst_case(&self) -> usize {
        let module_level = if self.module == 0 {
            0
        } else {
            self.module + HOST_FRAMES
        };
        BASE + self.levels * (self.core + HOST_FRAMES + module_level)
    }

    /// The stack a WebAssembly thread is spawned with: the worst case, at least
    /// [`MIN_THREAD_STACK`], rounded up to 64 KiB.
    pub fn thread_stack(&self) -> usize {
        self.worst_case()
            .max(MIN_THREAD_STACK)
            .next_multiple_of(GRANULE)
    }
}

/// Records the stack size the daemon's WebAssembly threads are spawned with.
pub fn set_thread_stack(bytes: usize) {
    THREAD_STACK.store(bytes, Ordering::Relaxed);
}

/// The stack size the daemon's WebAssembly threads were spawned with (`None`: not set,
/// as in a test that builds the runtime itself).
pub fn thread_stack() -> Option<usize> {
    Some(THREAD_STACK.load(Ordering::Relaxed)).filter(|&n| n > 0)
}

/// Whether the daemon's threads can run `plan`: `Err` with the size it needs if not.
pub fn fits(plan: &StackPlan) -> Result<(), usize> {
    match thread_stack() {
        Some(have) if plan.worst_case() > have => Err(plan.thread_stack()),
        _ => Ok(()),
    }
}

/// Runs `work` on a thread of its own with `bytes` of stack, and waits for it: for
/// WebAssembly calls made while the daemon starts, before its sized threads exist.
pub fn on_sized_thread<T: Send>(
    bytes: usize,
    work: impl FnOnce() -> T + Send,
) -> std::io::Result<T> {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("miwa-start".into())
            .stack_size(bytes)
            .spawn_scoped(scope, work)?;
        thread
            .join()
            .map_err(|_| std::io::Error::other("the start-up thread panicked"))
    })
}

/// There is not enough native stack left for a WebAssembly call at its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{left} bytes of native stack left, {needed} needed: calls are nested too deeply")]
pub struct StackShortage {
    /// Bytes left on this thread's stack.
    pub left: usize,
    /// Bytes the call may use: its cap plus [`HOST_FRAMES`].
    pub needed: usize,
}

/// Checks that this thread's stack holds a WebAssembly call of `cap` bytes and its host
/// frames.
pub fn check(cap: usize) -> Result<(), StackShortage> {
    let needed = cap + HOST_FRAMES;
    match stacker::remaining_stack() {
        Some(left) if left < needed => Err(StackShortage { left, needed }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_covers_every_level_at_its_cap() {
        let core = StackPlan::core(512 << 10);
        assert_eq!(core.worst_case(), BASE + (512 << 10) + HOST_FRAMES);
        assert_eq!(core.thread_stack(), MIN_THREAD_STACK);
        let plan = core.with(1 << 20, None).with(256 << 10, Some(4));
        assert_eq!(
            plan,
            StackPlan {
                core: 512 << 10,
                module: 1 << 20,
                levels: 5
            }
        );
        assert_eq!(
            plan.worst_case(),
            BASE + 5 * ((512 << 10) + HOST_FRAMES + (1 << 20) + HOST_FRAMES)
        );
        assert_eq!(plan.thread_stack() % GRANULE, 0);
    }

    #[test]
    fn the_largest_accepted_plan_is_bounded() {
        let plan = StackPlan {
            core: MAX_WASM_STACK,
            module: MAX_WASM_STACK,
            levels: MAX_MI_DEPTH as usize + 1,
        };
        assert!(plan.thread_stack() <= 2 << 30, "{}", plan.thread_stack());
    }

    /// The thread's real stack is measured first: the C library may hand a new thread a
    /// cached stack larger than the one asked for.
    #[test]
    fn a_short_stack_is_refused_before_the_call() {
        let (left, refused, fits) = std::thread::Builder::new()
            .stack_size(512 << 10)
            .spawn(|| {
                let left = stacker::remaining_stack().expect("the stack is known");
                (left, check(left), check(left - HOST_FRAMES - (64 << 10)))
            })
            .unwrap()
            .join()
            .unwrap();
        let shortage = refused.unwrap_err();
        assert_eq!(shortage.needed, left + HOST_FRAMES);
        assert!(shortage.left <= left, "{shortage}");
        assert_eq!(fits, Ok(()));
    }
}
