//! Counts jobs being traced, so a shutdown can wait for them: detaching would leave a
//! job's seccomp filter without a tracer, and its traced syscalls would then fail.

use std::sync::Arc;

use tokio::sync::watch;

pub struct ActiveJobs {
    count: Arc<watch::Sender<usize>>,
}

/// Held for as long as one job is traced or recorded; dropping it ends that job's count.
/// It owns its handle, so it can move into the task that records the job.
pub struct ActiveJob {
    count: Arc<watch::Sender<usize>>,
}

impl Default for ActiveJobs {
    fn default() -> Self {
        Self {
            count: Arc::new(watch::channel(0).0),
        }
    }
}

impl ActiveJobs {
    pub fn enter(&self) -> ActiveJob {
        self.count.send_modify(|c| *c += 1);
        ActiveJob {
            count: Arc::clone(&self.count),
        }
    }

    pub fn count(&self) -> usize {
        *self.count.borrow()
    }

    /// Resolves once no job is active.
    pub async fn wait_idle(&self) {
        let mut receiver = self.count.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = receiver.wait_for(|c| *c == 0).await;
    }
}

impl Drop for ActiveJob {
    fn drop(&mut self) {
        self.count.send_modify(|c| *c -= 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_the_last_job() {
        let jobs = ActiveJobs::default();
        let a = jobs.enter();
        let b = jobs.enter();
        assert_eq!(jobs.count(), 2);
        drop(a);
        drop(b);
        jobs.wait_idle().await;
        assert_eq!(jobs.count(), 0);
    }
}
