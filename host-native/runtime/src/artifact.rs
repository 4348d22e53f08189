//! The embedded core component and its precompiled-artifact cache.
//!
//! Compiling the core takes tens of milliseconds to seconds; loading a precompiled artifact
//! well under one. Artifacts are keyed by the component's SHA-256 and the engine's
//! compatibility hash, written atomically into a directory only the daemon's user can write.

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::Engine;

/// The core component built by `build.rs`.
pub(crate) static CORE_COMPONENT: &[u8] = include_bytes!(env!("MIWA_CORE_COMPONENT"));

/// The default artifact directory: `$XDG_CACHE_HOME/miwa` or `~/.cache/miwa`.
pub(crate) fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|base| base.join("miwa"))
}

fn artifact_path(engine: &Engine, dir: &Path, bytes: &[u8], kind: &str) -> PathBuf {
    let mut engine_hash = DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    dir.join(format!("{kind}-{hex}-{:016x}.cwasm", engine_hash.finish()))
}

/// Loads the core component: from the cache when a valid artifact is there, else compiles
/// it (and stores the artifact when `cache_dir` is given).
pub(crate) fn load_core(engine: &Engine, cache_dir: Option<&Path>) -> anyhow::Result<Component> {
    load_component(engine, CORE_COMPONENT, cache_dir, "core")
}

/// Loads a component from its bytes, through the artifact cache when `cache_dir` is given;
/// `kind` prefixes the artifact's file name (`core`, `module`).
pub fn load_component(
    engine: &Engine,
    bytes: &[u8],
    cache_dir: Option<&Path>,
    kind: &str,
) -> anyhow::Result<Component> {
    let compile = || {
        Component::new(engine, bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("compiling the {kind} component"))
    };
    let Some(dir) = cache_dir else {
        return compile();
    };
    let path = artifact_path(engine, dir, bytes, kind);
    if path.exists() {
        match deserialize(engine, &path) {
            Ok(component) => return Ok(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "ignoring unusable {kind} artifact")
            }
        }
    }
    let component = compile()?;
    if let Err(error) = store(&component, dir, &path) {
        tracing::warn!(dir = %dir.display(), %error, "cannot cache the compiled {kind}");
    }
    Ok(component)
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path)?;
    anyhow::ensure!(meta.file_type().is_file(), "not a regular file");
    anyhow::ensure!(
        meta.uid() == rustix::process::geteuid().as_raw(),
        "owned by another user"
    );
    anyhow::ensure!(meta.mode() & 0o022 == 0, "writable by others");
    // SAFETY: the artifact was written by this daemon's own user (checked above: a regular
    // file of ours, not writable by others, in a directory created with mode 0700), and
    // wasmtime verifies that it was produced by a compatible engine before using it.
    Ok(unsafe { Component::deserialize_file(engine, path)? })
}

fn store(component: &Component, dir: &Path, path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let bytes = component.serialize()?;
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(&bytes)?;
    }
    std::fs::rename(&temp, path)?;
    Ok(())
}
