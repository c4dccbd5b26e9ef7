//! Where the values go, decided before anything is read, and the order they go there in.
//!
//! | where | how | variable |
//! |---|---|---|
//! | GitHub Actions | `::add-mask::` first, then `$GITHUB_ENV` (or `$GITHUB_OUTPUT`) in the heredoc form | `DB_PASSWORD` |
//! | Azure Pipelines | `##vso[task.setsecret]` first, then `##vso[task.setvariable …;issecret=true]` | `db-password` |
//! | anywhere | `--env-file`, `--output` (0600, no links), `--stdout` | `DB_PASSWORD` |
//!
//! Everything is rendered before anything is written, so a value a format cannot carry stops
//! the export before the first byte goes anywhere; then every value is masked before anything
//! else is printed.

use std::io::Write;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::ci::{self, CiSystem};

use super::{dotenv, json, private_file, Fetched};

/// The formats `--output` and `--stdout` write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// NAME='value' lines that POSIX shells and python-dotenv read alike.
    Env,
    /// {"version": 1, "secrets": [{"vault", "name", "variable", "value", …}], …}.
    Json,
}

/// Where values go under GitHub Actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GitHubTarget {
    /// $GITHUB_ENV: environment variables of the job's later steps.
    Env,
    /// $GITHUB_OUTPUT: outputs of this step (give the step an `id`).
    Outputs,
}

/// The destinations the user asked for.
#[derive(Debug, Clone, Copy)]
pub struct Destinations<'a> {
    pub github_target: GitHubTarget,
    pub env_file: Option<&'a Path>,
    pub output: Option<&'a Path>,
    pub format: Format,
    pub stdout: bool,
}

/// Where the values go.
#[derive(Debug)]
pub struct Delivery {
    system: CiSystem,
    /// Under GitHub Actions: the runner's variable naming the file, and the file.
    github_file: Option<(&'static str, PathBuf)>,
    env_file: Option<PathBuf>,
    output: Option<(PathBuf, Format)>,
    stdout: Option<Format>,
}

/// Every text that carries values, rendered before any is written.
pub struct Rendered {
    env: Option<Zeroizing<String>>,
    json: Option<Zeroizing<String>>,
}

impl Delivery {
    /// Checks that the values have somewhere to go, and that no file destination is a link.
    /// Errors are usage errors (exit 2), found before any request.
    pub fn plan(
        destinations: Destinations<'_>,
        system: CiSystem,
        env: ci::Env<'_>,
    ) -> Result<Delivery, String> {
        let github_file = match system {
            CiSystem::GitHub => {
                let var = match destinations.github_target {
                    GitHubTarget::Env => "GITHUB_ENV",
                    GitHubTarget::Outputs => "GITHUB_OUTPUT",
                };
                let path = env(var).filter(|p| !p.is_empty()).ok_or_else(|| {
                    format!("{var} is not set, so there is nowhere to put the values; under GitHub Actions the runner sets it (or pass --ci none and --env-file)")
                })?;
                Some((var, PathBuf::from(path)))
            }
            _ => None,
        };
        for (path, flag) in [
            (destinations.env_file, "--env-file"),
            (destinations.output, "--output"),
        ] {
            if let Some(path) = path {
                private_file::check_destination(path, flag)?;
            }
        }
        let delivery = Delivery {
            system,
            github_file,
            env_file: destinations.env_file.map(Path::to_path_buf),
            output: destinations
                .output
                .map(|p| (p.to_path_buf(), destinations.format)),
            stdout: destinations.stdout.then_some(destinations.format),
        };
        if delivery.system == CiSystem::None
            && delivery.env_file.is_none()
            && delivery.output.is_none()
            && delivery.stdout.is_none()
        {
            return Err("nowhere to put the values: outside GitHub Actions and Azure Pipelines pass --env-file FILE, --output FILE (with --format json|env), or --stdout".into());
        }
        Ok(delivery)
    }

    pub fn system(&self) -> CiSystem {
        self.system
    }

    /// Whether values are exported under environment-variable names (`DB_PASSWORD`).
    pub fn uses_env_names(&self) -> bool {
        self.github_file.is_some()
            || self.env_file.is_some()
            || self.output.is_some()
            || self.stdout.is_some()
    }

    /// Whether values become Azure Pipelines variables (`db-password`).
    pub fn uses_azure_names(&self) -> bool {
        self.system == CiSystem::Azure
    }

    /// Where CI annotations go: stdout, unless stdout carries the values themselves.
    pub fn annotations(&self) -> Box<dyn Write> {
        if self.stdout.is_some() {
            Box::new(std::io::stderr())
        } else {
            Box::new(std::io::stdout())
        }
    }

    fn formats(&self) -> impl Iterator<Item = (Format, &'static str)> + '_ {
        let env_file = self.env_file.as_ref().map(|_| (Format::Env, "--env-file"));
        let output = self.output.as_ref().map(|(_, f)| (*f, "--output"));
        let stdout = self.stdout.map(|f| (f, "--stdout"));
        env_file.into_iter().chain(output).chain(stdout)
    }

    /// Renders every file and stdout text. A value the env format cannot carry is an error
    /// naming the secret and the way out (JSON, or leaving it out); nothing has been written.
    pub fn render(
        &self,
        fetched: &Fetched<'_>,
        now: time::OffsetDateTime,
    ) -> Result<Rendered, String> {
        let env_flags: Vec<&str> = self
            .formats()
            .filter(|(f, _)| *f == Format::Env)
            .map(|(_, flag)| flag)
            .collect();
        let env = if env_flags.is_empty() {
            None
        } else {
            let pairs: Vec<(&str, &str)> = fetched
                .exported
                .iter()
                .map(|e| (e.env_variable.as_str(), e.secret.value.expose()))
                .collect();
            Some(dotenv::document(&pairs).map_err(|(index, why)| {
                let e = &fetched.exported[index];
                format!(
                    "cannot write secret {} of {} in the env format ({}): {why}; write the values as JSON instead (--output FILE --format json), or leave this secret out (--exclude {})",
                    e.name,
                    fetched.vaults[e.vault],
                    env_flags.join(", "),
                    fetched.selection.qualified(e.vault, &e.name),
                )
            })?)
        };
        if self.stdout == Some(Format::Env) && ci::sink::runner_may_read_stdout(self.system) {
            // The document is its lines, so one check covers every value; the lines are
            // rendered again, one by one, only to name the secrets to blame.
            if env.as_ref().is_some_and(|text| !ci::inert::is_inert(text)) {
                return Err(commands_on_stdout(fetched));
            }
        }
        let json = self
            .formats()
            .any(|(f, _)| f == Format::Json)
            .then(|| json::render(fetched, now));
        Ok(Rendered { env, json })
    }

    /// Masks every value, then delivers the values where they were asked to go.
    pub fn deliver(&self, fetched: &Fetched<'_>, rendered: &Rendered) -> Result<(), String> {
        let mut stdout = std::io::stdout().lock();
        let wrote = |e: std::io::Error| format!("cannot write to stdout: {e}");
        // Masks first: from here on the runner hides every value, whatever gets printed.
        for e in &fetched.exported {
            let value = e.secret.value.expose();
            // The JSON printed on stdout shows an escaped form of some values, which a mask
            // of the value itself does not hide.
            let printed = (self.stdout == Some(Format::Json)).then(|| json::printed_value(value));
            let forms = std::iter::once(value)
                .chain(printed.as_ref().map(|p| p.as_str()).filter(|p| *p != value));
            for form in forms {
                let masks = match self.system {
                    CiSystem::GitHub => ci::github::add_mask(form),
                    CiSystem::Azure => ci::azure::set_secret(form),
                    CiSystem::None => Vec::new(),
                };
                for line in masks.into_iter().map(Zeroizing::new) {
                    writeln!(stdout, "{}", line.as_str()).map_err(wrote)?;
                }
            }
        }
        stdout.flush().map_err(wrote)?;
        drop(stdout);

        super::warn_skipped(self, fetched);

        if let Some((var, path)) = &self.github_file {
            let pairs: Vec<(&str, &str)> = fetched
                .exported
                .iter()
                .map(|e| (e.env_variable.as_str(), e.secret.value.expose()))
                .collect();
            ci::github::append_file_command(path, &pairs)
                .map_err(|e| format!("cannot append to {var} ({}): {e}", path.display()))?;
        }
        let mut stdout = std::io::stdout().lock();
        if self.system == CiSystem::Azure {
            for e in &fetched.exported {
                let line = Zeroizing::new(ci::azure::set_variable(
                    &e.azure_variable,
                    e.secret.value.expose(),
                    true,
                    false,
                ));
                writeln!(stdout, "{}", line.as_str()).map_err(wrote)?;
            }
            stdout.flush().map_err(wrote)?;
        }
        let text = |format: Format| match format {
            Format::Env => rendered.env.as_ref(),
            Format::Json => rendered.json.as_ref(),
        };
        if let Some(path) = &self.env_file {
            if let Some(text) = text(Format::Env) {
                private_file::write(path, text.as_bytes(), "--env-file")?;
            }
        }
        if let Some((path, format)) = &self.output {
            if let Some(text) = text(*format) {
                private_file::write(path, text.as_bytes(), "--output")?;
            }
        }
        if let Some(format) = self.stdout {
            if let Some(text) = text(format) {
                // JSON can escape what a runner would act on without changing a value; an env
                // document cannot, and was checked in `render`.
                match format {
                    Format::Json => {
                        let text = Zeroizing::new(ci::inert::json(text).into_owned());
                        stdout.write_all(text.as_bytes()).map_err(wrote)?;
                    }
                    Format::Env => stdout.write_all(text.as_bytes()).map_err(wrote)?,
                }
            }
        }
        stdout.flush().map_err(wrote)?;
        drop(stdout);
        super::complete_with_issues(self, fetched);
        Ok(())
    }
}

/// An env document cannot escape a value, so one whose line a runner would act on (`##vso[`,
/// a zero-width character, …) is refused on a stdout the runner may read: the refusal, naming
/// the secrets whose lines are to blame.
fn commands_on_stdout(fetched: &Fetched<'_>) -> String {
    let unsafe_names: Vec<String> = fetched
        .exported
        .iter()
        .filter(|e| {
            // Reserved up front (as `dotenv::document` does): a growing buffer would leave a
            // copy of the value behind in freed memory.
            let bound = e.env_variable.len() + 2 * e.secret.value.expose().len() + 4;
            let mut line = Zeroizing::new(String::with_capacity(bound));
            dotenv::push_line(&mut line, &e.env_variable, e.secret.value.expose()).is_ok()
                && !ci::inert::is_inert(&line)
        })
        .map(|e| fetched.selection.qualified(e.vault, &e.name))
        .collect();
    format!(
        "the value of {} would be read as a pipeline command on stdout, and an env file cannot escape it: use --format json, --env-file FILE or --output FILE instead",
        unsafe_names.join(", ")
    )
}
