//! The confirmation a destructive tool call needs: asked of the user through the client
//! when the client can ask (MCP elicitation: an `elicitation/create` request on revisions
//! with sessions, an `input_required` result on 2026-07-28), else the `"confirm": true`
//! argument. Only an explicit yes runs the call.

use rmcp::model::{
    CallToolRequestParams, ElicitRequestParams, ElicitResult, InputRequiredResult, ProtocolVersion,
};
use rmcp::service::RequestContext;
use rmcp::RoleServer;
use serde_json::{json, Map, Value};
use sha2::Digest as _;

/// The key of the confirmation among a call's input requests.
const KEY: &str = "confirm";

/// What became of the confirmation of one call.
pub(crate) enum Confirmation {
    /// The user said yes (or the call carried `"confirm": true`).
    Given,
    /// The user said no, or the answer is not for this call: nothing runs.
    Refused(String),
    /// Ask the user, and call again with the answer (2026-07-28).
    Ask(Box<InputRequiredResult>),
    /// The client cannot ask: it must pass `"confirm": true`.
    Unsupported,
}

/// What the user is asked.
fn question(method: &str, arguments: &Map<String, Value>) -> String {
    format!(
        "Run '{method}' with {}? It is destructive: what it does cannot be undone.",
        Value::Object(arguments.clone())
    )
}

/// The form: one yes/no field.
fn form(method: &str, arguments: &Map<String, Value>) -> Option<ElicitRequestParams> {
    serde_json::from_value(json!({
        "mode": "form",
        "message": question(method, arguments),
        "requestedSchema": {
            "type": "object",
            "properties": {KEY: {"type": "boolean", "title": format!("Run {method}"), "description": "Yes to run it"}},
            "required": [KEY],
        }
    }))
    .ok()
}

/// A yes: accepted with `confirm` true.
fn yes(answer: &ElicitResult) -> bool {
    matches!(answer.action, rmcp::model::ElicitationAction::Accept)
        && answer.content.as_ref().and_then(|c| c.get(KEY)) == Some(&Value::Bool(true))
}

/// The state a 2026-07-28 retry must echo: the digest of the call asked about, so that
/// a yes given for one call does not run another.
fn state(method: &str, arguments: &Map<String, Value>) -> String {
    let digest = sha2::Sha256::digest(format!("{method}\n{}", Value::Object(arguments.clone())));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The confirmation of a call of `method` with `arguments` (without `confirm`).
pub(crate) async fn confirm(
    method: &str,
    arguments: &Map<String, Value>,
    request: &CallToolRequestParams,
    context: &RequestContext<RoleServer>,
) -> Confirmation {
    let stateless = context
        .protocol_version()
        .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str());
    if stateless {
        // 2026-07-28: the question is a result; the answer comes with the retried call.
        if let Some(answers) = &request.input_responses {
            if request.request_state.as_deref() != Some(state(method, arguments).as_str()) {
                return Confirmation::Refused("the confirmation was given for another call".into());
            }
            let answer = answers
                .get(KEY)
                .and_then(|a| serde_json::from_value::<ElicitResult>(a.clone()).ok());
            return match answer {
                Some(answer) if yes(&answer) => Confirmation::Given,
                _ => Confirmation::Refused("the user did not confirm it".into()),
            };
        }
        let can_ask = context
            .meta
            .client_capabilities()
            .is_some_and(|capabilities| capabilities.elicitation.is_some());
        if !can_ask {
            return Confirmation::Unsupported;
        }
        let Some(form) = form(method, arguments) else {
            return Confirmation::Unsupported;
        };
        let asked = json!({
            "resultType": "input_required",
            "inputRequests": {KEY: {"method": "elicitation/create", "params": form}},
            "requestState": state(method, arguments),
        });
        return match serde_json::from_value::<InputRequiredResult>(asked) {
            Ok(asked) => Confirmation::Ask(Box::new(asked)),
            Err(_) => Confirmation::Unsupported,
        };
    }
    let can_ask = context
        .peer
        .peer_info()
        .is_some_and(|info| info.capabilities.elicitation.is_some());
    let Some(form) = form(method, arguments).filter(|_| can_ask) else {
        return Confirmation::Unsupported;
    };
    match context.peer.create_elicitation(form).await {
        Ok(answer) if yes(&answer) => Confirmation::Given,
        Ok(_) => Confirmation::Refused("the user did not confirm it".into()),
        Err(error) => Confirmation::Refused(format!("the confirmation failed: {error}")),
    }
}
