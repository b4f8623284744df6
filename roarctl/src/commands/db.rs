//! `roarctl db`: how big roard's database is and what it holds, read through roard
//! (which owns the file).

use std::process::ExitCode;

use roar_proto::pb;
use serde_json::json;

use crate::context::Context;
use crate::render::human_size;
use crate::status_error;

#[derive(clap::Args, Debug)]
pub struct DbArgs {
    /// Print a JSON object (see README, "JSON output")
    #[arg(long)]
    pub json: bool,
}

pub async fn db(ctx: &Context, args: DbArgs) -> anyhow::Result<ExitCode> {
    let mut client = ctx.client().await?;
    let stats = client
        .get_store_stats(pb::GetStoreStatsRequest {})
        .await
        .map_err(status_error)?
        .into_inner();
    if args.json {
        let tables: serde_json::Map<String, serde_json::Value> = stats
            .tables
            .iter()
            .map(|t| (t.name.clone(), json!(t.rows)))
            .collect();
        let object = json!({
            "database": stats.database,
            "file_bytes": stats.file_bytes,
            "log_bytes": stats.log_bytes,
            "page_size": stats.page_size,
            "pages": stats.pages,
            "free_pages": stats.free_pages,
            "tables": tables,
            "hash_cache": {"entries": stats.hash_cache_entries, "bytes": stats.hash_cache_bytes},
        });
        outln!("{}", serde_json::to_string_pretty(&object)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!("database    {}", stats.database);
    outln!(
        "size        {} (and {} of write-ahead log), {} of it free pages",
        human_size(stats.file_bytes),
        human_size(stats.log_bytes),
        human_size(stats.free_pages * stats.page_size)
    );
    outln!(
        "hash cache  {} file(s), {} of content",
        stats.hash_cache_entries,
        human_size(stats.hash_cache_bytes)
    );
    outln!("rows");
    let width = stats.tables.iter().map(|t| t.name.len()).max().unwrap_or(0);
    for table in &stats.tables {
        outln!("  {:<width$}  {}", table.name, table.rows);
    }
    Ok(ExitCode::SUCCESS)
}
