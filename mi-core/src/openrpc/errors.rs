//! The errors each core command can answer, as OpenRPC error objects list them.

/// `(code, message)` of an error a command answers.
pub type ErrorEntry = (i32, &'static str);

/// Any command with parameters: no recipe matches, or a value has the wrong type.
pub const INVALID_PARAMS: ErrorEntry = (-32602, "Invalid params");
/// A caller whose role may not run the command.
pub const FORBIDDEN: ErrorEntry = (403, "Forbidden");
/// A module's call failed (trapped, timed out, over a limit, or the module's own error).
pub const MODULE_FAILED: ErrorEntry = (500, "Module call failed");

/// The errors of core command `name` beyond [`INVALID_PARAMS`] and [`FORBIDDEN`].
pub fn of_core_command(name: &str) -> &'static [ErrorEntry] {
    match name {
        "reset_statistics" => &[(404, "Statistics Not Found")],
        "pwd" => &[(-32000, "Server error")],
        "help" | "which" => &[(404, "unknown MI command")],
        "log_level" => &[(-32602, "Bad PID")],
        "log_level_filter" | "log_mute_state" => &[(404, "Unknown log consumer")],
        "cache_store" | "cache_remove" | "cache_fetch_chunk" => &[(500, "cache failure")],
        "cache_fetch" => &[(400, "Value not found"), (500, "cache failure")],
        "event_subscribe" => &[(400, "Bad parameter value"), (503, "Too many subscribers")],
        "subscribers_list" => &[
            (404, "Event not published"),
            (404, "Subscriber does not exist"),
        ],
        "raise_event" => &[
            (400, "Bad Params"),
            (400, "No Params"),
            (404, "Event not registered"),
            (480, "Temporarily Unavailable"),
            (500, "Cannot Raise Event"),
        ],
        "mem_pkg_dump" => &[(404, "Process not found")],
        "sr_get_status" | "sr_list_status" | "sr_list_reports" | "sr_list_identifiers" => {
            &[(404, "Group not found"), (404, "Identifier not found")]
        }
        "module_load" | "module_unload" | "module_reload" => &[
            (404, "module is not declared"),
            (500, "module was not loaded"),
        ],
        _ => &[],
    }
}
