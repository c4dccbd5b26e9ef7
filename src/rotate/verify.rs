//! `verify_command`: the user's own proof that a new random value works, before it is stored.
//!
//! The command gets the value on stdin (never in its arguments or environment, where other
//! processes could read it) and must exit 0 within `verify_timeout`. Its output is not shown:
//! a command that echoes its input would print the secret.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::model::SecretValue;

pub async fn run_command(
    argv: &[String],
    value: &SecretValue,
    timeout: Duration,
) -> Result<(), String> {
    let (program, args) = argv.split_first().ok_or("verify_command is empty")?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start verify_command {program:?}: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("verify_command has no stdin")?;
    let run = async {
        // A command that exits without reading its input is fine: ignore a broken pipe.
        let _ = stdin.write_all(value.expose().as_bytes()).await;
        drop(stdin);
        child.wait().await
    };
    match tokio::time::timeout(timeout, run).await {
        Err(_) => Err(format!(
            "verify_command {program:?} did not finish within {}s",
            timeout.as_secs()
        )),
        Ok(Err(e)) => Err(format!("verify_command {program:?} failed to run: {e}")),
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("verify_command {program:?} exited with {status}")),
    }
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
            run_command(&ok, &value, Duration::from_secs(10)).await,
            Ok(())
        );
        let wrong = argv(r#"read v; [ "$v" = "other" ]"#);
        let err = run_command(&wrong, &value, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(err.contains("exited with"), "{err}");
        assert!(!err.contains("s3cret-value"));
    }

    #[tokio::test]
    async fn a_slow_or_missing_command_fails_clearly() {
        let value = SecretValue::new("v".into());
        let err = run_command(&argv("sleep 5"), &value, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(err.contains("did not finish"), "{err}");
        let err = run_command(
            &["/nonexistent/verify".to_string()],
            &value,
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert!(err.contains("cannot start"), "{err}");
    }
}
