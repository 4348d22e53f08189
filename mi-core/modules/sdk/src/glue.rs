//! The adapter between the generated `module-api` export and a [`Module`]; used by
//! [`export_module!`](crate::export_module).

use crate::bindings::exports::miwa::module::module_api as api;
use crate::bindings::miwa::module::{diagnostics, types};
use crate::describe::{ParamType, StatisticKind};
use crate::Module;
use mi_core::json::{self, Value};
use mi_core::params::{Params, RawParams};
use mi_core::MiError;
use std::sync::Once;

/// Nesting accepted in the parameter object the daemon sends.
const MAX_PARAMS_DEPTH: u32 = 128;

/// Sends panic messages to the daemon, which names them in the failed call's reply.
fn report_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            diagnostics::report_panic(&info.to_string());
        }));
    });
}

/// `describe`, converted to the WIT record.
pub fn describe<M: Module>() -> api::ModuleInfo {
    report_panics();
    let description = M::describe();
    api::ModuleInfo {
        name: description.name,
        version: description.version,
        commands: description
            .commands
            .into_iter()
            .map(|c| api::Command {
                name: c.name,
                help: c.help,
                named_only: c.named_only,
                recipes: c.recipes,
                param_types: c
                    .types
                    .into_iter()
                    .map(|(name, kind)| {
                        let kind = match kind {
                            ParamType::Integer => api::ParamType::Integer,
                            ParamType::String => api::ParamType::String,
                            ParamType::StringArray => api::ParamType::StringArray,
                        };
                        (name, kind)
                    })
                    .collect(),
            })
            .collect(),
        events: description.events,
        statistics: description
            .statistics
            .into_iter()
            .map(|(name, kind)| api::Statistic {
                name,
                kind: match kind {
                    StatisticKind::Counter => api::StatisticKind::Counter,
                    StatisticKind::Gauge => api::StatisticKind::Gauge,
                },
            })
            .collect(),
    }
}

/// The WIT form of an MI error.
pub fn wit_error(error: MiError) -> types::MiError {
    types::MiError {
        code: error.code,
        message: error.message,
        data: error.data,
    }
}

/// `call`: decodes the parameter object, runs the command, prints the result compactly.
pub fn call<M: Module>(command: &str, params: &str) -> Result<String, types::MiError> {
    report_panics();
    let parsed = match json::parse(params.as_bytes(), MAX_PARAMS_DEPTH) {
        Ok((value, _)) => value,
        Err(_) => {
            return Err(wit_error(MiError::server_error(
                "module received parameters that are not JSON",
            )))
        }
    };
    let raw = RawParams::from_member(Some(&parsed)).unwrap_or(RawParams::None);
    let names: Vec<&str> = match &parsed {
        Value::Object(members) => members.iter().map(|(key, _)| key.as_str()).collect(),
        _ => Vec::new(),
    };
    M::call(command, &Params::new(raw, &names))
        .map(|value| json::to_compact(&value))
        .map_err(wit_error)
}

/// `tick`.
pub fn tick<M: Module>() -> Result<(), String> {
    report_panics();
    M::tick()
}
