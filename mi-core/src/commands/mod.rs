//! The core commands, registered in OpenSIPS 3.6's order (`which` lists them so).

mod cache;
mod events;
mod httpd;
mod introspection;
mod logging;
mod memory;
mod modules;
mod statistics;
mod status;
mod whoami;

use crate::registry::{Command, Recipe, Registry};

/// Shorthand for a recipe.
const fn recipe(params: &'static [&'static str], handler: crate::registry::Handler) -> Recipe {
    Recipe { params, handler }
}

/// Shorthand for a command that accepts positional and named parameters.
fn command(
    module: &'static str,
    name: &'static str,
    help: &'static str,
    recipes: Vec<Recipe>,
) -> Command {
    Command {
        name,
        module,
        help: Some(help),
        named_only: false,
        recipes,
    }
}

/// A registry holding every core command.
pub fn core_registry() -> Registry {
    let mut registry = Registry::default();
    for command in statistics::commands()
        .into_iter()
        .chain(introspection::commands_before_logging())
        .chain(logging::commands())
        .chain(cache::commands())
        .chain(events::commands())
        .chain(introspection::commands_after_events())
        .chain(memory::commands())
        .chain(status::commands())
        .chain(introspection::commands_last())
        .chain(httpd::commands())
        .chain(cache::local_commands())
        .chain(modules::commands())
        .chain(whoami::commands())
    {
        registry.register(command);
    }
    registry
}
