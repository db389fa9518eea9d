//! `rmqgen migrate-definitions`: blue's exported definitions made
//! importable on green ([`rmqgen::bluegreen`]), and the shovels that drain
//! blue into green. The blue-green migration script calls it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use rmqgen::bluegreen::{self, NoteKind, ShovelSource};

/// The subcommand's arguments.
#[derive(clap::Args)]
pub(super) struct Args {
    /// Blue's definitions, as `rabbitmqctl export_definitions` or the
    /// management API export them; `-` reads standard input.
    definitions: PathBuf,
    /// Where to write green's definitions (default: standard output).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Also write the shovels, one per queue, as definitions to import on
    /// green (written 0600: the URIs carry the password).
    #[arg(long, requires = "source_broker", requires = "source_password_file")]
    shovels: Option<PathBuf>,
    /// Where to write the shovels' `vhost<TAB>name` list (to delete them by).
    #[arg(long, requires = "shovels")]
    shovel_list: Option<PathBuf>,
    /// A blue broker the shovels read from, `ADDRESS:PORT` (repeat for each).
    #[arg(long, value_name = "ADDRESS:PORT")]
    source_broker: Vec<String>,
    /// The user the shovels log in to blue as.
    #[arg(long, default_value = bluegreen::SHOVEL_USER)]
    source_user: String,
    /// A file holding that user's password (a trailing newline is ignored).
    #[arg(long)]
    source_password_file: Option<PathBuf>,
    /// Let the shovels declare the queues (green older than 3.13, whose
    /// shovels have no src-/dest-predeclared).
    #[arg(long)]
    declare_queues: bool,
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn pretty(v: &serde_json::Value) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(v)?;
    s.push('\n');
    Ok(s)
}

pub(super) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = super::read_spec(&args.definitions)?;
    let migrated = match bluegreen::migrate_definitions_str(&text) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("rmqgen: {}: {e}", args.definitions.display());
            return Ok(ExitCode::from(1));
        }
    };
    for n in &migrated.notes {
        let kind = serde_json::to_value(n.kind)?;
        let review = if n.kind == NoteKind::QueueKeptClassic {
            "REVIEW "
        } else {
            ""
        };
        eprintln!(
            "rmqgen: {review}{} vhost {:?} {:?}: {}",
            kind.as_str().unwrap_or("?"),
            n.vhost,
            n.name,
            n.detail
        );
    }
    let green = pretty(&migrated.definitions)?;
    match &args.out {
        Some(path) => write_private(path, &green)?,
        None => print!("{green}"),
    }
    if let Some(path) = &args.shovels {
        let mut brokers = Vec::new();
        for b in &args.source_broker {
            let Some((host, port)) = b.rsplit_once(':') else {
                bail!("--source-broker {b:?}: expected ADDRESS:PORT");
            };
            let port: u16 = port
                .parse()
                .with_context(|| format!("--source-broker {b:?}: the port"))?;
            brokers.push((host.to_string(), port));
        }
        let password_file = args
            .source_password_file
            .as_deref()
            .context("--shovels needs --source-password-file")?;
        let password = std::fs::read_to_string(password_file)
            .with_context(|| format!("reading {}", password_file.display()))?;
        let source = ShovelSource {
            brokers,
            user: args.source_user.clone(),
            password: password.trim_end_matches(['\n', '\r']).to_string(),
            predeclared: !args.declare_queues,
        };
        let (shovels, list) = match bluegreen::shovel_definitions(&migrated.definitions, &source) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("rmqgen: {}: {e}", args.definitions.display());
                return Ok(ExitCode::from(1));
            }
        };
        write_private(path, &pretty(&shovels)?)?;
        if let Some(list_path) = &args.shovel_list {
            write_private(list_path, &list)?;
        }
    }
    let kept = migrated.needs_review().count();
    eprintln!(
        "rmqgen: {} queue(s) to migrate, {kept} staying classic (marked REVIEW)",
        migrated.queues().len()
    );
    Ok(ExitCode::SUCCESS)
}
