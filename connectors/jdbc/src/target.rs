//! A connection to the target database, whichever dialect it speaks.

use crate::config::Settings;
use crate::db::{DbError, TableInfo, Work};
use crate::mysql::MySqlTarget;
use crate::pg::PgTarget;
use crate::sql::Sql;
use crate::table::TableId;
use crate::url::Dialect;

pub enum Target {
    Pg(Box<PgTarget>),
    MySql(MySqlTarget),
}

impl Target {
    /// The open connection in `slot`, connecting first if there is none: up to
    /// `connection.attempts` tries, `connection.backoff.ms` apart.
    pub async fn connected<'a>(
        slot: &'a mut Option<Target>,
        settings: &Settings,
    ) -> Result<&'a mut Target, DbError> {
        if slot.is_none() {
            let mut attempt = 1;
            let target = loop {
                let connected = match settings.url.dialect {
                    Dialect::Postgres => PgTarget::connect(settings)
                        .await
                        .map(|t| Target::Pg(Box::new(t))),
                    Dialect::MySql => MySqlTarget::connect(settings).await.map(Target::MySql),
                };
                match connected {
                    Ok(target) => break target,
                    Err(DbError::Transient(e)) if attempt < settings.connection_attempts => {
                        tracing::warn!(error = %e, attempt, "cannot connect to the JDBC target; retrying");
                        attempt += 1;
                        tokio::time::sleep(settings.connection_backoff).await;
                    }
                    Err(e) => return Err(e),
                }
            };
            tracing::info!(target = %settings.url.display(), "connected to the JDBC target");
            *slot = Some(target);
        }
        slot.as_mut()
            .ok_or_else(|| DbError::Transient("no connection".into()))
    }

    pub async fn describe(
        &mut self,
        sql: &Sql,
        table: &TableId,
    ) -> Result<Option<TableInfo>, DbError> {
        match self {
            Target::Pg(t) => t.describe(sql, table).await,
            Target::MySql(t) => t.describe(sql, table).await,
        }
    }

    pub async fn ddl(&mut self, statement: &str) -> Result<(), DbError> {
        tracing::info!(statement, "changing the target's schema");
        match self {
            Target::Pg(t) => t.ddl(statement).await,
            Target::MySql(t) => t.ddl(statement).await,
        }
    }

    pub async fn apply(
        &mut self,
        sql: &Sql,
        settings: &Settings,
        works: &[Work<'_>],
        isolate: bool,
    ) -> Result<Vec<(Vec<usize>, String)>, DbError> {
        match self {
            Target::Pg(t) => t.apply(sql, settings, works, isolate).await,
            Target::MySql(t) => t.apply(sql, settings, works, isolate).await,
        }
    }
}
