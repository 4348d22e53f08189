//! Parameters of one call: recipe matching and the getters with OpenSIPS's coercions.

use crate::error::MiError;
use crate::json::Value;

/// The `params` of a request as the JSON-RPC layer found them.
#[derive(Debug, Clone, Copy)]
pub enum RawParams<'a> {
    /// Absent, `[]` or `{}`.
    None,
    /// A non-empty array.
    Positional(&'a [Value]),
    /// A non-empty object (duplicate keys kept).
    Named(&'a [(String, Value)]),
}

impl<'a> RawParams<'a> {
    /// Classifies a `params` member; `None` if it is neither array nor object (an
    /// invalid request).
    pub fn from_member(params: Option<&'a Value>) -> Option<Self> {
        match params {
            None => Some(RawParams::None),
            Some(Value::Array(items)) if items.is_empty() => Some(RawParams::None),
            Some(Value::Array(items)) => Some(RawParams::Positional(items)),
            Some(Value::Object(members)) if members.is_empty() => Some(RawParams::None),
            Some(Value::Object(members)) => Some(RawParams::Named(members)),
            Some(_) => None,
        }
    }
}

/// Why no recipe matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipeMismatch {
    /// No recipe has as many parameters as the request.
    TooFewOrTooMany,
    /// Two recipes of the requested size exist and the call was positional.
    Ambiguous,
    /// A recipe of the right size exists but its names are not all present.
    NamesDoNotMatch,
}

impl RecipeMismatch {
    /// The -32602 error OpenSIPS answers for this mismatch.
    pub fn to_error(self) -> MiError {
        MiError::invalid_params(match self {
            RecipeMismatch::TooFewOrTooMany => "Too few or too many parameters",
            RecipeMismatch::Ambiguous => "Ambiguous call, use named parameters instead",
            RecipeMismatch::NamesDoNotMatch => "Named parameters do not match",
        })
    }
}

/// Picks the recipe (an index into `recipes`) for `params`, with OpenSIPS's exact algorithm.
pub fn match_recipe<R: AsRef<[S]>, S: AsRef<str>>(
    recipes: &[R],
    params: RawParams<'_>,
) -> Result<usize, RecipeMismatch> {
    let mut error = RecipeMismatch::TooFewOrTooMany;
    let mut found = None;
    for (index, names) in recipes.iter().enumerate() {
        let names = names.as_ref();
        match params {
            RawParams::None => {
                if names.is_empty() {
                    return Ok(index);
                }
            }
            _ if names.is_empty() => {}
            RawParams::Positional(values) => {
                if names.len() == values.len() {
                    if found.is_some() {
                        return Err(RecipeMismatch::Ambiguous);
                    }
                    found = Some(index);
                }
            }
            RawParams::Named(members) => {
                if names.len() == members.len() {
                    error = RecipeMismatch::NamesDoNotMatch;
                    let all_present = names
                        .iter()
                        .all(|name| members.iter().any(|(key, _)| key == name.as_ref()));
                    if all_present {
                        return Ok(index);
                    }
                }
            }
        }
    }
    found.ok_or(error)
}

/// The parameters a handler reads, bound to the recipe that matched.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    raw: RawParams<'a>,
    names: &'a [&'a str],
}

fn bad_type(name: &str) -> MiError {
    MiError::invalid_params(format!("Bad type for parameter '{name}'"))
}

fn bad_item(name: &str) -> MiError {
    MiError::invalid_params(format!("Bad type for array item in parameter '{name}'"))
}

/// The error for a parameter the recipe does not have (a handler bug in OpenSIPS terms).
fn missing() -> MiError {
    MiError::server_error("Failed to handle parameter")
}

/// `int` getter conversion of a string: optional single sign, then decimal digits only,
/// wrapping like the C code (no overflow check).
fn int_from_text(text: &str) -> Option<i32> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if text.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits.bytes().fold(0i32, |acc, d| {
        acc.wrapping_mul(10).wrapping_add(i32::from(d - b'0'))
    });
    Some(if negative {
        magnitude.wrapping_neg()
    } else {
        magnitude
    })
}

fn int_of(value: &Value) -> Option<i32> {
    match value {
        Value::Number(number) => Some(Value::int_view(*number)),
        Value::String(text) => int_from_text(text),
        _ => None,
    }
}

fn string_of(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(Value::int_view(*number).to_string()),
        _ => None,
    }
}

impl<'a> Params<'a> {
    /// Binds `raw` to the parameter names of the matched recipe.
    pub fn new(raw: RawParams<'a>, names: &'a [&'a str]) -> Self {
        Params { raw, names }
    }

    /// Whether the matched recipe has a parameter called `name`.
    pub fn has(&self, name: &str) -> bool {
        self.names.contains(&name)
    }

    /// The raw value of `name`: by recipe position, or by case-insensitive key.
    pub fn value(&self, name: &str) -> Result<&'a Value, MiError> {
        match self.raw {
            RawParams::None => Err(missing()),
            RawParams::Positional(values) => self
                .names
                .iter()
                .position(|n| *n == name)
                .and_then(|i| values.get(i))
                .ok_or_else(missing),
            RawParams::Named(members) => members
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
                .ok_or_else(missing),
        }
    }

    /// The `int` getter: a number (truncated, saturated) or a numeric string.
    pub fn int(&self, name: &str) -> Result<i32, MiError> {
        int_of(self.value(name)?).ok_or_else(|| bad_type(name))
    }

    /// The `string` getter: a string, or a number as the text of its integer view.
    pub fn string(&self, name: &str) -> Result<String, MiError> {
        string_of(self.value(name)?).ok_or_else(|| bad_type(name))
    }

    /// The `array` getter: a non-empty array.
    pub fn array(&self, name: &str) -> Result<&'a [Value], MiError> {
        match self.value(name)? {
            Value::Array(items) if items.is_empty() => Err(MiError::invalid_params(format!(
                "Empty array in parameter '{name}'"
            ))),
            Value::Array(items) => Ok(items),
            _ => Err(bad_type(name)),
        }
    }

    /// A non-empty array whose items are all read as strings.
    pub fn string_array(&self, name: &str) -> Result<Vec<String>, MiError> {
        self.array(name)?
            .iter()
            .map(|item| string_of(item).ok_or_else(|| bad_item(name)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn params_of(text: &str) -> Value {
        parse(text.as_bytes(), 16).unwrap().0
    }

    fn pick(recipes: &[Vec<&str>], params: &str) -> Result<usize, RecipeMismatch> {
        let value = params_of(params);
        match_recipe(recipes, RawParams::from_member(Some(&value)).unwrap())
    }

    fn log_level() -> Vec<Vec<&'static str>> {
        vec![vec![], vec!["level"], vec!["level", "pid"]]
    }

    #[test]
    fn log_level_recipe_table() {
        use RecipeMismatch::*;
        let r = log_level();
        assert_eq!(pick(&r, "[]"), Ok(0));
        assert_eq!(pick(&r, "{}"), Ok(0));
        assert_eq!(match_recipe(&r, RawParams::None), Ok(0));
        assert_eq!(pick(&r, "[4]"), Ok(1));
        assert_eq!(pick(&r, r#"["4"]"#), Ok(1));
        assert_eq!(pick(&r, "[4,1234]"), Ok(2));
        assert_eq!(pick(&r, r#"{"pid":3,"level":1}"#), Ok(2));
        assert_eq!(pick(&r, r#"{"lvl":3}"#), Err(NamesDoNotMatch));
        assert_eq!(pick(&r, r#"{"LEVEL":3}"#), Err(NamesDoNotMatch));
        assert_eq!(pick(&r, r#"{"level":3,"x":1,"y":2}"#), Err(TooFewOrTooMany));
        assert_eq!(pick(&r, "[1,2,3]"), Err(TooFewOrTooMany));
    }

    #[test]
    fn same_size_recipes_are_ambiguous_positionally() {
        let r = vec![vec!["a", "b"], vec!["c", "d"]];
        assert_eq!(pick(&r, "[1,2]"), Err(RecipeMismatch::Ambiguous));
        assert_eq!(pick(&r, r#"{"c":1,"d":2}"#), Ok(1));
        assert_eq!(
            pick(&r, r#"{"a":1,"a":2}"#),
            Err(RecipeMismatch::NamesDoNotMatch)
        );
    }

    #[test]
    fn no_params_never_picks_a_recipe_with_names() {
        let r = vec![vec!["statistics"]];
        assert_eq!(
            match_recipe(&r, RawParams::None),
            Err(RecipeMismatch::TooFewOrTooMany)
        );
    }

    #[test]
    fn int_getter_coercions() {
        let value =
            params_of(r#"[4.7, "12", "-", "+7", "12a", "", "x4", true, null, [1], 1e12, "-3"]"#);
        let Value::Array(items) = &value else {
            unreachable!()
        };
        let got: Vec<Option<i32>> = items.iter().map(int_of).collect();
        assert_eq!(
            got,
            vec![
                Some(4),
                Some(12),
                Some(0),
                Some(7),
                None,
                None,
                None,
                None,
                None,
                None,
                Some(i32::MAX),
                Some(-3)
            ]
        );
    }

    #[test]
    fn string_getter_coercions() {
        assert_eq!(string_of(&Value::num(12.9)), Some("12".into()));
        assert_eq!(string_of(&Value::str("")), Some(String::new()));
        assert_eq!(string_of(&Value::Bool(false)), None);
        assert_eq!(string_of(&Value::Null), None);
    }

    #[test]
    fn getter_errors_name_the_parameter() {
        let value = params_of(r#"[[], [{"x":1}], "all"]"#);
        let Value::Array(items) = &value else {
            unreachable!()
        };
        let names = ["a", "b", "c"];
        let params = Params::new(RawParams::Positional(items), &names);
        assert_eq!(
            params.array("a").unwrap_err().data.as_deref(),
            Some("Empty array in parameter 'a'")
        );
        assert_eq!(
            params.string_array("b").unwrap_err().data.as_deref(),
            Some("Bad type for array item in parameter 'b'")
        );
        assert_eq!(
            params.array("c").unwrap_err().data.as_deref(),
            Some("Bad type for parameter 'c'")
        );
        let missing = params.int("zzz").unwrap_err();
        assert_eq!(
            (missing.code, missing.data.as_deref()),
            (-32000, Some("Failed to handle parameter"))
        );
    }

    #[test]
    fn named_lookup_is_case_insensitive_first_match() {
        let value = params_of(r#"{"Level":"5","level":6}"#);
        let Value::Object(members) = &value else {
            unreachable!()
        };
        let names = ["level"];
        let params = Params::new(RawParams::Named(members), &names);
        assert_eq!(params.int("level"), Ok(5));
    }
}
