//! The README's shell examples run as written. Every ```sh block marked `<!-- readme-test -->`
//! (or `<!-- readme-test exit=N -->`, for a block whose last command must exit N) runs, in
//! README order, in one shell, in a fresh folder, with the keyrot under test first on `PATH`
//! and nothing of the caller's environment but `PATH` and `TMPDIR`: the emulator recipe
//! starts the emulator and the blocks after it use what it hands out, as a reader would.
//!
//! Blocks that need real Azure stay unmarked. The markers themselves are checked too, so the
//! emulator recipe cannot lose its marker unnoticed.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MARKER: &str = "<!-- readme-test";

/// How long all blocks together may take on a busy machine.
const BUDGET: Duration = Duration::from_secs(240);

#[derive(Debug)]
struct Block {
    /// 1-based line of the block's opening fence.
    line: usize,
    /// The exit status its last command must have.
    exit: i32,
    text: String,
}

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    std::fs::read_to_string(&path).expect("README.md")
}

/// The marked blocks, or a message naming the malformed marker.
fn marked_blocks(readme: &str) -> Result<Vec<Block>, String> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        i += 1;
        if !line.starts_with(MARKER) {
            continue;
        }
        let marker_line = i;
        let options = line
            .strip_prefix(MARKER)
            .and_then(|rest| rest.strip_suffix("-->"))
            .ok_or_else(|| format!("README.md:{marker_line}: a marker is `{MARKER} -->`"))?
            .trim();
        let exit = match options {
            "" => 0,
            _ => options
                .strip_prefix("exit=")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| {
                    format!(
                        "README.md:{marker_line}: unknown marker option {options:?} (only exit=N)"
                    )
                })?,
        };
        while i < lines.len() && lines[i].trim().is_empty() {
            i += 1;
        }
        if lines.get(i).map(|l| l.trim_end()) != Some("```sh") {
            return Err(format!(
                "README.md:{marker_line}: the marker must be followed by a ```sh block"
            ));
        }
        let line = i + 1;
        i += 1;
        let mut text = String::new();
        loop {
            match lines.get(i) {
                None => return Err(format!("README.md:{line}: the block never closes")),
                Some(l) if l.trim_end() == "```" => break,
                Some(l) => {
                    text.push_str(l);
                    text.push('\n');
                }
            }
            i += 1;
        }
        i += 1;
        blocks.push(Block { line, exit, text });
    }
    Ok(blocks)
}

/// Every ```sh block's first line and text, marked or not.
fn all_sh_blocks(readme: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in readme.lines().enumerate() {
        match &mut current {
            None if line.trim_end() == "```sh" => current = Some((n + 1, String::new())),
            None => {}
            Some(_) if line.trim_end() == "```" => out.extend(current.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    out
}

/// A POSIX sh script that runs the blocks in order, each as its own file sourced by the one
/// shell, so that variables and background jobs carry over, and says which block failed.
fn harness(blocks: &[Block], block_dir: &Path) -> String {
    let mut script = String::from(
        "set -eu\n\
         # Whatever a failing block left running stops with the shell.\n\
         trap 'for p in $(jobs -p); do kill \"$p\" 2>/dev/null || true; done' EXIT\n",
    );
    for (n, block) in blocks.iter().enumerate() {
        let file = block_dir.join(format!("{n}.sh"));
        std::fs::write(&file, &block.text).unwrap();
        let file = file.display();
        let line = block.line;
        script.push_str(&format!("echo '### README.md line {line}' >&2\n"));
        if block.exit == 0 {
            script.push_str(&format!(". '{file}'\n"));
        } else {
            let want = block.exit;
            script.push_str(&format!(
                "set +e\n. '{file}'\nstatus=$?\nset -e\n\
                 if [ \"$status\" -ne {want} ]; then echo \"README.md line {line}: exit $status, expected {want}\" >&2; exit 1; fi\n"
            ));
        }
    }
    script.push_str("echo '### every marked README block ran as written' >&2\n");
    script
}

/// Kills the shell's whole process group (the emulators it started included) when dropped.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

/// Runs the blocks in `shell`; the transcript (stdout and stderr) either way.
#[cfg(unix)]
fn run_blocks(shell: &str, blocks: &[Block]) -> Result<String, String> {
    use std::os::unix::process::CommandExt as _;

    let work = tempfile::tempdir().unwrap();
    let block_dir = tempfile::tempdir().unwrap();
    let script = block_dir.path().join("harness.sh");
    std::fs::write(&script, harness(blocks, block_dir.path())).unwrap();
    let transcript = block_dir.path().join("transcript");
    let out = std::fs::File::create(&transcript).unwrap();

    let keyrot_dir = common::keyrot_bin().parent().unwrap().to_path_buf();
    let mut dirs = vec![keyrot_dir];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let mut command = Command::new(shell);
    command
        .arg(&script)
        .env_clear()
        .env("PATH", std::env::join_paths(dirs).unwrap())
        .env("HOME", work.path())
        .current_dir(work.path())
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .process_group(0);
    if let Some(tmp) = std::env::var_os("TMPDIR") {
        command.env("TMPDIR", tmp);
    }
    let mut group = Group(command.spawn().expect("the shell starts"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = group.0.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > BUDGET {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(group);
    let text = std::fs::read_to_string(&transcript).unwrap_or_default();
    match status {
        Some(status) if status.success() => Ok(text),
        Some(status) => Err(format!("{shell} {status}:\n{text}")),
        None => Err(format!(
            "{shell} did not finish in {} s:\n{text}",
            BUDGET.as_secs()
        )),
    }
}

#[cfg(unix)]
fn readme_blocks_run_in(shell: &str) {
    let blocks = marked_blocks(&readme()).unwrap_or_else(|e| panic!("{e}"));
    match run_blocks(shell, &blocks) {
        Ok(text) => assert!(
            text.contains("### every marked README block ran as written"),
            "{text}"
        ),
        Err(e) => panic!("the README's marked blocks failed in {e}"),
    }
}

#[test]
fn the_emulator_recipe_check_fetch_and_demo_are_marked() {
    let readme = readme();
    let blocks = marked_blocks(&readme).unwrap_or_else(|e| panic!("{e}"));
    for needed in [
        "keyrot emulator",
        "--env-file",
        "keyrot check",
        "--app",
        "keyrot fetch",
        "keyrot demo",
    ] {
        assert!(
            blocks.iter().any(|b| b.text.contains(needed)),
            "no marked README block runs `{needed}`"
        );
    }
    // A block that starts the emulator is runnable by definition: it must be tested.
    for (line, text) in all_sh_blocks(&readme) {
        if text.contains("keyrot emulator") {
            assert!(
                blocks.iter().any(|b| b.line == line),
                "README.md:{line} starts the emulator but has no `{MARKER} -->` marker"
            );
        }
    }
}

#[test]
fn malformed_markers_are_reported_with_their_line() {
    let err = marked_blocks("x\n<!-- readme-test -->\n```yaml\na: 1\n```\n").unwrap_err();
    assert!(
        err.contains("README.md:2") && err.contains("```sh"),
        "{err}"
    );
    let err = marked_blocks("<!-- readme-test skip -->\n```sh\ntrue\n```\n").unwrap_err();
    assert!(err.contains("unknown marker option"), "{err}");
    let blocks = marked_blocks("<!-- readme-test exit=1 -->\n\n```sh\nfalse\n```\n").unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!((blocks[0].line, blocks[0].exit), (3, 1));
    assert_eq!(blocks[0].text, "false\n");
}

#[cfg(unix)]
#[test]
fn readme_shell_blocks_run_as_written_in_bash() {
    readme_blocks_run_in("bash");
}

/// The README says the recipes work in dash too (Debian's and Ubuntu's /bin/sh).
#[cfg(target_os = "linux")]
#[test]
fn readme_shell_blocks_run_as_written_in_dash() {
    let found = Command::new("dash")
        .args(["-c", "true"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "dash is not installed (apt-get install dash); the README promises its recipes run in it"
    );
    readme_blocks_run_in("dash");
}

/// The harness fails when a block fails, or when a block's last command exits otherwise than
/// its marker says, and names the README line.
#[cfg(unix)]
#[test]
fn a_failing_block_fails_the_test_and_is_named() {
    let block = |line, exit, text: &str| Block {
        line,
        exit,
        text: text.into(),
    };
    let passing = [
        block(10, 0, "x=1\n"),
        block(20, 3, "test \"$x\" = 1; (exit 3)\n"),
    ];
    run_blocks("sh", &passing).unwrap();

    let failing = [
        block(10, 0, "x=1\nfalse\necho never\n"),
        block(20, 0, "true\n"),
    ];
    let err = run_blocks("sh", &failing).unwrap_err();
    assert!(err.contains("### README.md line 10"), "{err}");
    assert!(!err.contains("never") && !err.contains("line 20"), "{err}");

    let wrong_exit = [block(30, 1, "(exit 3)\n")];
    let err = run_blocks("sh", &wrong_exit).unwrap_err();
    assert!(
        err.contains("README.md line 30: exit 3, expected 1"),
        "{err}"
    );
}
