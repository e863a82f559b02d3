//! The broker's global allocator: the system allocator, except that requests
//! of at least `HUGE_ALLOCATION_BYTES` get address space only.
//!
//! `kafka-protocol` 0.18 pre-sizes every decoded array with
//! `Vec::with_capacity(n)` where `n` is the element count read off the wire,
//! before decoding a single element, and Rust aborts the whole process when an
//! allocation fails. The bound on those allocations is `protocol::prescan`: no
//! request reaches the decoder with an array count that does not fit its bytes,
//! so the decoder's allocations are bounded by the frame size
//! (`socket.request.max.bytes`) on every host, whatever its overcommit policy
//! or address-space limit.
//!
//! This allocator stays as a second line for allocations that nothing bounds
//! by design (a future decoder path the pre-scan tables miss until they are
//! regenerated): requests at or above `HUGE_ALLOCATION_BYTES` are served by an
//! anonymous `mmap` with `MAP_NORESERVE`, address space only, committed as it
//! is touched. It only helps where the kernel overcommits and the address space
//! is unlimited (not under `vm.overcommit_memory=2` or `ulimit -v`), which is
//! why it is not the bound. Legitimate allocations are far below the threshold
//! and go to the system allocator unchanged. In unit tests it also records the
//! largest allocation per thread (`largest_allocation_during`), so tests can
//! show what a decode asked for.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::c_void;
use std::num::NonZeroUsize;
use std::ptr::NonNull;

use nix::sys::mman::{mmap_anonymous, munmap, MapFlags, ProtFlags};

/// Allocations of at least this many bytes are reserved lazily with mmap.
pub const HUGE_ALLOCATION_BYTES: usize = 1 << 32;
/// mmap returns page-aligned memory; larger alignments go to the system allocator.
const PAGE_BYTES: usize = 4096;

/// The broker's global allocator (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct GuardedAlloc;

fn is_huge(layout: &Layout) -> bool {
    layout.size() >= HUGE_ALLOCATION_BYTES && layout.align() <= PAGE_BYTES
}

fn map_huge(size: usize) -> *mut u8 {
    let Some(len) = NonZeroUsize::new(size) else {
        return std::ptr::null_mut();
    };
    // SAFETY: an anonymous private mapping at a kernel-chosen address touches
    // no existing memory; on failure we return null as GlobalAlloc requires.
    match unsafe {
        mmap_anonymous(
            None,
            len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE,
        )
    } {
        Ok(ptr) => ptr.as_ptr().cast(),
        Err(_) => std::ptr::null_mut(),
    }
}

fn unmap_huge(ptr: *mut u8, size: usize) {
    if let Some(ptr) = NonNull::new(ptr.cast::<c_void>()) {
        // SAFETY: `ptr`/`size` are exactly a mapping made by `map_huge`
        // (GlobalAlloc guarantees dealloc gets the layout used to allocate).
        let _ = unsafe { munmap(ptr, size) };
    }
}

// SAFETY: every path either delegates to `System` with the caller's layout or
// uses a fresh page-aligned mapping of at least `layout.size()` bytes, and
// frees memory with the allocator that produced it (decided by the layout,
// which GlobalAlloc guarantees is the same at dealloc time).
unsafe impl GlobalAlloc for GuardedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        #[cfg(test)]
        note_allocation(layout.size());
        if is_huge(&layout) {
            map_huge(layout.size())
        } else {
            System.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        #[cfg(test)]
        note_allocation(layout.size());
        if is_huge(&layout) {
            map_huge(layout.size()) // anonymous mappings are zero-filled
        } else {
            System.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_huge(&layout) {
            unmap_huge(ptr, layout.size())
        } else {
            System.dealloc(ptr, layout)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        #[cfg(test)]
        note_allocation(new_size);
        if !is_huge(&layout) && !is_huge(&new_layout) {
            return System.realloc(ptr, layout, new_size);
        }
        let new_ptr = self.alloc(new_layout);
        if !new_ptr.is_null() {
            std::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        new_ptr
    }
}

#[cfg(test)]
thread_local! {
    /// Largest allocation this thread asked for since the last reset, in bytes.
    static LARGEST_ALLOCATION_BYTES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
fn note_allocation(bytes: usize) {
    // try_with: the thread may be tearing down its locals.
    let _ = LARGEST_ALLOCATION_BYTES.try_with(|c| c.set(c.get().max(bytes)));
}

/// Runs `f` and returns what it returned with the largest single allocation
/// this thread made meanwhile, in bytes.
#[cfg(test)]
pub(crate) fn largest_allocation_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    LARGEST_ALLOCATION_BYTES.with(|c| c.set(0));
    let out = f();
    (out, LARGEST_ALLOCATION_BYTES.with(|c| c.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_request_is_reserved_not_committed() {
        // 1 TiB: far beyond this machine's memory; must succeed as address space.
        let layout = Layout::from_size_align(1 << 40, 8).unwrap();
        let alloc = GuardedAlloc;
        unsafe {
            let p = alloc.alloc(layout);
            assert!(!p.is_null());
            *p = 7; // touching one page commits only that page
            assert_eq!(*p, 7);
            alloc.dealloc(p, layout);
        }
    }

    #[test]
    fn small_requests_use_the_system_allocator_and_can_grow_past_the_threshold() {
        let alloc = GuardedAlloc;
        let layout = Layout::from_size_align(64, 8).unwrap();
        unsafe {
            let p = alloc.alloc(layout);
            assert!(!p.is_null());
            *p = 9;
            let q = alloc.realloc(p, layout, HUGE_ALLOCATION_BYTES);
            assert!(!q.is_null());
            assert_eq!(*q, 9);
            alloc.dealloc(
                q,
                Layout::from_size_align(HUGE_ALLOCATION_BYTES, 8).unwrap(),
            );
        }
    }
}
