//! The Postgres test harness itself (tests/src/pg.rs): start and stop, SQL round trips,
//! logical decoding, restarts and crashes, password roles and TLS.

use weir_e2e::pg::{PgAuth, PgOptions, PgServer, pg_bin};

fn row(values: &[Option<&str>]) -> Vec<Option<String>> {
    values.iter().map(|v| v.map(str::to_owned)).collect()
}

/// One value: the first column of the first row.
fn one(pg: &PgServer, sql: &str) -> Option<String> {
    let rows = pg.sql(sql).expect(sql);
    rows.first()
        .and_then(|r| r.first().cloned())
        .unwrap_or_else(|| panic!("{sql} returned no rows"))
}

#[test]
fn starts_answers_sql_and_stops() {
    let mut pg = PgServer::start(PgOptions::new()).expect("start postgres");
    assert_eq!(pg.host(), "127.0.0.1");
    assert!(pg.dir().join("data/PG_VERSION").exists());
    assert_eq!(
        one(&pg, "SHOW port").as_deref(),
        Some(pg.port().to_string().as_str())
    );
    assert_eq!(
        one(&pg, "SHOW server_version_num").map(|v| v.starts_with("15")),
        Some(true)
    );

    // NULL, empty strings, separators and new lines survive; every result set is returned.
    let rows = pg
        .sql(
            "SELECT 1, NULL::text, '', 'a|b\nc';\n\
             SELECT 2 WHERE false;\n\
             CREATE TABLE t (id int PRIMARY KEY, v text);\n\
             INSERT INTO t VALUES (1, 'one'), (2, NULL);\n\
             SELECT * FROM t ORDER BY id;\n\
             DO $$ BEGIN RAISE NOTICE 'a notice; with a semicolon'; END $$;\n\
             SELECT count(*) FROM t",
        )
        .expect("script");
    assert_eq!(
        rows,
        vec![
            row(&[Some("1"), None, Some(""), Some("a|b\nc")]),
            row(&[Some("1"), Some("one")]),
            row(&[Some("2"), None]),
            row(&[Some("2")]),
        ]
    );
    pg.execute_batch("UPDATE t SET v = 'two' WHERE id = 2")
        .expect("update");
    assert_eq!(
        one(&pg, "SELECT v FROM t WHERE id = 2").as_deref(),
        Some("two")
    );

    // An error stops the script and carries psql's message; the statements before it ran.
    let err = pg
        .sql("INSERT INTO t VALUES (3, 'x'); SELECT * FROM missing_table; INSERT INTO t VALUES (4, 'y')")
        .expect_err("missing table");
    assert!(err.to_string().contains("missing_table"), "{err:#}");
    assert_eq!(
        one(&pg, "SELECT string_agg(id::text, ',' ORDER BY id) FROM t").as_deref(),
        Some("1,2,3")
    );

    let pid = pg.pid().expect("running");
    pg.stop().expect("stop");
    assert!(!pg.is_running());
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "postmaster reaped"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", pg.port())).is_err(),
        "port still open after stop"
    );
    assert!(
        pg.log().contains("database system is shut down"),
        "{}",
        pg.log()
    );
    pg.sql("SELECT 1")
        .expect_err("stopped server answers no SQL");
}

#[test]
fn logical_replication_works() {
    let pg = PgServer::start(PgOptions::new().set("logical_decoding_work_mem", "64kB"))
        .expect("start postgres");
    assert_eq!(one(&pg, "SHOW wal_level").as_deref(), Some("logical"));
    assert_eq!(
        one(&pg, "SHOW max_replication_slots").as_deref(),
        Some("20")
    );
    assert_eq!(
        one(&pg, "SHOW logical_decoding_work_mem").as_deref(),
        Some("64kB")
    );
    // Creating a slot refuses to run in a transaction that wrote: the script runs
    // statement by statement, as psql does.
    let rows = pg
        .sql(
            "CREATE TABLE items (id int PRIMARY KEY, name text);\n\
             CREATE PUBLICATION pub FOR TABLE items;\n\
             SELECT slot_name FROM pg_create_logical_replication_slot('s', 'pgoutput');\n\
             INSERT INTO items VALUES (1, 'a'), (2, 'b');\n\
             SELECT count(*) FROM pg_logical_slot_peek_binary_changes('s', NULL, NULL,\n\
                 'proto_version', '1', 'publication_names', 'pub');\n\
             SELECT plugin, slot_type FROM pg_replication_slots",
        )
        .expect("slot script");
    assert_eq!(rows[0], row(&[Some("s")]));
    // BEGIN, RELATION, two INSERTs, COMMIT.
    assert_eq!(rows[1], row(&[Some("5")]));
    assert_eq!(rows[2], row(&[Some("pgoutput"), Some("logical")]));
    assert!(
        pg_bin("pg_recvlogical").exists(),
        "pg_recvlogical is installed"
    );

    // Dropping the server stops it and removes its directory.
    let mut pg = pg;
    let pid = pg.pid().expect("running");
    let dir = pg.dir().to_path_buf();
    drop(pg);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "postmaster stopped"
    );
    assert!(!dir.exists(), "temp dir removed");
}

#[test]
fn restart_and_crash_keep_committed_data() {
    let mut pg = PgServer::start(PgOptions::new()).expect("start postgres");
    let port = pg.port();
    pg.execute_batch("CREATE TABLE k (id int); INSERT INTO k VALUES (1)")
        .expect("insert");
    pg.restart().expect("restart");
    assert_eq!(pg.port(), port);
    assert_eq!(one(&pg, "SELECT sum(id) FROM k").as_deref(), Some("1"));

    // A crash (every server process killed at once) loses nothing that was committed.
    pg.execute_batch("INSERT INTO k VALUES (2)")
        .expect("insert");
    let before = pg.pid().expect("running");
    pg.kill9().expect("kill -9");
    assert!(!pg.is_running());
    pg.restart().expect("restart after a crash");
    assert_ne!(pg.pid(), Some(before));
    assert_eq!(one(&pg, "SELECT sum(id) FROM k").as_deref(), Some("3"));
    assert!(
        pg.log().contains("not properly shut down"),
        "crash recovery ran:\n{}",
        pg.log()
    );
}

#[test]
fn scram_role_logs_in_with_its_password_only() {
    let password = "pa ss'word";
    let pg = PgServer::start(PgOptions::new().role("weir", password, PgAuth::ScramSha256))
        .expect("start postgres");
    let role = pg.role().expect("role");
    assert!(
        !format!("{role:?}").contains("ss'word"),
        "Debug hides the password"
    );
    let rows = pg
        .sql("SELECT rolreplication, rolcanlogin, rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'weir'")
        .expect("pg_authid");
    assert_eq!(rows, vec![row(&[Some("t"), Some("t"), Some("t")])]);

    let me = pg
        .sql_tcp("weir", Some(password), "disable", "SELECT current_user")
        .expect("login with the password");
    assert_eq!(me, vec![row(&[Some("weir")])]);
    let err = pg
        .sql_tcp("weir", Some("wrong"), "disable", "SELECT 1")
        .expect_err("wrong password");
    assert!(
        err.to_string().contains("password authentication failed"),
        "{err:#}"
    );
    pg.sql_tcp("weir", None, "disable", "SELECT 1")
        .expect_err("no password");
    // The harness's superuser stays trusted.
    pg.sql_tcp("postgres", None, "disable", "SELECT 1")
        .expect("superuser over TCP");
}

#[test]
fn md5_role_and_tls() {
    let pg = PgServer::start(
        PgOptions::new()
            .role("weir", "secret", PgAuth::Md5)
            .tls()
            .hba("hostnossl all weir 127.0.0.1/32 reject"),
    )
    .expect("start postgres");
    assert_eq!(
        one(
            &pg,
            "SELECT rolpassword LIKE 'md5%' FROM pg_authid WHERE rolname = 'weir'"
        )
        .as_deref(),
        Some("t")
    );
    let ca = pg.ca_cert().expect("TLS server has a CA");
    assert!(ca.exists());
    // verify-full checks the chain against the CA and the name 127.0.0.1.
    let rows = pg
        .sql_tcp(
            "weir",
            Some("secret"),
            "verify-full",
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        )
        .expect("TLS login");
    assert_eq!(rows, vec![row(&[Some("t")])]);
    let err = pg
        .sql_tcp("weir", Some("secret"), "disable", "SELECT 1")
        .expect_err("plain TCP refused by the extra pg_hba line");
    assert!(err.to_string().contains("no encryption"), "{err:#}");
}
