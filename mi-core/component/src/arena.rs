//! The core's allocator: a bump arena that starts over each time every block it handed out
//! has been freed, over the system allocator (wasi-libc's dlmalloc).
//!
//! An instance keeps nothing from one call to the next: the request, the parsed tree, the
//! reply and the call records are all freed by the end of the call (the reply by the
//! canonical ABI's post-return). So between two calls the arena holds no live block, and
//! the next call bumps from its start again instead of paying `malloc` and `free` for each
//! of its blocks. What outlives calls (the registry, built once) is allocated with the
//! arena bypassed ([`persistent`]). A block that does not fit the arena's [`ARENA_BYTES`]
//! comes from the system allocator, and so would every block if something ever pinned the
//! arena: the arena can only be faster, never hold memory it cannot reuse.
//!
//! Safety rests on the allocator contract (every block freed once, never used after) and
//! on the component being single-threaded: wasm32 instances have one thread.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;

/// The arena's size, bytes: taken from the system allocator on the first allocation.
pub const ARENA_BYTES: usize = 64 << 10;

struct State {
    /// The arena's first byte; 0 until it is taken, `usize::MAX` if it could not be.
    base: usize,
    /// Where the next block goes.
    next: usize,
    /// Blocks handed out and not yet freed.
    live: usize,
    /// Allocating for something that outlives calls.
    bypass: bool,
}

impl State {
    fn contains(&self, ptr: *mut u8) -> bool {
        let at = ptr as usize;
        self.base != usize::MAX && at >= self.base && at < self.base + ARENA_BYTES
    }
}

/// The global allocator of the core component.
pub struct Arena(UnsafeCell<State>);

// SAFETY: a wasm32 component instance runs on one thread; nothing shares the state.
unsafe impl Sync for Arena {}

impl Arena {
    /// An arena not yet taken.
    pub const fn new() -> Arena {
        Arena(UnsafeCell::new(State {
            base: 0,
            next: 0,
            live: 0,
            bypass: false,
        }))
    }

    /// Runs `f` on the state; `f` does not allocate, so it cannot reenter.
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        // SAFETY: single-threaded (see above), and the borrow ends with `f`, which never
        // calls back into the allocator.
        f(unsafe { &mut *self.0.get() })
    }
}

impl Default for Arena {
    fn default() -> Self {
        Arena::new()
    }
}

// SAFETY: blocks come from a region this allocator owns, aligned as asked and never handed
// out twice while live (the bump only restarts when no block is live); anything else is
// the system allocator's.
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.with(|state| state.base == 0) {
            // SAFETY: a non-zero size and a power-of-two alignment.
            let whole = unsafe { Layout::from_size_align_unchecked(ARENA_BYTES, 16) };
            let region = unsafe { System.alloc(whole) };
            self.with(|state| {
                state.base = if region.is_null() {
                    usize::MAX
                } else {
                    region as usize
                };
                state.next = state.base;
            });
        }
        let bumped = self.with(|state| {
            if state.bypass || state.base == usize::MAX {
                return None;
            }
            let start = state.next.next_multiple_of(layout.align());
            let fits = start + layout.size() <= state.base + ARENA_BYTES;
            fits.then(|| {
                state.next = start + layout.size();
                state.live += 1;
                start as *mut u8
            })
        });
        match bumped {
            Some(block) => block,
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let ours = self.with(|state| {
            let ours = state.contains(ptr);
            if ours {
                state.live -= 1;
                if state.live == 0 {
                    state.next = state.base;
                }
            }
            ours
        });
        if !ours {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.with(|state| state.contains(ptr)) {
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        let at = ptr as usize;
        let grown_in_place = self.with(|state| {
            let last = at + layout.size() == state.next;
            let fits = at + new_size <= state.base + ARENA_BYTES;
            if last && fits {
                state.next = at + new_size;
            }
            last && fits
        });
        if grown_in_place {
            return ptr;
        }
        // SAFETY: the caller guarantees `new_size` with `layout`'s alignment is a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        moved
    }
}

/// Runs `build` with every allocation it makes taken from the system allocator: for what
/// lives across calls.
pub fn persistent<T>(arena: &Arena, build: impl FnOnce() -> T) -> T {
    arena.with(|state| state.bypass = true);
    let built = build();
    arena.with(|state| state.bypass = false);
    built
}
