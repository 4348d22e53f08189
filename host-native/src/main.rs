//! `miwa`: the OpenSIPS-compatible Management Interface daemon and its command-line client.
//!
//! # Layout
//!
//! - `serve`: the daemon (`serve.rs`);
//! - `call`, `script`: the client (`call.rs`), addressed by `target.rs`;
//! - `events`: a WebSocket subscriber;
//! - `completions`: shell completion (`complete.rs`);
//! - `manpages` (hidden): the manual pages, for packaging (`manpages.rs`);
//! - `hash-password`, `hash-token`: secrets for the access configuration;
//! - `config`: `miwa.toml`, each crate's section aggregated and checked; `serve` is the
//!   composition root that builds the daemon's crates from it;
//! - `exit`, `output`: the client's exit codes and printed forms.
//!
//! Exit codes of the client commands: 0 ok, 1 MI error, 2 usage, 3 unreachable, 4 timed
//! out, 5 refused by the transport, 6 unreadable reply or other failure
//! ([`crate::exit::Exit`]).

#![forbid(unsafe_code)]

/// The daemon's allocator: jemalloc returns memory freed by one thread for the others to
/// use and to the system, where glibc's per-thread arenas let a long-running daemon's
/// resident size creep up with its many worker threads (`docs/performance.md`).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod call;
mod complete;
mod config;
mod exit;
mod manpages;
mod mcp;
mod output;
mod serve;
mod target;

use crate::exit::Exit;
use crate::output::Output;
use clap::{Parser, Subcommand};
use clap_complete::engine::ArgValueCompleter;
use miwa_client as client;
use miwa_dispatch::access;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use target::{Target, DEFAULT_WS_URL};

#[derive(Parser)]
#[command(
    name = "miwa",
    version,
    about = "OpenSIPS Management Interface daemon and client",
    after_help = "Exit codes of call and script: 0 ok, 1 MI error, 2 usage, 3 unreachable, \
                  4 timed out, 5 refused by the transport, 6 unreadable reply.",
    after_long_help = exit::long_help()
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Parses `--timeout`: seconds, fractions allowed, more than 0 and at most 3600.
fn seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    if !(seconds > 0.0 && seconds <= 3600.0) {
        return Err(format!(
            "'{text}': give more than 0 and at most 3600 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
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
        /// How to print the result: json (pretty), compact (one line), table (lists of
        /// records such as ps, get_statistics, module_list), raw (the whole reply).
        #[arg(long, short = 'o', value_enum, default_value = "json")]
        output: Output,
        /// Seconds to wait for the reply, connecting included (fractions allowed).
        #[arg(long, default_value = "10", value_parser = seconds)]
        timeout: Duration,
        /// The command (3.6 or 4.0 name).
        #[arg(add = ArgValueCompleter::new(complete::command_names))]
        command: String,
        /// Its arguments: `name=value` pairs (named) or plain values (positional).
        #[arg(add = ArgValueCompleter::new(complete::parameter_names))]
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
        /// Seconds to wait for each reply, connecting included.
        #[arg(long, default_value = "10", value_parser = seconds)]
        timeout: Duration,
        /// The script; `-` or nothing reads standard input.
        file: Option<PathBuf>,
    },
    /// Serves a daemon's MCP tools on standard input and output, for AI clients that
    /// start their MCP servers as programs (Claude Desktop, IDEs): each message goes to
    /// the daemon's /mcp at --url (default http://127.0.0.1:8888/mcp) with the
    /// credentials given (--user with MIWA_PASSWORD, or --token / MIWA_TOKEN).
    Mcp {
        #[command(flatten)]
        target: Target,
    },
    /// Prints the script that registers miwa's completion with a shell; command and
    /// parameter names are completed from the running daemon. bash:
    /// `source <(miwa completions bash)`; zsh: `source <(miwa completions zsh)`; fish:
    /// `miwa completions fish | source`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: complete::Shell,
        /// The miwa the script calls back for candidates (default: this binary).
        #[arg(long)]
        program: Option<PathBuf>,
    },
    /// Writes the manual pages (miwa.1, miwa-call.1, …) into DIR, for packaging.
    #[command(hide = true)]
    Manpages {
        /// The directory to write them in (created if missing).
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    clap_complete::CompleteEnv::with_factory(<Cli as clap::CommandFactory>::command)
        .var(complete::VAR)
        .complete();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            native_core_baseline,
            simulate,
            seed,
        } => match serve::serve(config, native_core_baseline, simulate.then_some(seed)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("miwa: {error:#}");
                ExitCode::FAILURE
            }
        },
        Command::Call {
            target,
            json,
            output,
            timeout,
            command,
            args,
        } => {
            let wrap_for = (!target.node_in_path())
                .then(|| target.node.clone())
                .flatten();
            match target.endpoint() {
                Ok(endpoint) => call::call(
                    &endpoint,
                    &call::Call {
                        command: &command,
                        args: &args,
                        json_values: json,
                        wrap_for: wrap_for.as_deref(),
                        output,
                        timeout,
                    },
                ),
                Err(error) => call::fail(&error, Exit::Usage),
            }
        }
        Command::Script {
            target,
            timeout,
            file,
        } => {
            if target.node.is_some() && !target.node_in_path() {
                return call::fail(
                    &anyhow::anyhow!(
                        "miwa script --node needs --transport http, xmlrpc or ws (the node is a URL path)"
                    ),
                    Exit::Usage,
                );
            }
            match target.endpoint() {
                Ok(endpoint) => call::script(&endpoint, file, timeout),
                Err(error) => call::fail(&error, Exit::Usage),
            }
        }
        Command::Mcp { target } => match mcp::run(target) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => call::fail(&error, Exit::Unreachable),
        },
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
                    Err(error) => call::fail(&error, Exit::of_failure(&error)),
                }
            }
            Err(error) => call::fail(&error, Exit::Usage),
        },
        Command::Completions { shell, program } => match complete::registration(shell, program) {
            Ok(script) => {
                print!("{script}");
                ExitCode::SUCCESS
            }
            Err(error) => call::fail(&error, Exit::Failed),
        },
        Command::Manpages { dir } => match manpages::write(&dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => call::fail(&error, Exit::Failed),
        },
        Command::HashPassword => print_hash(access::hash_password),
        Command::HashToken => print_hash(|secret| Ok(access::hash_token(secret))),
    }
}

/// Reads one secret line from standard input (never from the command line, which other
/// users can see) and prints `hash(secret)`.
fn print_hash(hash: impl Fn(&str) -> anyhow::Result<String>) -> ExitCode {
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err()
        || line.trim_end_matches(['\r', '\n']).is_empty()
    {
        eprintln!("miwa: give the secret on standard input");
        return Exit::Usage.into();
    }
    match hash(line.trim_end_matches(['\r', '\n'])) {
        Ok(hashed) => {
            println!("{hashed}");
            ExitCode::SUCCESS
        }
        Err(error) => call::fail(&error, Exit::Failed),
    }
}
