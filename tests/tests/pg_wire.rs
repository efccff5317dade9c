//! The Postgres wire client (`weir_connector_postgres::wire`) against a real Postgres 15:
//! logins (trust, MD5, SCRAM-SHA-256, wrong and missing passwords), TLS per sslmode, the
//! simple query protocol, and the logical replication stream (XLogData, flushed LSN reaching
//! the slot, keepalives answered behind a slow consumer, errors when the walsender dies).

use std::time::Duration;

use weir_connector_postgres::wire::{
    self, ConnectConfig, Connection, Replication, ReplicationStream, SslMode, StreamSettings,
    WireError, XLogData,
};
use weir_e2e::pg::{PgAuth, PgOptions, PgServer};

/// Bound on every wait for the stream in these tests.
const WAIT: Duration = Duration::from_secs(15);

fn config(pg: &PgServer, user: &str, password: Option<&str>) -> ConnectConfig {
    ConnectConfig {
        host: pg.host().to_string(),
        port: pg.port(),
        user: user.to_string(),
        password: password.map(str::to_string),
        dbname: "postgres".to_string(),
        sslmode: SslMode::Disable,
        ssl_root_cert: None,
        connect_timeout: Duration::from_secs(10),
        query_timeout: Duration::from_secs(10),
        application_name: "weir-pg-wire-test".to_string(),
        replication: false,
        tcp_keepalive: true,
    }
}

async fn connect(cfg: &ConnectConfig) -> Connection {
    Connection::connect(cfg)
        .await
        .unwrap_or_else(|e| panic!("connect {cfg:?}: {e}"))
}

async fn one(conn: &mut Connection, sql: &str) -> Option<String> {
    let rows = conn.simple_query(sql).await.expect(sql);
    let row = rows
        .first()
        .unwrap_or_else(|| panic!("{sql} returned no rows"));
    row.get(0).map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_login_and_the_simple_query_protocol() {
    let pg = PgServer::start(PgOptions::new()).expect("start postgres");
    let cfg = config(&pg, "postgres", None);
    let mut conn = connect(&cfg).await;
    assert!(
        conn.server_version_num() >= 150000,
        "{}",
        conn.server_version_num()
    );
    assert_eq!(conn.parameter("client_encoding"), Some("UTF8"));
    assert!(
        conn.parameter("DateStyle")
            .is_some_and(|d| d.starts_with("ISO"))
    );
    assert_eq!(
        one(&mut conn, "SELECT pg_backend_pid()").await,
        Some(conn.backend_pid().to_string())
    );

    // Several statements, every result set in order, NULLs, names and type OIDs.
    let rows = conn
        .simple_query(
            "CREATE TABLE t (id int PRIMARY KEY, v text); \
             INSERT INTO t VALUES (1, 'one'), (2, NULL), (3, 'três'); \
             SELECT id, v FROM t ORDER BY id; SELECT 'x' AS y",
        )
        .await
        .expect("script");
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].column_name(0), "id");
    assert_eq!(rows[0].column_type(0), 23);
    assert_eq!(rows[0].column_type(1), 25);
    assert_eq!(rows[1].by_name("v"), None);
    assert_eq!(rows[2].get(1), Some("três"));
    assert_eq!(rows[3].by_name("y"), Some("x"));
    conn.execute("").await.expect("an empty query is fine");
    conn.execute("UPDATE t SET v = 'two' WHERE id = 2")
        .await
        .expect("update");

    // A server error keeps its SQLSTATE and leaves the session usable.
    let e = conn
        .simple_query("SELECT * FROM missing_table")
        .await
        .expect_err("no such table");
    assert_eq!(e.code(), Some("42P01"), "{e}");
    assert!(!e.is_transient());
    assert!(e.to_string().contains("missing_table"), "{e}");
    assert_eq!(one(&mut conn, "SELECT 1").await.as_deref(), Some("1"));

    // COPY in either direction is refused without hanging, and the session goes on.
    let e = conn
        .execute("COPY t TO STDOUT")
        .await
        .expect_err("copy out");
    assert!(e.to_string().contains("COPY"), "{e}");
    let e = conn
        .execute("COPY t FROM STDIN")
        .await
        .expect_err("copy in");
    assert!(e.to_string().contains("COPY"), "{e}");
    assert_eq!(
        one(&mut conn, "SELECT count(*) FROM t").await.as_deref(),
        Some("3")
    );

    // Streamed rows; a stream dropped early leaves the session usable.
    let mut stream = conn
        .query_stream("SELECT g FROM generate_series(1, 100000) g")
        .await
        .expect("stream");
    let mut seen = 0u64;
    while let Some(row) = stream.next().await.expect("row") {
        seen += 1;
        assert_eq!(row.get(0), Some(seen.to_string().as_str()));
    }
    assert_eq!(seen, 100000);
    {
        // Read one row, then let the stream go out of scope.
        let mut stream = conn
            .query_stream("SELECT g FROM generate_series(1, 100000) g")
            .await
            .expect("stream");
        let first = stream.next().await.expect("row").expect("a first row");
        assert_eq!(first.get(0), Some("1"));
    }
    assert_eq!(
        one(&mut conn, "SELECT 'after'").await.as_deref(),
        Some("after")
    );
    conn.close().await;

    // A query past query_timeout times out and the session refuses further use.
    let mut conn = connect(&ConnectConfig {
        query_timeout: Duration::from_millis(500),
        ..cfg.clone()
    })
    .await;
    let e = conn
        .execute("SELECT pg_sleep(5)")
        .await
        .expect_err("timeout");
    assert!(matches!(e, WireError::Timeout { .. }), "{e}");
    assert!(e.is_transient());
    let e = conn.execute("SELECT 1").await.expect_err("broken");
    assert!(matches!(e, WireError::Closed { .. }), "{e}");

    // A backend terminated mid-query: the FATAL message (57P01, transient) is the error.
    let mut victim = connect(&cfg).await;
    let pid = victim.backend_pid();
    let sleeper = tokio::spawn(async move {
        let r = victim.execute("SELECT pg_sleep(30)").await;
        (victim, r)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut killer = connect(&cfg).await;
    killer
        .execute(&format!("SELECT pg_terminate_backend({pid})"))
        .await
        .expect("terminate");
    let (mut victim, r) = sleeper.await.expect("sleeper task");
    let e = r.expect_err("terminated");
    assert_eq!(e.code(), Some("57P01"), "{e}");
    assert!(e.is_transient());
    let e = victim.execute("SELECT 1").await.expect_err("gone");
    assert!(e.is_transient(), "{e}");

    // The server has ssl=off: prefer falls back to plain TCP, require refuses.
    let mut conn = connect(&ConnectConfig {
        sslmode: SslMode::Prefer,
        ..cfg.clone()
    })
    .await;
    assert_eq!(one(&mut conn, "SELECT 2").await.as_deref(), Some("2"));
    let e = Connection::connect(&ConnectConfig {
        sslmode: SslMode::Require,
        ..cfg.clone()
    })
    .await
    .err()
    .expect("require without server TLS");
    assert!(matches!(e, WireError::Tls { .. }), "{e}");

    // Nothing listens: a transient I/O error naming the address.
    let port = pg.port();
    drop(pg);
    let e = Connection::connect(&cfg)
        .await
        .err()
        .expect("server stopped");
    assert!(e.is_transient(), "{e}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn md5_and_scram_logins() {
    for auth in [PgAuth::Md5, PgAuth::ScramSha256] {
        let pg = PgServer::start(PgOptions::new().role("weir", "s3cret pass", auth))
            .expect("start postgres");
        let addr = format!("127.0.0.1:{}", pg.port());
        let mut conn = connect(&config(&pg, "weir", Some("s3cret pass"))).await;
        assert_eq!(
            one(&mut conn, "SELECT current_user").await.as_deref(),
            Some("weir"),
            "{auth:?}"
        );
        conn.close().await;

        let e = Connection::connect(&config(&pg, "weir", Some("wrong")))
            .await
            .err()
            .expect("wrong password");
        assert!(matches!(e, WireError::Auth { .. }), "{auth:?}: {e}");
        assert_eq!(e.code(), Some("28P01"), "{auth:?}: {e}");
        assert!(!e.is_transient());
        let text = e.to_string();
        assert!(text.contains("\"weir\"") && text.contains(&addr), "{text}");
        assert!(
            !text.contains("wrong"),
            "the password must not be shown: {text}"
        );

        let e = Connection::connect(&config(&pg, "weir", None))
            .await
            .err()
            .expect("no password");
        assert!(matches!(e, WireError::Auth { .. }), "{auth:?}: {e}");
        assert!(e.to_string().contains("none is configured"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_per_sslmode() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("skipped: openssl is not installed, so the test server cannot get a certificate");
        return;
    }
    let pg = PgServer::start(PgOptions::new().tls()).expect("start postgres with TLS");
    let ca = pg.ca_cert().expect("a CA with tls");
    let base = config(&pg, "postgres", None);
    let ssl_in_use = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    for (mode, root, host) in [
        (SslMode::Require, None, "127.0.0.1"),
        (SslMode::Prefer, None, "127.0.0.1"),
        (SslMode::Require, Some(ca.clone()), "127.0.0.1"),
        (SslMode::VerifyCa, Some(ca.clone()), "127.0.0.1"),
        (SslMode::VerifyFull, Some(ca.clone()), "127.0.0.1"),
        (SslMode::VerifyFull, Some(ca.clone()), "localhost"),
    ] {
        let cfg = ConnectConfig {
            sslmode: mode,
            ssl_root_cert: root,
            host: host.to_string(),
            ..base.clone()
        };
        let mut conn = connect(&cfg).await;
        assert_eq!(
            one(&mut conn, ssl_in_use).await.as_deref(),
            Some("t"),
            "{cfg:?}"
        );
        conn.close().await;
    }
    let mut conn = connect(&base).await;
    assert_eq!(
        one(&mut conn, ssl_in_use).await.as_deref(),
        Some("f"),
        "disable"
    );

    // A root that did not sign the server certificate fails verification.
    let wrong_root = pg.dir().join("tls/server.crt");
    for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
        let e = Connection::connect(&ConnectConfig {
            sslmode: mode,
            ssl_root_cert: Some(wrong_root.clone()),
            ..base.clone()
        })
        .await
        .err()
        .expect("untrusted certificate");
        assert!(matches!(e, WireError::Tls { .. }), "{mode}: {e}");
    }
}

/// `Commit.end_lsn` of a pgoutput Commit message (`C`, flags, commit_lsn, end_lsn, ts).
fn commit_end(x: &XLogData) -> Option<u64> {
    (x.data.first() == Some(&b'C') && x.data.len() >= 26).then(|| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&x.data[10..18]);
        u64::from_be_bytes(b)
    })
}

async fn recv(stream: &mut ReplicationStream) -> Replication {
    tokio::time::timeout(WAIT, stream.recv())
        .await
        .expect("an item within the wait")
        .expect("a replication item")
}

/// Receives until `n` commits; returns the pgoutput message tags seen and the last end LSN.
/// (Keepalives keep coming while the client's position is behind the server's, so the wait
/// is bounded as a whole, not per item.)
async fn until_commits(stream: &mut ReplicationStream, n: usize) -> (Vec<u8>, u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut tags = Vec::new();
    let mut commits = 0;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} commits not received within {WAIT:?}; tags so far {:?}",
            String::from_utf8_lossy(&tags)
        );
        if let Replication::XLog(x) = recv(stream).await {
            tags.push(x.data[0]);
            if let Some(end) = commit_end(&x) {
                commits += 1;
                if commits == n {
                    return (tags, end);
                }
            }
        }
    }
}

async fn slot_flushed(conn: &mut Connection, slot: &str) -> u64 {
    let sql = format!(
        "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = {}",
        wire::quote_literal(slot)
    );
    let lsn = one(conn, &sql).await.expect("a confirmed_flush_lsn");
    wire::parse_lsn(&lsn).expect("an LSN")
}

fn pgoutput_options() -> Vec<(String, String)> {
    vec![
        ("proto_version".to_string(), "1".to_string()),
        ("publication_names".to_string(), "\"pub\"".to_string()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logical_replication_stream() {
    let pg =
        PgServer::start(PgOptions::new().set("wal_sender_timeout", "2s")).expect("start postgres");
    let cfg = config(&pg, "postgres", None);
    let mut sql = connect(&cfg).await;
    sql.execute("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION pub FOR TABLE t")
        .await
        .expect("table and publication");
    let repl_cfg = ConnectConfig {
        replication: true,
        ..cfg.clone()
    };
    let mut repl = connect(&repl_cfg).await;
    let created = repl
        .simple_query("CREATE_REPLICATION_SLOT \"s\" LOGICAL pgoutput")
        .await
        .expect("create slot");
    let consistent = wire::parse_lsn(created[0].by_name("consistent_point").expect("lsn"))
        .expect("consistent point");
    sql.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
        .await
        .expect("insert");

    let settings = StreamSettings {
        status_interval: Duration::from_secs(10),
        channel_capacity: 2,
    };
    let mut stream = repl
        .start_replication("s", consistent, &pgoutput_options(), settings.clone())
        .await
        .expect("start replication");
    let (tags, end) = until_commits(&mut stream, 1).await;
    assert_eq!(tags, b"BRIIC".to_vec());
    assert!(end > consistent);

    // The flushed LSN reaches the slot promptly.
    assert!(slot_flushed(&mut sql, "s").await < end);
    stream.set_flushed(end);
    stream.set_flushed(end - 1); // never backwards
    assert_eq!(stream.flushed(), end);
    let deadline = tokio::time::Instant::now() + WAIT;
    while slot_flushed(&mut sql, "s").await != end {
        assert!(
            tokio::time::Instant::now() < deadline,
            "confirmed_flush_lsn did not move"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A slow consumer: 20 transactions fill the 2-slot channel, then nothing is read for 5 s,
    // more than twice wal_sender_timeout. Status updates keep the walsender alive.
    for i in 10..30 {
        sql.execute(&format!("INSERT INTO t VALUES ({i}, 'x')"))
            .await
            .expect("insert");
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (tags, end) = until_commits(&mut stream, 20).await;
    assert_eq!(tags.iter().filter(|t| **t == b'I').count(), 20);
    stream.set_flushed(end);
    assert_eq!(
        one(
            &mut sql,
            "SELECT active FROM pg_replication_slots WHERE slot_name = 's'"
        )
        .await
        .as_deref(),
        Some("t")
    );
    // Idle with an empty channel too.
    tokio::time::sleep(Duration::from_secs(5)).await;
    sql.execute("INSERT INTO t VALUES (100, 'late')")
        .await
        .expect("insert");
    let (tags, _) = until_commits(&mut stream, 1).await;
    assert_eq!(tags, b"BIC".to_vec());
    assert!(
        !pg.log()
            .contains("terminating walsender process due to replication timeout"),
        "the walsender timed out:\n{}",
        pg.log()
    );

    // The slot is busy: a second consumer gets 55006 with the server's message.
    let second = connect(&repl_cfg).await;
    let e = second
        .start_replication("s", 0, &pgoutput_options(), settings.clone())
        .await
        .err()
        .expect("slot in use");
    assert_eq!(e.code(), Some("55006"), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("is active for PID {}", stream.backend_pid())),
        "{e}"
    );

    // Killing the walsender reaches recv() as an error, and the stream stays failed.
    let pid = stream.backend_pid();
    sql.execute(&format!("SELECT pg_terminate_backend({pid})"))
        .await
        .expect("terminate");
    let e = loop {
        match tokio::time::timeout(WAIT, stream.recv()).await {
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => break e,
            Err(_) => panic!("no error after the walsender was terminated"),
        }
    };
    assert!(e.is_transient(), "{e}");
    assert!(
        e.code() == Some("57P01") || matches!(e, WireError::Closed { .. }),
        "{e}"
    );
    let again = stream.recv().await.expect_err("still failed");
    assert!(matches!(again, WireError::Closed { .. }), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_close_is_clean_and_resumes() {
    let pg = PgServer::start(PgOptions::new()).expect("start postgres");
    let cfg = config(&pg, "postgres", None);
    let repl_cfg = ConnectConfig {
        replication: true,
        ..cfg.clone()
    };
    let mut sql = connect(&cfg).await;
    sql.execute("CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION pub FOR TABLE t")
        .await
        .expect("table and publication");
    let mut repl = connect(&repl_cfg).await;
    repl.execute("CREATE_REPLICATION_SLOT \"s\" LOGICAL pgoutput")
        .await
        .expect("create slot");
    let system = repl
        .simple_query("IDENTIFY_SYSTEM")
        .await
        .expect("identify");
    assert!(system[0].by_name("xlogpos").is_some());
    // Two Query messages: one query string would be one implicit transaction.
    for id in [1, 2] {
        sql.execute(&format!("INSERT INTO t VALUES ({id})"))
            .await
            .expect("insert");
    }

    let mut stream = repl
        .start_replication("s", 0, &pgoutput_options(), StreamSettings::default())
        .await
        .expect("start replication");
    let (_, first_end) = until_commits(&mut stream, 1).await;
    stream.set_flushed(first_end);
    stream.close().await.expect("clean close");
    let deadline = tokio::time::Instant::now() + WAIT;
    while one(
        &mut sql,
        "SELECT active FROM pg_replication_slots WHERE slot_name = 's'",
    )
    .await
    .as_deref()
        != Some("f")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot stayed active"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(slot_flushed(&mut sql, "s").await, first_end);

    // The next stream resumes after the flushed transaction: only the second one comes.
    let repl = connect(&repl_cfg).await;
    let mut stream = repl
        .start_replication("s", 0, &pgoutput_options(), StreamSettings::default())
        .await
        .expect("restart replication");
    let (tags, end) = until_commits(&mut stream, 1).await;
    assert_eq!(tags, b"BRIC".to_vec());
    assert!(end > first_end);

    // A missing slot is a server error with its message.
    let repl = connect(&repl_cfg).await;
    let e = repl
        .start_replication("nope", 0, &pgoutput_options(), StreamSettings::default())
        .await
        .err()
        .expect("no such slot");
    assert_eq!(e.code(), Some("42704"), "{e}");
    assert!(e.to_string().contains("\"nope\""), "{e}");
}
