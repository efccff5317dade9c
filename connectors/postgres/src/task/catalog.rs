//! What the task asks the database before and while it streams: the preflight checks (each
//! failure a sentence that says how to fix it), the captured tables, their columns, the
//! publication and the slot.

use weir_connect_api::ConnectorError;

use crate::config::{PostgresConfig, PublicationMode};
use crate::schema::{ColumnInfo, TableId};
use crate::wire::{Connection, Lsn, WireError, parse_lsn, quote_ident, quote_literal};

/// A database error as the task reports it: retriable when the cause is transient.
pub fn db_error(what: &str, e: WireError) -> ConnectorError {
    let message = format!("{what}: {e}");
    if e.is_transient() {
        ConnectorError::retriable(message).caused_by(e)
    } else {
        ConnectorError::fatal(message).caused_by(e)
    }
}

/// Opens a catalog connection and runs `database.initial.statements`.
pub async fn connect(config: &PostgresConfig) -> Result<Connection, ConnectorError> {
    let mut conn = Connection::connect(&config.connect)
        .await
        .map_err(|e| db_error("cannot connect to Postgres", e))?;
    for statement in &config.initial_statements {
        conn.execute(statement).await.map_err(|e| {
            db_error(
                &format!("database.initial.statements \"{statement}\" failed"),
                e,
            )
        })?;
    }
    Ok(conn)
}

/// Checks what logical decoding needs; nothing is created before these pass.
pub async fn preflight(
    conn: &mut Connection,
    config: &PostgresConfig,
) -> Result<(), ConnectorError> {
    let addr = format!("{}:{}", config.connect.host, config.connect.port);
    let rows = conn
        .simple_query(
            "SELECT current_setting('wal_level'), \
             (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user), \
             current_user",
        )
        .await
        .map_err(|e| db_error("cannot read the server settings", e))?;
    let row = rows
        .first()
        .ok_or_else(|| ConnectorError::fatal("the server returned no settings row"))?;
    let wal_level = row.get(0).unwrap_or("");
    if wal_level != "logical" {
        return Err(ConnectorError::fatal(format!(
            "Postgres at {addr} has wal_level={wal_level}, and logical decoding needs \
             wal_level=logical: run ALTER SYSTEM SET wal_level = logical (or set it in \
             postgresql.conf) and restart Postgres"
        )));
    }
    let user = row.get(2).unwrap_or("");
    if row.get(1) != Some("t") {
        return Err(ConnectorError::fatal(format!(
            "user \"{user}\" lacks the REPLICATION privilege on Postgres at {addr}: run \
             ALTER ROLE {} WITH REPLICATION (or connect as a role that has it)",
            quote_ident(user)
        )));
    }
    Ok(())
}

/// Every ordinary table of the database, as (schema, table), in name order.
pub async fn all_tables(conn: &mut Connection) -> Result<Vec<TableId>, ConnectorError> {
    let rows = conn
        .simple_query(
            "SELECT n.nspname, c.relname FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
             ORDER BY 1, 2",
        )
        .await
        .map_err(|e| db_error("cannot list the tables", e))?;
    Ok(rows
        .iter()
        .map(|r| TableId {
            schema: r.get(0).unwrap_or_default().to_string(),
            table: r.get(1).unwrap_or_default().to_string(),
        })
        .collect())
}

/// The captured tables; an include-list entry that matches no table is an error.
pub async fn captured_tables(
    conn: &mut Connection,
    config: &PostgresConfig,
) -> Result<Vec<TableId>, ConnectorError> {
    let all = all_tables(conn).await?;
    for pattern in config.tables.include_patterns() {
        let re = regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
            .case_insensitive(true)
            .build()
            .map_err(|e| ConnectorError::fatal(format!("table.include.list: {e}")))?;
        if !all.iter().any(|t| re.is_match(&t.to_string())) {
            return Err(ConnectorError::fatal(format!(
                "table.include.list entry \"{pattern}\" matches no table in database \"{}\" \
                 (tables are named schema.table, e.g. public.orders)",
                config.connect.dbname
            )));
        }
    }
    Ok(all
        .into_iter()
        .filter(|t| config.captures(&t.schema, &t.table))
        .collect())
}

/// A column as the catalog has it, with its SQL type name (for casts in snapshot queries).
#[derive(Debug, Clone)]
pub struct CatalogColumn {
    pub info: ColumnInfo,
    pub type_name: String,
    /// Position within the primary key (0-based), for the key order.
    pub key_position: Option<usize>,
}

/// The columns of one table in attribute order (generated columns left out, as pgoutput
/// does).
pub async fn table_columns(
    conn: &mut Connection,
    table: &TableId,
) -> Result<Vec<CatalogColumn>, ConnectorError> {
    let sql = format!(
        "SELECT a.attname, a.atttypid, a.atttypmod, NOT a.attnotnull, \
         array_position(pk.conkey, a.attnum), pg_get_expr(d.adbin, d.adrelid), \
         format_type(a.atttypid, a.atttypmod) \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         LEFT JOIN pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p' \
         WHERE n.nspname = {} AND c.relname = {} AND a.attnum > 0 AND NOT a.attisdropped \
         AND a.attgenerated = '' ORDER BY a.attnum",
        quote_literal(&table.schema),
        quote_literal(&table.table)
    );
    let rows = conn
        .simple_query(&sql)
        .await
        .map_err(|e| db_error(&format!("cannot read the columns of {table}"), e))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let key_position = r
            .get(4)
            .and_then(|p| p.parse::<usize>().ok())
            .and_then(|p| p.checked_sub(1));
        out.push(CatalogColumn {
            info: ColumnInfo {
                name: r.get(0).unwrap_or_default().to_string(),
                type_oid: r.get(1).and_then(|v| v.parse().ok()).unwrap_or(0),
                type_modifier: r.get(2).and_then(|v| v.parse().ok()).unwrap_or(-1),
                optional: r.get(3) == Some("t"),
                primary_key: key_position.is_some(),
                key_seq: key_position.map_or(0, |p| p as u32 + 1),
                default_expr: r.get(5).map(str::to_string),
            },
            type_name: r.get(6).unwrap_or("text").to_string(),
            key_position,
        });
    }
    Ok(out)
}

/// Creates or updates the publication per `publication.autocreate.mode`.
pub async fn ensure_publication(
    conn: &mut Connection,
    config: &PostgresConfig,
    tables: &[TableId],
) -> Result<(), ConnectorError> {
    let name = &config.publication_name;
    let rows = conn
        .simple_query(&format!(
            "SELECT puballtables FROM pg_publication WHERE pubname = {}",
            quote_literal(name)
        ))
        .await
        .map_err(|e| db_error("cannot read pg_publication", e))?;
    let exists = !rows.is_empty();
    let table_list = || {
        tables
            .iter()
            .map(|t| format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.table)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sql = match (config.publication_mode, exists) {
        (PublicationMode::Disabled, false) => {
            return Err(ConnectorError::fatal(format!(
                "publication \"{name}\" does not exist and publication.autocreate.mode is \
                 disabled: create it (CREATE PUBLICATION {} FOR TABLE ...) or change the mode",
                quote_ident(name)
            )));
        }
        (PublicationMode::Disabled, true) | (PublicationMode::AllTables, true) => return Ok(()),
        (PublicationMode::AllTables, false) => {
            format!("CREATE PUBLICATION {} FOR ALL TABLES", quote_ident(name))
        }
        (PublicationMode::NoTables, false) => format!("CREATE PUBLICATION {}", quote_ident(name)),
        (PublicationMode::NoTables, true) => return Ok(()),
        (PublicationMode::Filtered, _) if tables.is_empty() => {
            return Err(ConnectorError::fatal(format!(
                "publication.autocreate.mode=filtered but no table matches the include/exclude \
                 lists in database \"{}\"",
                config.connect.dbname
            )));
        }
        (PublicationMode::Filtered, false) => format!(
            "CREATE PUBLICATION {} FOR TABLE {}",
            quote_ident(name),
            table_list()
        ),
        (PublicationMode::Filtered, true) => {
            if rows.first().and_then(|r| r.get(0)) == Some("t") {
                return Err(ConnectorError::fatal(format!(
                    "publication \"{name}\" publishes ALL TABLES and cannot be filtered: drop it \
                     or use publication.autocreate.mode=all_tables"
                )));
            }
            format!(
                "ALTER PUBLICATION {} SET TABLE {}",
                quote_ident(name),
                table_list()
            )
        }
    };
    tracing::info!(publication = %name, "{sql}");
    conn.execute(&sql)
        .await
        .map_err(|e| db_error(&format!("cannot create or alter publication \"{name}\""), e))
}

/// The slot as `pg_replication_slots` shows it.
#[derive(Debug, Clone)]
pub struct SlotInfo {
    pub plugin: String,
    pub database: String,
    pub active_pid: Option<i32>,
    pub confirmed_flush: Option<Lsn>,
}

pub async fn slot_info(
    conn: &mut Connection,
    slot: &str,
) -> Result<Option<SlotInfo>, ConnectorError> {
    let rows = conn
        .simple_query(&format!(
            "SELECT plugin, database, active_pid, confirmed_flush_lsn \
             FROM pg_replication_slots WHERE slot_name = {}",
            quote_literal(slot)
        ))
        .await
        .map_err(|e| db_error("cannot read pg_replication_slots", e))?;
    Ok(rows.first().map(|r| SlotInfo {
        plugin: r.get(0).unwrap_or_default().to_string(),
        database: r.get(1).unwrap_or_default().to_string(),
        active_pid: r.get(2).and_then(|p| p.parse().ok()),
        confirmed_flush: r.get(3).and_then(|l| parse_lsn(l).ok()),
    }))
}

/// Checks an existing slot belongs to this database and uses pgoutput.
pub fn check_slot(info: &SlotInfo, config: &PostgresConfig) -> Result<(), ConnectorError> {
    if info.plugin != "pgoutput" {
        return Err(ConnectorError::fatal(format!(
            "replication slot \"{}\" uses the output plugin {}, not pgoutput: drop it or set \
             another slot.name",
            config.slot_name, info.plugin
        )));
    }
    if info.database != config.connect.dbname {
        return Err(ConnectorError::fatal(format!(
            "replication slot \"{}\" belongs to database \"{}\", not \"{}\": set another \
             slot.name",
            config.slot_name, info.database, config.connect.dbname
        )));
    }
    Ok(())
}

/// The error for a slot another connection holds.
pub fn slot_in_use(slot: &str, pid: i32) -> ConnectorError {
    ConnectorError::fatal(format!(
        "replication slot \"{slot}\" is in use by another connection (PID {pid}): stop the \
         other consumer (SELECT pg_terminate_backend({pid})) or set another slot.name"
    ))
}

/// Drops the slot (`slot.drop.on.stop`).
pub async fn drop_slot(conn: &mut Connection, slot: &str) -> Result<(), ConnectorError> {
    conn.execute(&format!(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
         WHERE slot_name = {} AND NOT active",
        quote_literal(slot)
    ))
    .await
    .map_err(|e| db_error(&format!("cannot drop replication slot \"{slot}\""), e))
}
