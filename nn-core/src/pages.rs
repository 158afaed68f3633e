//! Large zeroed buffers on huge pages where the system offers them.
//!
//! An Eval forward of a large batch writes each layer's output into new memory (10,000 MNIST
//! images through a 32-channel convolution are 865 MB). The allocator hands such a buffer over as
//! fresh pages that are zero until first written, and on Linux every 4 KiB page then costs a
//! fault when the layer first writes it: on the Intel Xeon of docs/PERFORMANCE.md, writing 865 MB
//! of fresh pages took 265–330 ms against 114 ms for memory already touched. Asking for 2 MiB
//! pages (`madvise(MADV_HUGEPAGE)`, honoured where transparent huge pages are `always` or
//! `madvise`, the usual settings) takes one fault per 2 MiB: 150–216 ms, and a tenth of the time
//! to give the memory back. Elsewhere the advice is skipped and the buffer is an ordinary one.

use crate::tensor::Tensor;
use ndarray::IxDyn;

/// Buffers at least this large are advised. glibc serves them from a mapping of their own (its
/// mmap threshold stays below 32 MiB), so the advice covers only them; a training step's
/// buffers (8.6 MB for workload C) are smaller and reused anyway.
pub(crate) const HUGE_PAGES_MIN_BYTES: usize = 32 << 20;

/// A tensor of zeros of `shape`, on huge pages when it is large (see the module doc). The
/// caller has checked that it can be allocated.
pub(crate) fn zeroed(shape: &[usize]) -> Tensor {
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
