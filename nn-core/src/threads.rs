//! nn's threads: the thread count, and [`both`], which runs two closures at once, one on the
//! calling thread and one on a helper thread that waits for work by spinning.
//!
//! Why not rayon's pool: a step of a small network hands work over a few times per 100
//! microseconds, and on virtual machines waking a sleeping thread is slow. On a 2-core KVM
//! guest (Intel Xeon) a rayon hand-off of an empty job took 45-95 us, longer than the half of a
//! product it handed over; here the helper spins on its slot between jobs (for a few
//! milliseconds, then sleeps), so a hand-off costs well under a microsecond while work keeps
//! coming, and a helper that is asleep or busy never delays the caller: the caller takes the
//! job back and runs it itself.

use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// Threads for nn's heavy kernels; 0 until set means "all logical CPUs".
static NUM_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets how many threads nn's heavy kernels use (at least 1; 1 keeps everything on the calling
/// thread): large matrix products are split into that many blocks, and the few element-wise
/// loops that are bound by memory or by the divider (Adam's update of a large parameter, the
/// batch fill) into two halves. Small work always stays on the calling thread, where a
/// hand-over would cost more than it saves. The default is the number of logical CPUs.
///
/// On a machine whose cores are busy with other programs, 1 can be faster: a helper thread
/// that must wait for a core delays the step it is part of.
///
/// ```
/// nn_core::set_num_threads(2);
/// assert_eq!(nn_core::num_threads(), 2);
/// ```
pub fn set_num_threads(n: usize) {
    NUM_THREADS.store(n.max(1), SeqCst);
}

/// The number of threads nn's heavy kernels use (see [`set_num_threads`]).
pub fn num_threads() -> usize {
    match NUM_THREADS.load(SeqCst) {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// How long an idle helper spins on its slot before it sleeps: longer than the gaps between
/// hand-offs inside a training or inference step, short enough that a finished computation
/// leaves the core free soon after.
const SPIN: Duration = Duration::from_millis(5);

/// Runs `first` on the calling thread and `second` on an idle helper thread (one of
/// [`num_threads`]` - 1`), and returns when both are done. With no idle helper, or if the
/// helper has not started `second` by the time `first` is done, the caller runs `second`
/// itself. A panic in either closure is re-raised here, after both have finished.
pub(crate) fn both(first: impl FnOnce() + Send, second: impl FnOnce() + Send) {
    let Some(slot) = claim_idle_helper() else {
        first();
        second();
        return;
    };
    let mut job = Some(second);
    // SAFETY: the slot holds a pointer to `job`, on this stack frame, until `Handoff::finish`
    // (run by `drop`, also when `first` panics) has either taken the job back or seen the
    // helper finish it; only then does this frame end. So the helper never reads `job` after
    // it is gone. `F: Send`, so running it on the helper thread is sound.
    unsafe { slot.post(&mut job) };
    let handoff = Handoff { slot, job: &mut job };
    first();
    handoff.finish_and_run_if_taken_back();
}

/// The caller's side of one posted job: taking it back or waiting for it, exactly once.
struct Handoff<'a, F: FnOnce()> {
    slot: &'static Slot,
    job: &'a mut Option<F>,
}

impl<F: FnOnce()> Handoff<'_, F> {
    /// After `first` returned normally: runs the job here if the helper had not started it,
    /// else waits for it and re-raises its panic.
    fn finish_and_run_if_taken_back(self) {
        let taken_back = self.slot.take_back_or_wait();
        let job = self.job.take();
        let panic = self.slot.finish();
        std::mem::forget(self);
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
        if taken_back {
            (job.expect("a job taken back before it started is still there"))();
        }
    }
}

impl<F: FnOnce()> Drop for Handoff<'_, F> {
    /// Only when `first` panicked: take the job back (dropping it) or wait for the helper, so
    /// that the job's borrows end before the caller's frame unwinds.
    fn drop(&mut self) {
        self.slot.take_back_or_wait();
        self.job.take();
        drop(self.slot.finish());
    }
}

/// Slot states.
const IDLE: u8 = 0;
const CLAIMED: u8 = 1;
const POSTED: u8 = 2;
const RUNNING: u8 = 3;
const DONE: u8 = 4;

/// A posted job: a pointer to the caller's `Option<F>` and the function that takes and runs it.
type JobRef = (*mut (), unsafe fn(*mut ()));

/// One helper thread's mailbox.
struct Slot {
    state: AtomicU8,
    job: UnsafeCell<Option<JobRef>>,
    /// The payload of a panic in the job, for the caller to re-raise.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// Whether the helper is (about to be) parked, so that a poster must wake it.
    sleeping: AtomicBool,
    thread: OnceLock<Thread>,
}

// SAFETY: `job` is written only by the caller that moved the state IDLE -> CLAIMED and read
// only by the helper after it moved the state POSTED -> RUNNING, or cleared by the caller
// after it moved it POSTED -> CLAIMED; the SeqCst state changes order those accesses.
unsafe impl Sync for Slot {}

impl Slot {
    /// Posts `job` (the slot is CLAIMED by the caller) and wakes the helper if it sleeps.
    ///
    /// # Safety
    /// `*job` must stay alive and unmoved until [`Slot::take_back_or_wait`] has returned.
    unsafe fn post<F: FnOnce()>(&'static self, job: &mut Option<F>) {
        unsafe fn run<F: FnOnce()>(job: *mut ()) {
            // SAFETY: `job` is the `&mut Option<F>` given to `post`, alive by its contract and
            // touched by no one else while the state is RUNNING.
            let f = unsafe { &mut *(job as *mut Option<F>) }.take();
            if let Some(f) = f {
                f();
            }
        }
        // SAFETY: the state is CLAIMED: only this caller touches `job`.
        unsafe { *self.job.get() = Some((job as *mut Option<F> as *mut (), run::<F>)) };
        self.state.store(POSTED, SeqCst);
        if self.sleeping.load(SeqCst) {
            if let Some(t) = self.thread.get() {
                t.unpark();
            }
        }
    }

    /// Takes a posted job back if the helper has not started it (returns true), or waits until
    /// the helper has finished it (returns false). Leaves the slot CLAIMED or DONE.
    fn take_back_or_wait(&self) -> bool {
        if self
            .state
            .compare_exchange(POSTED, CLAIMED, SeqCst, SeqCst)
            .is_ok()
        {
            // SAFETY: the state is CLAIMED again: the helper will not read `job`.
            unsafe { *self.job.get() = None };
            return true;
        }
        let mut spins = 0u32;
        while self.state.load(SeqCst) != DONE {
            spins = spins.saturating_add(1);
            if spins < 1 << 16 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        false
    }

    /// Makes the slot IDLE again and returns the job's panic, if it had one.
    fn finish(&self) -> Option<Box<dyn Any + Send>> {
        let panic = self.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.state.store(IDLE, SeqCst);
        panic
    }

    /// The helper thread's loop: run posted jobs; spin between them, sleep after [`SPIN`].
    fn serve(&self) {
        let mut idle_since = Instant::now();
        loop {
            if self
                .state
                .compare_exchange(POSTED, RUNNING, SeqCst, SeqCst)
                .is_ok()
            {
                // SAFETY: RUNNING: the caller waits for DONE and does not touch `job`.
                let (ptr, run) = unsafe { (*self.job.get()).take() }.expect("a posted job");
                // SAFETY: `ptr` and `run` were posted together by `post`, whose caller keeps
                // the job alive until it sees DONE.
                let result = catch_unwind(AssertUnwindSafe(|| unsafe { run(ptr) }));
                if let Err(payload) = result {
                    *self.panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(payload);
                }
                self.state.store(DONE, SeqCst);
                idle_since = Instant::now();
                continue;
            }
            if idle_since.elapsed() < SPIN {
                for _ in 0..64 {
                    std::hint::spin_loop();
                }
                continue;
            }
            self.sleeping.store(true, SeqCst);
            // Checked after announcing sleep: a job posted before this load is seen here, and
            // a poster that stores after it sees `sleeping` and unparks.
            if self.state.load(SeqCst) != POSTED {
                std::thread::park();
            }
            self.sleeping.store(false, SeqCst);
            idle_since = Instant::now();
        }
    }
}

/// The helpers started so far, never stopped (a helper that is not needed sleeps).
static HELPERS: Mutex<Vec<&'static Slot>> = Mutex::new(Vec::new());

/// Claims an idle helper among the first [`num_threads`]` - 1`, starting helpers up to that
/// count; `None` if all are busy (the caller then runs both closures itself).
fn claim_idle_helper() -> Option<&'static Slot> {
    let wanted = num_threads().saturating_sub(1);
    if wanted == 0 {
        return None;
    }
    let mut helpers = HELPERS.lock().unwrap_or_else(|e| e.into_inner());
    while helpers.len() < wanted {
        let slot: &'static Slot = Box::leak(Box::new(Slot {
            state: AtomicU8::new(IDLE),
            job: UnsafeCell::new(None),
            panic: Mutex::new(None),
            sleeping: AtomicBool::new(false),
            thread: OnceLock::new(),
        }));
        let handle = std::thread::Builder::new()
            .name(format!("nn-helper-{}", helpers.len()))
            .spawn(move || slot.serve())
            .ok()?;
        let _ = slot.thread.set(handle.thread().clone());
        helpers.push(slot);
    }
    helpers[..wanted]
        .iter()
        .copied()
        .find(|slot| slot.state.compare_exchange(IDLE, CLAIMED, SeqCst, SeqCst).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn both_closures_run_once_for_any_thread_count_and_nesting() {
        for threads in 1..=4 {
            set_num_threads(threads);
            let count = AtomicU32::new(0);
            let add = || {
                count.fetch_add(1, SeqCst);
            };
            for _ in 0..200 {
                both(
                    || both(add, add),
                    || both(add, || std::thread::sleep(Duration::from_micros(1))),
                );
            }
            assert_eq!(count.load(SeqCst), 600, "{threads} threads");
        }
        set_num_threads(std::thread::available_parallelism().map_or(1, |n| n.get()));
    }

    #[test]
    fn a_panic_in_either_closure_reaches_the_caller_after_both_finished() {
        set_num_threads(2);
        for panics_first in [true, false] {
            let finished = AtomicBool::new(false);
            let slow = || {
                std::thread::sleep(Duration::from_millis(20));
                finished.store(true, SeqCst);
            };
            let result = catch_unwind(AssertUnwindSafe(|| {
                if panics_first {
                    both(|| panic!("first failed"), slow);
                } else {
                    both(slow, || panic!("second failed"));
                }
            }));
            let payload = result.expect_err("the panic is re-raised");
            let message = payload.downcast_ref::<&str>().copied().unwrap_or("");
            assert_eq!(
                message,
                if panics_first {
                    "first failed"
                } else {
                    "second failed"
                }
            );
            if !panics_first {
                assert!(finished.load(SeqCst), "the other closure ran to its end");
            }
            // The helper is usable again.
            let ran = AtomicBool::new(false);
            both(|| {}, || ran.store(true, SeqCst));
            assert!(ran.load(SeqCst));
        }
    }
}
