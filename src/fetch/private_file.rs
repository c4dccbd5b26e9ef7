//! Files only their owner can read (`--env-file`, `--output`), never written through a link.
//!
//! A symbolic link at the path is refused rather than followed: in a shared or attacker-writable
//! folder a link could send the values anywhere the user can write (another file to overwrite,
//! a file others can read). Checking first and then opening would leave a window in which the
//! link could appear, so the refusal happens in the open itself (`O_NOFOLLOW` on Unix: the
//! kernel fails the open if the last component is a link). Links in the folders above the file
//! are the user's own layout and are followed as usual. The opened file must be a regular file;
//! it is truncated and set to mode 0600 only after those checks, and before any value is written.

use std::fs::File;
use std::io::Write;
use std::path::Path;

/// Fails, before any value is read, if `path` cannot be a private file: it is a symbolic link,
/// it exists but is not a regular file, or its folder does not exist. The write checks the link
/// again, atomically; this is only for an early, clear error.
pub fn check_destination(path: &Path, flag: &str) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(link_refused(path, flag)),
        Ok(meta) if !meta.is_file() => Err(format!(
            "{flag} {}: it exists and is not a regular file",
            path.display()
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            match parent {
                Some(folder) if !folder.is_dir() => Err(format!(
                    "{flag} {}: the folder {} does not exist",
                    path.display(),
                    folder.display()
                )),
                _ => Ok(()),
            }
        }
        Err(e) => Err(format!("{flag} {}: {e}", path.display())),
    }
}

fn link_refused(path: &Path, flag: &str) -> String {
    format!(
        "{flag} {}: it is a symbolic link, and keyrot does not write secret values through links; give the real path",
        path.display()
    )
}

/// Writes `contents` to `path`, created or replaced, readable by its owner only (0600 on Unix,
/// also when the file existed with wider permissions), refusing a symbolic link at `path`.
pub fn write(path: &Path, contents: &[u8], flag: &str) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write {flag} {}: {e}", path.display());
    let file = open_no_follow(path).map_err(|e| {
        if is_link_refusal(&e) {
            link_refused(path, flag)
        } else {
            fail(e)
        }
    })?;
    let meta = file.metadata().map_err(fail)?;
    if !meta.is_file() {
        return Err(format!(
            "cannot write {flag} {}: it is not a regular file",
            path.display()
        ));
    }
    restrict(&file).map_err(fail)?;
    file.set_len(0).map_err(fail)?;
    write_all(file, contents).map_err(fail)
}

fn write_all(mut file: File, contents: &[u8]) -> std::io::Result<()> {
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // No O_TRUNC: nothing is changed before the checks on the opened file. O_NONBLOCK keeps a
    // FIFO planted at the path from blocking the open; it has no effect on a regular file.
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(unix)]
fn is_link_refusal(error: &std::io::Error) -> bool {
    // Linux and the BSDs answer ELOOP; macOS's open(2) documents ELOOP too.
    error.raw_os_error() == Some(libc::ELOOP)
}

#[cfg(unix)]
fn restrict(file: &File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
}

#[cfg(windows)]
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    use std::os::windows::fs::OpenOptionsExt;
    // FILE_FLAG_OPEN_REPARSE_POINT: open a link itself instead of its target, so the check
    // below sees it; nothing is written before that check.
    const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)?;
    if file.metadata()?.file_type().is_symlink() {
        return Err(std::io::Error::other(LinkRefused));
    }
    Ok(file)
}

/// The error `open_no_follow` gives for a link on Windows, where no errno says so.
#[cfg(windows)]
#[derive(Debug)]
struct LinkRefused;

#[cfg(windows)]
impl std::fmt::Display for LinkRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("symbolic link refused")
    }
}

#[cfg(windows)]
impl std::error::Error for LinkRefused {}

#[cfg(windows)]
fn is_link_refusal(error: &std::io::Error) -> bool {
    error.get_ref().is_some_and(|e| e.is::<LinkRefused>())
}

#[cfg(windows)]
fn restrict(_file: &File) -> std::io::Result<()> {
    // A new file inherits its folder's ACL (on a runner: the job's user); there is no mode.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_private_and_replace_what_was_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.env");
        std::fs::write(&path, "old and much longer content").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        write(&path, b"new", "--env-file").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(check_destination(&path, "--env-file").is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn links_are_refused_and_their_targets_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        let link = dir.path().join("link.env");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let early = check_destination(&link, "--env-file").unwrap_err();
        assert!(early.contains("symbolic link"), "{early}");
        let late = write(&link, b"secret", "--env-file").unwrap_err();
        assert!(late.contains("symbolic link"), "{late}");
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        // A dangling link would otherwise create its target.
        let dangling = dir.path().join("dangling.env");
        std::os::unix::fs::symlink(dir.path().join("created"), &dangling).unwrap();
        assert!(write(&dangling, b"secret", "--output").is_err());
        assert!(!dir.path().join("created").exists());
    }

    #[test]
    fn a_missing_folder_or_a_directory_is_reported_early() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/file");
        assert!(check_destination(&missing, "--output")
            .unwrap_err()
            .contains("does not exist"));
        assert!(check_destination(dir.path(), "--output")
            .unwrap_err()
            .contains("not a regular file"));
        assert!(check_destination(Path::new("relative.env"), "--output").is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo reads the NUL-terminated path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = write(&fifo, b"secret", "--output").unwrap_err();
        assert!(
            err.contains("not a regular file") || err.contains("cannot write"),
            "{err}"
        );
    }
}
