//! Returning freed memory to the operating system.

#[cfg(feature = "mimalloc")]
extern "C" {
    /// mimalloc: collect and release free memory (`force` = also from other threads' caches).
    fn mi_collect(force: bool);
}

/// Asks the allocator to return memory it no longer uses.
pub fn collect() {
    // SAFETY: mi_collect has no preconditions; the global allocator is mimalloc (main.rs).
    #[cfg(feature = "mimalloc")]
    unsafe {
        mi_collect(true)
    }
    // SAFETY: malloc_trim has no preconditions (glibc's allocator, built without mimalloc).
    #[cfg(not(feature = "mimalloc"))]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Opts this process (and the node processes it starts, which inherit the setting) out of
/// transparent huge pages. mimalloc asks for them on its arenas, and each one a node touches
/// then costs 2 MiB of resident memory: an idle node held 6.9 MiB of anonymous memory with them
/// and 1.7 MiB without (measured, `MIMALLOC_ALLOW_THP=0` having the same effect).
pub fn no_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and changes only this process's flags.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
