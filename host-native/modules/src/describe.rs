//! The check of what a module says about itself: a description that lies (a core
//! command's name, duplicates, malformed names or recipes) refuses the load.

use super::bindings::api::{ModuleInfo, ParamTypes};
use super::shared::{Kind, BUILT_IN_STATISTICS, SHARE_STATISTICS};
use crate::settings::valid_name;
use mi_core::host::ModuleCommand;
use miwa_state::events::CORE_EVENTS;
use std::collections::BTreeSet;

/// Most commands one module may register.
pub(crate) const MAX_COMMANDS: usize = 256;
/// Most recipes per command, and parameters per recipe.
pub(crate) const MAX_RECIPES: usize = 16;
/// Longest help text kept, bytes.
pub(crate) const MAX_HELP: usize = 4096;

/// A validated description.
#[derive(Debug, Clone, Default)]
pub struct Description {
    /// The name the module gave itself.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its commands, with the configured module name.
    pub commands: Vec<ModuleCommand>,
    /// Events it may raise.
    pub events: Vec<String>,
    /// Its declared statistics.
    pub statistics: Vec<(String, Kind)>,
}

fn distinct<'a>(names: impl Iterator<Item = &'a str>, what: &str) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(format!("declares {what} '{name}' twice"));
        }
    }
    Ok(())
}

/// Checks `info` for the module configured as `module`; `taken` names the owner of a
/// command name already registered (the core, or another module).
pub fn validate(
    module: &str,
    info: ModuleInfo,
    types: ParamTypes,
    taken: &dyn Fn(&str) -> Option<String>,
) -> Result<Description, String> {
    if info.commands.len() > MAX_COMMANDS {
        return Err(format!(
            "declares {} commands (at most {MAX_COMMANDS})",
            info.commands.len()
        ));
    }
    distinct(info.commands.iter().map(|c| c.name.as_str()), "command")?;
    let mut commands = Vec::with_capacity(info.commands.len());
    let mut types = types.into_iter();
    for command in info.commands {
        let param_types = types.next().unwrap_or_default();
        let name = &command.name;
        if !valid_name(name) {
            return Err(format!(
                "declares the malformed command name '{}'",
                name.escape_debug()
            ));
        }
        if let Some(owner) = taken(name) {
            return Err(format!("claims command '{name}', which {owner} provides"));
        }
        if command.recipes.is_empty() || command.recipes.len() > MAX_RECIPES {
            return Err(format!(
                "gives command '{name}' {} recipes (1 to {MAX_RECIPES})",
                command.recipes.len()
            ));
        }
        for recipe in &command.recipes {
            if recipe.len() > MAX_RECIPES || recipe.iter().any(|p| !valid_name(p)) {
                return Err(format!(
                    "gives command '{name}' a malformed recipe {recipe:?}"
                ));
            }
            distinct(recipe.iter().map(String::as_str), "parameter")
                .map_err(|e| format!("{e} in a recipe of '{name}'"))?;
        }
        distinct(param_types.iter().map(|(p, _)| p.as_str()), "a type for")
            .map_err(|e| format!("{e} in command '{name}'"))?;
        if let Some((param, _)) = param_types
            .iter()
            .find(|(p, _)| !command.recipes.iter().flatten().any(|r| r == p))
        {
            return Err(format!(
                "gives command '{name}' a type for '{}', which none of its recipes has",
                param.escape_debug()
            ));
        }
        let help = command.help.map(|mut help| {
            if help.len() > MAX_HELP {
                let mut end = MAX_HELP;
                while !help.is_char_boundary(end) {
                    end -= 1;
                }
                help.truncate(end);
            }
            help
        });
        commands.push(ModuleCommand {
            name: command.name,
            module: module.to_string(),
            help,
            named_only: command.named_only,
            recipes: command.recipes,
            param_types,
        });
    }
    distinct(info.events.iter().map(String::as_str), "event")?;
    if let Some(event) = info
        .events
        .iter()
        .find(|e| !valid_name(e) || CORE_EVENTS.contains(&e.as_str()))
    {
        return Err(format!(
            "declares the event '{}', which it may not raise",
            event.escape_debug()
        ));
    }
    distinct(info.statistics.iter().map(|s| s.name.as_str()), "statistic")?;
    let mut statistics = Vec::with_capacity(info.statistics.len());
    for statistic in info.statistics {
        if !valid_name(&statistic.name)
            || BUILT_IN_STATISTICS.contains(&statistic.name.as_str())
            || SHARE_STATISTICS.contains(&statistic.name.as_str())
        {
            return Err(format!(
                "declares the statistic '{}', a malformed or reserved name",
                statistic.name.escape_debug()
            ));
        }
        let kind = match statistic.kind {
            super::bindings::api::StatisticKind::Counter => Kind::Counter,
            super::bindings::api::StatisticKind::Gauge => Kind::Gauge,
        };
        statistics.push((statistic.name, kind));
    }
    Ok(Description {
        name: info.name,
        version: info.version,
        commands,
        events: info.events,
        statistics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::v0_1::exports::miwa::module::module_api::Command;

    fn info(recipes: &[&[&str]]) -> ModuleInfo {
        ModuleInfo {
            name: "typed".into(),
            version: "1".into(),
            commands: vec![Command {
                name: "typed_cmd".into(),
                help: None,
                named_only: false,
                recipes: recipes
                    .iter()
                    .map(|r| r.iter().map(|p| p.to_string()).collect())
                    .collect(),
            }],
            events: Vec::new(),
            statistics: Vec::new(),
        }
    }

    fn types(pairs: &[(&str, &str)]) -> ParamTypes {
        vec![pairs
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect()]
    }

    #[test]
    fn parameter_types_must_name_parameters_of_the_recipes() {
        let free = |_: &str| None;
        let typed = validate(
            "typed",
            info(&[&[], &["count"], &["count", "name"]]),
            types(&[("count", "integer"), ("name", "string")]),
            &free,
        )
        .unwrap();
        assert_eq!(
            typed.commands[0].param_types,
            [
                ("count".to_string(), "integer".to_string()),
                ("name".to_string(), "string".to_string())
            ]
        );
        let untyped = validate("typed", info(&[&["count"]]), ParamTypes::new(), &free).unwrap();
        assert!(untyped.commands[0].param_types.is_empty());
        assert_eq!(
            validate(
                "typed",
                info(&[&["count"]]),
                types(&[("other", "integer")]),
                &free
            )
            .unwrap_err(),
            "gives command 'typed_cmd' a type for 'other', which none of its recipes has"
        );
        assert_eq!(
            validate(
                "typed",
                info(&[&["count"]]),
                types(&[("count", "integer"), ("count", "string")]),
                &free
            )
            .unwrap_err(),
            "declares a type for 'count' twice in command 'typed_cmd'"
        );
    }
}
