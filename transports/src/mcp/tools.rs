//! Tools from an OpenRPC document (`rpc.discover`): one per method, named so that MCP
//! clients take the name, described by the method's summary, with an input schema that
//! accepts exactly the method's recipes (its parameter sets) and hints saying whether it
//! only reads or destroys. And the MI request a tool call becomes.

use mi_core::effects::{Effect, Effects};
use serde_json::{json, Map, Value};

/// The argument a destructive tool needs to run.
pub(crate) const CONFIRM: &str = "confirm";

/// One tool and how a call to it becomes an MI request.
pub(crate) struct ToolPlan {
    /// The tool as `tools/list` shows it.
    pub tool: rmcp::model::Tool,
    /// The MI method it runs.
    pub method: String,
    /// What the method does.
    pub effect: Effect,
    /// The arguments it takes.
    pub shape: Shape,
}

/// The arguments a tool takes.
pub(crate) enum Shape {
    /// Exactly one of these sets (each in positional order), sent by position when the
    /// method takes them so only.
    Recipes {
        recipes: Vec<Vec<String>>,
        by_position: bool,
    },
    /// Any of these names, with the required ones, sent by name.
    Named {
        names: Vec<String>,
        required: Vec<String>,
    },
    /// Unknown: `params`, an array sent by position as it is (a Kamailio node's
    /// methods, described by name alone).
    Unknown,
}

/// A tool name MCP clients accept (`[A-Za-z0-9_.-]`, at most 128 characters).
fn tool_name(method: &str) -> String {
    method
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect()
}

/// The tools of `document`'s methods; destructive ones only when `destructive` (the
/// caller's role may see them). A method whose tool name another method already took is
/// left out.
pub(crate) fn catalogue(document: &Value, effects: &Effects, destructive: bool) -> Vec<ToolPlan> {
    let methods = document["methods"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let mut plans: Vec<ToolPlan> = Vec::with_capacity(methods.len());
    for method in methods {
        let Some(plan) = plan(method, effects) else {
            continue;
        };
        if (plan.effect == Effect::Destructive && !destructive)
            || plans.iter().any(|p| p.tool.name == plan.tool.name)
        {
            continue;
        }
        plans.push(plan);
    }
    plans
}

/// The tool of one OpenRPC method.
fn plan(method: &Value, effects: &Effects) -> Option<ToolPlan> {
    let name = method["name"].as_str()?;
    if name == mi_core::openrpc::DISCOVER {
        return None;
    }
    let effect = effects.of(name);
    let params = method["params"].as_array().map_or(&[][..], Vec::as_slice);
    let mut properties = Map::new();
    for param in params {
        if let Some(param_name) = param["name"].as_str() {
            properties.insert(param_name.to_string(), param["schema"].clone());
        }
    }
    let required: Vec<String> = params
        .iter()
        .filter(|p| p["required"] == true)
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect();
    let shape = if method["x-params-unknown"] == true {
        properties.clear();
        properties.insert(
            "params".to_string(),
            json!({"type": "array", "description": "the parameters, in their order"}),
        );
        Shape::Unknown
    } else {
        match method["x-recipes"].as_array() {
            Some(recipes) => Shape::Recipes {
                recipes: recipes
                    .iter()
                    .map(|recipe| {
                        recipe
                            .as_array()
                            .map(|names| {
                                names
                                    .iter()
                                    .filter_map(|n| n.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default()
                    })
                    .collect(),
                by_position: method["paramStructure"] == "by-position",
            },
            None => Shape::Named {
                names: properties.keys().cloned().collect(),
                required: required.clone(),
            },
        }
    };
    let mut description = method["summary"]
        .as_str()
        .or(method["description"].as_str())
        .unwrap_or(name)
        .to_string();
    if let Shape::Recipes { recipes, .. } = &shape {
        if recipes.len() > 1 {
            let sets: Vec<String> = recipes
                .iter()
                .map(|r| format!("[{}]", r.join(", ")))
                .collect();
            description.push_str(&format!(
                " Takes one of these sets of arguments: {}.",
                sets.join(" or ")
            ));
        }
    }
    if effect == Effect::Destructive {
        description.push_str(
            " Destructive: it runs only with \"confirm\": true, to be given once the user \
             agreed to this very call.",
        );
        properties.insert(
            CONFIRM.to_string(),
            json!({"type": "boolean", "description": "true once the user agreed to this call"}),
        );
    }
    let mut schema = json!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    });
    let confirm = (effect == Effect::Destructive).then_some(CONFIRM);
    match &shape {
        Shape::Recipes { recipes, .. } if recipes.len() == 1 => {
            if !recipes[0].is_empty() {
                schema["required"] = json!(recipes[0]);
            }
        }
        Shape::Recipes { recipes, .. } => {
            let branches: Vec<Value> = recipes
                .iter()
                .map(|recipe| {
                    let allowed: Vec<&str> =
                        recipe.iter().map(String::as_str).chain(confirm).collect();
                    if allowed.is_empty() {
                        json!({"maxProperties": 0})
                    } else {
                        json!({"required": recipe, "propertyNames": {"enum": allowed}})
                    }
                })
                .collect();
            schema["anyOf"] = Value::Array(branches);
        }
        Shape::Named { required, .. } if !required.is_empty() => {
            schema["required"] = json!(required);
        }
        Shape::Named { .. } | Shape::Unknown => {}
    }
    let mut tool = json!({
        "name": tool_name(name),
        "title": name,
        "description": description,
        "inputSchema": schema,
        "annotations": {
            "title": name,
            "readOnlyHint": effect == Effect::ReadOnly,
            "destructiveHint": effect == Effect::Destructive,
            "idempotentHint": effect == Effect::ReadOnly,
            "openWorldHint": false,
        },
    });
    let result = &method["result"]["schema"];
    if result["type"] == "object" {
        tool["outputSchema"] = result.clone();
    }
    let tool: rmcp::model::Tool = serde_json::from_value(tool).ok()?;
    Some(ToolPlan {
        tool,
        method: name.to_string(),
        effect,
        shape,
    })
}

/// The MI request text of a call to `plan`'s tool with `arguments` (without `confirm`),
/// or what is wrong with them: an argument the method does not take, a required one
/// missing, or a set of arguments that is none of its recipes. Nothing is run for a wrong
/// call.
pub(crate) fn request(plan: &ToolPlan, arguments: &Map<String, Value>) -> Result<String, String> {
    let method = &plan.method;
    let params = match &plan.shape {
        Shape::Unknown => {
            if let Some(other) = arguments.keys().find(|k| *k != "params") {
                return Err(format!(
                    "'{method}' takes only 'params' (an array), not '{other}'"
                ));
            }
            match arguments.get("params") {
                None => None,
                Some(Value::Array(list)) => Some(Value::Array(list.clone())),
                Some(_) => return Err(format!("'{method}': 'params' must be an array")),
            }
        }
        Shape::Named { names, required } => {
            if let Some(unknown) = arguments.keys().find(|k| !names.contains(k)) {
                return Err(unknown_argument(method, unknown, names));
            }
            if let Some(missing) = required.iter().find(|r| !arguments.contains_key(*r)) {
                return Err(format!("'{method}' needs the argument '{missing}'"));
            }
            (!arguments.is_empty()).then(|| Value::Object(arguments.clone()))
        }
        Shape::Recipes {
            recipes,
            by_position,
        } => {
            let mut names: Vec<String> = Vec::new();
            for name in recipes.iter().flatten() {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
            if let Some(unknown) = arguments.keys().find(|k| !names.contains(k)) {
                return Err(unknown_argument(method, unknown, &names));
            }
            let Some(recipe) = recipes.iter().find(|r| {
                r.len() == arguments.len() && r.iter().all(|p| arguments.contains_key(p))
            }) else {
                let sets: Vec<String> = recipes
                    .iter()
                    .map(|r| format!("[{}]", r.join(", ")))
                    .collect();
                return Err(format!(
                    "'{method}' takes one of these sets of arguments: {}",
                    sets.join(" or ")
                ));
            };
            match (recipe.is_empty(), by_position) {
                (true, _) => None,
                (false, true) => Some(Value::Array(
                    recipe.iter().map(|p| arguments[p].clone()).collect(),
                )),
                (false, false) => Some(Value::Object(arguments.clone())),
            }
        }
    };
    let mut request = json!({"jsonrpc": "2.0", "method": method, "id": 1});
    if let Some(params) = params {
        request["params"] = params;
    }
    Ok(request.to_string())
}

/// What a call naming an argument `unknown` that `method` (taking `names`) lacks is told.
fn unknown_argument(method: &str, unknown: &str, names: &[String]) -> String {
    if names.is_empty() {
        format!("'{method}' takes no arguments, not '{unknown}'")
    } else {
        format!(
            "'{method}' has no argument '{unknown}'; it takes: {}",
            names.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        json!({"methods": [
            {"name": "uptime", "summary": "prints uptime", "params": [], "x-recipes": [[]]},
            {"name": "cache_store", "summary": "stores", "paramStructure": "either",
             "params": [
                {"name": "system", "required": true, "schema": {"type": "string"}},
                {"name": "attr", "required": true, "schema": {"type": "string"}},
                {"name": "value", "required": true, "schema": {"type": "string"}},
                {"name": "expire", "required": false, "schema": {"type": "integer"}}],
             "x-recipes": [["system", "attr", "value"], ["system", "attr", "value", "expire"]]},
            {"name": "kill", "summary": "terminates", "params": [], "x-recipes": [[]]},
            {"name": "mod:odd name", "summary": "odd", "params": [], "x-recipes": [[]]},
        ]})
    }

    #[test]
    fn destructive_tools_are_listed_only_when_allowed_and_take_confirm() {
        let effects = Effects::default();
        let names = |plans: &[ToolPlan]| -> Vec<String> {
            plans.iter().map(|p| p.tool.name.to_string()).collect()
        };
        let safe = catalogue(&document(), &effects, false);
        assert_eq!(names(&safe), ["uptime", "cache_store", "mod_odd_name"]);
        let all = catalogue(&document(), &effects, true);
        assert_eq!(
            names(&all),
            ["uptime", "cache_store", "kill", "mod_odd_name"]
        );
        let kill = all.iter().find(|p| p.method == "kill").unwrap();
        assert_eq!(kill.effect, Effect::Destructive);
        assert!(kill.tool.input_schema["properties"][CONFIRM].is_object());
        let uptime = &all[0];
        let hints = uptime.tool.annotations.as_ref().unwrap();
        assert_eq!(hints.read_only_hint, Some(true));
    }

    #[test]
    fn a_call_must_match_one_recipe() {
        let plans = catalogue(&document(), &Effects::default(), false);
        let store = plans.iter().find(|p| p.method == "cache_store").unwrap();
        let args = |v: Value| v.as_object().unwrap().clone();
        let text = request(
            store,
            &args(json!({"system": "local", "attr": "a", "value": "v"})),
        )
        .unwrap();
        let sent: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(sent["method"], "cache_store");
        assert_eq!(sent["params"]["attr"], "a");
        let missing = request(store, &args(json!({"system": "local"}))).unwrap_err();
        assert!(missing.contains("[system, attr, value] or"), "{missing}");
        let unknown = request(store, &args(json!({"sytem": "local"}))).unwrap_err();
        assert!(unknown.contains("no argument 'sytem'"), "{unknown}");
        let uptime = &plans[0];
        assert!(request(uptime, &args(json!({"x": 1})))
            .unwrap_err()
            .contains("takes no arguments"));
        let text = request(uptime, &Map::new()).unwrap();
        assert!(!text.contains("params"), "{text}");
    }

    #[test]
    fn named_and_unknown_parameters() {
        let document = json!({"methods": [
            {"name": "nodes_run", "paramStructure": "by-name", "params": [
                {"name": "command", "required": true, "schema": {"type": "string"}},
                {"name": "nodes", "required": false, "schema": {"type": "array"}}]},
            {"name": "core.echo", "params": [], "x-params-unknown": true},
        ]});
        let plans = catalogue(&document, &Effects::default(), false);
        let args = |v: Value| v.as_object().unwrap().clone();
        let run = &plans[0];
        assert_eq!(run.tool.input_schema["required"], json!(["command"]));
        let sent: Value =
            serde_json::from_str(&request(run, &args(json!({"command": "ps"}))).unwrap()).unwrap();
        assert_eq!(sent["params"], json!({"command": "ps"}));
        assert!(request(run, &args(json!({"nodes": ["a"]})))
            .unwrap_err()
            .contains("needs the argument 'command'"));
        let echo = &plans[1];
        let sent: Value =
            serde_json::from_str(&request(echo, &args(json!({"params": [1, "a"]}))).unwrap())
                .unwrap();
        assert_eq!(sent["params"], json!([1, "a"]));
        assert!(request(echo, &args(json!({"x": 1}))).is_err());
    }
}
