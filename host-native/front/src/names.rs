//! OpenSIPS 4.0 names for a node's commands, so that a client speaking 4.0 names reaches an
//! OpenSIPS 3.x node: `statistics:get` goes to the node as `get_statistics`, a bare local
//! name one of the node's commands has (`dump`) as that command (`ul_dump`), and one that
//! several share (`list`) is answered `-32001 Method ambiguous` with the candidates, as
//! OpenSIPS 4.0 answers it.
//!
//! A node's `which` gives 3.6 names only. Their 4.0 names come from mi-core's tables: the
//! core's, and [`mi_core::names::MODULE_COMMANDS_4_0`] (usrloc, dispatcher, dialog,
//! drouting, load_balancer, rtpengine, clusterer, tm). A command of any other module keeps
//! its name as its local name, reachable as `<anything>:<name>` or by that name.

use mi_core::names::{module_command_4_0, MODULE_COMMANDS_4_0};
use mi_core::Registry;

/// What to send a node for a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeMethod {
    /// The method as the caller wrote it: the node has it, or miwa cannot place it (the
    /// node answers).
    AsIs,
    /// The node's (3.6) name of the command the caller named.
    Renamed(String),
    /// Several of the node's commands share this local name: their 4.0 names.
    Ambiguous(Vec<String>),
}

/// The 4.0 names miwa knows for 3.6 commands.
pub struct NodeNames {
    core: Registry,
    /// Every 3.6 name miwa knows a 4.0 name for: the commands assumed of a node never
    /// probed.
    known: Vec<String>,
}

impl Default for NodeNames {
    fn default() -> Self {
        let core = mi_core::commands::core_registry();
        let known = core
            .commands()
            .iter()
            .map(|c| c.name.to_string())
            .chain(
                MODULE_COMMANDS_4_0
                    .iter()
                    .map(|(_, name, _)| name.to_string()),
            )
            .collect();
        NodeNames { core, known }
    }
}

impl NodeNames {
    /// The 4.0 name of the 3.6 command `name`, when miwa knows it.
    pub fn name_4_0(&self, name: &str) -> Option<String> {
        if let Some(command) = self.core.find_exact(name) {
            return Some(self.core.name_4_0(command).to_string());
        }
        module_command_4_0(name).map(|(module, local)| format!("{module}:{local}"))
    }

    /// The module of the 3.6 command `name`, when miwa knows it.
    pub(crate) fn module_of(&self, name: &str) -> Option<&str> {
        match self.core.find_exact(name) {
            Some(command) => Some(command.module),
            None => module_command_4_0(name).map(|(module, _)| module),
        }
    }

    /// What to send a node whose `which` listed `commands` for `method`. A node whose
    /// commands are not known yet (never probed) is taken to have every command miwa
    /// knows, so that a name resolves to the same command whatever the node's state.
    pub fn resolve(&self, commands: &[String], method: &str) -> NodeMethod {
        let commands = if commands.is_empty() {
            &self.known
        } else {
            commands
        };
        if commands.iter().any(|c| c == method) {
            return NodeMethod::AsIs;
        }
        if let Some((module, bare)) = method.split_once(':') {
            let by_4_0 = commands
                .iter()
                .find(|c| self.name_4_0(c).as_deref() == Some(method));
            let by_alias = commands
                .iter()
                .find(|c| *c == bare && self.module_of(c).is_none_or(|m| m == module));
            return match by_4_0.or(by_alias) {
                Some(command) => NodeMethod::Renamed(command.clone()),
                None => NodeMethod::AsIs,
            };
        }
        let candidates: Vec<(String, &String)> = commands
            .iter()
            .filter_map(|c| Some((self.name_4_0(c)?, c)))
            .filter(|(full, _)| mi_core::names::local_part(full) == method)
            .collect();
        match candidates.as_slice() {
            [] => NodeMethod::AsIs,
            [(_, command)] => NodeMethod::Renamed(command.to_string()),
            many => NodeMethod::Ambiguous(many.iter().map(|(full, _)| full.clone()).collect()),
        }
    }

    /// The `(4.0 name, node's name)` of each of `commands` whose 4.0 name starts with
    /// `prefix` (`which <module>:`).
    pub fn listed<'c>(&self, commands: &'c [String], prefix: &str) -> Vec<(String, &'c str)> {
        commands
            .iter()
            .filter_map(|c| Some((self.name_4_0(c)?, c.as_str())))
            .filter(|(full, _)| full.starts_with(prefix))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Vec<String> {
        [
            "get_statistics",
            "list_statistics",
            "ps",
            "events_list",
            "list_tcp_conns",
            "ul_dump",
            "ds_list",
            "dlg_list",
            "my_module_cmd",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn names_4_0_reach_a_3_6_node() {
        let names = NodeNames::default();
        let renamed = |method: &str| names.resolve(&node(), method);
        assert_eq!(renamed("ps"), NodeMethod::AsIs);
        assert_eq!(
            renamed("statistics:get"),
            NodeMethod::Renamed("get_statistics".into())
        );
        assert_eq!(renamed("core:ps"), NodeMethod::Renamed("ps".into()));
        assert_eq!(
            renamed("usrloc:dump"),
            NodeMethod::Renamed("ul_dump".into())
        );
        assert_eq!(
            renamed("usrloc:ul_dump"),
            NodeMethod::Renamed("ul_dump".into())
        );
        assert_eq!(renamed("dump"), NodeMethod::Renamed("ul_dump".into()));
        assert_eq!(
            renamed("mine:my_module_cmd"),
            NodeMethod::Renamed("my_module_cmd".into())
        );
        assert_eq!(
            renamed("dialog:ul_dump"),
            NodeMethod::AsIs,
            "the wrong module"
        );
        assert_eq!(renamed("nothing"), NodeMethod::AsIs);
        assert_eq!(
            renamed("list"),
            NodeMethod::Ambiguous(vec![
                "statistics:list".into(),
                "evi:list".into(),
                "tcp:list".into(),
                "dispatcher:list".into(),
                "dialog:list".into(),
            ])
        );
        assert_eq!(
            names.resolve(&[], "statistics:get"),
            NodeMethod::Renamed("get_statistics".into()),
            "a node never probed"
        );
        assert_eq!(
            names.resolve(&[], "core:cache_store"),
            NodeMethod::Renamed("cache_store".into())
        );
        assert_eq!(names.resolve(&[], "ps"), NodeMethod::AsIs);
        assert_eq!(
            names.listed(&node(), "statistics:"),
            [
                ("statistics:get".to_string(), "get_statistics"),
                ("statistics:list".to_string(), "list_statistics")
            ]
        );
    }
}
