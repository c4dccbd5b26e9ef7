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
///
/// Once the opening line is out, the closing line is written whatever became of the text: a
/// fence left open would make the runner ignore every later command of the step. A failed
/// write of the text is returned after that.
pub fn write_fenced(out: &mut dyn Write, text: &str, fence: bool) -> io::Result<()> {
    if !fence || text.is_empty() {
        return out.write_all(text.as_bytes());
    }
    let stop = StopCommands::new()?;
    writeln!(out, "{}", stop.start())?;
    let written = out.write_all(text.as_bytes()).and_then(|()| {
        if text.ends_with('\n') {
            Ok(())
        } else {
            out.write_all(b"\n")
        }
    });
    let closed = match written {
        Ok(()) => writeln!(out, "{}", stop.resume()),
        // The text may have stopped mid-line: the closing command needs a line of its own.
        Err(_) => write!(out, "\n{}\n", stop.resume()),
    };
    written.and(closed)
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

    /// Takes everything up to the first `FAIL` in what it is given, then fails once.
    struct FailsOnce {
        taken: Vec<u8>,
        failed: bool,
    }

    impl Write for FailsOnce {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let at = bytes.windows(4).position(|w| w == b"FAIL");
            match at {
                Some(0) if !self.failed => {
                    self.failed = true;
                    Err(io::Error::other("disk full"))
                }
                Some(at) if at > 0 && !self.failed => {
                    self.taken.extend_from_slice(&bytes[..at]);
                    Ok(at)
                }
                _ => {
                    self.taken.extend_from_slice(bytes);
                    Ok(bytes.len())
                }
            }
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_still_closes_the_fence() {
        let mut out = FailsOnce {
            taken: Vec::new(),
            failed: false,
        };
        let error =
            write_fenced(&mut out, "first line\nhalf a FAIL line\nmore\n", true).unwrap_err();
        assert_eq!(error.to_string(), "disk full");
        let text = String::from_utf8(out.taken).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let token = lines[0].strip_prefix("::stop-commands::").unwrap();
        // The text stopped mid-line; the closing command is on a line of its own, last.
        assert_eq!(
            lines[1..],
            ["first line", "half a ", &format!("::{token}::")],
            "{text:?}"
        );
        assert!(text.ends_with('\n'));
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
