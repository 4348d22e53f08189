//! Write MI command modules for miwa.
//!
//! A module is a WebAssembly component of the `miwa:module@0.3.0` world. Implement [`Module`] for a
//! type, export it with [`export_module!`], build with
//! `cargo build --target wasm32-wasip2 --release`, and name the `.wasm` in `miwa.toml`:
//!
//! ```ignore
//! use miwa_module::{command, Description, Module, MiError, Params, Value};
//!
//! struct Hello;
//!
//! impl Module for Hello {
//!     fn describe() -> Description {
//!         Description::new("hello", "1.0")
//!             .command(command("hello", "greets someone").recipe(&["name"]))
//!     }
//!
//!     fn call(command: &str, params: &Params<'_>) -> Result<Value, MiError> {
//!         match command {
//!             "hello" => Ok(Value::str(format!("hello, {}", params.string("name")?))),
//!             _ => Err(MiError::method_not_found()),
//!         }
//!     }
//! }
//!
//! miwa_module::export_module!(Hello);
//! ```
//!
//! Parameters arrive after the daemon matched a recipe, exactly as for core commands; the
//! [`Params`] getters are the core's own, with the same coercions and error texts. The
//! capability wrappers ([`log`], [`stats`], [`cache`], [`events`], [`mi`]) work only when
//! the operator granted the capability; calling one that was not granted fails the module's
//! call with a message naming the grant.
//!
//! I/O is the operator's to grant too: with `files`, `std::fs` reads the `read_only_dirs`;
//! with `tcp`, `std::net::TcpStream` connects to the `allowed_tcp` addresses; with `http`,
//! [`http`] sends requests to the `allowed_outbound_hosts`. With `tick`, the daemon calls
//! [`Module::tick`] every `tick_ms`.

mod capabilities;
mod describe;
#[doc(hidden)]
pub mod glue;
pub mod http;

pub use capabilities::{cache, events, log, mi, stats};
pub use describe::{command, CommandSpec, Description, ParamType, StatisticKind};
pub use mi_core::json::{self, object, Value};
pub use mi_core::params::Params;
pub use mi_core::MiError;

/// Generated bindings of the `miwa:module` world; the glue wit-bindgen emits needs `unsafe`.
#[doc(hidden)]
#[allow(unsafe_code, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/module/v0.3.0",
        world: "module",
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "miwa_module::bindings",
    });
}

/// An MI command module.
pub trait Module {
    /// The module's name, version, commands, events and statistics; asked once per load.
    fn describe() -> Description;

    /// Runs `command` with the parameters of the recipe that matched.
    fn call(command: &str, params: &Params<'_>) -> Result<Value, MiError>;

    /// Background work, called every `tick_ms` when the operator granted `tick` (never
    /// while another tick runs); an error is logged and counted by the daemon. Does
    /// nothing unless overridden.
    fn tick() -> Result<(), String> {
        Ok(())
    }
}

/// Exports a [`Module`] implementation as the component's `module-api`.
#[macro_export]
macro_rules! export_module {
    ($module:ty) => {
        #[doc(hidden)]
        pub struct MiwaModuleExport;

        impl $crate::bindings::exports::miwa::module::module_api::Guest for MiwaModuleExport {
            fn describe() -> $crate::bindings::exports::miwa::module::module_api::ModuleInfo {
                $crate::glue::describe::<$module>()
            }

            fn call(
                command: ::std::string::String,
                params: ::std::string::String,
            ) -> ::std::result::Result<
                ::std::string::String,
                $crate::bindings::miwa::module::types::MiError,
            > {
                $crate::glue::call::<$module>(&command, &params)
            }

            fn tick() -> ::std::result::Result<(), ::std::string::String> {
                $crate::glue::tick::<$module>()
            }
        }

        $crate::bindings::export_world!(MiwaModuleExport with_types_in $crate::bindings);
    };
}
