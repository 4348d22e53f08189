//! Status reports: readiness groups, identifiers and their logs.

use mi_core::host::{StatusGroup, StatusIdentifier, StatusReport};
use std::sync::Mutex;

/// Most log entries kept per identifier.
const MAX_REPORTS: usize = 64;

/// A status change, for `E_CORE_SR_STATUS_CHANGED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusChange {
    /// Group.
    pub group: String,
    /// Identifier.
    pub identifier: String,
    /// New status.
    pub status: i32,
    /// New details.
    pub details: String,
    /// Previous status.
    pub old_status: i32,
}

/// All status-report groups.
#[derive(Debug, Default)]
pub(crate) struct StatusBoard {
    groups: Mutex<Vec<StatusGroup>>,
}

impl StatusBoard {
    /// Removes `group`/`identifier` and its log; the group goes with its last identifier.
    pub fn remove(&self, group: &str, identifier: &str) {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(index) = groups.iter().position(|g| g.name == group) {
            groups[index].identifiers.retain(|i| i.name != identifier);
            if groups[index].identifiers.is_empty() {
                groups.remove(index);
            }
        }
    }

    /// Sets (creating if needed) `group`/`identifier` to `status` with `details`, logs it at
    /// `now`, and returns the change when the status moved.
    pub fn set(
        &self,
        group: &str,
        identifier: &str,
        status: i32,
        details: &str,
        now: i64,
        offset: i32,
    ) -> Option<StatusChange> {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let group_index = match groups.iter().position(|g| g.name == group) {
            Some(i) => i,
            None => {
                groups.push(StatusGroup {
                    name: group.to_string(),
                    identifiers: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let identifiers = &mut groups[group_index].identifiers;
        let id_index = match identifiers.iter().position(|i| i.name == identifier) {
            Some(i) => i,
            None => {
                identifiers.push(StatusIdentifier {
                    name: identifier.to_string(),
                    status,
                    details: None,
                    reports: Vec::new(),
                });
                identifiers.len() - 1
            }
        };
        let entry = &mut identifiers[id_index];
        let old_status = entry.status;
        let moved = entry.details.is_some() && old_status != status;
        entry.status = status;
        entry.details = Some(details.to_string());
        entry.reports.push(StatusReport {
            timestamp: now,
            offset,
            log: format!("status changed to {status} ({details})"),
        });
        if entry.reports.len() > MAX_REPORTS {
            entry.reports.remove(0);
        }
        moved.then(|| StatusChange {
            group: group.to_string(),
            identifier: identifier.to_string(),
            status,
            details: details.to_string(),
            old_status,
        })
    }

    /// A snapshot of every group.
    pub fn groups(&self) -> Vec<StatusGroup> {
        self.groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
