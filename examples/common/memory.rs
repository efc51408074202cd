//! Returning memory to the OS after a burst, for the example servers.
//!
//! glibc's allocator raises its mmap threshold each time it frees a large mmapped block, so
//! after a few large messages (up to the 16 MiB limit) later ones come from its heaps, and what
//! they free stays resident: a server's RSS stays at its peak long after hostile or merely
//! large peers have gone. A fixed threshold keeps every block of 128 KiB or more mmapped and
//! unmapped on free. Tunables are read at start-up only, so the server re-executes itself once
//! with them set (the same process id); an allocator that returns memory works as well.

/// Re-executes the current program with a fixed glibc mmap threshold, unless the caller set
/// `GLIBC_TUNABLES` already. Returns only if that is not needed or not possible.
pub fn release_memory_promptly() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        use std::os::unix::process::CommandExt;
        if let Ok(exe) = std::env::current_exe() {
            let err = std::process::Command::new(exe)
                .args(std::env::args_os().skip(1))
                .env("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=131072")
                .exec();
            eprintln!("could not re-execute with GLIBC_TUNABLES set ({err}); going on");
        }
    }
}
