//! Shell completion: `miwa completions <shell>` prints the script that registers
//! `miwa` with bash, zsh or fish. The script calls `miwa` back with `MIWA_COMPLETE` set
//! for every completion (clap_complete's dynamic completion), so the candidates come from
//! the running daemon: command names from its `which` (and `which <module>:` for a 4.0
//! name), parameter names (`name=`) from the recipes `which <command>` lists. The daemon
//! is the one the words typed so far point at (`-t`, `--url`, `--fifo`, …).

use crate::target::Target;
use clap::{CommandFactory as _, FromArgMatches as _};
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::Shells;
use miwa_client as client;
use serde_json::Value;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::Duration;

/// The environment variable that turns a `miwa` run into a completion request.
pub const VAR: &str = "MIWA_COMPLETE";

/// How long a completion waits for the daemon by default: a shell must not hang on Tab.
const DAEMON_WAIT: Duration = Duration::from_millis(1500);

/// The environment variable that changes [`DAEMON_WAIT`], in milliseconds (1 to 60000).
const WAIT_VAR: &str = "MIWA_COMPLETE_TIMEOUT_MS";

/// How long a completion waits for the daemon: `MIWA_COMPLETE_TIMEOUT_MS` when it is a
/// number of milliseconds from 1 to 60000, else [`DAEMON_WAIT`].
fn daemon_wait() -> Duration {
    std::env::var(WAIT_VAR)
        .ok()
        .and_then(|ms| ms.parse::<u64>().ok())
        .filter(|ms| (1..=60_000).contains(ms))
        .map_or(DAEMON_WAIT, Duration::from_millis)
}

/// The shells `miwa completions` writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    /// GNU bash (`source <(miwa completions bash)`).
    Bash,
    /// zsh (`source <(miwa completions zsh)`).
    Zsh,
    /// fish (`miwa completions fish | source`).
    Fish,
}

impl Shell {
    fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
        }
    }
}

/// The registration script for `shell`, calling `program` back (default: this very
/// binary).
pub fn registration(shell: Shell, program: Option<PathBuf>) -> anyhow::Result<String> {
    let shells = Shells::builtins();
    let completer = shells
        .completer(shell.name())
        .ok_or_else(|| anyhow::anyhow!("no completion support for {}", shell.name()))?;
    let program = program
        .or_else(|| std::env::current_exe().ok())
        .map(|path| path.to_string_lossy().into_owned())
        .unwrap_or_else(|| "miwa".into());
    let mut script = Vec::new();
    completer.write_registration(VAR, "miwa", "miwa", &program, &mut script)?;
    let script = String::from_utf8_lossy(&script).into_owned();
    match shell {
        Shell::Bash => bash_whole_words(&script),
        Shell::Zsh | Shell::Fish => Ok(script),
    }
}

/// What clap's bash script reads its words from: bash's own split of the line.
const BASH_WORDS: &str = r#"    local _CLAP_COMPLETE_INDEX=${COMP_CWORD}
    local _CLAP_COMPLETE_COMP_TYPE=${COMP_TYPE}"#;
const BASH_WORDS_COPY: &str = r#"    local words=("${COMP_WORDS[@]}")
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        words[COMP_CWORD]="$2"
    fi"#;
const BASH_REPLY_END: &str = r#"        compopt -o nospace
    fi
}"#;

/// clap's bash script, reading whole words. Bash splits `COMP_WORDS` at `:` (and `=`),
/// which cuts URLs (`http://…`) and 4.0 names (`evi:raise`) apart; the script here splits
/// the line up to the cursor at blanks only, and strips what precedes the current word's
/// last `:` from the candidates, as bash replaces only that part.
fn bash_whole_words(script: &str) -> anyhow::Result<String> {
    let words = r#"    local _CLAP_LINE="${COMP_LINE:0:COMP_POINT}"
    local words
    IFS=$' \t\n' read -r -a words <<< "$_CLAP_LINE"
    if [[ -z "$_CLAP_LINE" || "$_CLAP_LINE" =~ [[:space:]]$ ]]; then
        words+=("")
    fi
    local _CLAP_COMPLETE_INDEX=$(( ${#words[@]} - 1 ))
    local _CLAP_COMPLETE_COMP_TYPE=${COMP_TYPE}"#;
    let strip_colon = r#"        compopt -o nospace
    fi
    local _CLAP_CURRENT="${words[_CLAP_COMPLETE_INDEX]}"
    if [[ "$_CLAP_CURRENT" == *:* && "$COMP_WORDBREAKS" == *:* ]]; then
        local _CLAP_COLON_PREFIX="${_CLAP_CURRENT%"${_CLAP_CURRENT##*:}"}"
        local i
        for i in "${!COMPREPLY[@]}"; do
            COMPREPLY[i]="${COMPREPLY[i]#"$_CLAP_COLON_PREFIX"}"
        done
    fi
}"#;
    for part in [BASH_WORDS, BASH_WORDS_COPY, BASH_REPLY_END] {
        anyhow::ensure!(
            script.contains(part),
            "the bash registration of clap_complete changed; cannot adapt it"
        );
    }
    Ok(script
        .replace(BASH_WORDS, words)
        .replace(BASH_WORDS_COPY, "")
        .replace(BASH_REPLY_END, strip_colon))
}

/// The words of the command line being completed, before the word under the cursor
/// (`miwa call -t fifo get_st` → `miwa call -t fifo`).
fn words_before_current() -> Vec<OsString> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let words: Vec<OsString> = match args.iter().position(|a| a == "--") {
        Some(escape) => args[escape + 1..].to_vec(),
        None => return Vec::new(),
    };
    let current = std::env::var("_CLAP_COMPLETE_INDEX")
        .ok()
        .and_then(|i| i.parse::<usize>().ok())
        .unwrap_or(words.len().saturating_sub(1));
    words[..current.min(words.len())].to_vec()
}

/// What the words typed so far say: the daemon to ask, the command (if typed) and the
/// arguments given.
struct Typed {
    target: Target,
    command: Option<String>,
    args: Vec<String>,
}

fn typed() -> Option<Typed> {
    let matches = crate::Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(words_before_current())
        .ok()?;
    let (name, call) = matches.subcommand()?;
    if name != "call" {
        return None;
    }
    Some(Typed {
        target: Target::from_arg_matches(call).ok()?,
        command: call.get_one::<String>("command").cloned(),
        args: call
            .get_many::<String>("args")
            .map(|args| args.cloned().collect())
            .unwrap_or_default(),
    })
}

/// Asks the daemon `target` points at to run `method`; its result, if it answered one.
fn ask(target: Target, method: &str, params: Value) -> Option<Value> {
    let endpoint = target.endpoint().ok()?;
    let reply = endpoint
        .exchange(&client::request_body(method, &params), daemon_wait())
        .ok()?;
    client::interpret(&reply).ok()
}

fn strings(value: &Value) -> impl Iterator<Item = &str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// Candidates for the command name: the daemon's `which` list, or with a `module:`
/// prefix typed, that module's 4.0 names.
pub fn command_names(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(current) = current.to_str() else {
        return Vec::new();
    };
    let Some(typed) = typed() else {
        return Vec::new();
    };
    let listed = match current.split_once(':') {
        Some((module, _)) => ask(
            typed.target,
            "which",
            serde_json::json!({"command": format!("{module}:")}),
        ),
        None => ask(typed.target, "which", serde_json::json!({})),
    };
    let Some(listed) = listed else {
        return Vec::new();
    };
    strings(&listed)
        .filter(|name| name.starts_with(current))
        .map(CompletionCandidate::new)
        .collect()
}

/// Candidates for an argument: `name=` for each parameter of the command's recipes not
/// given yet.
pub fn parameter_names(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(current) = current.to_str() else {
        return Vec::new();
    };
    let Some(Typed {
        target,
        command: Some(command),
        args,
    }) = typed()
    else {
        return Vec::new();
    };
    let Some(recipes) = ask(target, "which", serde_json::json!({"command": command})) else {
        return Vec::new();
    };
    let given: Vec<&str> = args
        .iter()
        .filter_map(|a| a.split_once('='))
        .map(|(n, _)| n)
        .collect();
    let mut names: Vec<String> = Vec::new();
    for recipe in recipes.as_array().into_iter().flatten() {
        for name in strings(recipe) {
            if !given.contains(&name) && !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
    }
    names
        .into_iter()
        .map(|name| format!("{name}="))
        .filter(|candidate| candidate.starts_with(current))
        .map(CompletionCandidate::new)
        .collect()
}
