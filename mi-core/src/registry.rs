//! The command registry: names, owning modules, help, flags and recipes, in registration order.

use crate::access::Access;
use crate::error::MiError;
use crate::host::Host;
use crate::json::Value;
use crate::params::Params;
use std::collections::BTreeMap;

/// What a handler can reach: the host and the registry (for `which` and `help`).
pub struct Context<'a> {
    /// The host services.
    pub host: &'a dyn Host,
    /// All registered commands.
    pub registry: &'a Registry,
    /// The caller's access, when its role limits what it may run.
    pub access: Option<&'a Access>,
}

impl Context<'_> {
    /// Whether the caller may run `command` of `module`.
    pub fn permits(&self, command: &str, module: &str) -> bool {
        self.access.is_none_or(|a| a.permits(command, module))
    }
}

/// A command handler: reads its parameters, returns a result or an error.
pub type Handler = fn(&Context<'_>, &Params<'_>) -> Result<Value, MiError>;

/// One alternative parameter set of a command.
#[derive(Debug, Clone, Copy)]
pub struct Recipe {
    /// Parameter names, in positional order (empty = the no-parameter form).
    pub params: &'static [&'static str],
    /// The handler run when this recipe matches.
    pub handler: Handler,
}

impl AsRef<[&'static str]> for Recipe {
    fn as_ref(&self) -> &[&'static str] {
        self.params
    }
}

/// A registered MI command.
#[derive(Debug, Clone)]
pub struct Command {
    /// Unique, case-sensitive name.
    pub name: &'static str,
    /// Owning module (`core`, `statistics`, …).
    pub module: &'static str,
    /// Help text.
    pub help: Option<&'static str>,
    /// Rejects positional parameters.
    pub named_only: bool,
    /// Alternative parameter sets, in matching order.
    pub recipes: Vec<Recipe>,
}

impl Command {
    /// The parameter names of every recipe, as `which <command>` lists them.
    pub fn recipe_names(&self) -> Vec<Vec<&'static str>> {
        self.recipes.iter().map(|r| r.params.to_vec()).collect()
    }
}

/// All commands, in registration order, with a name index.
#[derive(Debug, Default)]
pub struct Registry {
    commands: Vec<Command>,
    index: BTreeMap<&'static str, usize>,
}

impl Registry {
    /// Registers a command; a duplicate name is ignored (the first one stays), as in OpenSIPS.
    pub fn register(&mut self, command: Command) {
        if self.index.contains_key(command.name) {
            return;
        }
        self.index.insert(command.name, self.commands.len());
        self.commands.push(command);
    }

    /// Every command in registration order.
    pub fn commands(&self) -> &[Command] {
        &self.commands
    }

    /// Finds a command by exact name, or by its `module:name` alias.
    pub fn find(&self, name: &str) -> Option<&Command> {
        if let Some(&i) = self.index.get(name) {
            return Some(&self.commands[i]);
        }
        let (module, bare) = name.split_once(':')?;
        self.index
            .get(bare)
            .map(|&i| &self.commands[i])
            .filter(|command| command.module == module)
    }
}
