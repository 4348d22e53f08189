//! Start-up hand-shake between a transport and the threads it spawns: `start` returns only
//! once every thread has been listed as a process, so `ps` right after the start shows all
//! of them.

use std::sync::mpsc::{channel, Receiver, Sender};

/// Collects one "listed" signal per spawned thread.
pub(crate) struct Listing {
    listed: Sender<()>,
    all: Receiver<()>,
    expected: usize,
}

impl Listing {
    pub(crate) fn new() -> Self {
        let (listed, all) = channel();
        Self {
            listed,
            all,
            expected: 0,
        }
    }

    /// The signal one more thread sends once it has called `thread_started`.
    pub(crate) fn signal(&mut self) -> Sender<()> {
        self.expected += 1;
        self.listed.clone()
    }

    /// Waits for every thread given a signal; a thread that ended without signalling
    /// (a panic) ends the wait instead of blocking it.
    pub(crate) fn wait(self) {
        drop(self.listed);
        for _ in 0..self.expected {
            if self.all.recv().is_err() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Listing;

    #[test]
    fn waits_for_every_thread() {
        let listed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut listing = Listing::new();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (signal, listed) = (listing.signal(), listed.clone());
                std::thread::spawn(move || {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    listed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let _ = signal.send(());
                })
            })
            .collect();
        listing.wait();
        assert_eq!(listed.load(std::sync::atomic::Ordering::SeqCst), 4);
        threads.into_iter().for_each(|t| t.join().unwrap());
    }

    #[test]
    fn a_thread_that_never_signals_ends_the_wait() {
        let mut listing = Listing::new();
        let signal = listing.signal();
        let thread = std::thread::spawn(move || drop(signal));
        listing.wait();
        thread.join().unwrap();
    }
}
