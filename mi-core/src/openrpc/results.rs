//! The shape of the results of core commands whose result has a fixed, small shape, as
//! JSON Schema texts (the OpenRPC `result` schema; an MCP tool's `outputSchema`). A
//! command not here has the empty schema: its result is any JSON value.

/// The result schema of core command `name`, if its shape is fixed.
pub fn of_core_command(name: &str) -> Option<&'static str> {
    Some(match name {
        "uptime" => {
            r#"{"type":"object","properties":{"Now":{"type":"string"},"Up since":{"type":"string"},"Up time":{"type":"string"}},"required":["Now","Up since","Up time"]}"#
        }
        "version" => {
            r#"{"type":"object","properties":{"Server":{"type":"string"}},"required":["Server"]}"#
        }
        "pwd" => r#"{"type":"object","properties":{"WD":{"type":"string"}},"required":["WD"]}"#,
        "ps" => {
            r#"{"type":"object","properties":{"Processes":{"type":"array","items":{"type":"object","properties":{"ID":{"type":"integer"},"PID":{"type":"integer"},"Type":{"type":"string"}},"required":["ID","PID","Type"]}}},"required":["Processes"]}"#
        }
        _ => return None,
    })
}
