//! The daemon's allocator (mimalloc) keeps freed memory for reuse. After start-up and each
//! reload, most of what parsing allocated is garbage: handing it back keeps a long-running
//! daemon's resident memory close to its live data.

/// Returns memory mimalloc holds but no longer uses to the kernel (all threads' free pages).
#[allow(unsafe_code)]
pub fn release_free_memory() {
    // SAFETY: mi_collect only walks mimalloc's own free lists; it takes no pointers and is
    // safe to call at any time from any thread.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
