//! `event_subscribe`, `events_list`, `subscribers_list`, `raise_event`.

use super::{command, recipe};
use crate::error::MiError;
use crate::host::{
    EventParams, EventSubscribers, EventValue, RaiseError, SubscribeError, Subscriber,
};
use crate::json::{self, object, Value};
use crate::params::Params;
use crate::registry::{Command, Context};

type Outcome = Result<Value, MiError>;

/// Default subscription lifetime, seconds.
const DEFAULT_EXPIRE: u32 = 3600;

fn subscriber_value(sub: &Subscriber) -> Value {
    let ttl = if sub.ttl > 0 {
        Value::Number(sub.ttl as f64)
    } else {
        Value::str("expired")
    };
    object([
        ("socket", Value::str(sub.socket.clone())),
        ("expire", Value::num(sub.expire)),
        ("ttl", ttl),
    ])
}

fn event_value(event: &EventSubscribers) -> Value {
    object([
        ("name", Value::str(event.name.clone())),
        ("id", Value::num(event.id)),
        (
            "Subscribers",
            Value::Array(event.subscribers.iter().map(subscriber_value).collect()),
        ),
    ])
}

/// Reads a string parameter that must not be empty (an empty one is a bad value).
fn non_empty(params: &Params<'_>, name: &str) -> Result<String, MiError> {
    let text = params.string(name)?;
    if text.is_empty() {
        return Err(MiError::invalid_params(format!(
            "Bad type for parameter '{name}'"
        )));
    }
    Ok(text)
}

fn subscribe(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let event = non_empty(params, "event")?;
    let socket = non_empty(params, "socket")?;
    let expire = if params.has("expire") {
        u32::try_from(params.int("expire")?)
            .map_err(|_| MiError::invalid_params("Negative expire value"))?
    } else {
        DEFAULT_EXPIRE
    };
    ctx.host
        .subscribe(&event, &socket, expire)
        .map_err(|e| match e {
            SubscribeError::BadValue => MiError::new(400, "Bad parameter value"),
            SubscribeError::TooMany => MiError::with_data(
                503,
                "Too many subscribers",
                "the daemon's subscriber limit (events.max_subscribers, or events.max_per_channel for one connection) is reached",
            ),
        })?;
    Ok(Value::str("OK"))
}

fn events_list(ctx: &Context<'_>, _: &Params<'_>) -> Outcome {
    let events = ctx
        .host
        .events()
        .into_iter()
        .enumerate()
        .map(|(id, name)| object([("name", Value::String(name)), ("id", Value::num(id as u32))]))
        .collect();
    Ok(object([("Events", Value::Array(events))]))
}

fn subscribers_all(ctx: &Context<'_>, _: &Params<'_>) -> Outcome {
    let events = ctx.host.subscribers().iter().map(event_value).collect();
    Ok(object([("Events", Value::Array(events))]))
}

/// The named event's subscribers; 404 if the event is not published.
fn subscribers_of(ctx: &Context<'_>, event: &str) -> Result<Option<EventSubscribers>, MiError> {
    if !ctx.host.events().iter().any(|e| e == event) {
        return Err(MiError::new(404, "Event not published"));
    }
    Ok(ctx.host.subscribers().into_iter().find(|e| e.name == event))
}

fn subscribers_event(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let event = params.string("event")?;
    let body = match subscribers_of(ctx, &event)? {
        Some(found) => event_value(&found),
        None => object::<&str>([]),
    };
    Ok(object([("Event", body)]))
}

fn subscribers_socket(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let event = params.string("event")?;
    let socket = params.string("socket")?;
    let missing = || MiError::new(404, "Subscriber does not exist");
    let found = subscribers_of(ctx, &event)?.ok_or_else(missing)?;
    let sub = found
        .subscribers
        .iter()
        .find(|s| s.socket == socket)
        .ok_or_else(missing)?;
    Ok(object([(
        "Event",
        object([
            ("name", Value::str(found.name.clone())),
            ("id", Value::num(found.id)),
            ("Subscriber", subscriber_value(sub)),
        ]),
    )]))
}

/// Builds event parameters from `raise_event`'s `params`: an array of scalars (unnamed), or
/// a string holding a JSON object (named).
fn event_params(value: &Value) -> Result<EventParams, MiError> {
    let bad = || MiError::new(400, "Bad Params");
    match value {
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(text.clone()),
                Value::Number(n) => Ok(Value::int_view(*n).to_string()),
                _ => Err(bad()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|items| {
                if items.is_empty() {
                    EventParams::None
                } else {
                    EventParams::Unnamed(items)
                }
            }),
        Value::String(text) => match json::parse(text.as_bytes(), crate::rpc::DEFAULT_MAX_DEPTH) {
            Ok((Value::Object(members), _)) => Ok(EventParams::Named(
                members
                    .into_iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::Number(n) => EventValue::Int(Value::int_view(n)),
                            Value::String(s) => EventValue::Text(s),
                            other => EventValue::Text(json::to_compact(&other)),
                        };
                        (k, v)
                    })
                    .collect(),
            )),
            _ => Err(bad()),
        },
        _ => Err(MiError::new(400, "No Params")),
    }
}

fn raise(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let event = params.string("event")?;
    if !ctx.host.events().contains(&event) {
        return Err(MiError::new(404, "Event not registered"));
    }
    let listened = ctx
        .host
        .subscribers()
        .iter()
        .any(|e| e.name == event && !e.subscribers.is_empty());
    if !listened {
        return Err(MiError::new(480, "Temporarily Unavailable"));
    }
    let event_params = if params.has("params") {
        event_params(params.value("params")?)?
    } else {
        EventParams::None
    };
    ctx.host
        .raise_event(&event, &event_params)
        .map_err(|e| match e {
            RaiseError::NotRegistered => MiError::new(404, "Event not registered"),
            RaiseError::NoSubscribers => MiError::new(480, "Temporarily Unavailable"),
            RaiseError::Failed => MiError::new(500, "Cannot Raise Event"),
            RaiseError::TooLarge => MiError::with_data(
                500,
                "Cannot Raise Event",
                "the event is over the daemon's size limit (events.max_event)",
            ),
        })?;
    Ok(Value::str("OK"))
}

/// The event interface commands.
pub fn commands() -> Vec<Command> {
    vec![
        command(
            "core",
            "event_subscribe",
            "subscribes an event to the Event Interface",
            vec![
                recipe(&["event", "socket"], subscribe),
                recipe(&["event", "socket", "expire"], subscribe),
            ],
        ),
        command(
            "core",
            "events_list",
            "lists all the events advertised through the Event Interface",
            vec![recipe(&[], events_list)],
        ),
        command(
            "core",
            "subscribers_list",
            "lists all the Event Interface subscribers; params: [event [socket]]",
            vec![
                recipe(&[], subscribers_all),
                recipe(&["event"], subscribers_event),
                recipe(&["event", "socket"], subscribers_socket),
            ],
        ),
        command(
            "core",
            "raise_event",
            "raises an event through the Event Interface; params: event [params]",
            vec![
                recipe(&["event"], raise),
                recipe(&["event", "params"], raise),
            ],
        ),
    ]
}
