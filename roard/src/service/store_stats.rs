//! `GetStoreStats`: how big the database is and what it holds.

use roar_proto::pb;
use tonic::Status;

use crate::state::DaemonState;

pub async fn store_stats(state: &DaemonState) -> Result<pb::StoreStats, Status> {
    let stats = state
        .store
        .stats()
        .await
        .map_err(super::store_failed("read the database's size"))?;
    Ok(pb::StoreStats {
        database: state.database.display().to_string(),
        ..stats.into()
    })
}
