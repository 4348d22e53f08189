//! A module's exports whatever the version of its world: the daemon calls `describe`,
//! `call` and `tick` through [`Api`] and reads their answers as the 0.1.0 types (0.2.0 and
//! 0.3.0 answers are converted field by field; the records are the same, 0.3.0's commands
//! also give their parameters' types, returned beside as [`ParamTypes`]).

use super::{v0_1, v0_2, v0_3, ModuleStoreData};
use mi_core::MiError;
use wasmtime::component::{Component, InstancePre};
use wasmtime::{Engine, Store};

pub use v0_1::exports::miwa::module::module_api::{ModuleInfo, StatisticKind};

/// The versions of `miwa:module` this daemon runs, newest last.
pub(crate) const VERSIONS: [&str; 3] = ["0.1.0", "0.2.0", "0.3.0"];

/// For each command of a description, in order: its parameters' types by name
/// (`integer`, `string`, `string-array`), as [`mi_core::openrpc::schema::ParamType`]
/// names them. Empty for worlds before 0.3.0.
pub(crate) type ParamTypes = Vec<Vec<(String, String)>>;

/// The version of `miwa:module` whose `module-api` `component` exports.
pub(crate) fn exported_version(engine: &Engine, component: &Component) -> Option<&'static str> {
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    VERSIONS
        .iter()
        .rev()
        .find(|v| {
            exports
                .iter()
                .any(|e| *e == format!("miwa:module/module-api@{v}"))
        })
        .copied()
}

/// A module linked and ready to instantiate.
pub(crate) enum ApiPre {
    /// Built for `miwa:module@0.1.0`.
    V0_1(v0_1::ModulePre<ModuleStoreData>),
    /// Built for `miwa:module@0.2.0`.
    V0_2(v0_2::ModulePre<ModuleStoreData>),
    /// Built for `miwa:module@0.3.0`.
    V0_3(v0_3::ModulePre<ModuleStoreData>),
}

impl ApiPre {
    /// The pre-instance of a component exporting `version`'s `module-api`.
    pub fn new(version: &str, pre: InstancePre<ModuleStoreData>) -> wasmtime::Result<ApiPre> {
        Ok(match version {
            "0.1.0" => ApiPre::V0_1(v0_1::ModulePre::new(pre)?),
            "0.2.0" => ApiPre::V0_2(v0_2::ModulePre::new(pre)?),
            _ => ApiPre::V0_3(v0_3::ModulePre::new(pre)?),
        })
    }

    /// A fresh instance.
    pub fn instantiate(&self, store: &mut Store<ModuleStoreData>) -> wasmtime::Result<Api> {
        Ok(match self {
            ApiPre::V0_1(pre) => Api::V0_1(pre.instantiate(store)?),
            ApiPre::V0_2(pre) => Api::V0_2(pre.instantiate(store)?),
            ApiPre::V0_3(pre) => Api::V0_3(pre.instantiate(store)?),
        })
    }

    /// Whether the module exports `tick`.
    pub(crate) fn has_tick(&self) -> bool {
        matches!(self, ApiPre::V0_2(_) | ApiPre::V0_3(_))
    }
}

/// A module instance's exports.
pub(crate) enum Api {
    /// Built for `miwa:module@0.1.0`.
    V0_1(v0_1::Module),
    /// Built for `miwa:module@0.2.0`.
    V0_2(v0_2::Module),
    /// Built for `miwa:module@0.3.0`.
    V0_3(v0_3::Module),
}

impl Api {
    /// `describe`, with the parameter types of each command.
    pub fn describe(
        &self,
        store: &mut Store<ModuleStoreData>,
    ) -> wasmtime::Result<(ModuleInfo, ParamTypes)> {
        match self {
            Api::V0_1(module) => module
                .miwa_module_module_api()
                .call_describe(store)
                .map(|info| (info, ParamTypes::new())),
            Api::V0_2(module) => module
                .miwa_module_module_api()
                .call_describe(store)
                .map(|info| (info_of_v0_2(info), ParamTypes::new())),
            Api::V0_3(module) => module
                .miwa_module_module_api()
                .call_describe(store)
                .map(info_of_v0_3),
        }
    }

    /// `call`: the result's JSON text, or the module's MI error.
    pub fn call(
        &self,
        store: &mut Store<ModuleStoreData>,
        command: &str,
        params: &str,
    ) -> wasmtime::Result<Result<String, MiError>> {
        Ok(match self {
            Api::V0_1(module) => module
                .miwa_module_module_api()
                .call_call(store, command, params)?
                .map_err(|e| mi_error(e.code, e.message, e.data)),
            Api::V0_2(module) => module
                .miwa_module_module_api()
                .call_call(store, command, params)?
                .map_err(|e| mi_error(e.code, e.message, e.data)),
            Api::V0_3(module) => module
                .miwa_module_module_api()
                .call_call(store, command, params)?
                .map_err(|e| mi_error(e.code, e.message, e.data)),
        })
    }

    /// `tick`; `None` for a module whose world has none.
    pub fn tick(
        &self,
        store: &mut Store<ModuleStoreData>,
    ) -> Option<wasmtime::Result<Result<(), String>>> {
        match self {
            Api::V0_1(_) => None,
            Api::V0_2(module) => Some(module.miwa_module_module_api().call_tick(store)),
            Api::V0_3(module) => Some(module.miwa_module_module_api().call_tick(store)),
        }
    }
}

fn mi_error(code: i32, message: String, data: Option<String>) -> MiError {
    MiError {
        code,
        message,
        data,
    }
}

/// A description of a later world as the 0.1.0 types: the same fields, record by record
/// (`$new` is the later world's `module_api`).
macro_rules! as_v0_1_info {
    ($info:expr, $new:path) => {{
        use v0_1::exports::miwa::module::module_api as old;
        use $new as new;
        let info = $info;
        ModuleInfo {
            name: info.name,
            version: info.version,
            commands: info
                .commands
                .into_iter()
                .map(|c| old::Command {
                    name: c.name,
                    help: c.help,
                    named_only: c.named_only,
                    recipes: c.recipes,
                })
                .collect(),
            events: info.events,
            statistics: info
                .statistics
                .into_iter()
                .map(|s| old::Statistic {
                    name: s.name,
                    kind: match s.kind {
                        new::StatisticKind::Counter => StatisticKind::Counter,
                        new::StatisticKind::Gauge => StatisticKind::Gauge,
                    },
                })
                .collect(),
        }
    }};
}

fn info_of_v0_2(info: v0_2::exports::miwa::module::module_api::ModuleInfo) -> ModuleInfo {
    as_v0_1_info!(info, v0_2::exports::miwa::module::module_api)
}

fn info_of_v0_3(
    info: v0_3::exports::miwa::module::module_api::ModuleInfo,
) -> (ModuleInfo, ParamTypes) {
    use v0_3::exports::miwa::module::module_api::ParamType;
    let types = info
        .commands
        .iter()
        .map(|c| {
            c.param_types
                .iter()
                .map(|(name, kind)| {
                    let kind = match kind {
                        ParamType::Integer => "integer",
                        ParamType::String => "string",
                        ParamType::StringArray => "string-array",
                    };
                    (name.clone(), kind.to_string())
                })
                .collect()
        })
        .collect();
    (
        as_v0_1_info!(info, v0_3::exports::miwa::module::module_api),
        types,
    )
}
