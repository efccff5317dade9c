//! Tables as a batch needs them: described once and cached, created when missing
//! (`auto.create`, `schema.evolution=basic`), given the columns new fields need
//! (`auto.evolve`: added nullable or with a default, never dropped or retyped). Records a
//! table cannot take fail alone, each with a sentence naming table and column.

use std::collections::HashMap;

use crate::batch::{Op, TablePlan};
use crate::cell;
use crate::config::{InsertMode, Settings};
use crate::db::{DbError, TableInfo};
use crate::record::Column;
use crate::sql::{ColumnDef, Sql};
use crate::table::TableId;
use crate::target::Target;

/// Describes (or creates, or evolves) every table of `plans`. Records that cannot be
/// written land in `failed`; the plans returned carry only writable records.
pub async fn resolve(
    target: &mut Target,
    settings: &Settings,
    sql: &Sql,
    cache: &mut HashMap<TableId, TableInfo>,
    plans: Vec<TablePlan>,
    failed: &mut Vec<(usize, String)>,
) -> Result<Vec<(TablePlan, TableInfo)>, DbError> {
    let mut out = Vec::with_capacity(plans.len());
    for mut plan in plans {
        let table = plan.table.clone();
        let described = match cache.get(&table) {
            Some(info) => Some(info.clone()),
            None => match target.describe(sql, &table).await {
                Ok(info) => info,
                Err(DbError::Data(reason)) => {
                    failed.extend(plan.indices().map(|i| (i, reason.clone())));
                    continue;
                }
                Err(e) => return Err(e),
            },
        };
        let info = match described {
            Some(info) => info,
            None if !plan
                .entries
                .iter()
                .any(|e| matches!(e.op, Op::Upsert { .. })) =>
            {
                // Nothing to delete or truncate in a table that does not exist.
                continue;
            }
            None if !settings.auto_create => {
                let reason = format!(
                    "Table {table} is missing and auto-creation is disabled ({}={})",
                    settings.evolution_key(true),
                    if settings.evolution_key(true) == "auto.create" {
                        "false"
                    } else {
                        "none"
                    }
                );
                failed.extend(plan.indices().map(|i| (i, reason.clone())));
                continue;
            }
            None => match create(target, sql, &mut plan, failed).await {
                Ok(Some(info)) => info,
                Ok(None) => continue,
                Err(DbError::Data(reason)) => {
                    failed.extend(plan.indices().map(|i| (i, reason.clone())));
                    continue;
                }
                Err(e) => return Err(e),
            },
        };
        // A statement the database refuses (a type it does not have, say) fails the
        // records that needed it, not the task.
        let info = match evolve(target, settings, sql, &mut plan, info, failed).await {
            Ok(info) => info,
            Err(DbError::Data(reason)) => {
                failed.extend(plan.indices().map(|i| (i, reason.clone())));
                continue;
            }
            Err(e) => return Err(e),
        };
        if settings.insert_mode == InsertMode::Upsert {
            let keys: Vec<String> = plan
                .entries
                .iter()
                .find(|e| !e.row.key.is_empty())
                .map(|e| e.row.key.iter().map(|k| sql.stored_name(&k.name)).collect())
                .unwrap_or_default();
            if !keys.is_empty() && !info.has_unique(&keys) {
                let reason = format!(
                    "table {table} has no primary key or unique index on ({}); insert.mode=upsert needs one",
                    keys.join(", ")
                );
                failed.extend(plan.entries.iter().map(|e| (e.index, reason.clone())));
                plan.entries.clear();
            }
        }
        cache.insert(table, info.clone());
        out.push((plan, info));
    }
    Ok(out)
}

/// Every column the plan's upserts write, keys first, each with the first schema seen.
fn needed(plan: &TablePlan) -> (Vec<Column>, Vec<Column>) {
    let mut keys: Vec<Column> = Vec::new();
    let mut columns: Vec<Column> = Vec::new();
    for entry in &plan.entries {
        if !matches!(entry.op, Op::Upsert { .. }) {
            continue;
        }
        for k in &entry.row.key {
            if !keys.iter().any(|c| c.name == k.name) {
                keys.push(k.clone());
            }
        }
        for c in &entry.row.columns {
            if !columns.iter().any(|x| x.name == c.name) && !keys.iter().any(|x| x.name == c.name) {
                columns.push(c.clone());
            }
        }
    }
    (keys, columns)
}

/// The definition of a new column, or why it has none.
fn definition(column: &Column) -> Result<ColumnDef, String> {
    let sql_type =
        cell::sql_type(&column.schema).map_err(|e| format!("column {:?}: {e}", column.name))?;
    let default = column
        .schema
        .default
        .as_ref()
        .and_then(|d| cell::cell(&column.schema, d).ok());
    Ok(ColumnDef {
        name: column.name.clone(),
        sql_type,
        optional: column.schema.optional,
        default,
    })
}

/// Fails (and drops from the plan) every upsert that writes `column`.
fn fail_column(
    plan: &mut TablePlan,
    column: &str,
    reason: &str,
    failed: &mut Vec<(usize, String)>,
) {
    plan.entries.retain(|e| {
        let uses = e
            .row
            .key
            .iter()
            .chain(&e.row.columns)
            .any(|c| c.name == column);
        if uses {
            failed.push((e.index, reason.to_string()));
        }
        !uses
    });
}

async fn create(
    target: &mut Target,
    sql: &Sql,
    plan: &mut TablePlan,
    failed: &mut Vec<(usize, String)>,
) -> Result<Option<TableInfo>, DbError> {
    let table = plan.table.clone();
    let (keys, columns) = needed(plan);
    let mut defs = Vec::new();
    for column in keys.iter().chain(&columns) {
        match definition(column) {
            Ok(def) => defs.push(def),
            Err(reason) => {
                let reason = format!("cannot create table {table}: {reason}");
                fail_column(plan, &column.name, &reason, failed);
            }
        }
    }
    if plan.entries.is_empty() {
        return Ok(None);
    }
    let key_names: Vec<String> = keys.iter().map(|k| k.name.clone()).collect();
    target
        .ddl(&sql.create_table(&table, &defs, &key_names))
        .await?;
    target
        .describe(sql, &table)
        .await?
        .map(Some)
        .ok_or_else(|| DbError::Data(format!("table {table} is still missing after CREATE TABLE")))
}

async fn evolve(
    target: &mut Target,
    settings: &Settings,
    sql: &Sql,
    plan: &mut TablePlan,
    info: TableInfo,
    failed: &mut Vec<(usize, String)>,
) -> Result<TableInfo, DbError> {
    let table = plan.table.clone();
    let (keys, columns) = needed(plan);
    // Deletes need their key columns too.
    let delete_keys: Vec<Column> = plan
        .entries
        .iter()
        .filter(|e| e.op == Op::Delete)
        .flat_map(|e| e.row.key.iter().cloned())
        .collect();
    let mut added = false;
    let mut seen: Vec<&str> = Vec::new();
    for (column, is_key) in keys
        .iter()
        .chain(&delete_keys)
        .map(|c| (c, true))
        .chain(columns.iter().map(|c| (c, false)))
    {
        if seen.contains(&column.name.as_str())
            || info.column(&sql.stored_name(&column.name)).is_some()
        {
            continue;
        }
        seen.push(&column.name);
        let refusal = if is_key {
            Some(format!(
                "table {table} has no column {:?} for the primary key (key columns are never added)",
                column.name
            ))
        } else if !settings.auto_evolve {
            Some(format!(
                "table {table} is missing column {:?} and auto-evolution is disabled ({}={})",
                column.name,
                settings.evolution_key(false),
                if settings.evolution_key(false) == "auto.evolve" {
                    "false"
                } else {
                    "none"
                }
            ))
        } else if !column.schema.optional && column.schema.default.is_none() {
            Some(format!(
                "Cannot ALTER TABLE {table} to add missing field {:?}, as the field is not optional and does not have a default value",
                column.name
            ))
        } else {
            match definition(column) {
                Ok(def) => {
                    target.ddl(&sql.add_column(&table, &def)).await?;
                    added = true;
                    None
                }
                Err(reason) => Some(format!("cannot add a column to table {table}: {reason}")),
            }
        };
        if let Some(reason) = refusal {
            fail_column(plan, &column.name, &reason, failed);
        }
    }
    if !added {
        return Ok(info);
    }
    target.describe(sql, &table).await?.ok_or_else(|| {
        DbError::Data(format!(
            "table {table} disappeared while columns were added"
        ))
    })
}
