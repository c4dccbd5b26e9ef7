//! Where keyrot's text meets the streams a runner reads: the log writer for stderr, and the
//! stop-commands fence around human reports on stdout. The rules themselves are in
//! [`super::inert`].

use std::io::{self, Write};

use super::github::StopCommands;
use super::{inert, CiSystem};

/// Whether a human report written to stdout should be fenced by `::stop-commands::`: under
/// GitHub Actions, unless stdout is a regular file (a redirect the runner does not read, where
/// the fence lines would only clutter the file).
pub fn fence_stdout(system: CiSystem) -> bool {
    system == CiSystem::GitHub && !stdout_is_regular_file()
}

/// Writes `text` to `out`, between `::stop-commands::TOKEN` and `::TOKEN::` lines when `fence`
/// is true, so the runner acts on nothing inside even if a rule of [`inert`] were missed. The
/// text itself must already be inert; keyrot's own commands must be written before or after,
/// never inside.
pub fn write_fenced(out: &mut dyn Write, text: &str, fence: bool) -> io::Result<()> {
    if !fence || text.is_empty() {
        return out.write_all(text.as_bytes());
    }
    let stop = StopCommands::new()?;
    writeln!(out, "{}", stop.start())?;
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    writeln!(out, "{}", stop.resume())
}

/// Whether a CI runner may read what keyrot writes to stdout: keyrot speaks to one, or runs
/// under one whatever `--ci` says, and stdout is not redirected to a regular file.
pub fn runner_may_read_stdout(system: CiSystem) -> bool {
    let under_ci =
        system != CiSystem::None || CiSystem::detect(&super::process_env) != CiSystem::None;
    under_ci && !stdout_is_regular_file()
}

#[cfg(unix)]
fn stdout_is_regular_file() -> bool {
    use std::os::fd::AsFd;
    io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|file| file.metadata())
        .is_ok_and(|meta| meta.is_file())
}

#[cfg(windows)]
fn stdout_is_regular_file() -> bool {
    use std::os::windows::io::AsHandle;
    io::stdout()
        .as_handle()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|file| file.metadata())
        .is_ok_and(|meta| meta.is_file())
}

#[cfg(not(any(unix, windows)))]
fn stdout_is_regular_file() -> bool {
    false
}

/// The `tracing` writer for stderr: each log event is written as one inert line. Line breaks
/// inside an event (a quoted server message, say) are shown as `\n`, hidden characters are
/// escaped and command sequences broken ([`inert::human`]); ANSI colours pass only when
/// `ansi` (stderr is a terminal).
#[derive(Debug, Clone, Copy)]
pub struct LogWriter {
    pub ansi: bool,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogEvent;

    fn make_writer(&'a self) -> LogEvent {
        LogEvent {
            buffer: Vec::new(),
            ansi: self.ansi,
        }
    }
}

/// One event being formatted; written to stderr, inert, when dropped.
pub struct LogEvent {
    buffer: Vec<u8>,
    ansi: bool,
}

impl Write for LogEvent {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LogEvent {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let line = log_line(&String::from_utf8_lossy(&self.buffer), self.ansi);
        // Nowhere to report a failed write to stderr.
        let _ = io::stderr().lock().write_all(line.as_bytes());
    }
}

/// One formatted event as the single inert line it becomes on stderr.
pub fn log_line(event: &str, ansi: bool) -> String {
    let body = event.strip_suffix('\n').unwrap_or(event);
    let one_line = body.replace('\n', "\\n");
    let mut line = inert::human(&one_line, ansi).into_owned();
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfenced_text_is_written_as_it_is() {
        let mut out = Vec::new();
        write_fenced(&mut out, "a\nb\n", false).unwrap();
        assert_eq!(out, b"a\nb\n");
    }

    #[test]
    fn fenced_text_sits_between_a_random_stop_and_its_resume() {
        let mut out = Vec::new();
        write_fenced(&mut out, "SEVERITY\n::warning::x", true).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        let token = lines[0].strip_prefix("::stop-commands::").unwrap();
        assert!(token.len() > 20, "unguessable and masked: {token}");
        assert_eq!(lines[3], format!("::{token}::"));
        assert_eq!(lines[1..3], ["SEVERITY", "::warning::x"]);
        // Each fence has its own token.
        let mut again = Vec::new();
        write_fenced(&mut again, "x\n", true).unwrap();
        assert!(!String::from_utf8(again).unwrap().contains(token));
        // Nothing to fence, no fence.
        let mut empty = Vec::new();
        write_fenced(&mut empty, "", true).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn log_events_become_one_inert_line() {
        assert_eq!(log_line(" INFO plain\n", false), " INFO plain\n");
        assert_eq!(
            log_line(" WARN a\n##vso[task.prependpath]/x\n::error::y\n", false),
            " WARN a\\n##vso\\[task.prependpath]/x\\n::error::y\n"
        );
        assert_eq!(
            log_line("\x1b[33m WARN\x1b[0m \x1b]8;;x\x07\n", true),
            "\x1b[33m WARN\x1b[0m \\u{1b}]8;;x\\u{7}\n"
        );
        assert_eq!(log_line("x\r\u{2028}y", false), "x\\r\\u{2028}y\n");
    }

    #[test]
    fn the_log_writer_collects_one_event_per_writer() {
        use tracing_subscriber::fmt::MakeWriter;
        let writer = LogWriter { ansi: false };
        let mut event = writer.make_writer();
        event.write_all(b" INFO a").unwrap();
        event.write_all(b"\nb\n").unwrap();
        assert_eq!(event.buffer, b" INFO a\nb\n");
        // Dropping it writes to the real stderr; emptied first so the test log stays clean.
        event.buffer.clear();
    }
}
