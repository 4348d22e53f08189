//! `sr_get_status`, `sr_list_status`, `sr_list_reports`, `sr_list_identifiers`.

use super::{command, recipe};
use crate::error::MiError;
use crate::host::{StatusGroup, StatusIdentifier};
use crate::json::{object, Value};
use crate::params::Params;
use crate::registry::{Command, Context};
use crate::time::ctime;

type Outcome = Result<Value, MiError>;

fn find_group(ctx: &Context<'_>, params: &Params<'_>) -> Result<StatusGroup, MiError> {
    let name = params.string("group")?;
    ctx.host
        .status_groups()
        .into_iter()
        .find(|g| g.name == name)
        .ok_or_else(|| MiError::new(404, "Group not found"))
}

/// The identifier named by the `identifier` parameter, or the aggregate for `all`.
fn find_identifier(
    group: &StatusGroup,
    params: &Params<'_>,
    not_found: &str,
) -> Result<StatusIdentifier, MiError> {
    let name = params.string("identifier")?;
    if name.eq_ignore_ascii_case("all") {
        let ready = group.identifiers.iter().all(|i| i.status >= 0);
        return Ok(StatusIdentifier {
            name,
            status: if ready { 1 } else { -1 },
            details: Some("aggregated".into()),
            reports: Vec::new(),
        });
    }
    group
        .identifiers
        .iter()
        .find(|i| i.name == name)
        .cloned()
        .ok_or_else(|| MiError::new(404, not_found.to_string()))
}

fn status_members(identifier: &StatusIdentifier) -> Vec<(String, Value)> {
    let mut members = vec![
        ("Readiness".to_string(), Value::Bool(identifier.status >= 0)),
        ("Status".to_string(), Value::num(identifier.status)),
    ];
    if let Some(details) = &identifier.details {
        members.push(("Details".to_string(), Value::str(details.clone())));
    }
    members
}

fn named_status(identifier: &StatusIdentifier) -> Value {
    let mut members = vec![("Name".to_string(), Value::str(identifier.name.clone()))];
    members.extend(status_members(identifier));
    Value::Object(members)
}

fn reports(identifier: &StatusIdentifier) -> Value {
    Value::Array(
        identifier
            .reports
            .iter()
            .map(|r| {
                object([
                    ("Timestamp", Value::Number(r.timestamp as f64)),
                    ("Date", Value::str(ctime(r.timestamp, r.offset))),
                    ("Log", Value::str(r.log.clone())),
                ])
            })
            .collect(),
    )
}

fn named_reports(identifier: &StatusIdentifier) -> Value {
    object([
        ("Name", Value::str(identifier.name.clone())),
        ("Reports", reports(identifier)),
    ])
}

fn get_main(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let group = find_group(ctx, params)?;
    let main = group
        .identifiers
        .iter()
        .find(|i| i.name == "main")
        .ok_or_else(|| MiError::new(404, "Identity not found"))?;
    Ok(Value::Object(status_members(main)))
}

fn get_identifier(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let group = find_group(ctx, params)?;
    let identifier = find_identifier(&group, params, "Identity not found")?;
    Ok(Value::Object(status_members(&identifier)))
}

fn list_status_all(ctx: &Context<'_>, _: &Params<'_>) -> Outcome {
    Ok(Value::Array(
        ctx.host
            .status_groups()
            .iter()
            .map(|g| {
                object([
                    ("Name", Value::str(g.name.clone())),
                    (
                        "Identifiers",
                        Value::Array(g.identifiers.iter().map(named_status).collect()),
                    ),
                ])
            })
            .collect(),
    ))
}

fn list_status_group(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let group = find_group(ctx, params)?;
    Ok(Value::Array(
        group.identifiers.iter().map(named_status).collect(),
    ))
}

fn list_reports_all(ctx: &Context<'_>, _: &Params<'_>) -> Outcome {
    Ok(Value::Array(
        ctx.host
            .status_groups()
            .iter()
            .map(|g| {
                object([
                    ("Name", Value::str(g.name.clone())),
                    (
                        "Identifiers",
                        Value::Array(g.identifiers.iter().map(named_reports).collect()),
                    ),
                ])
            })
            .collect(),
    ))
}

fn list_reports_group(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let group = find_group(ctx, params)?;
    Ok(Value::Array(
        group.identifiers.iter().map(named_reports).collect(),
    ))
}

fn list_reports_identifier(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let group = find_group(ctx, params)?;
    let name = params.string("identifier")?;
    let identifier = group
        .identifiers
        .iter()
        .find(|i| i.name == name)
        .ok_or_else(|| MiError::new(404, "Identifier not found"))?;
    Ok(reports(identifier))
}

fn identifiers_value(group: &StatusGroup) -> Value {
    object([
        ("Group", Value::str(group.name.clone())),
        (
            "Identifiers",
            Value::Array(
                group
                    .identifiers
                    .iter()
                    .map(|i| Value::str(i.name.clone()))
                    .collect(),
            ),
        ),
    ])
}

fn list_identifiers_all(ctx: &Context<'_>, _: &Params<'_>) -> Outcome {
    Ok(Value::Array(
        ctx.host
            .status_groups()
            .iter()
            .map(identifiers_value)
            .collect(),
    ))
}

fn list_identifiers_group(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    Ok(identifiers_value(&find_group(ctx, params)?))
}

/// The status-report commands.
pub fn commands() -> Vec<Command> {
    vec![
        command(
            "core",
            "sr_get_status",
            "gets the status of an identifier of a status report group",
            vec![
                recipe(&["group"], get_main),
                recipe(&["group", "identifier"], get_identifier),
            ],
        ),
        command(
            "core",
            "sr_list_status",
            "lists the status of the identifiers of status report groups",
            vec![
                recipe(&[], list_status_all),
                recipe(&["group"], list_status_group),
            ],
        ),
        command(
            "core",
            "sr_list_reports",
            "lists the reports of status report identifiers",
            vec![
                recipe(&[], list_reports_all),
                recipe(&["group"], list_reports_group),
                recipe(&["group", "identifier"], list_reports_identifier),
            ],
        ),
        command(
            "core",
            "sr_list_identifiers",
            "lists the identifiers of status report groups",
            vec![
                recipe(&[], list_identifiers_all),
                recipe(&["group"], list_identifiers_group),
            ],
        ),
    ]
}
