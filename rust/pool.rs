//! The worker thread pool, safe across `fork()`.
//!
//! rayon's global pool does not survive `fork()`: the child inherits a registry whose threads do
//! not exist, and the first parallel call waits forever. multiprocessing's default start method
//! on Linux is fork, and Dask and pytest-xdist users do fork, so we keep our own pool and build a
//! fresh one when the process id changes. The thread count follows `RAYON_NUM_THREADS`.

use std::sync::{Arc, Mutex};

use rayon::ThreadPool;

use crate::error::KernelError;

static POOL: Mutex<Option<(u32, Arc<ThreadPool>)>> = Mutex::new(None);

fn current_pool() -> Result<Arc<ThreadPool>, KernelError> {
    // A poisoned lock only means another thread panicked while building a pool; the Option
    // inside is still valid, so recover it rather than failing every later call.
    let mut slot = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let pid = std::process::id();
    if let Some((owner, pool)) = slot.as_ref() {
        if *owner == pid {
            return Ok(Arc::clone(pool));
        }
    }
    if let Some((_, inherited)) = slot.take() {
        // The parent's threads do not exist in this process: dropping the pool would try to
        // signal them. Leak it instead (a fork happens a handful of times per process).
        std::mem::forget(inherited);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("gmmfast-{i}"))
        .build()
        .map_err(|e| KernelError::Runtime(format!("cannot start worker threads: {e}")))?;
    let pool = Arc::new(pool);
    *slot = Some((pid, Arc::clone(&pool)));
    Ok(pool)
}

/// Runs `f` inside the process's worker pool, so rayon's parallel iterators in `f` use it.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R, KernelError> {
    Ok(current_pool()?.install(f))
}

/// Number of worker threads of the current pool.
pub fn num_threads() -> Result<usize, KernelError> {
    Ok(current_pool()?.current_num_threads())
}
