//! `miwa serve`: loads the configuration, starts the host services, the core component
//! and the modules, then serves every configured transport until shutdown.

use crate::config::Config;
use anyhow::Context as _;
use miwa_dispatch::access::AccessControl;
use miwa_dispatch::audit::{AuditLog, AuditedDispatcher};
use miwa_dispatch::{Answer, Executor, MiDispatcher};
use miwa_front::{FrontDispatcher, FrontPlan};
use miwa_modules::Modules;
use miwa_state::simulated::SimulatedProxy;
use miwa_state::{logging, readiness, HostState};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use transports::datagram::{DatagramServer, DatagramSettings};
use transports::fifo::{FifoServer, FifoSettings};
use transports::http::{self, HttpSettings};

/// Runs the daemon: `config_path` or the embedded defaults; the core natively with
/// `native_core_baseline`; a simulated proxy's modules with `simulate` (its seed).
pub fn serve(
    config_path: Option<PathBuf>,
    native_core_baseline: bool,
    simulate: Option<u32>,
) -> anyhow::Result<()> {
    let config = match &config_path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let state = HostState::start(&config.state_settings(), std::env::args().collect())
        .context("starting host services")?;
    let simulated = match simulate {
        Some(seed) => Some(
            state
                .simulate(seed)
                .context("starting the simulated proxy")?,
        ),
        None => None,
    };
    logging::init(
        state.processes.global_level(),
        state.consumers.clone(),
        Arc::downgrade(&state),
    );

    let snapshot = Some(config.cache.snapshot.clone()).filter(|p| !p.as_os_str().is_empty());
    if let Some(path) = &snapshot {
        state.restore_cache(path);
    }
    let thread_stack = config.stack_plan().thread_stack();
    miwa_runtime::stack::set_thread_stack(thread_stack);
    let (executor, modules) = if native_core_baseline {
        tracing::warn!("running the core natively (benchmark baseline): no sandbox, no modules");
        (Executor::NativeBaseline(mi_core::Core::default()), None)
    } else {
        let runtime = miwa_runtime::CoreRuntime::new(&config.core, state.clone())?;
        let modules = miwa_runtime::stack::on_sized_thread(thread_stack, || {
            let modules = Modules::new(
                &state,
                &runtime,
                config.modules.clone(),
                config_path.clone(),
                Config::reread_modules,
            )?;
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
    let reloadable = access.clone();
    let local = MiDispatcher::new(
        executor,
        state.clone(),
        config.core.max_json_depth,
        threshold,
    )
    .with_access(access.clone())
    .with_max_reply(config.core.max_reply);
    // Statistics sources in the order `get_statistics` lists their groups: access (above),
    // modules, the fleet, the audit log, the HTTP client shares, the simulated proxy.
    if let Some(modules) = &modules {
        state.add_statistics(modules.clone());
    }
    let metrics = miwa_dispatch::metrics::Metrics::start(
        &state,
        config.charts.sampler(),
        Duration::from_millis(config.metrics.node_timeout_ms),
    )
    .context("starting the chart sampler")?;
    let local = local.with_metrics(Arc::new(metrics));
    let mut front = None;
    let answering: Arc<dyn Answer> = if config.upstreams.is_empty() && config.discovery.is_empty() {
        Arc::new(local)
    } else {
        let plan = FrontPlan {
            upstreams: &config.upstreams,
            discovery: &config.discovery,
            front: &config.front,
        };
        let started = Arc::new(FrontDispatcher::start(
            plan,
            config.core.max_json_depth,
            Arc::new(local),
            access.clone(),
            state.clone(),
            tokio.handle().clone(),
        )?);
        front = Some(started.clone());
        started
    };
    let mut audit = None;
    let dispatcher: Arc<dyn transports::Dispatcher> = if config.audit.file.as_os_str().is_empty() {
        answering
    } else {
        let log = AuditLog::open(&config.audit)?;
        state.add_statistics(log.clone());
        audit = Some(log.clone());
        Arc::new(AuditedDispatcher::new(
            answering,
            log,
            access,
            config.core.max_json_depth,
        ))
    };
    let fleet = front.as_ref().map(|front| front.fleet().clone());
    let on_hangup = OnHangup {
        modules,
        audit,
        config_path,
        front,
        access: reloadable,
    };
    let outcome = tokio.block_on(run(
        config,
        state.clone(),
        dispatcher,
        on_hangup,
        simulated,
        thread_stack,
    ));
    if let Some(fleet) = fleet {
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

/// Serves every configured transport until shutdown (a SIGHUP also runs `on_hangup`); WebAssembly
/// threads get `thread_stack` bytes of stack. The statistics of the `simulated` proxy are
/// registered after the HTTP listener's.
async fn run(
    config: Config,
    state: Arc<HostState>,
    dispatcher: Arc<dyn transports::Dispatcher>,
    on_hangup: OnHangup,
    mut simulated: Option<Arc<SimulatedProxy>>,
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
            config.http.ws_tickets_per_identity,
        ));
        let client_shares = transports::share::ClientShares::new(
            config.http.max_connections_per_client,
            transports::share::ClientPrefixes {
                v4: config.http.client_prefix_v4,
                v6: config.http.client_prefix_v6,
            },
        );
        state.add_statistics(client_shares.clone());
        if let Some(proxy) = simulated.take() {
            state.add_statistics(proxy);
        }
        let prefixes = transports::share::ClientPrefixes {
            v4: config.http.client_prefix_v4,
            v6: config.http.client_prefix_v6,
        };
        let secret = transports::random_bytes()
            .context("drawing the HTML form tokens' secret from the kernel")?;
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
                client_shares: transports::share::ClientShares::new(
                    config.http.ws_connections_per_client,
                    prefixes,
                ),
                max_message: config.http.ws_max_message,
                ping_interval: Duration::from_millis(config.http.ws_ping_ms),
                pretty: config.http.pretty_printing,
            }),
            sse: config.http.sse.then(|| transports::sse::SseSettings {
                slots: Arc::new(tokio::sync::Semaphore::new(config.http.sse_max_streams)),
                client_shares: transports::share::ClientShares::new(
                    config.http.sse_streams_per_client,
                    prefixes,
                ),
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
            mcp: config.mcp.enabled.then(|| {
                let default_role = config.access.transports.get("mcp");
                config
                    .mcp
                    .settings(default_role.map_or("full", String::as_str).to_string())
            }),
            hosts: transports::browser::HostNames::new(&config.http.hosts),
            form_tokens: Arc::new(transports::browser::FormTokens::new(secret)),
            client_shares: client_shares.clone(),
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
    if let Some(proxy) = simulated {
        state.add_statistics(proxy);
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
                tracing::info!("SIGHUP: recreating the request FIFO, re-reading the TLS identity, re-reading the access rules, reconciling modules and upstreams with the configuration");
                if let Some(identity) = &tls {
                    match identity.reload() {
                        Ok(()) => tracing::info!("TLS certificate and key reloaded"),
                        Err(error) => tracing::error!(%error, "TLS reload on SIGHUP failed; keeping the identity in use"),
                    }
                }
                if let Some(server) = &fifo {
                    server.recreate();
                }
                on_hangup.run();
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

/// What a SIGHUP reloads besides the transports' own: the audit log reopened, modules
/// reconciled with the configuration, and from the configuration file (when there is
/// one) the access section and the upstreams.
struct OnHangup {
    modules: Option<Arc<Modules>>,
    audit: Option<Arc<AuditLog>>,
    /// The file the configuration is re-read from.
    config_path: Option<PathBuf>,
    front: Option<Arc<FrontDispatcher>>,
    access: Arc<AccessControl>,
}

impl OnHangup {
    /// Reopens, and starts the reconciliations in the background.
    fn run(&self) {
        if let Some(audit) = &self.audit {
            audit.reopen();
        }
        if let Some(modules) = self.modules.clone() {
            tokio::task::spawn_blocking(move || {
                if let Err(error) = modules.reconcile() {
                    tracing::error!("module reload on SIGHUP: {}", error.message);
                }
            });
        }
        let Some(path) = self.config_path.clone() else {
            return;
        };
        let (front, access) = (self.front.clone(), self.access.clone());
        tokio::task::spawn_blocking(move || {
            let config = match Config::load(&path) {
                Ok(config) => config,
                Err(error) => {
                    tracing::error!(
                        "reload on SIGHUP: {error:#}; the access rules and nodes in use stay"
                    );
                    return;
                }
            };
            let (users, tokens, roles) = (
                config.access.users.len(),
                config.access.tokens.len(),
                config.access.roles.len(),
            );
            access.reload(config.access);
            tracing::info!(users, tokens, roles, "access reloaded on SIGHUP");
            if let Some(front) = front {
                match front.reconcile(&config.upstreams, &config.front.upstream) {
                    Ok(changes) => tracing::info!("upstreams reloaded on SIGHUP: {changes}"),
                    Err(error) => tracing::error!(
                        "upstreams reload on SIGHUP: {error:#}; the nodes in use stay"
                    ),
                }
            }
        });
    }
}
