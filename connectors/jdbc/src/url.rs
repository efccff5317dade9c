//! JDBC URLs: `jdbc:postgresql://host:port/db?params`, `jdbc:mysql://...` and
//! `jdbc:mariadb://...`. The scheme picks the dialect; host, port, database and the
//! parameters weir understands (`user`, `password`, `currentSchema`, `sslmode`,
//! `connectTimeout`) are kept.

use std::fmt;
use std::time::Duration;

/// The SQL dialect of a target database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    /// MySQL and MariaDB.
    MySql,
}

impl Dialect {
    /// Confluent's `dialect.name` for this dialect.
    pub fn confluent_name(self) -> &'static str {
        match self {
            Dialect::Postgres => "PostgreSqlDatabaseDialect",
            Dialect::MySql => "MySqlDatabaseDialect",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Dialect::Postgres => 5432,
            Dialect::MySql => 3306,
        }
    }
}

/// A parsed JDBC URL.
#[derive(Clone, PartialEq, Eq)]
pub struct JdbcUrl {
    pub dialect: Dialect,
    pub host: String,
    pub port: u16,
    pub database: String,
    params: Vec<(String, String)>,
}

impl fmt::Debug for JdbcUrl {
    /// The URL without the password parameter's value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.display())
    }
}

impl JdbcUrl {
    pub fn parse(url: &str) -> Result<JdbcUrl, String> {
        let unsupported = || {
            format!(
                "{} is not a JDBC URL weir can use: jdbc:postgresql://host:port/database, jdbc:mysql://host:port/database or jdbc:mariadb://host:port/database",
                redact(url)
            )
        };
        let (dialect, rest) = if let Some(rest) = url.strip_prefix("jdbc:postgresql:") {
            (Dialect::Postgres, rest)
        } else if let Some(rest) = url
            .strip_prefix("jdbc:mysql:")
            .or_else(|| url.strip_prefix("jdbc:mariadb:"))
        {
            (Dialect::MySql, rest)
        } else {
            return Err(unsupported());
        };
        let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
        let params = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        let (host, port, database) = match main.strip_prefix("//") {
            Some(authority_path) => {
                let (authority, database) = authority_path
                    .split_once('/')
                    .unwrap_or((authority_path, ""));
                // Several hosts (failover lists) are not supported: the first one is used.
                let first = authority.split(',').next().unwrap_or_default();
                let (host, port) = split_host_port(first).ok_or_else(unsupported)?;
                (host, port, database.to_string())
            }
            // `jdbc:postgresql:database` means localhost.
            None if dialect == Dialect::Postgres && !main.is_empty() => {
                ("localhost".to_string(), None, main.to_string())
            }
            None => return Err(unsupported()),
        };
        let host = if host.is_empty() {
            "localhost".to_string()
        } else {
            host
        };
        if database.is_empty() {
            return Err(format!("{} names no database", redact(url)));
        }
        Ok(JdbcUrl {
            dialect,
            host,
            port: port.unwrap_or(dialect.default_port()),
            database: percent_decode(&database),
            params,
        })
    }

    /// A URL parameter (the last one when repeated).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The connect timeout the URL asks for (`connectTimeout`: seconds for PostgreSQL,
    /// milliseconds for MySQL), else 10 seconds.
    pub fn connect_timeout(&self) -> Duration {
        let value = self
            .param("connectTimeout")
            .and_then(|v| v.parse::<u64>().ok());
        match (self.dialect, value) {
            (_, None | Some(0)) => Duration::from_secs(10),
            (Dialect::Postgres, Some(s)) => Duration::from_secs(s),
            (Dialect::MySql, Some(ms)) => Duration::from_millis(ms),
        }
    }

    /// The parameter that demands TLS, if one does (`sslmode=require|verify-ca|verify-full`
    /// on PostgreSQL; `useSSL`, `requireSSL`, `sslMode` on MySQL and MariaDB).
    pub fn tls_required(&self) -> Option<String> {
        let on = |v: &str| v.eq_ignore_ascii_case("true");
        self.params.iter().find_map(|(k, v)| {
            let demands = match (self.dialect, k.as_str()) {
                (Dialect::Postgres, "sslmode") => ["require", "verify-ca", "verify-full"]
                    .contains(&v.to_ascii_lowercase().as_str()),
                (Dialect::Postgres, "ssl") => on(v),
                (Dialect::MySql, "useSSL" | "requireSSL" | "useSsl") => on(v),
                (Dialect::MySql, "sslMode" | "sslmode") => !matches!(
                    v.to_ascii_lowercase().as_str(),
                    "disabled" | "disable" | "preferred" | "prefer"
                ),
                _ => false,
            };
            demands.then(|| format!("{k}={v}"))
        })
    }

    /// The URL as a user wrote it, the password replaced by `****`.
    pub fn display(&self) -> String {
        let scheme = match self.dialect {
            Dialect::Postgres => "postgresql",
            Dialect::MySql => "mysql",
        };
        let mut out = format!(
            "jdbc:{scheme}://{}:{}/{}",
            self.host, self.port, self.database
        );
        for (i, (k, v)) in self.params.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(k);
            out.push('=');
            out.push_str(if k == "password" { "****" } else { v });
        }
        out
    }
}

fn split_host_port(authority: &str) -> Option<(String, Option<u16>)> {
    // IPv6 literals come in brackets: [::1]:5432.
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), Some(port.parse().ok()?))),
        None => Some((authority.to_string(), None)),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `url` with the value of a `password=` parameter hidden, for messages.
fn redact(url: &str) -> String {
    let Some((main, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let params: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some(("password", _)) => "password=****".to_string(),
            _ => p.to_string(),
        })
        .collect();
    format!("{main}?{}", params.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_urls_users_write() {
        let u = JdbcUrl::parse("jdbc:postgresql://db.local:5433/shop?currentSchema=sales&user=app")
            .expect("valid");
        assert_eq!(
            (u.dialect, u.host.as_str(), u.port, u.database.as_str()),
            (Dialect::Postgres, "db.local", 5433, "shop")
        );
        assert_eq!(u.param("currentSchema"), Some("sales"));
        let u = JdbcUrl::parse("jdbc:mariadb://127.0.0.1/inventory").expect("valid");
        assert_eq!((u.dialect, u.port), (Dialect::MySql, 3306));
        let u = JdbcUrl::parse("jdbc:mysql://[::1]:3307/x").expect("valid");
        assert_eq!((u.host.as_str(), u.port), ("::1", 3307));
        let u = JdbcUrl::parse("jdbc:postgresql:shop").expect("valid");
        assert_eq!((u.host.as_str(), u.port), ("localhost", 5432));
        let u = JdbcUrl::parse("jdbc:postgresql://a:1,b:2/db").expect("valid");
        assert_eq!(u.host, "a");
    }

    #[test]
    fn bad_urls_are_named_without_their_password() {
        let e = JdbcUrl::parse("jdbc:sqlserver://h;databaseName=x").expect_err("unsupported");
        assert!(e.contains("jdbc:sqlserver://h;databaseName=x"), "{e}");
        let e = JdbcUrl::parse("jdbc:postgresql://h:5432/").expect_err("no database");
        assert!(e.contains("names no database"), "{e}");
        let e = JdbcUrl::parse("jdbc:mysql://h:notaport/db?password=hunter2").expect_err("port");
        assert!(!e.contains("hunter2") && e.contains("password=****"), "{e}");
        let u = JdbcUrl::parse("jdbc:mysql://h/db?user=u&password=hunter2").expect("valid");
        assert!(!format!("{u:?}").contains("hunter2"));
        assert_eq!(u.param("password"), Some("hunter2"));
    }
}
