//! Figures read from the operating system: memory of the daemon and of the machine.

use std::fs;

/// Memory figures in bytes.
#[derive(Debug, Default, Clone, Copy)]
pub struct MemoryFigures {
    /// Physical memory of the machine (`MemTotal`).
    pub total: u64,
    /// Memory available for new allocations (`MemAvailable`).
    pub available: u64,
    /// Resident set of the daemon (`VmRSS`).
    pub resident: u64,
    /// Peak resident set of the daemon (`VmHWM`).
    pub resident_peak: u64,
    /// Heap and data segments of the daemon (`VmData`).
    pub data: u64,
}

fn kib_field(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// Reads `/proc/meminfo` and `/proc/self/status` (zeros where unavailable).
pub fn memory() -> MemoryFigures {
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    MemoryFigures {
        total: kib_field(&meminfo, "MemTotal"),
        available: kib_field(&meminfo, "MemAvailable"),
        resident: kib_field(&status, "VmRSS"),
        resident_peak: kib_field(&status, "VmHWM"),
        data: kib_field(&status, "VmData"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_real_figures() {
        let m = super::memory();
        assert!(
            m.total > 0 && m.resident > 0 && m.resident <= m.resident_peak,
            "{m:?}"
        );
    }
}
