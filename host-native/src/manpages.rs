//! The manual pages, generated from the command line's own definition (clap_mangen):
//! `miwa.1` and one page per subcommand (`miwa-serve.1`, `miwa-call.1`, …).

use anyhow::Context as _;
use clap::CommandFactory as _;
use std::path::Path;

/// Writes every page into `dir`.
pub fn write(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut miwa = crate::Cli::command();
    miwa.build();
    render(&miwa, &dir.join("miwa.1"))?;
    for sub in miwa.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        let name = format!("miwa-{}", sub.get_name());
        let page = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("miwa {}", sub.get_name()));
        render(&page, &dir.join(format!("{name}.1")))?;
    }
    Ok(())
}

fn render(command: &clap::Command, path: &Path) -> anyhow::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut page)
        .with_context(|| format!("cannot render {}", path.display()))?;
    std::fs::write(path, page).with_context(|| format!("cannot write {}", path.display()))
}
