//! The gaps of a job's trace (see `tracer::gaps`): written with the job's record, read
//! with it.

use sqlx::Row;

use super::SqliteStore;
use super::batch::Batch;
use crate::record::TraceGap;
use crate::store::model::Gap;

/// Adds a job's gaps to `batch`.
pub(super) fn push_trace_gaps<'a>(batch: &mut Batch<'a>, job_id: i64, gaps: &'a [TraceGap]) {
    for chunk in gaps.chunks(200) {
        batch
            .statement("INSERT INTO trace_gaps (job_id, kind, pid, detail, count) ")
            .push_values(chunk, |mut row, gap| {
                row.push_bind(job_id)
                    .push_bind(gap.kind.name())
                    .push_bind(gap.pid)
                    .push_bind(gap.detail.as_slice())
                    .push_bind(i64::try_from(gap.count).unwrap_or(i64::MAX));
            });
    }
}

impl SqliteStore {
    /// What the trace of job `job_id` could not see, in recording order.
    pub(super) async fn trace_gaps(&self, job_id: i64) -> sqlx::Result<Vec<Gap>> {
        let rows = sqlx::query(
            "SELECT kind, pid, detail, count FROM trace_gaps WHERE job_id = ? ORDER BY rowid",
        )
        .bind(job_id)
        .fetch_all(self.reader().await)
        .await?;
        let mut gaps = Vec::new();
        for row in rows {
            gaps.push(Gap {
                // A kind this roard does not know (a newer one wrote it) is still shown.
                kind: super::columns::gap_kind(&row, "kind")?,
                pid: row.try_get::<i64, _>("pid")?.clamp(0, i64::from(u32::MAX)) as u32,
                detail: row.try_get("detail")?,
                count: row.try_get::<i64, _>("count")?.max(0) as u64,
            });
        }
        Ok(gaps)
    }
}
