//! Builders for what a module declares: commands with their recipes, events, statistics.

/// Kinds of module statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatisticKind {
    /// Resettable with `reset_statistics`.
    Counter,
    /// A level that `reset_statistics` leaves alone.
    Gauge,
}

/// What a parameter's value is, as [`crate::Params`]' getters read it; the daemon's
/// OpenRPC document (`rpc.discover`) gives it as a JSON Schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// Read with `Params::int`: a number, or a string of an optional sign and digits.
    Integer,
    /// Read with `Params::string`: a string, or a number as its integer text.
    String,
    /// Read with `Params::string_array`: a non-empty array of strings (or numbers).
    StringArray,
}

/// One command: name, help, recipes, parameter types.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub(crate) name: String,
    pub(crate) help: Option<String>,
    pub(crate) named_only: bool,
    pub(crate) recipes: Vec<Vec<String>>,
    pub(crate) types: Vec<(String, ParamType)>,
}

/// Starts a command declaration with its help text; add recipes with
/// [`CommandSpec::recipe`] (none = the no-parameter form only).
pub fn command(name: &str, help: &str) -> CommandSpec {
    CommandSpec {
        name: name.to_string(),
        help: Some(help.to_string()),
        named_only: false,
        recipes: Vec::new(),
        types: Vec::new(),
    }
}

impl CommandSpec {
    /// Adds an alternative parameter set, in matching order (`&[]` = no parameters).
    pub fn recipe(mut self, names: &[&str]) -> Self {
        self.recipes
            .push(names.iter().map(|name| name.to_string()).collect());
        self
    }

    /// Gives parameter `name` (of some recipe) its type; an untyped parameter is any JSON
    /// value to the daemon's OpenRPC document. The daemon refuses a type for a name no
    /// recipe has.
    pub fn typed(mut self, name: &str, kind: ParamType) -> Self {
        self.types.push((name.to_string(), kind));
        self
    }

    /// Rejects positional parameters, like OpenSIPS's `MI_NAMED_PARAMS_ONLY`.
    pub fn named_only(mut self) -> Self {
        self.named_only = true;
        self
    }
}

/// What a module provides.
#[derive(Debug, Clone)]
pub struct Description {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) commands: Vec<CommandSpec>,
    pub(crate) events: Vec<String>,
    pub(crate) statistics: Vec<(String, StatisticKind)>,
}

impl Description {
    /// A module called `name` at `version`, with nothing declared yet.
    pub fn new(name: &str, version: &str) -> Self {
        Description {
            name: name.to_string(),
            version: version.to_string(),
            commands: Vec::new(),
            events: Vec::new(),
            statistics: Vec::new(),
        }
    }

    /// Adds a command; a command without recipes gets the no-parameter one.
    pub fn command(mut self, mut spec: CommandSpec) -> Self {
        if spec.recipes.is_empty() {
            spec.recipes.push(Vec::new());
        }
        self.commands.push(spec);
        self
    }

    /// Declares an event the module may raise (capability `events`).
    pub fn event(mut self, name: &str) -> Self {
        self.events.push(name.to_string());
        self
    }

    /// Declares a statistic of the module's group (capability `stats`).
    pub fn statistic(mut self, name: &str, kind: StatisticKind) -> Self {
        self.statistics.push((name.to_string(), kind));
        self
    }
}
