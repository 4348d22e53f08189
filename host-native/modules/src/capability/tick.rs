//! `tick`: the daemon calls the module's `tick` export every `tick_ms` (the schedule is
//! `schedule.rs`). A module whose world has no `tick` export cannot be granted it.

use super::Capability;
use crate::bindings::api::ApiPre;
use crate::grant::Grant;
use crate::loaded::LoadError;

/// The `tick` capability.
pub(crate) struct Tick;

impl Capability for Tick {
    fn grant(&self) -> Grant {
        Grant::Tick
    }

    fn check(&self, pre: &ApiPre, world: &'static str) -> Result<(), LoadError> {
        if pre.has_tick() {
            Ok(())
        } else {
            Err(LoadError::NoTick { version: world })
        }
    }
}
