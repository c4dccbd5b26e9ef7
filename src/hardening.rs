//! Process hardening for commands that hold secret values in memory (`fetch`, `rotate`).
//!
//! A core dump is a copy of the process's memory written to disk, often somewhere a crash
//! collector uploads it from; a process that holds secret values must not leave one behind.

/// Turns core dumps off for the rest of this process's life: the core size limit becomes 0
/// (every Unix), and on Linux the process is also marked non-dumpable (`PR_SET_DUMPABLE` 0),
/// which also stops processes of the same user without `CAP_SYS_PTRACE` from attaching to it
/// or reading its memory through `/proc`. Call it before the first value is read.
///
/// Returns what could not be done, in words, for a warning: being unable to harden the
/// process is no reason to stop a pipeline. A no-op on other systems.
pub fn disable_core_dumps() -> Result<(), String> {
    #[cfg(unix)]
    {
        let mut problems = Vec::new();
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit reads the struct we pass and touches nothing else.
        if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) } != 0 {
            problems.push(format!(
                "setrlimit(RLIMIT_CORE, 0): {}",
                std::io::Error::last_os_error()
            ));
        }
        #[cfg(target_os = "linux")]
        {
            // SAFETY: PR_SET_DUMPABLE takes plain integers and changes only this process's flag.
            if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
                problems.push(format!(
                    "prctl(PR_SET_DUMPABLE, 0): {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
    #[cfg(not(unix))]
    {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn core_dumps_are_off_afterwards() {
        super::disable_core_dumps().unwrap();
        let mut limit = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 1,
        };
        // SAFETY: getrlimit writes into the struct we own.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut limit) }, 0);
        assert_eq!((limit.rlim_cur, limit.rlim_max), (0, 0));
        #[cfg(target_os = "linux")]
        // SAFETY: PR_GET_DUMPABLE only reads this process's flag.
        assert_eq!(unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) }, 0);
        // Calling it again is harmless (a lowered hard limit stays 0).
        super::disable_core_dumps().unwrap();
    }
}
