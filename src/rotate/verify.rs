//! `verify_command`: the user's own proof that a new random value works, before it is stored.
//!
//! The command gets the value on stdin (never in its arguments or environment, where other
//! processes could read it) and must exit 0 within `verify_timeout`. Its output is not shown:
//! a command that echoes its input would print the secret.
//!
//! It runs with a scrubbed environment: nothing but `PATH` and the variables the config names in
//! `verify_env` (which may never name keyrot's own credentials, see `config.rs`), so neither
//! `AZURE_CLIENT_SECRET` nor a CI token reaches it. It runs in its own process group, which is
//! killed whole at the timeout (a shell script's children too); and on Linux it gets SIGKILL
//! when keyrot dies (`PR_SET_PDEATHSIG`), so a killed keyrot does not leave it running.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::model::SecretValue;

pub async fn run_command(
    argv: &[String],
    pass_env: &[String],
    value: &SecretValue,
    timeout: Duration,
) -> Result<(), String> {
    let (program, args) = argv.split_first().ok_or("verify_command is empty")?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for name in std::iter::once("PATH").chain(pass_env.iter().map(String::as_str)) {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    #[cfg(unix)]
    dies_with_keyrot(&mut command);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start verify_command {program:?}: {e}"))?;
    let group = child.id();
    let mut stdin = child.stdin.take().ok_or("verify_command has no stdin")?;
    let run = async {
        // A command that exits without reading its input is fine: ignore a broken pipe.
        let _ = stdin.write_all(value.expose().as_bytes()).await;
        drop(stdin);
        child.wait().await
    };
    let result = tokio::time::timeout(timeout, run).await;
    if result.is_err() {
        kill_group(group);
    }
    match result {
        Err(_) => Err(format!(
            "verify_command {program:?} did not finish within verify_timeout ({}s) and was killed",
            timeout.as_secs()
        )),
        Ok(Err(e)) => Err(format!("verify_command {program:?} failed to run: {e}")),
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("verify_command {program:?} exited with {status}")),
    }
}

/// Its own process group (so the whole group can be killed at the timeout) and, on Linux, a
/// parent-death signal. The signal follows the thread that spawned the child; that is one of the
/// runtime's worker threads, which live as long as keyrot.
#[cfg(unix)]
fn dies_with_keyrot(command: &mut tokio::process::Command) {
    command.process_group(0);
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: between fork and exec only async-signal-safe calls are made (prctl, getppid,
        // _exit), touching no memory of the parent.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // keyrot died between fork and prctl: the signal will never come.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
}

/// SIGKILL to the child's whole process group (the child leads it).
fn kill_group(group: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = group.and_then(|p| libc::pid_t::try_from(p).ok()) {
        // SAFETY: a plain syscall; a group that is already gone only yields ESRCH.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = group;
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn argv(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    #[tokio::test]
    async fn the_value_arrives_on_stdin_and_the_exit_code_decides() {
        let value = SecretValue::new("s3cret-value".into());
        let ok = argv(r#"read v; [ "$v" = "s3cret-value" ]"#);
        assert_eq!(
            run_command(&ok, &[], &value, Duration::from_secs(10)).await,
            Ok(())
        );
        let wrong = argv(r#"read v; [ "$v" = "other" ]"#);
        let err = run_command(&wrong, &[], &value, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(err.contains("exited with"), "{err}");
        assert!(!err.contains("s3cret-value"));
    }

    #[tokio::test]
    async fn a_slow_or_missing_command_fails_clearly() {
        let value = SecretValue::new("v".into());
        let err = run_command(&argv("sleep 5"), &[], &value, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(err.contains("did not finish"), "{err}");
        let err = run_command(
            &["/nonexistent/verify".to_string()],
            &[],
            &value,
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert!(err.contains("cannot start"), "{err}");
    }

    #[tokio::test]
    async fn the_environment_holds_only_path_and_what_the_config_passes() {
        // The test process's own environment stands in for keyrot's: a variable is set only
        // if it is not there already, and these names are used by no other test.
        std::env::set_var("KEYROT_VERIFY_TEST_PASSED", "db.internal");
        std::env::set_var("KEYROT_VERIFY_TEST_WITHHELD", "withheld-9b1c");
        let value = SecretValue::new("v".into());
        let script = r#"[ "$KEYROT_VERIFY_TEST_PASSED" = db.internal ] && [ -z "$KEYROT_VERIFY_TEST_WITHHELD" ] && [ -n "$PATH" ] && [ "$(env | grep -c .)" -le 4 ]"#;
        let pass = ["KEYROT_VERIFY_TEST_PASSED".to_string()];
        assert_eq!(
            run_command(&argv(script), &pass, &value, Duration::from_secs(10)).await,
            Ok(())
        );
        // Without passing it, it is not there either.
        let err = run_command(&argv(script), &[], &value, Duration::from_secs(10)).await;
        assert!(err.is_err());
    }

    #[tokio::test]
    async fn the_whole_process_group_dies_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        // The shell starts a background grandchild and waits: both must die.
        let script = format!(
            "sleep 300 & echo $! > {p}; echo $$ >> {p}; wait",
            p = pids.display()
        );
        let value = SecretValue::new("v".into());
        let started = std::time::Instant::now();
        let err = run_command(&argv(&script), &[], &value, Duration::from_millis(700))
            .await
            .unwrap_err();
        assert!(err.contains("killed"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let text = std::fs::read_to_string(&pids).unwrap();
        for pid in text.split_whitespace() {
            let pid: i32 = pid.parse().unwrap();
            let mut gone = false;
            for _ in 0..50 {
                // SAFETY: signal 0 only asks whether the process exists.
                if unsafe { libc::kill(pid, 0) } != 0 || is_zombie(pid) {
                    gone = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            assert!(gone, "process {pid} outlived the timeout");
        }
    }

    /// A killed process whose parent has not reaped it yet still answers signal 0.
    fn is_zombie(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
            })
            .unwrap_or(true)
    }
}
