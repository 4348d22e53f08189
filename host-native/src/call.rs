//! `miwa call` and `miwa script`: send MI calls, print what they answer, and end with an
//! exit code that says how it went ([`Exit`]).

use crate::exit::Exit;
use crate::output::{self, Output};
use anyhow::Context as _;
use miwa_client as client;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// One `miwa call`: the command, its arguments and how to print the outcome.
pub struct Call<'a> {
    /// The command.
    pub command: &'a str,
    /// Its arguments as typed.
    pub args: &'a [String],
    /// JSON-decode positional arguments.
    pub json_values: bool,
    /// In front mode over udp, unix or fifo: the node the call is wrapped for.
    pub wrap_for: Option<&'a str>,
    /// The printed form.
    pub output: Output,
    /// How long to wait for the reply.
    pub timeout: Duration,
}

/// Reports an error that stops a client command, with its exit code.
pub fn fail(error: &anyhow::Error, exit: Exit) -> ExitCode {
    eprintln!("miwa: {error:#}");
    exit.into()
}

/// Runs `call` on `endpoint` and prints its result (standard output) or its error
/// (standard error).
pub fn call(endpoint: &client::Endpoints, call: &Call<'_>) -> ExitCode {
    let params = client::build_params(call.command, call.args, call.json_values);
    let body = match call.wrap_for {
        Some(node) => client::request_body(
            "nodes_run",
            &serde_json::json!({"command": call.command, "params": params, "nodes": [node]}),
        ),
        None => client::request_body(call.command, &params),
    };
    let reply = match endpoint.exchange(&body, call.timeout) {
        Ok(reply) => reply,
        Err(error) => return fail(&error, Exit::of_failure(&error)),
    };
    let outcome = client::interpret(&reply).and_then(|result| match call.wrap_for {
        Some(node) => client::node_entry(&result, node),
        None => Ok(result),
    });
    if call.output == Output::Raw {
        println!("{}", reply.trim_end());
    }
    match outcome {
        Ok(result) => {
            if call.output != Output::Raw {
                println!("{}", output::render(&result, call.output));
            }
            Exit::Ok.into()
        }
        Err(error) => {
            eprintln!("{error}");
            Exit::of_reply(&error).into()
        }
    }
}

/// Runs the mi_script lines of `file` (or standard input) one by one, printing each
/// result; the exit code is the worst line's.
pub fn script(endpoint: &client::Endpoints, file: Option<PathBuf>, timeout: Duration) -> ExitCode {
    let text = match file.filter(|f| f.as_os_str() != "-") {
        Some(path) => std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display())),
        None => std::io::read_to_string(std::io::stdin()).context("cannot read standard input"),
    };
    let text = match text {
        Ok(text) => text,
        Err(error) => return fail(&error, Exit::Usage),
    };
    let mut worst = Exit::Ok;
    for (number, line) in text.lines().enumerate() {
        let Some(call) = mi_core::script::parse_line(line) else {
            continue;
        };
        let (rc, value, exit) = match endpoint.exchange(&call.request(number as u32 + 1), timeout) {
            Ok(reply) => {
                let (rc, value) = mi_core::script::outcome(&reply);
                (rc, value, Exit::MiError)
            }
            Err(error) => (-3, format!("{error:#}"), Exit::of_failure(&error)),
        };
        println!("{value}");
        if rc != 1 {
            eprintln!("line {}: {}: rc {rc}", number + 1, call.command);
            if worst == Exit::Ok || exit != Exit::MiError {
                worst = exit;
            }
        }
    }
    worst.into()
}
