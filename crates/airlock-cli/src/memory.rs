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
