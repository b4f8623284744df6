//! Labels on jobs, artifacts and sessions, and publications that overrode the policy.
//! A change is a new row, never an update, so `label show --history` is the table
//! itself; the newest row of an owner's key is the label now.

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row, Sqlite};

use super::SqliteStore;
use super::lineage::{IDS_PER_QUERY, push_ids};
use crate::store::LabelStore;
use crate::store::error::StoreError;
use crate::store::input::LabelChange;
use crate::store::model::{Label, LabelOwner, PolicyOverride};

fn label_from_row(row: &sqlx::sqlite::SqliteRow) -> sqlx::Result<Label> {
    Ok(Label {
        key: row.try_get("key")?,
        value: row.try_get("value")?,
        inherit: row.try_get("inherit")?,
        set_by: row.try_get("set_by")?,
        set_at_ms: row.try_get("set_at_ms")?,
    })
}

/// Rows that are the newest of their owner's key and not a removal.
const CURRENT: &str = "value IS NOT NULL AND id = (SELECT MAX(n.id) FROM labels n \
     WHERE n.owner_kind = labels.owner_kind AND n.owner_id = labels.owner_id \
       AND n.key = labels.key)";

#[tonic::async_trait]
impl LabelStore for SqliteStore {
    async fn change_labels(
        &self,
        owner: LabelOwner,
        changes: &[LabelChange],
        by: &str,
        now_ms: i64,
    ) -> Result<Vec<Label>, StoreError> {
        let mut tx = self.write_transaction().await?;
        for change in changes {
            sqlx::query(
                "INSERT INTO labels (owner_kind, owner_id, key, value, inherit, set_by, \
                 set_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(owner.kind())
            .bind(owner.id())
            .bind(&change.key)
            .bind(&change.value)
            .bind(change.inherit)
            .bind(by)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.labels(owner, false).await
    }

    async fn labels(&self, owner: LabelOwner, history: bool) -> Result<Vec<Label>, StoreError> {
        let (filter, order) = match history {
            true => (String::new(), "id"),
            false => (format!("AND {CURRENT}"), "key"),
        };
        let sql = format!(
            "SELECT key, value, inherit, set_by, set_at_ms FROM labels \
             WHERE owner_kind = ? AND owner_id = ? {filter} ORDER BY {order}"
        );
        let rows = sqlx::query(&sql)
            .bind(owner.kind())
            .bind(owner.id())
            .fetch_all(self.reader().await)
            .await?;
        Ok(rows
            .iter()
            .map(label_from_row)
            .collect::<sqlx::Result<_>>()?)
    }

    async fn current_labels(
        &self,
        owners: &[LabelOwner],
    ) -> Result<HashMap<LabelOwner, Vec<Label>>, StoreError> {
        let mut found: HashMap<LabelOwner, Vec<Label>> = HashMap::new();
        let mut by_kind: HashMap<&str, Vec<i64>> = HashMap::new();
        for owner in owners {
            by_kind.entry(owner.kind()).or_default().push(owner.id());
        }
        for (kind, ids) in by_kind {
            for chunk in ids.chunks(IDS_PER_QUERY) {
                let mut query = QueryBuilder::<Sqlite>::new(
                    "SELECT owner_id, key, value, inherit, set_by, set_at_ms FROM labels \
                     WHERE owner_kind = ",
                );
                query.push_bind(kind);
                query.push(format!(" AND {CURRENT} AND owner_id IN ("));
                push_ids(&mut query, chunk);
                query.push(" ORDER BY owner_id, key");
                for row in query.build().fetch_all(self.reader().await).await? {
                    let id: i64 = row.try_get("owner_id")?;
                    if let Some(owner) = LabelOwner::of(kind, id) {
                        found.entry(owner).or_default().push(label_from_row(&row)?);
                    }
                }
            }
        }
        Ok(found)
    }

    async fn record_policy_override(
        &self,
        artifact_id: i64,
        record: &PolicyOverride,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        sqlx::query(
            "INSERT INTO policy_overrides (artifact_id, action, destination, rule, reason, \
             set_by, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(artifact_id)
        .bind(&record.action)
        .bind(&record.destination)
        .bind(&record.rule)
        .bind(&record.reason)
        .bind(&record.set_by)
        .bind(record.at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn policy_overrides(&self, artifact_id: i64) -> Result<Vec<PolicyOverride>, StoreError> {
        let rows = sqlx::query(
            "SELECT action, destination, rule, reason, set_by, at_ms FROM policy_overrides \
             WHERE artifact_id = ? ORDER BY id",
        )
        .bind(artifact_id)
        .fetch_all(self.reader().await)
        .await?;
        let record = |row: &sqlx::sqlite::SqliteRow| -> sqlx::Result<PolicyOverride> {
            Ok(PolicyOverride {
                action: row.try_get("action")?,
                destination: row.try_get("destination")?,
                rule: row.try_get("rule")?,
                reason: row.try_get("reason")?,
                set_by: row.try_get("set_by")?,
                at_ms: row.try_get("at_ms")?,
            })
        };
        Ok(rows.iter().map(record).collect::<sqlx::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(key: &str, value: Option<&str>) -> LabelChange {
        LabelChange {
            key: key.into(),
            value: value.map(String::from),
            inherit: key == "license",
        }
    }

    /// The newest change of a key is its value now; a removal hides it; the history
    /// keeps every change in order; owners of another kind or id are apart.
    #[tokio::test]
    async fn the_newest_change_of_a_key_is_its_value_and_the_history_keeps_all() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("roar.db"))
            .await
            .unwrap();
        let job = LabelOwner::Job(7);
        let set = [change("license", Some("MIT")), change("owner", Some("a"))];
        store.change_labels(job, &set, "u", 1).await.unwrap();
        let later = [change("license", Some("CC0")), change("owner", None)];
        let now = store.change_labels(job, &later, "v", 2).await.unwrap();
        assert_eq!(now.len(), 1, "{now:?}");
        assert_eq!(now[0].value.as_deref(), Some("CC0"));
        assert!(now[0].inherit);
        assert_eq!(now[0].set_by, "v");
        let history = store.labels(job, true).await.unwrap();
        let values: Vec<Option<&str>> = history.iter().map(|l| l.value.as_deref()).collect();
        assert_eq!(values, [Some("MIT"), Some("a"), Some("CC0"), None]);

        let other = LabelOwner::Artifact(7);
        store
            .change_labels(other, &[change("x", Some("1"))], "u", 3)
            .await
            .unwrap();
        let many = store
            .current_labels(&[job, other, LabelOwner::Session(7)])
            .await
            .unwrap();
        assert_eq!(many[&job].len(), 1);
        assert_eq!(many[&other][0].key, "x");
        assert!(!many.contains_key(&LabelOwner::Session(7)));
    }
}
