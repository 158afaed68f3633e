//! Large buffers for an Eval forward of a large batch: on huge pages, and reused within the
//! forward and by the next Eval forwards.
//!
//! An Eval forward of a large batch writes each layer's output into new memory (10,000 MNIST
//! images through a 32-channel convolution are 865 MB). The allocator hands such a buffer over as
//! fresh pages that are zero until first written, and on Linux every 4 KiB page then costs a
//! fault when the layer first writes it: on the Intel Xeon of docs/PERFORMANCE.md, writing 865 MB
//! of fresh pages took 265–330 ms against 114 ms for memory already touched. Two remedies:
//!
//! - Huge pages: a new large buffer is advised `madvise(MADV_HUGEPAGE)` (honoured where
//!   transparent huge pages are `always` or `madvise`, the usual settings), one fault per 2 MiB:
//!   150–216 ms, and a tenth of the time to give the memory back. Elsewhere the advice is skipped.
//! - Reuse: while a container's Eval forward runs ([`EvalScope`]), the large inputs its layers
//!   are done with are kept, and serve the next outputs instead of new memory. What is kept when
//!   the forward ends serves the next Eval forward on this thread (an inference server's batches,
//!   an evaluation's), whose outputs then land on pages already touched: none of the fresh
//!   memory the kernel must zero, 1.4 GB per forward of 10,000 images for workload R. The kept
//!   buffers are freed before any new buffer is allocated, so a forward's peak memory is never
//!   above what it would be without them; by the first Train forward (training has buffers of
//!   its own); and by [`empty_cache`].

use crate::tensor::Tensor;
use ndarray::IxDyn;
use std::cell::{Cell, RefCell};

/// Buffers at least this large are advised and reused. glibc serves them from a mapping of their
/// own (its mmap threshold stays below 32 MiB), so the advice covers only them; a training
/// step's buffers (8.6 MB for workload C) are smaller and reused by their layers anyway.
pub(crate) const HUGE_PAGES_MIN_BYTES: usize = 32 << 20;

/// Buffers at least this large are reused within an Eval forward: those the advice covers. Unit
/// tests lower it, so that every Eval forward of a container in them reuses its buffers and a
/// layer that read one before writing it would show.
const REUSE_MIN_BYTES: usize = if cfg!(test) { 4 << 10 } else { HUGE_PAGES_MIN_BYTES };

/// Buffers kept at most: a residual block gives back its input's copy and a convolution's input
/// in turn, and three serve workload R's forwards; more would only hold memory.
const MAX_KEPT: usize = 4;

thread_local! {
    /// How many [`EvalScope`]s are open on this thread.
    static SCOPES: Cell<usize> = const { Cell::new(0) };
    /// The large buffers the running Eval forward is done with.
    static KEPT: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// While alive (and while any other is), large buffers given back by the Eval forward running
/// on this thread serve its next outputs and those of the next Eval forwards. The code
/// `#[derive(Sequential)]` writes opens one for each forward.
#[must_use = "the scope ends when dropped"]
pub struct EvalScope(bool);

impl EvalScope {
    /// Opens a scope if `eval` (an Eval forward); otherwise (a Train forward) frees the buffers
    /// kept from earlier Eval forwards, unless one is running.
    pub fn enter(eval: bool) -> Self {
        if eval {
            SCOPES.with(|s| s.set(s.get() + 1));
        } else if SCOPES.with(Cell::get) == 0 {
            forget_kept();
        }
        EvalScope(eval)
    }
}

impl Drop for EvalScope {
    fn drop(&mut self) {
        if self.0 {
            SCOPES.with(|s| s.set(s.get() - 1));
        }
    }
}

/// Frees the large buffers this thread keeps from its Eval forwards for the next ones (see
/// [`EvalScope`]), as `torch.cuda.empty_cache()` frees what PyTorch's allocator caches. A Train
/// forward frees them too; call this after inference to give the memory back at once.
pub fn empty_cache() {
    forget_kept();
}

fn forget_kept() {
    // `take` frees the buffers after the borrow ends; `try_with`: nothing to do while the
    // thread's storage is being torn down.
    let _ = KEPT.try_with(|k| std::mem::take(&mut *k.borrow_mut()));
}

/// Keeps `t`'s storage for a later [`buffer`] when it is large and an [`EvalScope`] is open;
/// otherwise frees it.
pub(crate) fn give_back(t: Tensor) {
    if SCOPES.with(Cell::get) == 0 {
        return;
    }
    let (data, _) = t.into_raw_vec_and_offset();
    if data.capacity() * std::mem::size_of::<f32>() < REUSE_MIN_BYTES {
        return;
    }
    KEPT.with(|k| {
        let mut k = k.borrow_mut();
        if k.len() == MAX_KEPT {
            // Drop the smallest: a larger buffer serves more requests.
            let (i, _) = k
                .iter()
                .enumerate()
                .min_by_key(|(_, v)| v.capacity())
                .expect("full");
            if k[i].capacity() >= data.capacity() {
                return;
            }
            k.swap_remove(i);
        }
        k.push(data);
    });
}

/// A tensor of `shape` with unspecified contents, for the caller to overwrite: when large, the
/// smallest kept buffer that holds it (its whole allocation, so that a later forward's larger
/// request can have it back), else a new one of zeros, on huge pages when large. The caller has
/// checked that it can be allocated.
pub(crate) fn buffer(shape: &[usize]) -> Tensor {
    let len: usize = shape.iter().product();
    if len * std::mem::size_of::<f32>() >= REUSE_MIN_BYTES {
        let kept = KEPT.with(|k| {
            let mut k = k.borrow_mut();
            let fit = (0..k.len())
                .filter(|&i| k[i].capacity() >= len)
                .min_by_key(|&i| k[i].capacity());
            fit.map(|i| k.swap_remove(i))
        });
        match kept {
            Some(mut data) => {
                // Zeros only where the buffer was shorter: memory an earlier, larger use of it
                // touched (or, if none did, the fresh pages a new buffer would have been).
                data.resize(len, 0.0);
                return Tensor::from_shape_vec(IxDyn(shape), data).expect("cut to the shape");
            }
            // Nothing kept is large enough: free it before allocating, so that the peak stays.
            None => forget_kept(),
        }
    }
    zeroed(shape)
}

/// A tensor of zeros of `shape`, on huge pages when it is large (see the module doc).
fn zeroed(shape: &[usize]) -> Tensor {
    let mut t = Tensor::zeros(IxDyn(shape));
    if let Some(data) = t.as_slice_mut() {
        if std::mem::size_of_val(data) >= HUGE_PAGES_MIN_BYTES {
            advise_huge_pages(data);
        }
    }
    t
}

/// Asks the kernel to back the whole pages inside `data` with huge pages. Only advice: the
/// values and their zeros do not change, and a refusal is ignored.
#[cfg(target_os = "linux")]
fn advise_huge_pages(data: &mut [f32]) {
    const PAGE: usize = 4096;
    let start = (data.as_mut_ptr() as usize).next_multiple_of(PAGE);
    let end = (data.as_mut_ptr() as usize + std::mem::size_of_val(data)) / PAGE * PAGE;
    if end > start {
        // SAFETY: [start, end) lies inside `data`'s allocation, which we borrow mutably, and
        // MADV_HUGEPAGE changes only how its pages are backed, never their contents, so no
        // reference observes a change. The call reads no memory of ours.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_: &mut [f32]) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_buffer_is_zero_and_writable_like_a_small_one() {
        let len = HUGE_PAGES_MIN_BYTES / 4 + 1000;
        let mut t = zeroed(&[len]);
        assert!(t.iter().all(|&v| v == 0.0));
        t.as_slice_mut().unwrap()[len - 1] = 2.5;
        assert_eq!(t.sum(), 2.5);
        assert_eq!(zeroed(&[2, 3]), Tensor::zeros(IxDyn(&[2, 3])));
    }

    fn kept() -> Vec<usize> {
        KEPT.with(|k| k.borrow().iter().map(Vec::capacity).collect())
    }

    #[test]
    fn an_eval_scope_lends_what_its_layers_give_back_and_the_next_eval_forward_too() {
        let len = REUSE_MIN_BYTES / 4;
        empty_cache();
        // Outside a scope a buffer is freed at once.
        give_back(Tensor::ones(IxDyn(&[len])));
        assert_eq!(kept(), [0usize; 0]);
        let ptr = {
            let _outer = EvalScope::enter(true);
            {
                let _inner = EvalScope::enter(true);
                // A Train forward inside an Eval one leaves the Eval forward's buffers.
                let _train = EvalScope::enter(false);
                give_back(Tensor::ones(IxDyn(&[2 * len])));
                give_back(Tensor::ones(IxDyn(&[len - 1]))); // too small to keep
            }
            // The inner scope's end keeps them for the rest of the outer forward.
            assert_eq!(kept(), [2 * len]);
            let first = buffer(&[2 * len]);
            let ptr = first.as_ptr();
            give_back(first);
            // A smaller request takes the same allocation, whole.
            let cut = buffer(&[len, 1]);
            assert_eq!((cut.shape(), cut.as_ptr()), (&[len, 1][..], ptr));
            give_back(cut);
            assert_eq!(kept(), [2 * len]);
            ptr
        };
        // The next Eval forward has it back at its full size.
        {
            let _next = EvalScope::enter(true);
            let again = buffer(&[2 * len]);
            assert_eq!(again.as_ptr(), ptr);
            // The first use's ones, then zeros where the shorter use ended.
            assert_eq!((again.len(), again.sum()), (2 * len, len as f32));
            give_back(again);
            // A request nothing kept holds frees what is kept before allocating.
            let big = buffer(&[3 * len]);
            assert_eq!((kept(), big.sum()), (vec![], 0.0));
            give_back(big);
        }
        assert_eq!(kept(), [3 * len]);
        // A Train forward frees them, and so does empty_cache.
        drop(EvalScope::enter(false));
        assert_eq!(kept(), [0usize; 0]);
        {
            let _scope = EvalScope::enter(true);
            give_back(Tensor::ones(IxDyn(&[len])));
        }
        assert_eq!(kept(), [len]);
        empty_cache();
        assert_eq!(kept(), [0usize; 0]);
    }

    #[test]
    fn a_scope_keeps_at_most_a_few_buffers_the_largest() {
        let len = REUSE_MIN_BYTES / 4;
        empty_cache();
        let _scope = EvalScope::enter(true);
        for i in 1..=MAX_KEPT + 2 {
            give_back(Tensor::zeros(IxDyn(&[i * len])));
        }
        let mut lens = kept();
        lens.sort_unstable();
        assert_eq!(lens, (3..=MAX_KEPT + 2).map(|i| i * len).collect::<Vec<_>>());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_large_buffer_is_advised_to_take_huge_pages() {
        // /proc/self/smaps lists the mapping with its VmFlags; "hg" marks MADV_HUGEPAGE. A
        // kernel built without transparent huge pages refuses the advice, as it may.
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
            return;
        }
        let t = zeroed(&[HUGE_PAGES_MIN_BYTES / 4]);
        let addr = t.as_ptr() as usize;
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        let mut flags = None;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((lo, hi)) = range.split_once('-') {
                    if let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16)) {
                        inside = (lo..hi).contains(&(addr + 8192));
                        continue;
                    }
                }
            }
            if inside && line.starts_with("VmFlags:") {
                flags = Some(line.to_string());
            }
        }
        let flags = flags.expect("the buffer's mapping in /proc/self/smaps");
        assert!(flags.split_whitespace().any(|f| f == "hg"), "{flags}");
    }
}
