//! A global allocator that measures the peak bytes live on the current thread, so a test or
//! fuzz binary that installs it (`#[global_allocator] static A: alloc_meter::Meter = ...;`) gets
//! the `decode_frame` target's allocation bound checked ([`super::decode_frame::alloc_bound`]).
//! Without it the check is skipped.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// The measuring allocator (wraps [`System`]).
pub struct Meter;

static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| {
            if now > peak.get() {
                peak.set(now);
            }
        });
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; only counters change.
unsafe impl GlobalAlloc for Meter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        note(layout.size() as isize);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        note(layout.size() as isize);
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as isize));
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size as isize - layout.size() as isize);
        System.realloc(ptr, layout, new_size)
    }
}

/// Whether the meter is the global allocator of this binary.
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// Starts a measurement on this thread; returns the baseline for [`peak_since`].
pub fn start() -> isize {
    let live = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(live));
    live
}

/// Peak bytes live on this thread above `baseline` since [`start`].
pub fn peak_since(baseline: isize) -> usize {
    PEAK.with(|p| (p.get() - baseline).max(0) as usize)
}
