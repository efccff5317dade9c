//! The type registry: every `pg_type` row the connector may meet, with domains resolved to
//! their base type and arrays to their element type, as Debezium's `TypeRegistry` keeps them.

use std::collections::HashMap;

use super::SchemaError;
use super::array::parse_array;

/// Built-in type OIDs (`pg_type.oid`, stable across Postgres versions).
pub mod oid {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const CHAR: u32 = 18;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const OID: u32 = 26;
    pub const JSON: u32 = 114;
    pub const XML: u32 = 142;
    pub const POINT: u32 = 600;
    pub const CIDR: u32 = 650;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const MACADDR8: u32 = 774;
    pub const MONEY: u32 = 790;
    pub const MACADDR: u32 = 829;
    pub const INET: u32 = 869;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIME: u32 = 1083;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const INTERVAL: u32 = 1186;
    pub const TIMETZ: u32 = 1266;
    pub const BIT: u32 = 1560;
    pub const VARBIT: u32 = 1562;
    pub const NUMERIC: u32 = 1700;
    pub const REFCURSOR: u32 = 1790;
    pub const UUID: u32 = 2950;
    pub const TSVECTOR: u32 = 3614;
    pub const JSONB: u32 = 3802;
    pub const INT4RANGE: u32 = 3904;
    pub const NUMRANGE: u32 = 3906;
    pub const TSRANGE: u32 = 3908;
    pub const TSTZRANGE: u32 = 3910;
    pub const DATERANGE: u32 = 3912;
    pub const INT8RANGE: u32 = 3926;
    // arrays
    pub const BOOL_ARRAY: u32 = 1000;
    pub const BYTEA_ARRAY: u32 = 1001;
    pub const CHAR_ARRAY: u32 = 1002;
    pub const NAME_ARRAY: u32 = 1003;
    pub const INT2_ARRAY: u32 = 1005;
    pub const INT4_ARRAY: u32 = 1007;
    pub const TEXT_ARRAY: u32 = 1009;
    pub const BPCHAR_ARRAY: u32 = 1014;
    pub const VARCHAR_ARRAY: u32 = 1015;
    pub const INT8_ARRAY: u32 = 1016;
    pub const POINT_ARRAY: u32 = 1017;
    pub const FLOAT4_ARRAY: u32 = 1021;
    pub const FLOAT8_ARRAY: u32 = 1022;
    pub const OID_ARRAY: u32 = 1028;
    pub const MONEY_ARRAY: u32 = 791;
    pub const XML_ARRAY: u32 = 143;
    pub const JSON_ARRAY: u32 = 199;
    pub const CIDR_ARRAY: u32 = 651;
    pub const MACADDR8_ARRAY: u32 = 775;
    pub const MACADDR_ARRAY: u32 = 1040;
    pub const INET_ARRAY: u32 = 1041;
    pub const DATE_ARRAY: u32 = 1182;
    pub const TIME_ARRAY: u32 = 1183;
    pub const TIMESTAMP_ARRAY: u32 = 1115;
    pub const TIMESTAMPTZ_ARRAY: u32 = 1185;
    pub const INTERVAL_ARRAY: u32 = 1187;
    pub const NUMERIC_ARRAY: u32 = 1231;
    pub const TIMETZ_ARRAY: u32 = 1270;
    pub const BIT_ARRAY: u32 = 1561;
    pub const VARBIT_ARRAY: u32 = 1563;
    pub const REFCURSOR_ARRAY: u32 = 2201;
    pub const UUID_ARRAY: u32 = 2951;
    pub const JSONB_ARRAY: u32 = 3807;
    pub const INT4RANGE_ARRAY: u32 = 3905;
    pub const NUMRANGE_ARRAY: u32 = 3907;
    pub const TSRANGE_ARRAY: u32 = 3909;
    pub const TSTZRANGE_ARRAY: u32 = 3911;
    pub const DATERANGE_ARRAY: u32 = 3913;
    pub const INT8RANGE_ARRAY: u32 = 3927;
}

/// What kind of type a `pg_type` row is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeKind {
    /// A base (or pseudo/range/composite) type handled by its OID or name.
    Base,
    /// An enum, with its labels in catalog order (Debezium's `allowed` list).
    Enum(Vec<String>),
    /// A domain over `base` (itself possibly a domain), with the domain's own type modifier.
    Domain { base: u32, typmod: i32 },
    /// An array of `element`.
    Array { element: u32 },
}

/// One `pg_type` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgType {
    pub oid: u32,
    pub name: String,
    pub namespace: String,
    /// `typtype`: b base, c composite, d domain, e enum, p pseudo, r range, m multirange.
    pub typtype: char,
    pub kind: TypeKind,
}

/// All types of a database by OID, plus the OIDs of the extension types Debezium knows by
/// name (citext, hstore, ltree, isbn and their arrays).
#[derive(Debug, Clone, Default)]
pub struct TypeRegistry {
    by_oid: HashMap<u32, PgType>,
    by_name: HashMap<String, u32>,
}

impl TypeRegistry {
    /// One query returning every type as text columns, in this order: oid, typname,
    /// namespace, typtype, typcategory, typbasetype, typtypmod, typelem, enum labels (an
    /// array literal, NULL for non-enums). Labels are aggregated as Debezium does (catalog
    /// order of `pg_enum`).
    pub const LOAD_SQL: &'static str = "SELECT t.oid::text, t.typname::text, n.nspname::text, \
         t.typtype::text, t.typcategory::text, t.typbasetype::text, t.typtypmod::text, \
         t.typelem::text, e.labels::text \
         FROM pg_catalog.pg_type t \
         JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid \
         LEFT JOIN (SELECT enumtypid, array_agg(enumlabel) AS labels \
                    FROM pg_catalog.pg_enum GROUP BY enumtypid) e ON e.enumtypid = t.oid \
         WHERE n.nspname <> 'pg_toast'";

    /// Builds the registry from the rows of [`TypeRegistry::LOAD_SQL`].
    pub fn from_rows(rows: &[Vec<Option<String>>]) -> Result<Self, SchemaError> {
        let mut reg = TypeRegistry::default();
        for (i, row) in rows.iter().enumerate() {
            let col = |c: usize| -> Result<&str, SchemaError> {
                row.get(c).and_then(|v| v.as_deref()).ok_or_else(|| {
                    SchemaError::Catalog(format!("pg_type row {i} has no value in column {c}"))
                })
            };
            let num = |c: usize| -> Result<i64, SchemaError> {
                let s = col(c)?;
                s.parse::<i64>().map_err(|_| {
                    SchemaError::Catalog(format!("pg_type row {i} column {c} is not a number: {s}"))
                })
            };
            let oid = num(0)? as u32;
            let typtype = col(3)?.chars().next().unwrap_or('b');
            let category = col(4)?.chars().next().unwrap_or('U');
            let base = num(5)? as u32;
            let typmod = num(6)? as i32;
            let elem = num(7)? as u32;
            let kind = if category == 'E' || typtype == 'e' {
                let labels = match row.get(8).and_then(|v| v.as_deref()) {
                    Some(text) => parse_array(text)
                        .map_err(|e| {
                            SchemaError::Catalog(format!("enum labels of type {oid}: {e}"))
                        })?
                        .into_iter()
                        .flatten()
                        .collect(),
                    None => Vec::new(),
                };
                TypeKind::Enum(labels)
            } else if base != 0 {
                TypeKind::Domain { base, typmod }
            } else if category == 'A' && elem != 0 {
                TypeKind::Array { element: elem }
            } else {
                TypeKind::Base
            };
            reg.add(PgType {
                oid,
                name: col(1)?.to_string(),
                namespace: col(2)?.to_string(),
                typtype,
                kind,
            });
        }
        Ok(reg)
    }

    /// The built-in types (no extensions, enums or domains), for tests without a catalog.
    pub fn builtin() -> Self {
        use oid::*;
        let mut reg = TypeRegistry::default();
        let base: &[(u32, &str)] = &[
            (BOOL, "bool"),
            (BYTEA, "bytea"),
            (CHAR, "char"),
            (NAME, "name"),
            (INT8, "int8"),
            (INT2, "int2"),
            (INT4, "int4"),
            (TEXT, "text"),
            (OID, "oid"),
            (JSON, "json"),
            (XML, "xml"),
            (POINT, "point"),
            (CIDR, "cidr"),
            (FLOAT4, "float4"),
            (FLOAT8, "float8"),
            (MACADDR8, "macaddr8"),
            (MONEY, "money"),
            (MACADDR, "macaddr"),
            (INET, "inet"),
            (BPCHAR, "bpchar"),
            (VARCHAR, "varchar"),
            (DATE, "date"),
            (TIME, "time"),
            (TIMESTAMP, "timestamp"),
            (TIMESTAMPTZ, "timestamptz"),
            (INTERVAL, "interval"),
            (TIMETZ, "timetz"),
            (BIT, "bit"),
            (VARBIT, "varbit"),
            (NUMERIC, "numeric"),
            (REFCURSOR, "refcursor"),
            (UUID, "uuid"),
            (TSVECTOR, "tsvector"),
            (JSONB, "jsonb"),
            (INT4RANGE, "int4range"),
            (NUMRANGE, "numrange"),
            (TSRANGE, "tsrange"),
            (TSTZRANGE, "tstzrange"),
            (DATERANGE, "daterange"),
            (INT8RANGE, "int8range"),
            (603, "box"),
            (718, "circle"),
            (3220, "pg_lsn"),
        ];
        let arrays: &[(u32, u32)] = &[
            (BOOL_ARRAY, BOOL),
            (BYTEA_ARRAY, BYTEA),
            (CHAR_ARRAY, CHAR),
            (NAME_ARRAY, NAME),
            (INT2_ARRAY, INT2),
            (INT4_ARRAY, INT4),
            (TEXT_ARRAY, TEXT),
            (BPCHAR_ARRAY, BPCHAR),
            (VARCHAR_ARRAY, VARCHAR),
            (INT8_ARRAY, INT8),
            (POINT_ARRAY, POINT),
            (FLOAT4_ARRAY, FLOAT4),
            (FLOAT8_ARRAY, FLOAT8),
            (OID_ARRAY, OID),
            (MONEY_ARRAY, MONEY),
            (XML_ARRAY, XML),
            (JSON_ARRAY, JSON),
            (CIDR_ARRAY, CIDR),
            (MACADDR8_ARRAY, MACADDR8),
            (MACADDR_ARRAY, MACADDR),
            (INET_ARRAY, INET),
            (DATE_ARRAY, DATE),
            (TIME_ARRAY, TIME),
            (TIMESTAMP_ARRAY, TIMESTAMP),
            (TIMESTAMPTZ_ARRAY, TIMESTAMPTZ),
            (INTERVAL_ARRAY, INTERVAL),
            (NUMERIC_ARRAY, NUMERIC),
            (TIMETZ_ARRAY, TIMETZ),
            (BIT_ARRAY, BIT),
            (VARBIT_ARRAY, VARBIT),
            (REFCURSOR_ARRAY, REFCURSOR),
            (UUID_ARRAY, UUID),
            (JSONB_ARRAY, JSONB),
            (INT4RANGE_ARRAY, INT4RANGE),
            (NUMRANGE_ARRAY, NUMRANGE),
            (TSRANGE_ARRAY, TSRANGE),
            (TSTZRANGE_ARRAY, TSTZRANGE),
            (DATERANGE_ARRAY, DATERANGE),
            (INT8RANGE_ARRAY, INT8RANGE),
        ];
        for (oid, name) in base {
            reg.add(PgType {
                oid: *oid,
                name: (*name).to_string(),
                namespace: "pg_catalog".into(),
                typtype: 'b',
                kind: TypeKind::Base,
            });
        }
        for (oid, elem) in arrays {
            let name = format!(
                "_{}",
                reg.get(*elem).map(|t| t.name.as_str()).unwrap_or("?")
            );
            reg.add(PgType {
                oid: *oid,
                name,
                namespace: "pg_catalog".into(),
                typtype: 'b',
                kind: TypeKind::Array { element: *elem },
            });
        }
        reg
    }

    /// Adds (or replaces) one type; the first type seen with a name keeps the name, as in
    /// Debezium, except that extension types found later still register their OID.
    pub fn add(&mut self, t: PgType) {
        self.by_name.entry(t.name.clone()).or_insert(t.oid);
        if matches!(
            t.name.as_str(),
            "citext" | "hstore" | "ltree" | "isbn" | "_citext" | "_hstore" | "_ltree"
        ) {
            self.by_name.insert(t.name.clone(), t.oid);
        }
        self.by_oid.insert(t.oid, t);
    }

    /// The type with `oid`.
    pub fn get(&self, oid: u32) -> Option<&PgType> {
        self.by_oid.get(&oid)
    }

    /// The OID of the type called `name` (the first registered with that name).
    pub fn oid_of(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// Whether `oid` is the extension type Debezium recognises by `name` (`citext`, ...).
    pub(crate) fn is_named(&self, oid: u32, name: &str) -> bool {
        self.oid_of(name) == Some(oid)
    }

    /// Follows domains down to the root type; returns the root OID and the first type
    /// modifier found on the way (the column's own when it has one).
    pub fn resolve(&self, oid: u32, typmod: i32) -> (u32, i32) {
        let mut cur = oid;
        let mut modifier = typmod;
        for _ in 0..32 {
            match self.get(cur).map(|t| &t.kind) {
                Some(TypeKind::Domain { base, typmod: m }) => {
                    if modifier == -1 {
                        modifier = *m;
                    }
                    cur = *base;
                }
                _ => break,
            }
        }
        (cur, modifier)
    }
}

/// pgjdbc's `TypeInfoCache.getPrecision` (arrays use their element OID).
pub(crate) fn jdbc_precision(oid: u32, typmod: i32) -> i32 {
    use oid::*;
    const UNKNOWN: i32 = i32::MAX;
    match oid {
        INT2 => 5,
        OID | INT4 => 10,
        INT8 => 19,
        FLOAT4 => 8,
        FLOAT8 => 17,
        NUMERIC => {
            if typmod == -1 {
                0
            } else {
                (((typmod - 4) as u32 & 0xFFFF_0000) >> 16) as i32
            }
        }
        CHAR | BOOL => 1,
        BPCHAR | VARCHAR => {
            if typmod == -1 {
                UNKNOWN
            } else {
                typmod - 4
            }
        }
        DATE | TIME | TIMETZ | INTERVAL | TIMESTAMP | TIMESTAMPTZ => jdbc_display_size(oid, typmod),
        BIT => typmod,
        VARBIT => {
            if typmod == -1 {
                UNKNOWN
            } else {
                typmod
            }
        }
        _ => UNKNOWN,
    }
}

/// pgjdbc's `TypeInfoCache.getDisplaySize`.
pub(crate) fn jdbc_display_size(oid: u32, typmod: i32) -> i32 {
    use oid::*;
    const UNKNOWN: i32 = i32::MAX;
    match oid {
        INT2 => 6,
        INT4 => 11,
        OID => 10,
        INT8 => 20,
        FLOAT4 => 15,
        FLOAT8 => 25,
        CHAR | BOOL => 1,
        DATE => 13,
        TIME | TIMETZ | TIMESTAMP | TIMESTAMPTZ => {
            let second = match typmod {
                -1 => 7,
                0 => 0,
                1 => 3,
                n => n + 1,
            };
            match oid {
                TIME => 8 + second,
                TIMETZ => 8 + second + 6,
                TIMESTAMP => 22 + second,
                _ => 28 + second,
            }
        }
        INTERVAL => 49,
        VARCHAR | BPCHAR => {
            if typmod == -1 {
                UNKNOWN
            } else {
                typmod - 4
            }
        }
        NUMERIC => {
            if typmod == -1 {
                131_089
            } else {
                let precision = ((typmod - 4) >> 16) & 0xffff;
                let scale = (typmod - 4) & 0xffff;
                1 + precision + i32::from(scale != 0)
            }
        }
        BIT => typmod,
        VARBIT => {
            if typmod == -1 {
                UNKNOWN
            } else {
                typmod
            }
        }
        _ => UNKNOWN,
    }
}

/// pgjdbc's `TypeInfoCache.getScale`.
pub(crate) fn jdbc_scale(oid: u32, typmod: i32) -> i32 {
    use oid::*;
    match oid {
        FLOAT4 => 8,
        FLOAT8 => 17,
        NUMERIC => {
            if typmod == -1 {
                0
            } else {
                (typmod - 4) & 0xFFFF
            }
        }
        TIME | TIMETZ | TIMESTAMP | TIMESTAMPTZ => {
            if typmod == -1 {
                6
            } else {
                typmod
            }
        }
        INTERVAL => {
            if typmod == -1 {
                6
            } else {
                typmod & 0xFFFF
            }
        }
        _ => 0,
    }
}

/// A column's (length, scale) as Debezium's pgoutput decoder computes them
/// (`ColumnMetaData`): the precision for a type modifier, else the default length
/// (precision, or display size when the precision is 0).
pub(crate) fn length_and_scale(oid: u32, typmod: i32) -> (i32, i32) {
    let length = if typmod != -1 {
        jdbc_precision(oid, typmod)
    } else {
        match jdbc_precision(oid, -1) {
            0 => jdbc_display_size(oid, -1),
            n => n,
        }
    };
    (length, jdbc_scale(oid, typmod))
}
