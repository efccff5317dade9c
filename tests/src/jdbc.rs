//! For the JDBC sink tests: a source schema covering the type matrix, a seeded random
//! workload of inserts, updates (some leaving TOASTed columns out), key changes, deletes
//! and truncates, and each table read back in one canonical text form per dialect, so a
//! source table and its copies compare row for row.

use std::time::Duration;

use crate::mariadb::MariaDb;
use crate::pg::PgServer;
use crate::wait_for;

/// The source tables: every column type the sinks map, a composite key, and a TOASTed
/// column (`note`, stored out of line and uncompressed so unchanged values are not sent).
/// `lines` keeps the default replica identity: its updates leave `note` out (a TOAST
/// placeholder the sinks must not write). `items` changes primary keys, and a row moved
/// to a new key carries its unchanged TOASTed value only with REPLICA IDENTITY FULL (as
/// with Debezium, the value is nowhere in the WAL otherwise).
pub const SOURCE_SCHEMA: &str = "
CREATE TABLE items (
  id int PRIMARY KEY,
  name text,
  qty int NOT NULL DEFAULT 0,
  price numeric(12,3),
  ok boolean,
  t_created timestamp(6),
  t_happened timestamptz,
  t_day date,
  t_at time(6),
  data jsonb,
  tag uuid,
  raw bytea,
  score double precision,
  ratio real,
  small smallint,
  big bigint,
  tags text[],
  note text
);
ALTER TABLE items ALTER COLUMN note SET STORAGE EXTERNAL;
ALTER TABLE items REPLICA IDENTITY FULL;
CREATE TABLE lines (
  order_id int,
  line_no smallint,
  sku varchar(32) NOT NULL,
  amount numeric(10,2),
  note text,
  PRIMARY KEY (order_id, line_no)
);
ALTER TABLE lines ALTER COLUMN note SET STORAGE EXTERNAL;";

/// Columns added at the source mid-stream by [`evolve_source`].
pub const EVOLUTION: &str = "ALTER TABLE items ADD COLUMN extra varchar(20);
ALTER TABLE items ADD COLUMN level int NOT NULL DEFAULT 1;";

/// A small deterministic generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The random workload: which ids exist, so updates and deletes mostly hit rows.
#[derive(Debug, Clone)]
pub struct Workload {
    rng: Rng,
    items: Vec<i64>,
    next_item: i64,
    lines: Vec<(i64, i64)>,
    /// Whether `extra`/`level` exist at the source.
    pub evolved: bool,
    truncates: u32,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Workload {
    pub fn new(seed: u64) -> Self {
        Workload {
            rng: Rng::new(seed),
            items: Vec::new(),
            next_item: 1,
            lines: Vec::new(),
            evolved: false,
            truncates: 0,
        }
    }

    fn value(&mut self, column: &str) -> String {
        let r = &mut self.rng;
        if !["qty", "level", "sku"].contains(&column) && r.chance(8) {
            return "NULL".into();
        }
        let n = r.next_u64();
        match column {
            "name" => quote(&format!("item {} é'ü \"{}\"", n % 1000, n % 7)),
            "qty" | "level" => (n % 1000).to_string(),
            "price" => format!("{}.{:03}", n % 1_000_000, (n >> 20) % 1000),
            "ok" => (if n.is_multiple_of(2) { "true" } else { "false" }).into(),
            "t_created" => format!(
                "'{}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}'",
                1990 + n % 40,
                1 + (n >> 8) % 12,
                1 + (n >> 12) % 28,
                (n >> 16) % 24,
                (n >> 21) % 60,
                (n >> 27) % 60,
                (n >> 33) % 1_000_000
            ),
            "t_happened" => format!(
                "'{}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}{}'",
                2000 + n % 30,
                1 + (n >> 8) % 12,
                1 + (n >> 12) % 28,
                (n >> 16) % 24,
                (n >> 21) % 60,
                (n >> 27) % 60,
                (n >> 33) % 1_000_000,
                ["+00", "+02:00", "-05:30"][((n >> 53) % 3) as usize]
            ),
            "t_day" => format!(
                "'{}-{:02}-{:02}'",
                1950 + n % 90,
                1 + (n >> 8) % 12,
                1 + (n >> 12) % 28
            ),
            "t_at" => format!(
                "'{:02}:{:02}:{:02}.{:06}'",
                n % 24,
                (n >> 8) % 60,
                (n >> 16) % 60,
                (n >> 24) % 1_000_000
            ),
            "data" => format!(
                "'{{\"k\": {}, \"tags\": [\"x\", \"y{}\"], \"nested\": {{\"on\": {}}}}}'",
                n % 1000,
                (n >> 10) % 10,
                n.is_multiple_of(2)
            ),
            "tag" => format!(
                "'{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}'",
                n as u32,
                (n >> 32) as u16,
                n % 4096,
                (n >> 12) % 4096,
                n >> 16
            ),
            "raw" => {
                let len = n % 17;
                let hex: String = (0..len)
                    .map(|i| format!("{:02x}", (n >> (i % 8 * 8)) as u8 ^ i as u8))
                    .collect();
                format!("decode('{hex}', 'hex')")
            }
            "score" => format!("{}", (n % 100_000) as f64 / 8.0 - 5000.0),
            "ratio" => format!("{}", (n % 4000) as f64 / 4.0),
            "small" => ((n % 65_536) as i64 - 32_768).to_string(),
            "big" => ((n >> 1) as i64 - (1_i64 << 62)).to_string(),
            "tags" => match n % 4 {
                0 => "'{}'".into(),
                1 => "ARRAY['a', 'b c']".into(),
                2 => format!("ARRAY['t{}', NULL]", n % 50),
                _ => format!("ARRAY['x{}']", n % 9),
            },
            "note" => {
                if n.is_multiple_of(3) {
                    quote(&format!("short note {n}"))
                } else {
                    // About 6 KB, stored out of line: unchanged, it is a TOAST placeholder.
                    format!("repeat(md5('{n}'), 200)")
                }
            }
            "extra" => quote(&format!("x{}", n % 10_000)),
            "sku" => quote(&format!("SKU-{}", n % 100_000)),
            "amount" => format!("{}.{:02}", n % 100_000, (n >> 20) % 100),
            other => panic!("no generator for column {other}"),
        }
    }

    const ITEM_COLUMNS: &'static [&'static str] = &[
        "name",
        "qty",
        "price",
        "ok",
        "t_created",
        "t_happened",
        "t_day",
        "t_at",
        "data",
        "tag",
        "raw",
        "score",
        "ratio",
        "small",
        "big",
        "tags",
        "note",
    ];

    fn item_columns(&self) -> Vec<&'static str> {
        let mut columns = Self::ITEM_COLUMNS.to_vec();
        if self.evolved {
            columns.extend(["extra", "level"]);
        }
        columns
    }

    fn pick<T: Copy>(rng: &mut Rng, from: &[T]) -> Option<T> {
        (!from.is_empty()).then(|| from[rng.below(from.len() as u64) as usize])
    }

    /// One statement of the workload.
    fn statement(&mut self) -> String {
        let roll = self.rng.below(100);
        match roll {
            0..=29 => {
                let id = self.next_item;
                self.next_item += 1;
                self.items.push(id);
                let columns = self.item_columns();
                let values: Vec<String> = columns.iter().map(|c| self.value(c)).collect();
                format!(
                    "INSERT INTO items (id, {}) VALUES ({id}, {});",
                    columns.join(", "),
                    values.join(", ")
                )
            }
            30..=54 => {
                let Some(id) = Self::pick(&mut self.rng, &self.items) else {
                    return String::new();
                };
                // Most updates leave `note` alone: its TOASTed value is not sent.
                let mut sets = Vec::new();
                for c in self.item_columns() {
                    if (c == "note" && self.rng.chance(80)) || self.rng.chance(50) {
                        continue;
                    }
                    sets.push(format!("{c} = {}", self.value(c)));
                }
                if sets.is_empty() {
                    sets.push(format!("qty = {}", self.value("qty")));
                }
                format!("UPDATE items SET {} WHERE id = {id};", sets.join(", "))
            }
            55..=59 => {
                let Some(id) = Self::pick(&mut self.rng, &self.items) else {
                    return String::new();
                };
                let new_id = self.next_item;
                self.next_item += 1;
                self.items.retain(|i| *i != id);
                self.items.push(new_id);
                format!("UPDATE items SET id = {new_id} WHERE id = {id};")
            }
            60..=69 => {
                let Some(id) = Self::pick(&mut self.rng, &self.items) else {
                    return String::new();
                };
                self.items.retain(|i| *i != id);
                format!("DELETE FROM items WHERE id = {id};")
            }
            70..=84 => {
                let order = (self.rng.below(200) + 1) as i64;
                let line = self.rng.below(5) as i64 + 1;
                if !self.lines.contains(&(order, line)) {
                    self.lines.push((order, line));
                }
                let (sku, amount, note) =
                    (self.value("sku"), self.value("amount"), self.value("note"));
                format!(
                    "INSERT INTO lines VALUES ({order}, {line}, {sku}, {amount}, {note}) \
                     ON CONFLICT (order_id, line_no) DO UPDATE SET amount = EXCLUDED.amount;"
                )
            }
            85..=93 => {
                let Some((order, line)) = Self::pick(&mut self.rng, &self.lines) else {
                    return String::new();
                };
                format!(
                    "UPDATE lines SET amount = {} WHERE order_id = {order} AND line_no = {line};",
                    self.value("amount")
                )
            }
            94..=98 => {
                let Some((order, line)) = Self::pick(&mut self.rng, &self.lines) else {
                    return String::new();
                };
                self.lines.retain(|l| *l != (order, line));
                format!("DELETE FROM lines WHERE order_id = {order} AND line_no = {line};")
            }
            _ => {
                if self.truncates >= 2 {
                    return String::new();
                }
                self.truncates += 1;
                self.lines.clear();
                "TRUNCATE lines;".into()
            }
        }
    }

    /// `transactions` transactions of 1 to 4 statements each, as one psql script.
    pub fn script(&mut self, transactions: usize) -> String {
        let mut out = String::new();
        for _ in 0..transactions {
            out.push_str("BEGIN;\n");
            for _ in 0..=self.rng.below(4) {
                out.push_str(&self.statement());
                out.push('\n');
            }
            out.push_str("COMMIT;\n");
        }
        out
    }

    /// Runs `transactions` transactions against `db` at `pg`, `per_script` at a time.
    pub fn run(&mut self, pg: &PgServer, db: &str, transactions: usize) {
        let mut left = transactions;
        while left > 0 {
            let n = left.min(50);
            pg.sql_db(db, &self.script(n)).expect("workload script");
            left -= n;
        }
    }
}

/// Adds `extra` and `level` at the source.
pub fn evolve_source(pg: &PgServer, db: &str, workload: &mut Workload) {
    pg.sql_db(db, EVOLUTION).expect("alter source");
    workload.evolved = true;
}

/// A dialect's canonical projection of one table.
struct Projection {
    pg: &'static str,
    mariadb: &'static str,
}

const ITEMS: Projection = Projection {
    pg: "id::text, name, qty::text, price::text, ok::int::text, \
         to_char(t_created, 'YYYY-MM-DD HH24:MI:SS.US'), \
         to_char(t_happened AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), \
         to_char(t_day, 'YYYY-MM-DD'), to_char('2000-01-01'::date + t_at, 'HH24:MI:SS.US'), \
         data::text, tag::text, encode(raw, 'hex'), score::text, ratio::text, small::text, \
         big::text, array_to_json(tags)::text, md5(note)",
    mariadb: "CAST(id AS CHAR), name, CAST(qty AS CHAR), CAST(price AS CHAR), CAST(ok AS CHAR), \
         DATE_FORMAT(t_created, '%Y-%m-%d %H:%i:%s.%f'), \
         DATE_FORMAT(t_happened, '%Y-%m-%d %H:%i:%s.%f'), \
         DATE_FORMAT(t_day, '%Y-%m-%d'), TIME_FORMAT(t_at, '%H:%i:%s.%f'), \
         data, tag, LOWER(HEX(raw)), CAST(score AS CHAR), CAST(ratio AS CHAR), \
         CAST(small AS CHAR), CAST(big AS CHAR), tags, MD5(note)",
};
const ITEMS_EXTRA: Projection = Projection {
    pg: ", extra, level::text",
    mariadb: ", extra, CAST(level AS CHAR)",
};
const LINES: Projection = Projection {
    pg: "order_id::text, line_no::text, sku, amount::text, md5(note)",
    mariadb: "CAST(order_id AS CHAR), CAST(line_no AS CHAR), sku, CAST(amount AS CHAR), MD5(note)",
};

/// Rows of a table in canonical text.
pub type Rows = Vec<Vec<Option<String>>>;

/// `items` and `lines` of a PostgreSQL database (source or copy), in key order (of the
/// table's columns: PostgreSQL's `ORDER BY id` would sort the `id::text` output); `table`
/// maps the source name to the copy's.
pub fn pg_tables(
    pg: &PgServer,
    db: &str,
    evolved: bool,
    table: impl Fn(&str) -> String,
) -> anyhow::Result<(Rows, Rows)> {
    let extra = if evolved { ITEMS_EXTRA.pg } else { "" };
    let items = pg.sql_db(
        db,
        &format!(
            "SELECT {}{extra} FROM {} AS t ORDER BY t.id",
            ITEMS.pg,
            table("items")
        ),
    )?;
    let lines = pg.sql_db(
        db,
        &format!(
            "SELECT {} FROM {} AS t ORDER BY t.order_id, t.line_no",
            LINES.pg,
            table("lines")
        ),
    )?;
    Ok((items, lines))
}

/// `items` and `lines` of a MariaDB database, as [`pg_tables`] reads PostgreSQL's.
pub fn mariadb_tables(db: &MariaDb, database: &str, evolved: bool) -> anyhow::Result<(Rows, Rows)> {
    let extra = if evolved { ITEMS_EXTRA.mariadb } else { "" };
    let items = db.sql(
        database,
        &format!(
            "SELECT {}{extra} FROM `items` AS t ORDER BY t.id",
            ITEMS.mariadb
        ),
    )?;
    let lines = db.sql(
        database,
        &format!(
            "SELECT {} FROM `lines` AS t ORDER BY t.order_id, t.line_no",
            LINES.mariadb
        ),
    )?;
    Ok((items, lines))
}

/// Where two table copies first differ (for failure messages).
pub fn first_difference(a: &Rows, b: &Rows) -> String {
    if let Some(i) = (0..a.len().min(b.len())).find(|&i| a[i] != b[i]) {
        return format!("row {i}: {:?}\n  vs {:?}", a[i], b[i]);
    }
    format!("{} rows vs {} rows", a.len(), b.len())
}

/// Waits until `copy` reads the same as `source` (both re-read on every try).
pub fn wait_equal(
    what: &str,
    timeout: Duration,
    source: impl Fn() -> (Rows, Rows),
    copy: impl Fn() -> anyhow::Result<(Rows, Rows)>,
    context: impl Fn() -> String,
) {
    let last = std::cell::RefCell::new(String::new());
    let mut done = false;
    wait_for(
        what,
        timeout,
        || {
            let expected = source();
            match copy() {
                Ok(actual) if actual == expected => {
                    done = true;
                    true
                }
                Ok(actual) => {
                    *last.borrow_mut() = format!(
                        "items: {}\nlines: {}",
                        first_difference(&expected.0, &actual.0),
                        first_difference(&expected.1, &actual.1)
                    );
                    false
                }
                Err(e) => {
                    *last.borrow_mut() = format!("cannot read the copy: {e}");
                    false
                }
            }
        },
        || format!("{}\n{}", last.borrow(), context()),
    );
    assert!(done);
}
