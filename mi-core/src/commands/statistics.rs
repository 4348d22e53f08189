//! `get_statistics`, `list_statistics`, `reset_statistics`, `reset_all_statistics`.

use super::{command, recipe};
use crate::error::MiError;
use crate::host::Statistic;
use crate::json::Value;
use crate::params::Params;
use crate::registry::{Command, Context};

type Outcome = Result<Value, MiError>;

/// How a selected statistic is keyed in the reply.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    GroupAndName,
    BareName,
}

/// Applies the selectors (`all`, `group:`, bare names) in order; duplicates are kept.
fn select<'s>(stats: &'s [Statistic], selectors: &[String]) -> Vec<(&'s Statistic, Key)> {
    let mut chosen = Vec::new();
    for selector in selectors {
        if selector == "all" {
            chosen.extend(stats.iter().map(|s| (s, Key::GroupAndName)));
        } else if selector.len() >= 2 && selector.ends_with(':') {
            let group = &selector[..selector.len() - 1];
            chosen.extend(
                stats
                    .iter()
                    .filter(|s| s.group.eq_ignore_ascii_case(group))
                    .map(|s| (s, Key::GroupAndName)),
            );
        } else if let Some(stat) = stats.iter().find(|s| s.name.eq_ignore_ascii_case(selector)) {
            chosen.push((stat, Key::BareName));
        }
    }
    chosen
}

fn full_name(stat: &Statistic) -> String {
    let mut name = String::with_capacity(stat.group.len() + 1 + stat.name.len());
    name.push_str(&stat.group);
    name.push(':');
    name.push_str(&stat.name);
    name
}

fn kind(stat: &Statistic) -> Value {
    Value::str(if stat.incremental {
        "incremental"
    } else {
        "non-incremental"
    })
}

fn get(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let selectors = params.string_array("statistics")?;
    let stats = ctx.host.statistics();
    Ok(Value::Object(
        select(&stats, &selectors)
            .into_iter()
            .map(|(s, _)| (full_name(s), Value::Number(s.value as f64)))
            .collect(),
    ))
}

fn list_all(ctx: &Context<'_>, _: &Params<'_>) -> Outcome {
    Ok(Value::Object(
        ctx.host
            .statistics()
            .iter()
            .map(|s| (full_name(s), kind(s)))
            .collect(),
    ))
}

fn list(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let selectors = params.string_array("statistics")?;
    let stats = ctx.host.statistics();
    Ok(Value::Object(
        select(&stats, &selectors)
            .into_iter()
            .map(|(s, key)| match key {
                Key::GroupAndName => (full_name(s), kind(s)),
                Key::BareName => (s.name.clone(), kind(s)),
            })
            .collect(),
    ))
}

fn reset(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let names = params.string_array("statistics")?;
    let stats = ctx.host.statistics();
    let mut found = false;
    for name in &names {
        if let Some(stat) = stats.iter().find(|s| s.name.eq_ignore_ascii_case(name)) {
            ctx.host.reset_statistic(&stat.group, &stat.name);
            found = true;
        }
    }
    if found {
        Ok(Value::str("OK"))
    } else {
        Err(MiError::new(404, "Statistics Not Found"))
    }
}

fn reset_all(ctx: &Context<'_>, _: &Params<'_>) -> Outcome {
    ctx.host.reset_all_statistics();
    Ok(Value::str("OK"))
}

/// The `statistics` group.
pub fn commands() -> Vec<Command> {
    let group = "statistics";
    vec![
        command(
            group,
            "get_statistics",
            "prints the statistics (all, group or one) real time values.",
            vec![recipe(&["statistics"], get)],
        ),
        command(
            group,
            "list_statistics",
            "lists all the registered statistics and their types",
            vec![recipe(&[], list_all), recipe(&["statistics"], list)],
        ),
        command(
            group,
            "reset_statistics",
            "resets the value of a statistic variable",
            vec![recipe(&["statistics"], reset)],
        ),
        command(
            group,
            "reset_all_statistics",
            "resets the value of all resetable variables",
            vec![recipe(&[], reset_all)],
        ),
    ]
}
