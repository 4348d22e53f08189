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
pub static CORE_COMPONENT: &[u8] = include_bytes!(env!("MIWA_CORE_COMPONENT"));

/// The default artifact directory: `$XDG_CACHE_HOME/miwa` or `~/.cache/miwa`.
pub fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|base| base.join("miwa"))
}

fn artifact_path(engine: &Engine, dir: &Path, bytes: &[u8]) -> PathBuf {
    let mut engine_hash = DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    dir.join(format!("core-{hex}-{:016x}.cwasm", engine_hash.finish()))
}

/// Loads the core component: from the cache when a valid artifact is there, else compiles
/// it (and stores the artifact when `cache_dir` is given).
pub fn load_core(engine: &Engine, cache_dir: Option<&Path>) -> anyhow::Result<Component> {
    let Some(dir) = cache_dir else {
        return Component::new(engine, CORE_COMPONENT)
            .map_err(anyhow::Error::from)
            .context("compiling the core component");
    };
    let path = artifact_path(engine, dir, CORE_COMPONENT);
    if path.exists() {
        match deserialize(engine, &path) {
            Ok(component) => return Ok(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "ignoring unusable core artifact")
            }
        }
    }
    let component = Component::new(engine, CORE_COMPONENT)
        .map_err(anyhow::Error::from)
        .context("compiling the core component")?;
    if let Err(error) = store(&component, dir, &path) {
        tracing::warn!(dir = %dir.display(), %error, "cannot cache the compiled core");
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
