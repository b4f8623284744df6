//! What a trace could not see. Some operations reach files without a syscall the
//! tracer can read a path from; the record never pretends they did not happen: each
//! becomes a gap in the job's record, and roarctl prints it after the job.

use crate::record::{GapKind, TraceGap};

/// Distinct gaps a record keeps; more are counted in one entry per kind.
const MAX_GAPS: usize = 64;

/// The gaps of one trace, repeats merged.
#[derive(Debug, Default)]
pub struct Gaps {
    list: Vec<TraceGap>,
}

impl Gaps {
    /// Notes that `pid` did something of `kind` the trace could not see.
    pub fn note(&mut self, kind: GapKind, pid: i32, detail: &[u8]) {
        let (pid, detail) = if self.list.len() >= MAX_GAPS && !self.has(kind, pid, detail) {
            (0, &b""[..])
        } else {
            (pid, detail)
        };
        match self
            .list
            .iter_mut()
            .find(|gap| gap.kind == kind && gap.pid == pid && gap.detail == detail)
        {
            Some(gap) => gap.count += 1,
            None => self.list.push(TraceGap {
                kind,
                pid,
                detail: detail.to_vec(),
                count: 1,
            }),
        }
    }

    fn has(&self, kind: GapKind, pid: i32, detail: &[u8]) -> bool {
        self.list
            .iter()
            .any(|gap| gap.kind == kind && gap.pid == pid && gap.detail == detail)
    }

    pub fn into_list(self) -> Vec<TraceGap> {
        self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_counted_and_the_list_stays_bounded() {
        let mut gaps = Gaps::default();
        gaps.note(GapKind::OpenByHandle, 7, b"");
        gaps.note(GapKind::OpenByHandle, 7, b"");
        for pid in 0..200 {
            gaps.note(GapKind::ExecWithoutPath, 1000 + pid, b"/memfd:x (deleted)");
        }
        let list = gaps.into_list();
        assert_eq!(list[0].count, 2);
        assert!(list.len() <= MAX_GAPS + 1);
        let total: u64 = list
            .iter()
            .filter(|g| g.kind == GapKind::ExecWithoutPath)
            .map(|g| g.count)
            .sum();
        assert_eq!(total, 200);
    }
}
