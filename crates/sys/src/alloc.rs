//! The daemon's allocator (mimalloc) keeps freed memory for reuse. After start-up and each
//! reload, most of what parsing allocated is garbage: handing it back keeps a long-running
//! daemon's resident memory close to its live data.

/// Returns memory the allocators hold but no longer use to the kernel (mimalloc's free pages
/// of every thread, glibc's free heap pages).
#[allow(unsafe_code)]
pub fn release_free_memory() {
    // SAFETY: mi_collect only walks mimalloc's own free lists; it takes no pointers and is
    // safe to call at any time from any thread.
    unsafe { libmimalloc_sys::mi_collect(true) }
    // SAFETY: malloc_trim only releases free memory of glibc's arenas back to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// mimalloc's option number for the purge delay (mimalloc 2.x `mi_option_purge_delay`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes mimalloc hand freed pages back at once instead of after its 10 ms delay: a daemon
/// that idles for months should not keep pages it no longer uses (about 1.3 MiB at 1,000
/// instances). `-t`, which runs once and exits, keeps the faster default.
#[allow(unsafe_code)]
pub fn tune_for_long_running() {
    // SAFETY: mi_option_set only stores an integer in mimalloc's option table.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};

/// New allocations go to mimalloc while true, to the C library's malloc after
/// [`use_system_allocator`].
static MIMALLOC: AtomicBool = AtomicBool::new(true);

/// The binary's allocator: mimalloc (fast: `-t` on a large file spends a third of its time in
/// malloc) until the program says it will run for long, then the C library's malloc (smaller:
/// mimalloc's per-thread pages cost a running daemon about 2.5 MiB at 1,000 instances). A
/// block is always freed by the allocator that owns it, whatever the current mode.
pub struct HybridAlloc;

/// From now on, allocate with the C library (call before parsing, in daemon mode), with one
/// malloc arena for all threads: the daemon's threads allocate little, and an arena per thread
/// costs resident pages for nothing.
#[allow(unsafe_code)]
pub fn use_system_allocator() {
    // SAFETY: mallopt only changes a glibc tunable; called before the daemon starts threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    MIMALLOC.store(false, Ordering::Relaxed);
}

/// Whether a block belongs to mimalloc: always, as long as the program never switched (so `-t`
/// pays no lookup per free); else by address.
fn from_mimalloc(p: *mut u8) -> bool {
    MIMALLOC.load(Ordering::Relaxed) || owned_by_mimalloc(p)
}

#[allow(unsafe_code)]
fn owned_by_mimalloc(p: *mut u8) -> bool {
    // SAFETY: mi_is_in_heap_region only looks the address up in mimalloc's own segment map; it
    // never dereferences `p`.
    unsafe { libmimalloc_sys::mi_is_in_heap_region(p.cast()) }
}

// SAFETY: every method forwards to an allocator that satisfies GlobalAlloc's contract for the
// same layout, and each block is freed or resized by the allocator that returned it (mimalloc
// blocks are recognised by address).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for HybridAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if MIMALLOC.load(Ordering::Relaxed) {
            libmimalloc_sys::mi_malloc_aligned(layout.size(), layout.align()).cast()
        } else {
            System.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if MIMALLOC.load(Ordering::Relaxed) {
            libmimalloc_sys::mi_zalloc_aligned(layout.size(), layout.align()).cast()
        } else {
            System.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if from_mimalloc(ptr) {
            libmimalloc_sys::mi_free(ptr.cast());
        } else {
            System.dealloc(ptr, layout);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if from_mimalloc(ptr) {
            libmimalloc_sys::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
        } else {
            System.realloc(ptr, layout, new_size)
        }
    }
}
