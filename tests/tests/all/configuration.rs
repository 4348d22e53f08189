//! The configuration is declared once: the code's defaults, `miwa.example.toml`, the
//! Debian conffile and the key tables of `docs/configuration.md` say the same. (The code
//! and the example file are compared by `host-native`'s unit tests; the conffile by
//! `debian.rs`.)

use miwa_tests::workspace;

/// The `(section, key, default)` of every key `miwa.example.toml` sets, the default as
/// TOML writes it; the tables of named things (`[modules.<name>]`, `[upstreams.<name>]`,
/// `[access.roles.<name>]`) are examples, not defaults, and are left out.
fn example_keys() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(workspace().join("miwa.example.toml")).unwrap();
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in text.lines() {
        let line = line.split(" #").next().unwrap_or_default().trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let Some((key, value)) = line.split_once(" = ") else {
            continue;
        };
        if line.starts_with('#') || section.contains('.') || section.starts_with('[') {
            continue;
        }
        keys.push((
            section.clone(),
            key.trim().to_string(),
            value.trim().to_string(),
        ));
    }
    keys
}

#[test]
fn every_key_of_the_example_file_is_documented_with_its_default() {
    let docs = std::fs::read_to_string(workspace().join("docs/configuration.md")).unwrap();
    let keys = example_keys();
    assert!(keys.len() > 80, "{keys:?}");
    let mut missing = Vec::new();
    for (section, key, default) in &keys {
        let heading = format!("## `[{section}]`");
        let Some(start) = docs.find(&heading) else {
            missing.push(format!("[{section}]: no section"));
            continue;
        };
        let body = &docs[start + heading.len()..];
        let body = &body[..body.find("\n## ").unwrap_or(body.len())];
        let bare = default.trim_matches('"');
        let documented = body.lines().any(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            cells.len() >= 4
                && cells[1].contains(&format!("`{key}`"))
                && (cells[2].contains(&format!("`{default}`"))
                    || cells[2].contains(&format!("`{bare}`")))
        });
        if !documented {
            missing.push(format!("[{section}] {key} = {default}"));
        }
    }
    assert!(
        missing.is_empty(),
        "not in docs/configuration.md as documented defaults: {missing:#?}"
    );
}
