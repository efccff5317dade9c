//! The MariaDB test harness itself (tests/src/mariadb.rs): start and stop, SQL round
//! trips through the client, restarts on the same data directory, crashes, users.

use std::path::Path;

use weir_e2e::mariadb::{DATABASE, MariaDb};

fn row(values: &[Option<&str>]) -> Vec<Option<String>> {
    values.iter().map(|v| v.map(str::to_owned)).collect()
}

/// One value: the first column of the first row, in database `weir`.
fn one(db: &MariaDb, sql: &str) -> Option<String> {
    let rows = db.sql(DATABASE, sql).expect(sql);
    rows.first()
        .and_then(|r| r.first().cloned())
        .unwrap_or_else(|| panic!("{sql} returned no rows"))
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn starts_answers_sql_restarts_and_stops() {
    let mut db = MariaDb::start().expect("start mariadb");
    assert_eq!(db.host(), "127.0.0.1");
    assert_eq!(
        db.url("weir"),
        format!("jdbc:mariadb://127.0.0.1:{}/weir", db.port())
    );
    assert_eq!(
        one(&db, "SELECT @@port").as_deref(),
        Some(db.port().to_string().as_str())
    );
    assert_eq!(one(&db, "SELECT DATABASE()").as_deref(), Some("weir"));
    assert_eq!(
        one(&db, "SELECT @@character_set_server").as_deref(),
        Some("utf8mb4")
    );

    // NULL, empty strings, tabs, new lines, backslashes and non-ASCII text survive; every
    // result set is returned, in order.
    db.execute(
        DATABASE,
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(100)) ENGINE=InnoDB;\n\
         INSERT INTO t VALUES (1, 'one'), (2, NULL), (3, ''), (4, 'a\\tb\\nc\\\\d'),\n\
             (5, 'grüße 😀');",
    )
    .expect("create and insert");
    let rows = db
        .sql(
            DATABASE,
            "SELECT 1, NULL, '';\n\
             SELECT 2 FROM DUAL WHERE false;\n\
             SELECT * FROM t ORDER BY id;\n\
             SELECT count(*) FROM t",
        )
        .expect("select");
    assert_eq!(
        rows,
        vec![
            row(&[Some("1"), None, Some("")]),
            row(&[Some("1"), Some("one")]),
            row(&[Some("2"), None]),
            row(&[Some("3"), Some("")]),
            row(&[Some("4"), Some("a\tb\nc\\d")]),
            row(&[Some("5"), Some("grüße 😀")]),
            row(&[Some("5")]),
        ]
    );

    // An error stops the script and carries the client's message; the statements before
    // it ran (autocommit).
    let err = db
        .execute(
            DATABASE,
            "INSERT INTO t VALUES (6, 'x'); SELECT * FROM missing_table; INSERT INTO t VALUES (7, 'y')",
        )
        .expect_err("missing table");
    assert!(
        err.to_string().contains("missing_table") && err.to_string().contains("ERROR 1146"),
        "{err:#}"
    );
    assert_eq!(
        one(&db, "SELECT GROUP_CONCAT(id ORDER BY id) FROM t").as_deref(),
        Some("1,2,3,4,5,6")
    );
    db.sql("no_such_db", "SELECT 1")
        .expect_err("unknown database");

    // A running server cannot be started a second time.
    db.start_again().expect_err("already running");

    // Stop, then start again on the same data directory and port.
    let port = db.port();
    let pid = db.pid().expect("running");
    db.stop().expect("stop");
    assert_eq!(db.pid(), None);
    assert!(!process_exists(pid), "mariadbd reaped");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port still open after stop"
    );
    assert!(db.log().contains("Shutdown complete"), "{}", db.log());
    db.sql(DATABASE, "SELECT 1")
        .expect_err("stopped server answers no SQL");
    db.stop().expect("stopping a stopped server does nothing");

    db.start_again().expect("start again");
    assert_eq!(db.port(), port);
    assert_ne!(db.pid(), Some(pid));
    assert_eq!(
        one(&db, "SELECT GROUP_CONCAT(id ORDER BY id) FROM t").as_deref(),
        Some("1,2,3,4,5,6")
    );
    assert_eq!(
        one(&db, "SELECT v FROM t WHERE id = 5").as_deref(),
        Some("grüße 😀")
    );

    // Dropping the server stops it and removes its directory.
    let pid = db.pid().expect("running");
    let dir = db.dir().to_path_buf();
    assert!(dir.join("data/mysql").is_dir());
    drop(db);
    assert!(!process_exists(pid), "mariadbd stopped");
    assert!(!dir.exists(), "temp dir removed");
}

#[test]
fn killed_server_starts_again_with_committed_data() {
    let mut db = MariaDb::start().expect("start mariadb");
    db.execute(
        DATABASE,
        "CREATE TABLE k (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO k VALUES (1), (2)",
    )
    .expect("insert");
    let pid = db.pid().expect("running");
    db.kill9().expect("kill -9");
    assert_eq!(db.pid(), None);
    assert!(!process_exists(pid), "mariadbd gone after SIGKILL");

    db.start_again().expect("start again after a crash");
    assert_ne!(db.pid(), Some(pid));
    assert_eq!(one(&db, "SELECT SUM(id) FROM k").as_deref(), Some("3"));
    assert!(
        db.log().contains("crash recovery"),
        "crash recovery ran:\n{}",
        db.log()
    );
    db.execute(DATABASE, "INSERT INTO k VALUES (3)")
        .expect("writes after recovery");
    assert_eq!(one(&db, "SELECT SUM(id) FROM k").as_deref(), Some("6"));
}

#[test]
fn created_user_logs_in_with_its_password() {
    let db = MariaDb::start().expect("start mariadb");
    let password = "pa ss'wo\\rd";
    db.create_user("sink", password).expect("create user");
    let hosts = db
        .sql(
            "mysql",
            "SELECT host FROM user WHERE user = 'sink' ORDER BY host",
        )
        .expect("mysql.user");
    assert_eq!(hosts, vec![row(&[Some("%")]), row(&[Some("localhost")])]);

    let me = db
        .sql_as("sink", password, DATABASE, "SELECT CURRENT_USER()")
        .expect("login with the password");
    assert_eq!(me.len(), 1, "{me:?}");
    // All privileges on *.*: the user may create tables anywhere.
    db.sql_as(
        "sink",
        password,
        DATABASE,
        "CREATE TABLE made_by_sink (id INT); CREATE DATABASE other; CREATE TABLE other.x (id INT)",
    )
    .expect("create tables");
    let err = db
        .sql_as("sink", "wrong", DATABASE, "SELECT 1")
        .expect_err("wrong password");
    assert!(err.to_string().contains("Access denied"), "{err:#}");
    db.create_user("sink", "again")
        .expect_err("the user exists already");
}
