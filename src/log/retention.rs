//! Retention: deleting whole old segments by age and by total size.

use super::{LogError, PartitionLog};

impl PartitionLog {
    /// Deletes, oldest first, non-active segments whose newest record is more than
    /// retention_ms old, then oldest segments while the log would still hold at least
    /// retention_bytes without them (Kafka's rule: retention.bytes is a floor that is
    /// never undercut). The active segment is never deleted. Moves log_start_offset to the
    /// first remaining segment and returns how many segments were deleted. Readers holding
    /// ranges of a deleted segment keep reading their open file. Does nothing unless the
    /// cleanup policy includes `delete`.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<usize, LogError> {
        let mut deleted = 0;
        if !self.config.cleanup_policy_delete {
            return Ok(0);
        }
        if self.config.retention_ms >= 0 {
            while self.segments.len() > 1
                && now_ms.saturating_sub(self.segments[0].largest_timestamp())
                    > self.config.retention_ms
            {
                self.remove_first_segment("deleted segment by retention")?;
                deleted += 1;
            }
        }
        if let Ok(limit) = u64::try_from(self.config.retention_bytes) {
            let mut total = self.size_bytes();
            while self.segments.len() > 1 && total - self.segments[0].size() >= limit {
                total -= self.segments[0].size();
                self.remove_first_segment("deleted segment by retention")?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Deletes the oldest segment; the log start moves up to the next one's base (never
    /// down: DeleteRecords may have moved it further).
    pub(super) fn remove_first_segment(&mut self, why: &str) -> Result<(), LogError> {
        self.segments[0].delete_files()?;
        let seg = self.segments.remove(0);
        self.log_start_offset = self.log_start_offset.max(self.segments[0].base_offset);
        self.recovery_point = self.recovery_point.max(self.log_start_offset);
        self.truncate_epochs_to_start();
        tracing::info!(
            segment = seg.base_offset,
            log_start_offset = self.log_start_offset,
            "{why}"
        );
        Ok(())
    }
}
