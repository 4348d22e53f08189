//! `miwa`: the OpenSIPS-compatible Management Interface daemon and its command-line client.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use host_native::access::{self, AccessControl};
use host_native::audit::{AuditLog, AuditedDispatcher};
use host_native::config::Config;
use host_native::dispatch::{Executor, MiDispatcher};
use host_native::front::FrontDispatcher;
use host_native::modules::Modules;
use host_native::runtime::stack::StackPlan;
use host_native::state::{readiness, HostState};
use host_native::{client, logging, runtime};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use transports::datagram::{DatagramServer, DatagramSettings};
use transports::fifo::{FifoServer, FifoSettings};
use transports::http::{self, HttpSettings};

#[derive(Parser)]
#[command(
    name = "miwa",
    version,
    about = "OpenSIPS Management Interface daemon and client"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the daemon.
    Serve {
        /// Configuration file (TOML); without it the embedded defaults are used.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Runs mi-core natively instead of as a WebAssembly component. A benchmark
        /// baseline only: it gives up the sandbox.
        #[arg(long)]
        native_core_baseline: bool,
        /// Serves a simulated OpenSIPS 3.6 proxy's modules (usrloc, …) on every transport,
        /// for learning and for tests; `version`, `ps` and the HTML page say it is
        /// simulated.
        #[arg(long)]
        simulate: bool,
        /// The simulated proxy's seed: the same seed gives the same proxy.
        #[arg(long, default_value_t = 1, requires = "simulate")]
        seed: u32,
    },
    /// Calls one MI command on a running daemon and prints its result.
    Call {
        #[command(flatten)]
        target: Target,
        /// JSON-decode positional arguments (opensips-cli's `-j`).
        #[arg(short = 'j', long = "json")]
        json: bool,
        /// The command.
        command: String,
        /// Its arguments: `name=value` pairs (named) or plain values (positional).
        args: Vec<String>,
    },
    /// Reads a password on standard input and prints its argon2 hash, for
    /// `[[access.users]] password`.
    HashPassword,
    /// Reads a bearer token on standard input and prints its SHA-256, for
    /// `[[access.tokens]] sha256`.
    HashToken,
    /// Subscribes to events over the WebSocket at --url (default ws://127.0.0.1:8888/ws) and
    /// prints each one as it arrives, one JSON-RPC notification per line, until
    /// interrupted; the subscriptions end with the connection.
    Events {
        #[command(flatten)]
        target: Target,
        /// Seconds each subscription lasts; they are renewed at half of it.
        #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u32).range(2..))]
        expire: u32,
        /// The events (`E_CORE_LOG`, `E_CORE_THRESHOLD`, a module's).
        #[arg(required = true)]
        events: Vec<String>,
    },
    /// Runs MI calls in the mi_script form, one per line (`cache_store local k1 v1`,
    /// `log_level level=4`), from FILE or standard input, printing each result.
    Script {
        #[command(flatten)]
        target: Target,
        /// The script; `-` or nothing reads standard input.
        file: Option<PathBuf>,
    },
}

/// Which transport a client command uses, and where.
#[derive(clap::Args)]
struct Target {
    /// Transport: http, xmlrpc, ws, udp, unix or fifo.
    #[arg(long, short = 't', default_value = "http")]
    transport: TransportName,
    /// URL for http, xmlrpc and ws (default http://127.0.0.1:8888/mi, /RPC2 for xmlrpc,
    /// ws://127.0.0.1:8888/ws for ws; wss:// with HTTPS).
    #[arg(long, env = "MIWA_URL")]
    url: Option<String>,
    /// UDP address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    udp: String,
    /// UNIX datagram socket.
    #[arg(long, default_value = "/tmp/miwa_mi.sock")]
    unix: PathBuf,
    /// Request FIFO.
    #[arg(long, default_value = "/tmp/opensips_fifo")]
    fifo: PathBuf,
    /// Directory for the reply FIFO (the daemon's `fifo.reply_dir`).
    #[arg(long, default_value = "/tmp/")]
    reply_dir: PathBuf,
    /// HTTP Basic user for http, xmlrpc and ws; the password comes from MIWA_PASSWORD.
    #[arg(long, env = "MIWA_USER")]
    user: Option<String>,
    /// Bearer token for http, xmlrpc and ws (prefer the MIWA_TOKEN environment variable:
    /// arguments are visible to other local users).
    #[arg(
        long,
        env = "MIWA_TOKEN",
        hide_env_values = true,
        conflicts_with = "user"
    )]
    token: Option<String>,
    /// PEM certificates to trust for https:// and wss:// URLs (default: the public web roots).
    #[arg(long, env = "MIWA_CACERT")]
    cacert: Option<PathBuf>,
    /// In front mode, the node to run on: over http and xmlrpc the URL gains `/<node>`;
    /// over ws too; over udp, unix and fifo the call is wrapped in `nodes_run`.
    #[arg(long)]
    node: Option<String>,
}

/// Where `--transport ws` and `miwa events` connect by default.
const DEFAULT_WS_URL: &str = "ws://127.0.0.1:8888/ws";

/// The transports a client command can use.
#[derive(Clone, Copy, clap::ValueEnum)]
enum TransportName {
    Http,
    Xmlrpc,
    Ws,
    Udp,
    Unix,
    Fifo,
}

impl Target {
    /// Where and how to send HTTP requests, with credentials (a `--user` password from
    /// MIWA_PASSWORD).
    fn http_target(&self, default_url: &str) -> anyhow::Result<client::HttpTarget> {
        let mut url = self.url.clone().unwrap_or_else(|| default_url.into());
        if let Some(node) = &self.node {
            url = format!("{}/{node}", url.trim_end_matches('/'));
        }
        let target = client::HttpTarget {
            url,
            authorization: None,
            ca_file: self.cacert.clone(),
        };
        Ok(match (&self.user, &self.token) {
            (Some(user), _) => {
                let password = std::env::var("MIWA_PASSWORD").context(
                    "--user needs the password in the MIWA_PASSWORD environment variable",
                )?;
                target.basic(user, &password)
            }
            (None, Some(token)) => target.bearer(token),
            (None, None) => target,
        })
    }

    fn endpoint(self) -> anyhow::Result<client::Endpoint> {
        Ok(match self.transport {
            TransportName::Http => {
                client::Endpoint::Http(self.http_target("http://127.0.0.1:8888/mi")?)
            }
            TransportName::Xmlrpc => {
                client::Endpoint::Xmlrpc(self.http_target("http://127.0.0.1:8888/RPC2")?)
            }
            TransportName::Ws => client::Endpoint::Ws(self.http_target(DEFAULT_WS_URL)?),
            TransportName::Udp => client::Endpoint::Udp(self.udp),
            TransportName::Unix => client::Endpoint::Unix(self.unix),
            TransportName::Fifo => client::Endpoint::Fifo {
                fifo: self.fifo,
                reply_dir: self.reply_dir,
            },
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            native_core_baseline,
            simulate,
            seed,
        } => match serve(config, native_core_baseline, simulate.then_some(seed)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(&error),
        },
        Command::Call {
            target,
            json,
            command,
            args,
        } => {
            let wrap_in = match target.transport {
                TransportName::Http | TransportName::Xmlrpc | TransportName::Ws => None,
                _ => target.node.clone(),
            };
            match target.endpoint() {
                Ok(endpoint) => call(&endpoint, json, &command, &args, wrap_in.as_deref()),
                Err(error) => fail(&error),
            }
        }
        Command::Script { target, file } => {
            let by_path = matches!(
                target.transport,
                TransportName::Http | TransportName::Xmlrpc | TransportName::Ws
            );
            if target.node.is_some() && !by_path {
                return fail(&anyhow::anyhow!(
                    "miwa script --node needs --transport http, xmlrpc or ws (the node is a URL path)"
                ));
            }
            match target.endpoint() {
                Ok(endpoint) => script(&endpoint, file),
                Err(error) => fail(&error),
            }
        }
        Command::Events {
            target,
            expire,
            events,
        } => match target.http_target(DEFAULT_WS_URL) {
            Ok(target) => {
                let watching = client::ws::events(&target, &events, expire, |notification| {
                    use std::io::Write;
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{notification}");
                    let _ = out.flush();
                });
                match client::run_async(watching) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(error) => fail(&error),
                }
            }
            Err(error) => fail(&error),
        },
        Command::HashPassword => print_hash(access::hash_password),
        Command::HashToken => print_hash(|secret| Ok(access::hash_token(secret))),
    }
}

/// Reports an error that stops a client command.
fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("miwa: {error:#}");
    ExitCode::FAILURE
}

/// Reads one secret line from standard input (never from the command line, which other
/// users can see) and prints `hash(secret)`.
fn print_hash(hash: impl Fn(&str) -> anyhow::Result<String>) -> ExitCode {
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err()
        || line.trim_end_matches(['\r', '\n']).is_empty()
    {
        eprintln!("miwa: give the secret on standard input");
        return ExitCode::FAILURE;
    }
    match hash(line.trim_end_matches(['\r', '\n'])) {
        Ok(hashed) => {
            println!("{hashed}");
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error),
    }
}

fn call(
    endpoint: &client::Endpoint,
    json_values: bool,
    command: &str,
    args: &[String],
    node: Option<&str>,
) -> ExitCode {
    let params = client::build_params(command, args, json_values);
    let body = match node {
        Some(node) => client::request_body(
            "nodes_run",
            &serde_json::json!({"command": command, "params": params, "nodes": [node]}),
        ),
        None => client::request_body(command, &params),
    };
    let reply = match endpoint.exchange(&body) {
        Ok(reply) => reply,
        Err(error) => return fail(&error),
    };
    let outcome = client::interpret(&reply).and_then(|result| match node {
        Some(node) => client::node_entry(&result, node),
        None => Ok(result),
    });
    match outcome {
        Ok(result) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&result).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(line) => {
            eprintln!("{line}");
            ExitCode::FAILURE
        }
    }
}

fn script(endpoint: &client::Endpoint, file: Option<PathBuf>) -> ExitCode {
    let text = match file.filter(|f| f.as_os_str() != "-") {
        Some(path) => std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display())),
        None => std::io::read_to_string(std::io::stdin()).context("cannot read standard input"),
    };
    let text = match text {
        Ok(text) => text,
        Err(error) => return fail(&error),
    };
    let mut all_ok = true;
    for (number, line) in text.lines().enumerate() {
        let Some(call) = mi_core::script::parse_line(line) else {
            continue;
        };
        let (rc, value) = match endpoint.exchange(&call.request(number as u32 + 1)) {
            Ok(reply) => mi_core::script::outcome(&reply),
            Err(error) => (-3, format!("{error:#}")),
        };
        println!("{value}");
        if rc != 1 {
            all_ok = false;
            eprintln!("line {}: {}: rc {rc}", number + 1, call.command);
        }
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn serve(
    config_path: Option<PathBuf>,
    native_core_baseline: bool,
    simulate: Option<u32>,
) -> anyhow::Result<()> {
    let config = match &config_path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let state =
        HostState::start(&config, std::env::args().collect()).context("starting host services")?;
    if let Some(seed) = simulate {
        state
            .simulate(seed)
            .context("starting the simulated proxy")?;
    }
    logging::init(
        state.processes.global_level(),
        state.consumers.clone(),
        Arc::downgrade(&state),
    );

    let snapshot = Some(config.cache.snapshot.clone()).filter(|p| !p.as_os_str().is_empty());
    if let Some(path) = &snapshot {
        state.restore_cache(path);
    }
    let thread_stack = StackPlan::of(&config).thread_stack();
    runtime::stack::set_thread_stack(thread_stack);
    let (executor, modules) = if native_core_baseline {
        tracing::warn!("running the core natively (benchmark baseline): no sandbox, no modules");
        (Executor::NativeBaseline(mi_core::Core::default()), None)
    } else {
        let runtime = runtime::CoreRuntime::new(&config.core, state.clone())?;
        let modules = runtime::stack::on_sized_thread(thread_stack, || {
            let modules = Modules::new(&state, &runtime, &config, config_path.clone())?;
            modules.start();
            anyhow::Ok(modules)
        })
        .context("starting a thread for the modules")??;
        (Executor::Component(runtime), Some(modules))
    };
    let threshold =
        (config.events.threshold_ms > 0).then(|| Duration::from_millis(config.events.threshold_ms));
    let workers = config
        .http
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let start_state = state.clone();
    let stop_state = state.clone();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("mi-worker")
        .thread_stack_size(thread_stack)
        .on_thread_start(move || {
            start_state.processes.register_current("MI worker");
        })
        .on_thread_stop(move || stop_state.processes.unregister_current())
        .enable_all()
        .build()?;
    let access = Arc::new(AccessControl::new(config.access.clone()));
    let local = MiDispatcher::new(
        executor,
        state.clone(),
        config.core.max_json_depth,
        threshold,
    )
    .with_access(access.clone())
    .with_max_reply(config.core.max_reply);
    let metrics = host_native::metrics::Metrics::start(
        &state,
        config.charts.sampler(),
        Duration::from_millis(config.metrics.node_timeout_ms),
    )
    .context("starting the chart sampler")?;
    let local = local.with_metrics(Arc::new(metrics));
    let mut dispatcher: Arc<dyn transports::Dispatcher> = if config.upstreams.is_empty() {
        Arc::new(local)
    } else {
        Arc::new(FrontDispatcher::start(
            &config,
            Arc::new(local),
            access.clone(),
            state.clone(),
            tokio.handle().clone(),
        )?)
    };
    if !config.audit.file.as_os_str().is_empty() {
        let log = AuditLog::open(&config.audit)?;
        let _first_log_only = state.audit.set(log.clone());
        dispatcher = Arc::new(AuditedDispatcher::new(dispatcher, log, access));
    }
    let outcome = tokio.block_on(run(
        config,
        state.clone(),
        dispatcher,
        modules,
        thread_stack,
    ));
    if let Some(fleet) = state.fleet.get() {
        fleet.close();
    }
    if let Some(path) = &snapshot {
        state.save_cache(path);
    }
    outcome
}

/// Binds the datagram sockets and starts their workers; `None` when none is configured.
fn start_datagram(
    config: &Config,
    state: &HostState,
    dispatcher: &Arc<dyn transports::Dispatcher>,
    thread_stack: usize,
) -> anyhow::Result<Option<(DatagramServer, String)>> {
    let datagram = &config.datagram;
    let mut udp = Vec::new();
    let mut described = Vec::new();
    for address in datagram.udp_addresses().map_err(anyhow::Error::msg)? {
        let socket = std::net::UdpSocket::bind(address)
            .with_context(|| format!("cannot bind udp:{address} (key datagram.udp)"))?;
        described.push(format!("udp={}", socket.local_addr()?));
        udp.push(socket);
    }
    let mut unix = Vec::new();
    let owner = datagram.unix_socket_owner().map_err(anyhow::Error::msg)?;
    for path in &datagram.unix {
        let socket = transports::datagram::bind_unix(path, datagram.unix_socket_mode, owner)
            .with_context(|| format!("cannot bind unix:{} (key datagram.unix)", path.display()))?;
        described.push(format!("unix={}", path.display()));
        unix.push((path.clone(), socket));
    }
    if udp.is_empty() && unix.is_empty() {
        return Ok(None);
    }
    let settings = DatagramSettings {
        workers: datagram
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        max_datagram: datagram.max_datagram,
        pretty: datagram.pretty_printing,
        reply_timeout: Duration::from_millis(datagram.reply_timeout_ms),
        stack_size: thread_stack,
    };
    let server = DatagramServer::start(udp, unix, settings, dispatcher.clone())?;
    let described = described.join(" ");
    state.set_status(
        "mi_datagram",
        "main",
        readiness::RUNNING,
        &format!("listening on {described}"),
    );
    Ok(Some((server, described)))
}

/// Creates the request FIFO and starts its reader and workers; `None` when disabled.
fn start_fifo(
    config: &Config,
    state: &HostState,
    dispatcher: &Arc<dyn transports::Dispatcher>,
    thread_stack: usize,
) -> anyhow::Result<Option<FifoServer>> {
    let fifo = &config.fifo;
    if !fifo.enabled {
        return Ok(None);
    }
    let settings = FifoSettings {
        path: fifo.fifo_name.clone(),
        mode: fifo.mode(),
        owner: fifo.owner().map_err(anyhow::Error::msg)?,
        reply_dir: fifo.reply_dir.clone(),
        max_request: fifo.max_request,
        reassembly_timeout: Duration::from_millis(fifo.reassembly_timeout_ms),
        reply_open_retries: fifo.reply_open_retries,
        reply_open_pause: Duration::from_millis(fifo.reply_open_pause_ms),
        reply_timeout: Duration::from_millis(fifo.reply_timeout_ms),
        workers: fifo
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        check_interval: Duration::from_millis(fifo.check_interval_ms),
        pretty: fifo.pretty_printing,
        stack_size: thread_stack,
        max_queued: fifo.max_queued,
        max_queued_bytes: fifo.max_queued_bytes,
    };
    let server = FifoServer::start(settings, dispatcher.clone()).with_context(|| {
        format!(
            "cannot create the FIFO {} (key fifo.fifo_name)",
            fifo.fifo_name.display()
        )
    })?;
    state.set_status(
        "mi_fifo",
        "main",
        readiness::RUNNING,
        &format!("reading {}", fifo.fifo_name.display()),
    );
    Ok(Some(server))
}

/// Serves every configured transport until shutdown; WebAssembly threads get
/// `thread_stack` bytes of stack.
async fn run(
    config: Config,
    state: Arc<HostState>,
    dispatcher: Arc<dyn transports::Dispatcher>,
    modules: Option<Arc<Modules>>,
    thread_stack: usize,
) -> anyhow::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut endpoints = Vec::new();
    let mut tls = None;
    if config.http.enabled {
        let address = std::net::SocketAddr::new(config.http.ip, config.http.port);
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address} (key http.ip / http.port)"))?;
        let bound = listener.local_addr()?;
        tls = config
            .http
            .tls_files()
            .map(|(cert, key)| transports::tls::TlsIdentity::load(cert, key))
            .transpose()
            .context("cannot set up HTTPS (keys http.tls_certificate / http.tls_key)")?
            .map(Arc::new);
        let tickets = Arc::new(transports::ticket::Tickets::new(
            Duration::from_millis(config.http.ws_ticket_ms),
            config.http.ws_max_tickets,
        ));
        let settings = HttpSettings {
            root: config.http.root.clone(),
            xmlrpc_root: Some(config.http.xmlrpc_root.clone()).filter(|r| !r.is_empty()),
            html_root: Some(config.http.html_root.clone()).filter(|r| !r.is_empty()),
            max_xml_depth: config.http.max_xml_depth,
            max_json_depth: config.core.max_json_depth,
            max_body: config.http.max_body,
            idle_timeout: (config.http.conn_timeout > 0)
                .then(|| Duration::from_secs(config.http.conn_timeout)),
            pretty: config.http.pretty_printing,
            playground_dir: config.http.playground_dir(),
            max_connections: config.http.max_connections,
            ws: config.http.ws.then(|| transports::ws::WsSettings {
                tickets: tickets.clone(),
                slots: Arc::new(tokio::sync::Semaphore::new(config.http.ws_max_connections)),
                max_message: config.http.ws_max_message,
                ping_interval: Duration::from_millis(config.http.ws_ping_ms),
                pretty: config.http.pretty_printing,
            }),
            sse: config.http.sse.then(|| transports::sse::SseSettings {
                slots: Arc::new(tokio::sync::Semaphore::new(config.http.sse_max_streams)),
                ping_interval: config.http.sse_ping_interval(),
                tickets: config.http.ws.then(|| tickets.clone()),
            }),
            max_headers: config.http.max_headers,
            max_header_bytes: config.http.max_header_bytes,
            max_requests_per_connection: config.http.max_requests_per_connection,
            request_timeout: (config.http.request_timeout_ms > 0)
                .then(|| Duration::from_millis(config.http.request_timeout_ms)),
            tls: tls.clone(),
            max_buffered: config.http.max_buffered,
            metrics: config.metrics.enabled,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        state.set_status(
            "mi_http",
            "main",
            readiness::RUNNING,
            &format!("listening on {scheme}://{bound}"),
        );
        if let Some(root) = &settings.xmlrpc_root {
            state.set_status(
                "mi_xmlrpc",
                "main",
                readiness::RUNNING,
                &format!("serving {scheme}://{bound}/{root}"),
            );
        }
        if let Some(root) = &settings.html_root {
            state.set_status(
                "mi_html",
                "main",
                readiness::RUNNING,
                &format!("serving {scheme}://{bound}/{root}"),
            );
        }
        tasks.spawn(http::serve(
            listener,
            settings,
            dispatcher.clone(),
            state.shutdown_signal(),
        ));
        endpoints.push(format!("http={bound}"));
    }
    let datagram = start_datagram(&config, &state, &dispatcher, thread_stack)?;
    let fifo = start_fifo(&config, &state, &dispatcher, thread_stack)?;
    if fifo.is_some() {
        endpoints.push(format!("fifo={}", config.fifo.fifo_name.display()));
    }
    if let Some((_, described)) = &datagram {
        endpoints.push(described.clone());
    }
    let mut shutdown = state.shutdown_signal();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    state.set_status("core", "main", readiness::RUNNING, "running");
    tracing::info!(endpoints = %endpoints.join(" "), "miwa ready");
    println!("miwa ready: {}", endpoints.join(" "));
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            _ = terminate.recv() => state.request_shutdown(),
            _ = interrupt.recv() => state.request_shutdown(),
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: recreating the request FIFO, re-reading the TLS identity, reconciling modules with the configuration");
                if let Some(identity) = &tls {
                    match identity.reload() {
                        Ok(()) => tracing::info!("TLS certificate and key reloaded"),
                        Err(error) => tracing::error!(%error, "TLS reload on SIGHUP failed; keeping the identity in use"),
                    }
                }
                if let Some(server) = &fifo {
                    server.recreate();
                }
                if let Some(audit) = state.audit.get() {
                    audit.reopen();
                }
                if let Some(modules) = modules.clone() {
                    tokio::task::spawn_blocking(move || {
                        if let Err(error) = modules.reconcile() {
                            tracing::error!("module reload on SIGHUP: {}", error.message);
                        }
                    });
                }
            }
        }
    }
    tracing::info!("shutting down");
    if let Some((server, _)) = datagram {
        tokio::task::spawn_blocking(move || server.stop()).await?;
    }
    if let Some(server) = fifo {
        tokio::task::spawn_blocking(move || server.stop()).await?;
    }
    let drain = async { while tasks.join_next().await.is_some() {} };
    let limit = Duration::from_millis(config.core.shutdown_timeout_ms);
    if tokio::time::timeout(limit, drain).await.is_err() {
        tracing::warn!(
            "some connections did not finish within {} ms",
            limit.as_millis()
        );
    }
    Ok(())
}
