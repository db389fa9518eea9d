//! Command-line definitions and subcommands. Data goes to stdout,
//! diagnostics to stderr. Exit codes: 0 ok, 1 invalid spec or drift,
//! 2 usage or I/O error.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use rmqgen::{Diagnostics, DriftKind, Error, WriteOptions};

#[path = "cli/migrate.rs"]
mod migrate;

/// Render a RabbitMQ HA topology spec into infrastructure code.
#[derive(Parser)]
#[command(name = "rmqgen", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render SPEC into DIR (or, with --check, compare DIR with it).
    Render {
        /// The spec (JSON); `-` reads standard input.
        spec: PathBuf,
        /// Output directory.
        #[arg(long, short)]
        out: PathBuf,
        /// Write nothing; exit 1 and list the differences if DIR is not
        /// exactly what SPEC renders to.
        #[arg(long)]
        check: bool,
        /// Overwrite this file although rmqgen did not write it or it was
        /// edited by hand since (relative to DIR; repeat for more).
        #[arg(long, value_name = "PATH")]
        force: Vec<String>,
        /// The spec the running cluster was built from: also write the
        /// rollout that moves it to SPEC (rollout/rollout.sh, or
        /// rollout/nixos.sh for NixOS hosts). Exit 1, writing nothing,
        /// when the change is refused or not one the rollout carries out.
        #[arg(long, value_name = "OLD")]
        from: Option<PathBuf>,
    },
    /// Check SPEC and print every problem.
    Validate {
        /// The spec (JSON); `-` reads standard input.
        spec: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Plan the change from OLD to NEW on a running cluster: every
    /// difference classified (reload, rolling restart, hosts added or
    /// removed, version hop, disruptive changes). Exit 1 when a spec is
    /// invalid or the change is refused.
    Plan {
        /// The spec the cluster runs now (JSON).
        old: PathBuf,
        /// The spec to move it to (JSON); `-` reads standard input.
        new: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Blue-green migration: turn blue's exported definitions (classic
    /// mirrored queues) into definitions for green (quorum queues), and
    /// the shovels that drain blue into green. `migration/blue-green.sh`
    /// calls it. Exit 1 when the definitions cannot be read.
    MigrateDefinitions(migrate::Args),
    /// Print the JSON Schema of the spec.
    Schema,
    /// Print the reference five-VM spec.
    Init,
    /// Explain a diagnostic code (e.g. RMQ062), or list every code.
    Explain {
        /// The code.
        #[arg(required_unless_present = "list")]
        code: Option<String>,
        /// List every code with its title instead.
        #[arg(long, conflicts_with = "code")]
        list: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
}

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rmqgen: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn read_spec(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the spec from standard input")?;
        return Ok(s);
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn print_diagnostics(d: &Diagnostics) {
    if !d.is_empty() {
        eprint!("{d}");
    }
}

/// `rmqgen plan OLD NEW`: the plan on stdout (text or JSON); diagnostics
/// of an invalid spec or a refused change on stderr (as JSON on stdout
/// with `--format json`), located in their file; exit 1 for either.
fn plan(old: &Path, new: &Path, format: Format) -> anyhow::Result<ExitCode> {
    let (old_src, new_src) = (read_spec(old)?, read_spec(new)?);
    let fail = |path: &Path, what: &str, mut d: Diagnostics, source: &str| {
        d.locate(source);
        match format {
            Format::Human => {
                eprintln!("rmqgen: {}:", path.display());
                print_diagnostics(&d);
            }
            Format::Json => println!(
                "{}",
                serde_json::json!({ "file": path.display().to_string(), "status": what, "diagnostics": d })
            ),
        }
        eprintln!("rmqgen: {what} ({}): {}", path.display(), d.summary());
        Ok(ExitCode::from(1))
    };
    let parse = |src: &str| rmqgen::parse(src);
    let old_spec = match parse(&old_src) {
        Ok(s) => s,
        Err(Error::Invalid(d)) => return fail(old, "the old spec is invalid", d, &old_src),
        Err(e) => return Err(e.into()),
    };
    let new_spec = match parse(&new_src) {
        Ok(s) => s,
        Err(Error::Invalid(d)) => return fail(new, "the new spec is invalid", d, &new_src),
        Err(e) => return Err(e.into()),
    };
    match rmqgen::plan_change(&old_spec, &new_spec) {
        Ok(plan) => {
            match format {
                Format::Human => print!("{plan}"),
                Format::Json => println!("{}", serde_json::to_string_pretty(&plan)?),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(rmqgen::ChangeError::InvalidOld(d)) => {
            fail(old, "the old spec is invalid", d, &old_src)
        }
        Err(rmqgen::ChangeError::InvalidNew(d)) => {
            fail(new, "the new spec is invalid", d, &new_src)
        }
        Err(rmqgen::ChangeError::Refused(d)) => fail(new, "the change is refused", d, &new_src),
        Err(e) => Err(e.into()),
    }
}

/// What `render --from` adds for the change from the spec at `from` to
/// `new_src`: the rollout script, or for a classic mirrored → quorum change
/// the blue-green migration; or the exit code of its refusal (reported on
/// stderr).
fn change_files(from: &Path, new_src: &str) -> anyhow::Result<Result<rmqgen::Bundle, ExitCode>> {
    let old_src = read_spec(from)?;
    let old = match rmqgen::parse(&old_src) {
        Ok(s) => s,
        Err(Error::Invalid(mut d)) => {
            d.locate(&old_src);
            print_diagnostics(&d);
            eprintln!(
                "rmqgen: {}: the old spec is invalid; nothing written",
                from.display()
            );
            return Ok(Err(ExitCode::from(1)));
        }
        Err(e) => return Err(e.into()),
    };
    let new = rmqgen::parse(new_src)?;
    let why = match rmqgen::rollout(&old, &new) {
        Ok(r) => {
            let mut bundle = rmqgen::Bundle::new();
            bundle.insert(r.path, rmqgen::Artifact::file(r.script).executable());
            return Ok(Ok(bundle));
        }
        // Blue-green is not rolled out in place: the migration script
        // carries it (the plan said so).
        Err(rmqgen::RolloutError::Unsupported(u))
            if u.iter().all(|u| u.kind == rmqgen::ChangeKind::BlueGreen) =>
        {
            let (old_plan, new_plan) = (rmqgen::validate(&old)?.plan, rmqgen::validate(&new)?.plan);
            match rmqgen::bluegreen::migration(&old_plan, &new_plan)? {
                Some(bundle) => return Ok(Ok(bundle)),
                None => rmqgen::RolloutError::Unsupported(u).to_string(),
            }
        }
        Err(e @ rmqgen::RolloutError::Change(rmqgen::ChangeError::Internal(_))) => {
            return Err(e.into())
        }
        // The diagnostics of a refused plan, located in their file.
        Err(rmqgen::RolloutError::Change(e)) => {
            let (what, source) = match &e {
                rmqgen::ChangeError::InvalidOld(_) => ("the old spec is invalid", old_src.as_str()),
                rmqgen::ChangeError::InvalidNew(_) => ("the new spec is invalid", new_src),
                _ => ("the change is refused", new_src),
            };
            if let Some(d) = e.diagnostics() {
                let mut d = d.clone();
                d.locate(source);
                print_diagnostics(&d);
            }
            what.to_string()
        }
        Err(e) => e.to_string(),
    };
    eprintln!("rmqgen: {why}");
    eprintln!(
        "rmqgen: no rollout from {}; nothing written (`rmqgen plan` shows the whole plan)",
        from.display()
    );
    Ok(Err(ExitCode::from(1)))
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Render {
            spec,
            out,
            check,
            force,
            from,
        } => {
            let source = read_spec(&spec)?;
            let mut output = match rmqgen::compile(&source) {
                Ok(o) => o,
                Err(Error::Invalid(d)) => {
                    print_diagnostics(&d);
                    eprintln!("rmqgen: {} error(s); nothing written", d.error_count());
                    return Ok(ExitCode::from(1));
                }
                Err(e) => return Err(e.into()),
            };
            print_diagnostics(&output.warnings);
            // Certificate files Terraform will read, where they are
            // readable now: relative to the root module, out/terraform.
            let root = out.join("terraform");
            let read = |path: &str| std::fs::read(root.join(path)).ok();
            print_diagnostics(&rmqgen::plan::tls::check_certificates(&output.plan, &read));
            if let Some(from) = &from {
                match change_files(from, &source)? {
                    Ok(files) => {
                        for (path, artifact) in files.iter() {
                            output.bundle.insert(path, artifact.clone());
                        }
                    }
                    Err(code) => return Ok(code),
                }
            }
            if check {
                let drift = output.bundle.check(&out)?;
                if drift.is_empty() {
                    eprintln!("rmqgen: {} is up to date", out.display());
                    return Ok(ExitCode::SUCCESS);
                }
                let mut stdout = std::io::stdout().lock();
                for d in &drift {
                    let kind = serde_json::to_value(d.kind)?;
                    writeln!(stdout, "{}\t{}", kind.as_str().unwrap_or("?"), d.path)?;
                }
                eprintln!(
                    "rmqgen: {} differs from the spec in {} file(s); run `rmqgen render` to update it",
                    out.display(),
                    drift.len()
                );
                if drift.iter().any(|d| d.kind == DriftKind::Edited) {
                    eprintln!("rmqgen: `render` refuses to overwrite the files marked edited (changed by hand since rmqgen wrote them) unless given --force PATH for each");
                }
                return Ok(ExitCode::from(1));
            }
            let report = output.bundle.write(&out, &WriteOptions { force })?;
            for path in &report.kept {
                eprintln!("rmqgen: kept {path}: no longer generated, but edited by hand since; remove it yourself");
            }
            eprintln!(
                "rmqgen: {}: {} written, {} unchanged, {} removed",
                out.display(),
                report.written.len(),
                report.unchanged.len(),
                report.removed.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { spec, format } => {
            let source = read_spec(&spec)?;
            let d = rmqgen::diagnose(&source);
            match format {
                Format::Human => print_diagnostics(&d),
                Format::Json => println!("{}", serde_json::to_string_pretty(&d)?),
            }
            // Always last, on stderr (so JSON on stdout stays parseable).
            let verdict = if d.has_errors() { "invalid" } else { "valid" };
            eprintln!("rmqgen: the spec is {verdict}: {}", d.summary());
            Ok(if d.has_errors() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Plan { old, new, format } => plan(&old, &new, format),
        Command::MigrateDefinitions(args) => migrate::run(args),
        Command::Schema => {
            print!("{}", rmqgen::schema());
            Ok(ExitCode::SUCCESS)
        }
        Command::Init => {
            print!("{}", rmqgen::reference_spec());
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { list: true, .. } => {
            let mut codes = rmqgen::Code::ALL.to_vec();
            codes.sort();
            let mut stdout = std::io::stdout().lock();
            for c in codes {
                writeln!(stdout, "{c}  {}", c.title())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { code, .. } => {
            let code = code.unwrap_or_default();
            match rmqgen::Code::parse(&code) {
                Some(c) => {
                    println!("{c}: {}\n\n{}", c.title(), c.explanation());
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!(
                        "rmqgen: unknown code {code:?}; codes are {} to {} (`rmqgen explain --list` lists them)",
                        rmqgen::Code::first(),
                        rmqgen::Code::last()
                    );
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}
