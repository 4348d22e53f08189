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
    /// Each command's OpenSIPS 4.0 name, in the same order.
    names_4_0: Vec<String>,
    index: BTreeMap<&'static str, usize>,
}

impl Registry {
    /// Registers a command; a duplicate name is ignored (the first one stays), as in OpenSIPS.
    pub fn register(&mut self, command: Command) {
        if self.index.contains_key(command.name) {
            return;
        }
        self.index.insert(command.name, self.commands.len());
        self.names_4_0.push(crate::names::core_name(&command));
        self.commands.push(command);
    }

    /// Every command in registration order.
    pub fn commands(&self) -> &[Command] {
        &self.commands
    }

    /// Finds a command by its exact (3.6) name.
    pub fn find_exact(&self, name: &str) -> Option<&Command> {
        self.index.get(name).map(|&i| &self.commands[i])
    }

    /// Finds a command by exact name, by its OpenSIPS 4.0 name (`statistics:get`), or by
    /// its `module:name` alias (`core:ps`, `statistics:get_statistics`).
    pub fn find(&self, name: &str) -> Option<&Command> {
        if let Some(command) = self.find_exact(name) {
            return Some(command);
        }
        let (module, bare) = name.split_once(':')?;
        self.find_exact(bare)
            .filter(|command| command.module == module)
            .or_else(|| {
                let i = self.names_4_0.iter().position(|full| full == name)?;
                Some(&self.commands[i])
            })
    }

    /// The commands whose OpenSIPS 4.0 local name is `local` (`get` for
    /// `statistics:get` and `status_report:get`), in registration order.
    pub fn by_local_name(&self, local: &str) -> Vec<&Command> {
        self.names_4_0
            .iter()
            .zip(&self.commands)
            .filter(|(full, _)| crate::names::local_part(full) == local)
            .map(|(_, command)| command)
            .collect()
    }

    /// The OpenSIPS 4.0 name of `command` (a command of this registry).
    pub fn name_4_0(&self, command: &Command) -> &str {
        self.index
            .get(command.name)
            .map_or(command.name, |&i| &self.names_4_0[i])
    }
}
