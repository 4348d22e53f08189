//! Builds the MI core component (`mi-core/component`) for wasm32-wasip2 with a nested cargo,
//! so that a plain `cargo build` / `cargo test` of the daemon always embeds a fresh core.
//!
//! The nested build uses its own target directory (`target/component`, stable across
//! builds, so it is incremental) and a scrubbed environment, so the host's flags never leak
//! into the guest.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `cargo build --target wasm32-wasip2 <args>` in `dir` with a scrubbed environment.
fn nested_cargo(dir: &Path, args: &[&str], target_dir: &Path, failure: &str) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(dir)
        .args(["build", "--target", "wasm32-wasip2"])
        .args(args)
        .arg("--target-dir")
        .arg(target_dir);
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        let inherited = (key.starts_with("CARGO_") && key != "CARGO_HOME")
            || matches!(
                key.as_str(),
                "RUSTFLAGS"
                    | "RUSTC_WRAPPER"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "TARGET"
                    | "HOST"
                    | "PROFILE"
                    | "OPT_LEVEL"
                    | "DEBUG"
                    | "OUT_DIR"
                    | "NUM_JOBS"
                    | "RUSTDOC"
                    | "RUSTC_LINKER"
            );
        if inherited {
            command.env_remove(&key);
        }
    }
    let status = command.status().expect("cargo runs");
    assert!(
        status.success(),
        "{failure} (is the wasm32-wasip2 target installed? run: rustup target add wasm32-wasip2)"
    );
}

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let workspace = manifest_dir
        .ancestors()
        .nth(2)
        .expect("host-native/runtime sits in the workspace")
        .to_path_buf();
    let target_dir = env::var_os("MIWA_COMPONENT_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target").join("component"));

    for watched in [
        "Cargo.toml",
        "Cargo.lock",
        "mi-core/src",
        "mi-core/wit",
        "mi-core/component/src",
        "mi-core/Cargo.toml",
        "mi-core/component/Cargo.toml",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    println!("cargo:rerun-if-env-changed=MIWA_COMPONENT_TARGET_DIR");

    nested_cargo(
        &workspace,
        &["--package", "mi-core-component", "--profile", "component"],
        &target_dir,
        "building the MI core component failed",
    );
    let artifact = target_dir
        .join("wasm32-wasip2")
        .join("component")
        .join("mi_core_component.wasm");
    assert!(
        artifact.exists(),
        "component not found at {}",
        artifact.display()
    );
    println!("cargo:rustc-env=MIWA_CORE_COMPONENT={}", artifact.display());
}
