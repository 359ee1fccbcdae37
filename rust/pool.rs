//! The worker thread pool, safe across `fork()`, built once per process.
//!
//! rayon's global pool does not survive `fork()`: the child inherits a registry whose threads do
//! not exist, and the first parallel call waits forever. multiprocessing's default start method
//! on Linux is fork, and Dask and pytest-xdist users do fork, so we keep our own pool and build a
//! fresh one when the process id changes. The thread count follows `RAYON_NUM_THREADS`, read
//! when the pool is built, capped at [`MAX_THREADS`].
//!
//! A pool is built once per process, successful or not: a count the system cannot provide
//! falls back to the machine's parallelism and then to one thread, and a failure is remembered
//! rather than retried on every call (retrying 100,000 thread spawns took most of a minute).

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use rayon::ThreadPool;

use crate::error::KernelError;

/// The most worker threads a pool gets, whatever `RAYON_NUM_THREADS` asks for: the kernels
/// gain nothing beyond the machine's cores, and each thread costs a stack.
pub const MAX_THREADS: usize = 256;

/// How often the calling thread looks for a signal while the workers run.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

type Built = Result<Arc<ThreadPool>, KernelError>;

static POOL: Mutex<Option<(u32, Built)>> = Mutex::new(None);

/// Locks `mutex`, recovering the data if another thread panicked while holding it (the data
/// guarded here stays valid whatever that thread was doing).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The machine's parallelism, at least 1.
fn available() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The thread count `RAYON_NUM_THREADS` asks for (rayon's rules: unset, empty, 0 or not a
/// number mean the machine's parallelism), capped at [`MAX_THREADS`].
pub fn requested_threads(setting: Option<&str>) -> usize {
    match setting.and_then(|s| s.trim().parse::<usize>().ok()) {
        Some(n) if n > 0 => n.min(MAX_THREADS),
        _ => available().min(MAX_THREADS),
    }
}

fn build(threads: usize) -> Built {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("gmmfast-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| KernelError::Runtime(format!("cannot start worker threads: {e}")))
}

fn current_pool() -> Built {
    let mut slot = lock(&POOL);
    let pid = std::process::id();
    if let Some((owner, built)) = slot.as_ref() {
        if *owner == pid {
            return built.clone();
        }
    }
    if let Some((_, inherited)) = slot.take() {
        // The parent's threads do not exist in this process: dropping the pool would try to
        // signal them. Leak it instead (a fork happens a handful of times per process).
        std::mem::forget(inherited);
    }
    let setting = std::env::var("RAYON_NUM_THREADS").ok();
    let wanted = requested_threads(setting.as_deref());
    let built = build(wanted)
        .or_else(|_| build(available().min(wanted)))
        .or_else(|_| build(1));
    *slot = Some((pid, built.clone()));
    built
}

/// Runs `f` inside the process's worker pool, so rayon's parallel iterators in `f` use it.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R, KernelError> {
    Ok(current_pool()?.install(f))
}

/// Runs `f` in the worker pool, as [`install`] does, while the calling thread waits and calls
/// `poll` every [`POLL_INTERVAL`] until `f` returns (to look for Ctrl-C: a worker cannot,
/// Python runs signal handlers on the main thread only). A panic in `f` is resumed here.
pub fn install_polling<R: Send>(
    f: impl FnOnce() -> R + Send,
    mut poll: impl FnMut(),
) -> Result<R, KernelError> {
    let pool = current_pool()?;
    let done: (Mutex<Option<std::thread::Result<R>>>, Condvar) = (Mutex::new(None), Condvar::new());
    pool.in_place_scope(|scope| {
        scope.spawn(|_| {
            let outcome = catch_unwind(AssertUnwindSafe(f));
            *lock(&done.0) = Some(outcome);
            done.1.notify_all();
        });
        let mut slot = lock(&done.0);
        while slot.is_none() {
            slot = done
                .1
                .wait_timeout(slot, POLL_INTERVAL)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
            if slot.is_none() {
                drop(slot);
                poll();
                slot = lock(&done.0);
            }
        }
    });
    let outcome = lock(&done.0).take();
    match outcome {
        Some(Ok(result)) => Ok(result),
        Some(Err(panic)) => resume_unwind(panic),
        // The scope has waited for the job, which always stores its outcome.
        None => Err(KernelError::Runtime(
            "a kernel finished without a result".into(),
        )),
    }
}

/// Number of worker threads of the current pool.
pub fn num_threads() -> Result<usize, KernelError> {
    Ok(current_pool()?.current_num_threads())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_counts_follow_rayon_rules_and_are_capped() {
        assert_eq!(requested_threads(Some("3")), 3);
        assert_eq!(requested_threads(Some(" 2 ")), 2);
        assert_eq!(requested_threads(Some("100000")), MAX_THREADS);
        let default = available().min(MAX_THREADS);
        for bad in [None, Some(""), Some("0"), Some("-4"), Some("many")] {
            assert_eq!(requested_threads(bad), default);
        }
    }

    #[test]
    fn polling_runs_until_the_work_is_done() {
        let mut polls = 0;
        let value = install_polling(
            || {
                std::thread::sleep(POLL_INTERVAL * 3);
                42
            },
            || polls += 1,
        )
        .unwrap();
        assert_eq!(value, 42);
        assert!(polls >= 1);
    }
}
