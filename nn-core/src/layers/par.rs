//! Runs the parts of a batch on nn's threads. A layer splits its batch into a fixed number of
//! parts, whatever the thread count, and sums per-part results in part order, so which thread
//! runs a part never changes a bit of the result.

use crate::linalg::PARALLEL_MIN_LEN;
use crate::threads::{both, num_threads};
use std::ops::Range;
use std::sync::{Mutex, PoisonError};

/// How many parts a batch is split into: enough for the machines nn targets (2 cores, some
/// with hyper-threads), few enough that per-part gradient sums stay small.
pub(crate) const PARTS: usize = 4;

/// Products below this many multiply-adds stay on the calling thread: handing a part to a
/// helper costs tens of microseconds on a busy machine.
const PARALLEL_MIN_MACS: usize = 1 << 21;

/// Whether a job of `macs` multiply-adds is worth spreading over threads.
pub(crate) fn worth_macs(macs: usize) -> bool {
    macs >= PARALLEL_MIN_MACS
}

/// Whether an element-wise job over `len` values is worth spreading over threads.
pub(crate) fn worth_len(len: usize) -> bool {
    len >= PARALLEL_MIN_LEN
}

/// Splits `tiles` tiles into at most [`PARTS`] contiguous runs of nearly equal length (fewer
/// when there are fewer tiles): the tile range of each part.
pub(crate) fn parts(tiles: usize) -> impl Iterator<Item = Range<usize>> {
    let count = tiles.min(PARTS);
    (0..count).map(move |p| p * tiles / count..(p + 1) * tiles / count)
}

/// Calls `f` on every item, spreading the items over up to [`num_threads`] threads if
/// `parallel` (see [`worth_macs`] and [`worth_len`]).
pub(crate) fn for_each<T: Send>(items: &mut [T], parallel: bool, f: &(impl Fn(&mut T) + Sync)) {
    run(items, if parallel { num_threads() } else { 1 }, f);
}

/// Splits `data`, `per_item` values per item (image or plane), into [`parts`]`(items)`-like
/// runs of whole items: at most [`PARTS`] nearly equal slices, in order.
pub(crate) fn split<T>(mut data: &mut [T], per_item: usize) -> [&mut [T]; PARTS] {
    let items = data.len() / per_item.max(1);
    let mut out: [&mut [T]; PARTS] = Default::default();
    for (slot, range) in out.iter_mut().zip(parts(items)) {
        let (head, tail) = std::mem::take(&mut data).split_at_mut(range.len() * per_item);
        *slot = head;
        data = tail;
    }
    out
}

/// Calls `f` on runs of whole rows of `data` (`row_len` values each) that together cover it, in
/// up to [`PARTS`] runs over nn's threads when `data` is large enough ([`worth_len`]): for
/// element-wise work whose result does not depend on how the rows are grouped.
pub(crate) fn rows<T: Send>(data: &mut [T], row_len: usize, f: &(impl Fn(&mut [T]) + Sync)) {
    let parallel = worth_len(data.len());
    let mut parts = split(data, row_len);
    for_each(&mut parts, parallel, &|part: &mut &mut [T]| f(part));
}

/// Runs `f` on every item on up to `threads` threads, each taking the next item until none
/// are left: a thread that a busy core delays holds up at most the item it is on, not a fixed
/// half of the batch. Which thread runs an item changes no bit of it.
fn run<T: Send>(items: &mut [T], threads: usize, f: &(impl Fn(&mut T) + Sync)) {
    if threads < 2 || items.len() < 2 {
        items.iter_mut().for_each(f);
        return;
    }
    let queue = Mutex::new(items.iter_mut());
    take_until_empty(&queue, threads, f);
}

fn take_until_empty<'a, T: Send + 'a>(
    queue: &Mutex<impl Iterator<Item = &'a mut T> + Send>,
    threads: usize,
    f: &(impl Fn(&mut T) + Sync),
) {
    let take = || loop {
        // A statement of its own, so that the lock is released before `f` runs.
        let item = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
        match item {
            Some(item) => f(item),
            None => break,
        }
    };
    if threads < 2 {
        take();
    } else {
        both(take, || take_until_empty(queue, threads - 1, f));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_every_tile_once_in_order() {
        for tiles in 0..20 {
            let ranges: Vec<_> = parts(tiles).collect();
            assert_eq!(ranges.len(), tiles.min(PARTS));
            let flat: Vec<usize> = ranges.iter().cloned().flatten().collect();
            assert_eq!(flat, (0..tiles).collect::<Vec<_>>());
            assert!(ranges.iter().all(|r| !r.is_empty()));
        }
    }

    #[test]
    fn every_item_runs_once_for_any_thread_count() {
        for threads in 1..=5 {
            let mut items = vec![0u32; 7];
            run(&mut items, threads, &|v: &mut u32| *v += 1);
            assert!(items.iter().all(|&v| v == 1), "{threads} threads: {items:?}");
        }
    }
}
