//! Names the revision the `miwa` binary is built from (`version` says it): `MIWA_VCS` and
//! `MIWA_REVISION`, `git` and the short commit in a checkout, `unknown` outside one.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let workspace = manifest_dir
        .parent()
        .expect("host-native sits in the workspace")
        .to_path_buf();
    let revision = Command::new("git")
        .args(["rev-parse", "--short=8", "HEAD"])
        .current_dir(&workspace)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|r| !r.is_empty());
    match revision {
        Some(rev) => {
            println!("cargo:rustc-env=MIWA_VCS=git");
            println!("cargo:rustc-env=MIWA_REVISION={rev}");
        }
        None => {
            println!("cargo:rustc-env=MIWA_VCS=unknown");
            println!("cargo:rustc-env=MIWA_REVISION=unknown");
        }
    }
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join(".git/HEAD").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join(".git/refs/heads").display()
    );
}
