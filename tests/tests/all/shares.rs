//! No module takes more than its share of what the daemon shares: blocking threads,
//! descriptors, host memory. Each test drives a module (the sandbox fixture, hoarding as a
//! hostile module would) to its limit, checks that `uptime` still answers over HTTP, the
//! FIFO and UDP within 100 ms, and that the module gets an error naming its limit.
//! (Its log rate and one client's connections are tested in `module_worlds` and
//! `http_limits`.)

use miwa_tests::{module_table, rss_bytes, uptime_everywhere, Daemon};
use serde_json::json;
use std::time::{Duration, Instant};

const PROMPT: Duration = Duration::from_millis(100);

fn sandboxed(keys: &str) -> Daemon {
    Daemon::start(&module_table("sandbox", "sandbox", keys)).expect("daemon starts")
}

fn stat(daemon: &Daemon, name: &str) -> u64 {
    let group = format!("{}:", name.split(':').next().unwrap());
    let stats = daemon.result("get_statistics", json!([[group]]));
    stats[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name}: {stats}"))
}

/// A line of `/proc/<pid>/status`, as a number.
fn proc_status(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn opens_stuck_on_a_fifo_take_only_the_modules_own_blocking_threads() {
    let (shared, fifo) = miwa_tests::dir_with_stuck_fifo();
    let dir = shared.path().display().to_string();
    let daemon = sandboxed(&format!(
        "grants = [\"files\"]\nread_only_dirs = [\"{dir}\"]\ntimeout_ms = 50\nio_timeout_ms = 500\nmax_blocking = 2"
    ));
    let list = json!([format!("{dir}/list.txt")]);
    assert_eq!(daemon.result("sandbox_read", list.clone()), "gw1\n");
    let stuck = json!([fifo.display().to_string()]);
    for _ in 0..2 {
        let message = daemon.failure("sandbox_read", stuck.clone());
        assert!(
            message.contains("500 ms I/O limit (io_timeout_ms)"),
            "{message}"
        );
    }
    assert_eq!(stat(&daemon, "sandbox:blocking_threads"), 2);
    uptime_everywhere(&daemon, PROMPT).unwrap();

    let threads = proc_status(daemon.pid(), "Threads:");
    let busy = "module 'sandbox' had all 2 of its blocking threads busy (max_blocking) with file or name operations that have not returned; a file operation was refused";
    for _ in 0..50 {
        let asked = Instant::now();
        assert_eq!(daemon.failure("sandbox_read", list.clone()), busy);
        assert!(
            asked.elapsed() < Duration::from_millis(500),
            "refused without waiting for I/O: {:?}",
            asked.elapsed()
        );
    }
    assert_eq!(daemon.failure("sandbox_read", stuck.clone()), busy);
    assert!(
        proc_status(daemon.pid(), "Threads:") <= threads + 2,
        "51 more stuck reads start no threads"
    );
    assert_eq!(stat(&daemon, "sandbox:blocking_refused"), 51);
    uptime_everywhere(&daemon, PROMPT).unwrap();

    // Loaded again, the module finds its stuck threads still its own: a stuck read after
    // each reload is refused, and no thread is left behind uncounted.
    for _ in 0..5 {
        assert_eq!(
            daemon.result("module_reload", json!({"name": "sandbox"})),
            "OK"
        );
        assert_eq!(stat(&daemon, "sandbox:blocking_threads"), 2);
        assert_eq!(daemon.failure("sandbox_read", stuck.clone()), busy);
    }
    assert!(
        proc_status(daemon.pid(), "Threads:") <= threads + 2,
        "reloads leave no stuck thread behind"
    );

    // A writer comes: the stuck opens return, the threads end, the module reads again.
    drop(std::fs::OpenOptions::new().write(true).open(&fifo).unwrap());
    eventually("the blocking threads end", || {
        stat(&daemon, "sandbox:blocking_threads") == 0
    });
    assert_eq!(daemon.result("sandbox_read", list), "gw1\n");
}

/// A loopback listener that accepts and keeps every connection; the count kept so far.
fn keeper() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let kept = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = kept.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in listener.incoming().flatten() {
            held.push(connection);
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    (address, kept)
}

#[test]
fn connections_kept_across_calls_stop_at_max_descriptors() {
    let (address, _kept) = keeper();
    let daemon = sandboxed(&format!(
        "grants = [\"tcp\"]\nallowed_tcp = [\"{address}\"]\nmax_descriptors = 8\nmax_instances = 1"
    ));
    let pid = daemon.pid();
    let before = open_descriptors(pid);
    for _ in 0..8 {
        assert_eq!(
            daemon.result("sandbox_hold", json!([address.to_string()])),
            "held"
        );
    }
    assert_eq!(stat(&daemon, "sandbox:descriptors"), 8);
    assert!(open_descriptors(pid) >= before + 8);
    uptime_everywhere(&daemon, PROMPT).unwrap();

    assert_eq!(
        daemon.failure("sandbox_hold", json!([address.to_string()])),
        "module 'sandbox' holds 8 descriptors (files, sockets, HTTP connections), its limit (max_descriptors 8); one more was refused"
    );
    assert_eq!(stat(&daemon, "sandbox:descriptors_refused"), 1);
    assert_eq!(
        stat(&daemon, "sandbox:descriptors"),
        0,
        "the failed instance was dropped, and its connections with it"
    );
    assert!(
        open_descriptors(pid) <= before + 2,
        "{} descriptors open, {before} before",
        open_descriptors(pid)
    );
    assert_eq!(
        daemon.result("sandbox_hold", json!([address.to_string()])),
        "held"
    );
    uptime_everywhere(&daemon, PROMPT).unwrap();
}

#[test]
fn header_maps_kept_by_a_module_count_against_max_host_memory() {
    let daemon = sandboxed(
        "grants = [\"http\"]\nmax_host_memory = 2097152\nmax_instances = 1\ntimeout_ms = 5000",
    );
    assert_eq!(daemon.result("sandbox_fields", json!([5])), "kept");
    let held = stat(&daemon, "sandbox:host_memory");
    assert!((500_000..1_000_000).contains(&held), "{held}");
    assert_eq!(daemon.result("sandbox_fields", json!([5])), "kept");
    let held = stat(&daemon, "sandbox:host_memory");
    assert!(held >= 1_000_000, "kept across calls: {held}");
    uptime_everywhere(&daemon, PROMPT).unwrap();

    let message = daemon.failure("sandbox_fields", json!([15]));
    assert!(
        message.starts_with("module 'sandbox' held ")
            && message.ends_with(
                " bytes of host memory (wasi:http fields, bodies, handles), over its limit (max_host_memory 2097152)"
            ),
        "{message}"
    );
    assert_eq!(stat(&daemon, "sandbox:host_memory"), 0);

    // 6,000 maps of 100 KB would be 600 MB; the call ends long before.
    let rss = rss_bytes(daemon.pid());
    let message = daemon.failure("sandbox_fields", json!([6000]));
    assert!(message.contains("(max_host_memory 2097152)"), "{message}");
    let grown = rss_bytes(daemon.pid()).saturating_sub(rss);
    assert!(grown < 64 << 20, "the daemon grew by {grown} bytes");
    assert_eq!(stat(&daemon, "sandbox:host_memory_refused"), 2);
    uptime_everywhere(&daemon, PROMPT).unwrap();
    assert_eq!(daemon.result("sandbox_fields", json!([1])), "kept");
}

#[test]
fn share_limits_out_of_range_refuse_the_start_naming_the_key() {
    for keys in [
        "max_blocking = 0",
        "max_descriptors = 0",
        "max_host_memory = 1024",
        "max_handles = 10",
    ] {
        let error = format!(
            "{:#}",
            Daemon::start(&module_table("sandbox", "sandbox", keys))
                .err()
                .expect("refused")
        );
        let key = keys.split(' ').next().unwrap();
        assert!(
            error.contains(key) && error.contains("modules.sandbox"),
            "{keys}: {error}"
        );
    }
}

#[test]
fn handles_past_max_handles_end_the_call_naming_the_limit() {
    let daemon = sandboxed("grants = [\"http\"]\nmax_handles = 64\nmax_instances = 1");
    assert_eq!(daemon.result("sandbox_fields", json!([10])), "kept");
    assert_eq!(
        daemon.failure("sandbox_fields", json!([60])),
        "module 'sandbox' held 64 handles, its limit (max_handles); one more was refused"
    );
    assert_eq!(daemon.result("sandbox_fields", json!([10])), "kept");
}
