//! The WASI a module sees: wasmtime-wasi's preview-2 implementation with a context that
//! denies by default, linked for every module so that a module built by any toolchain
//! (whose runtime imports WASI on its own) instantiates.
//!
//! Secure defaults, per instance:
//! - no environment variables, no arguments, stdin closed, stdout discarded, stderr kept
//!   as its last 4 KiB ([`stderr`]) to quote when a call fails;
//! - no preopened directory: no file can be opened;
//! - no network: every socket address is refused, no name lookups, no UDP;
//! - wall and monotonic clocks and randomness (at most 64 KiB per request) work: they
//!   reach nothing outside the sandbox, and language runtimes need them to start.
//!
//! Grants open parts of it: `files` preopens the module's `read_only_dirs`, read-only, at
//! the same paths; `tcp` allows outgoing TCP connections (and name lookups) to the
//! addresses its `allowed_tcp` patterns ([`allow`]) allow, nothing else (no listening, no
//! UDP); `http` allows outgoing HTTP(S) through `wasi:http` to its
//! `allowed_outbound_hosts` ([`http`]). `wasi:io` ([`io`]) and `wasi:filesystem/types`
//! ([`fs`]) are this daemon's own: every wait on a stream, a socket or the disk is bounded
//! by the call's I/O budget.
//!
//! What a module may take of what the daemon shares: a module granted I/O runs its
//! blocking work on its own threads ([`blocking`]); its descriptors, host memory
//! ([`holdings`]) and handles (`max_handles` an instance) are bounded.

pub mod allow;
pub mod blocking;
pub mod fs;
pub(crate) mod holdings;
pub mod http;
pub mod io;
pub mod sockets;
pub mod stderr;

use crate::settings::ModuleConfig;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::cli::{WasiCli, WasiCliView as _};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView as _};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView as _};
use wasmtime_wasi::p2::bindings::sockets::tcp_create_socket as sync_sockets_create;
use wasmtime_wasi::p2::bindings::{self as wasi, sync};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView as _};
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView as _};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView};

/// Largest `get-random-bytes` answer, bytes.
const MAX_RANDOM_BYTES: u64 = 1 << 16;

/// What an instance holds of WASI: its context, its resources and its I/O budget.
pub(crate) struct ModuleWasi {
    ctx: WasiCtx,
    table: ResourceTable,
    http: wasmtime_wasi_http::WasiHttpCtx,
    outbound: http::Outbound,
    /// The I/O budget of the current call.
    pub budget: io::IoBudget,
    /// What the module wrote to standard error lately.
    pub stderr: stderr::StderrTail,
    /// The descriptors and host memory it holds.
    pub holdings: holdings::Holdings,
    io: Option<Arc<blocking::ModuleIo>>,
}

/// A module's sandbox as its grants and allow-lists open it, parsed once when the module
/// loads and shared by all its instances.
#[derive(Debug)]
pub(crate) struct Sandbox {
    /// Directories preopened read-only (`files`), at the same paths.
    pub(crate) read_only_dirs: Vec<std::path::PathBuf>,
    /// Where outgoing TCP may connect (`tcp`); `None` without the grant.
    pub(crate) tcp: Option<Arc<Vec<allow::Pattern>>>,
    /// Where outgoing HTTP may go (`http`); empty without the grant.
    pub(crate) http: Arc<Vec<http::UrlPattern>>,
    max_http_response: usize,
    io_timeout: Duration,
    max_handles: usize,
    /// Its I/O runtime, when granted `files`, `tcp` or `http`.
    pub io: Option<Arc<blocking::ModuleIo>>,
    /// Its descriptors and host memory.
    pub shares: Arc<holdings::Shares>,
}

impl Sandbox {
    /// The sandbox of module `name`, configured by `config`, its I/O runtime (if it does
    /// I/O) taken from `runtimes`; an error if that runtime cannot start.
    pub fn new(
        name: &str,
        config: &ModuleConfig,
        runtimes: &blocking::IoRuntimes,
    ) -> std::io::Result<Sandbox> {
        let io = config
            .does_io()
            .then(|| runtimes.get(name, config.max_blocking))
            .transpose()?;
        let mut sandbox = Sandbox {
            read_only_dirs: Vec::new(),
            tcp: None,
            http: Arc::new(Vec::new()),
            max_http_response: config.max_http_response,
            io_timeout: Duration::from_millis(config.io_timeout_ms),
            max_handles: config.max_handles,
            io,
            shares: Arc::new(holdings::Shares::new(
                config.max_descriptors,
                config.max_host_memory,
            )),
        };
        for grant in &config.grants {
            crate::capability::of(*grant).prepare(config, &mut sandbox);
        }
        Ok(sandbox)
    }
}

impl ModuleWasi {
    /// The context of one instance in `sandbox`.
    pub fn new(sandbox: &Sandbox) -> anyhow::Result<ModuleWasi> {
        let mut builder = WasiCtxBuilder::new();
        builder.max_random_size(MAX_RANDOM_BYTES);
        let stderr = stderr::StderrTail::default();
        builder.stderr(stderr.clone());
        for dir in &sandbox.read_only_dirs {
            let guest = dir.to_string_lossy();
            builder
                .preopened_dir(dir, guest.as_ref(), FsPerms::ReadOnly)
                .map_err(|e| anyhow::anyhow!("read_only_dirs: {}: {e}", dir.display()))?;
        }
        builder.allow_udp(false);
        if let Some(patterns) = &sandbox.tcp {
            let patterns = patterns.clone();
            builder
                .allow_tcp(true)
                .allow_ip_name_lookup(true)
                .socket_addr_check(move |address, usage| {
                    let patterns = patterns.clone();
                    Box::pin(async move {
                        use wasmtime_wasi::sockets::SocketAddrUse;
                        match usage {
                            SocketAddrUse::TcpConnect => {
                                allow::any_allows(&patterns, address).await
                            }
                            SocketAddrUse::TcpBind => {
                                address.ip().is_unspecified() && address.port() == 0
                            }
                            _ => false,
                        }
                    })
                });
        } else {
            builder.allow_tcp(false);
        }
        let mut table = ResourceTable::new();
        table.set_max_capacity(sandbox.max_handles);
        Ok(ModuleWasi {
            ctx: builder.build(),
            table,
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            outbound: http::Outbound::new(
                sandbox.http.clone(),
                sandbox.max_http_response,
                sandbox.shares.clone(),
            ),
            budget: io::IoBudget::new(sandbox.io_timeout),
            stderr,
            holdings: holdings::Holdings::new(sandbox.shares.clone()),
            io: sandbox.io.clone(),
        })
    }

    /// Measures what the instance holds again; [`holdings::HostMemoryLimit`] if its
    /// module is over `max_host_memory`.
    pub(crate) fn check_memory(&mut self) -> Result<(), holdings::HostMemoryLimit> {
        self.holdings.memory(&mut self.table)
    }

    /// The view wasmtime-wasi-http's host functions take.
    pub(crate) fn http_view(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }

    /// The view wasmtime-wasi's host functions take.
    pub fn view(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// Something that holds an instance's [`ModuleWasi`].
pub(crate) trait HasWasi: wasmtime_wasi::WasiView {
    /// The instance's WASI state.
    fn wasi(&mut self) -> &mut ModuleWasi;
}

struct Table;

impl HasData for Table {
    type Data<'a> = &'a mut ResourceTable;
}

fn bounded<T: HasWasi>(t: &mut T) -> io::BoundedIo<'_> {
    let wasi = t.wasi();
    io::BoundedIo {
        table: &mut wasi.table,
        budget: &mut wasi.budget,
        holdings: &mut wasi.holdings,
    }
}

fn bounded_fs<T: HasWasi>(t: &mut T) -> fs::BoundedFs<'_> {
    let wasi = t.wasi();
    fs::BoundedFs {
        fs: wasmtime_wasi::filesystem::WasiFilesystemCtxView {
            ctx: wasi.ctx.filesystem(),
            table: &mut wasi.table,
        },
        budget: &mut wasi.budget,
        holdings: &mut wasi.holdings,
        io: wasi.io.as_deref(),
    }
}

fn counted_sockets<T: HasWasi>(t: &mut T) -> sockets::CountedSockets<'_> {
    let wasi = t.wasi();
    sockets::CountedSockets {
        sockets: wasmtime_wasi::sockets::WasiSocketsCtxView {
            ctx: wasi.ctx.sockets(),
            table: &mut wasi.table,
        },
        holdings: &mut wasi.holdings,
    }
}

fn table<T: HasWasi>(t: &mut T) -> &mut ResourceTable {
    &mut t.wasi().table
}

/// Links WASI preview 2 as the module sees it.
pub fn add_to_linker<T: HasWasi + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    let l = linker;
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<T, Table>(l, table)?;
    sync::io::poll::add_to_linker::<T, io::Bounded>(l, bounded)?;
    sync::io::streams::add_to_linker::<T, io::Bounded>(l, bounded)?;
    wasi::clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    wasi::clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    wasi::filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    sync::filesystem::types::add_to_linker::<T, fs::BoundedFilesystem>(l, bounded_fs)?;
    wasi::random::random::add_to_linker::<T, WasiRandom>(l, T::random)?;
    wasi::random::insecure::add_to_linker::<T, WasiRandom>(l, T::random)?;
    wasi::random::insecure_seed::add_to_linker::<T, WasiRandom>(l, T::random)?;
    wasi::cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasi::cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasi::cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasi::cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasi::cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasi::cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasi::cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasi::cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasi::cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasi::cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    sync_sockets_create::add_to_linker::<T, sockets::Counted>(l, counted_sockets)?;
    sync::sockets::udp_create_socket::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    wasi::sockets::instance_network::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    wasi::sockets::network::add_to_linker::<T, WasiSockets>(l, &Default::default(), T::sockets)?;
    wasi::sockets::ip_name_lookup::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sync::sockets::tcp::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sync::sockets::udp::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    Ok(())
}

/// Newest `wasi:*@0.2.x` patch release linked; a module may import any 0.2 release up to
/// it, the linker matches by semver.
const NEWEST_PATCH: u32 = 12;

/// Whether `name` (`wasi:cli/environment@0.2.6`) is an interface [`add_to_linker`] links,
/// or, with `http`, one [`add_http_to_linker`] links.
pub(crate) fn linked(name: &str, http: bool) -> bool {
    let Some((interface, version)) = name.split_once('@') else {
        return false;
    };
    let package = interface.split('/').next().unwrap_or_default();
    let linked_package = matches!(
        package,
        "wasi:io" | "wasi:clocks" | "wasi:filesystem" | "wasi:random" | "wasi:cli" | "wasi:sockets"
    ) || (http && package == "wasi:http");
    linked_package
        && version
            .strip_prefix("0.2.")
            .and_then(|patch| patch.parse::<u32>().ok())
            .is_some_and(|patch| patch <= NEWEST_PATCH)
}

/// Links `wasi:http` for a module granted `http`.
pub(crate) fn add_http_to_linker<T: wasmtime_wasi_http::WasiHttpView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_sync(linker)
}
