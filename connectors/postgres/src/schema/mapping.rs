//! Debezium's choice of Connect schema (and of converter) per Postgres column type
//! (`PostgresValueConverter.schemaBuilder` with the JDBC fallbacks of
//! `JdbcValueConverters`).

use weir_connect_api::SchemaBuilder;
use weir_connect_api::schema::logical;

use super::options::{
    BinaryMode, DecimalMode, HstoreMode, IntervalMode, TimePrecisionMode, ValueOptions,
};
use super::types::{TypeKind, TypeRegistry, length_and_scale, oid};

/// How a column's text turns into a value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Conv {
    Bool,
    /// `bit(1)`: `0`/`1` to a boolean.
    Bit,
    /// `bit(n>1)` / `varbit`: little-endian bytes.
    Bits,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Numeric {
        mode: DecimalMode,
        /// The column scale (always applied unless `variable`).
        scale: i32,
        /// numeric without type modifier, in precise mode: VariableScaleDecimal.
        variable: bool,
        /// Debezium sets the column scale unless the length is pgjdbc's 131089 (no typmod).
        rescale: bool,
    },
    Money {
        mode: DecimalMode,
        digits: u32,
    },
    Text,
    /// bytea (`\x...`) in a binary mode.
    Binary(BinaryMode),
    /// An unknown type's text as bytes (`include.unknown.datatypes`).
    Unknown(BinaryMode),
    Date(TimePrecisionMode),
    Time(TimeUnit),
    TimeTz,
    Timestamp(TimeUnit),
    TimestampTz {
        width: Option<u32>,
    },
    Interval(IntervalMode),
    Point,
    Hstore(HstoreMode),
    Array {
        elem: Box<Conv>,
        /// pgjdbc reads time/timetz array elements as `java.sql.Time`: milliseconds only.
        millis_only: bool,
    },
}

/// The unit of a time or timestamp value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeUnit {
    Millis,
    Micros,
    Nanos,
    Iso,
}

fn named_string(name: &str) -> SchemaBuilder {
    SchemaBuilder::string().name(name).version(1)
}

pub(crate) fn binary_schema(mode: BinaryMode) -> SchemaBuilder {
    match mode {
        BinaryMode::Bytes => SchemaBuilder::bytes(),
        _ => SchemaBuilder::string(),
    }
}

/// `io.debezium.data.VariableScaleDecimal`.
pub(crate) fn variable_scale_decimal() -> SchemaBuilder {
    SchemaBuilder::structure()
        .name("io.debezium.data.VariableScaleDecimal")
        .version(1)
        .doc("Variable scaled decimal")
        .field("scale", SchemaBuilder::int32().build())
        .field("value", SchemaBuilder::bytes().build())
}

/// `io.debezium.data.geometry.Point`.
pub(crate) fn point_schema() -> SchemaBuilder {
    SchemaBuilder::structure()
        .name("io.debezium.data.geometry.Point")
        .version(1)
        .doc("Geometry (POINT)")
        .field("x", SchemaBuilder::float64().build())
        .field("y", SchemaBuilder::float64().build())
        .field("wkb", SchemaBuilder::bytes().optional().build())
        .field("srid", SchemaBuilder::int32().optional().build())
}

/// `io.debezium.data.Enum` with its `allowed` list.
pub(crate) fn enum_schema(allowed: &str) -> SchemaBuilder {
    named_string("io.debezium.data.Enum").parameter("allowed", allowed)
}

fn numeric(opts: &ValueOptions, length: i32, scale: i32) -> (SchemaBuilder, Conv) {
    let variable = (length == 0 || length == 131_089) && scale == 0;
    let mode = opts.decimal_handling;
    let schema = match mode {
        DecimalMode::Precise if variable => variable_scale_decimal(),
        DecimalMode::Precise => logical::decimal(scale.max(0) as u32)
            .parameter("connect.decimal.precision", length.to_string()),
        DecimalMode::Double => SchemaBuilder::float64(),
        DecimalMode::String => SchemaBuilder::string(),
    };
    let conv = Conv::Numeric {
        mode,
        scale,
        variable: variable && mode == DecimalMode::Precise,
        rescale: length != 131_089,
    };
    (schema, conv)
}

fn hstore(opts: &ValueOptions) -> (SchemaBuilder, Conv) {
    let schema = match opts.hstore_handling {
        HstoreMode::Json => named_string("io.debezium.data.Json"),
        HstoreMode::Map => SchemaBuilder::map(
            SchemaBuilder::string().build(),
            SchemaBuilder::string().optional().build(),
        ),
    };
    (schema, Conv::Hstore(opts.hstore_handling))
}

fn date(opts: &ValueOptions) -> SchemaBuilder {
    match opts.time_precision {
        TimePrecisionMode::Connect => logical::date(),
        TimePrecisionMode::IsoString => named_string("io.debezium.time.IsoDate"),
        _ => SchemaBuilder::int32()
            .name("io.debezium.time.Date")
            .version(1),
    }
}

fn time(opts: &ValueOptions, precision: i32) -> (SchemaBuilder, TimeUnit) {
    let millis = || {
        (
            SchemaBuilder::int32()
                .name("io.debezium.time.Time")
                .version(1),
            TimeUnit::Millis,
        )
    };
    let micros = || {
        (
            SchemaBuilder::int64()
                .name("io.debezium.time.MicroTime")
                .version(1),
            TimeUnit::Micros,
        )
    };
    let nanos = || {
        (
            SchemaBuilder::int64()
                .name("io.debezium.time.NanoTime")
                .version(1),
            TimeUnit::Nanos,
        )
    };
    match opts.time_precision {
        TimePrecisionMode::Adaptive if precision <= 3 => millis(),
        TimePrecisionMode::Adaptive if precision <= 6 => micros(),
        TimePrecisionMode::Adaptive => nanos(),
        TimePrecisionMode::AdaptiveTimeMicroseconds | TimePrecisionMode::Microseconds => micros(),
        TimePrecisionMode::Nanoseconds => nanos(),
        TimePrecisionMode::Connect => (logical::time(), TimeUnit::Millis),
        TimePrecisionMode::IsoString => (named_string("io.debezium.time.IsoTime"), TimeUnit::Iso),
    }
}

fn timestamp(opts: &ValueOptions, precision: i32) -> (SchemaBuilder, TimeUnit) {
    let millis = || {
        (
            SchemaBuilder::int64()
                .name("io.debezium.time.Timestamp")
                .version(1),
            TimeUnit::Millis,
        )
    };
    let micros = || {
        (
            SchemaBuilder::int64()
                .name("io.debezium.time.MicroTimestamp")
                .version(1),
            TimeUnit::Micros,
        )
    };
    let nanos = || {
        (
            SchemaBuilder::int64()
                .name("io.debezium.time.NanoTimestamp")
                .version(1),
            TimeUnit::Nanos,
        )
    };
    match opts.time_precision {
        TimePrecisionMode::Adaptive | TimePrecisionMode::AdaptiveTimeMicroseconds => {
            if precision <= 3 {
                millis()
            } else if precision <= 6 {
                micros()
            } else {
                nanos()
            }
        }
        TimePrecisionMode::Microseconds => micros(),
        TimePrecisionMode::Nanoseconds => nanos(),
        TimePrecisionMode::Connect => (logical::timestamp(), TimeUnit::Millis),
        TimePrecisionMode::IsoString => {
            (named_string("io.debezium.time.IsoTimestamp"), TimeUnit::Iso)
        }
    }
}

fn unknown(opts: &ValueOptions) -> Option<(SchemaBuilder, Conv)> {
    opts.include_unknown_datatypes.then(|| {
        (
            binary_schema(opts.binary_handling),
            Conv::Unknown(opts.binary_handling),
        )
    })
}

fn array_of(
    elem: Option<(SchemaBuilder, Conv)>,
    optional_elements: bool,
    millis_only: bool,
) -> Option<(SchemaBuilder, Conv)> {
    let (schema, conv) = elem?;
    let schema = if optional_elements {
        schema.optional()
    } else {
        schema
    };
    Some((
        SchemaBuilder::array(schema.build()),
        Conv::Array {
            elem: Box::new(conv),
            millis_only,
        },
    ))
}

/// The schema (without optionality) and converter of a column of type `type_oid` with
/// `typmod`; `None` when Debezium drops the column (unknown types without
/// `include.unknown.datatypes`, and the array types it leaves unsupported).
pub(crate) fn map_column(
    types: &TypeRegistry,
    opts: &ValueOptions,
    type_oid: u32,
    typmod: i32,
) -> Option<(SchemaBuilder, Conv)> {
    // Domains are replaced by their root type (Debezium's `nativeType`).
    let (root, typmod) = types.resolve(type_oid, typmod);
    map_native(types, opts, root, typmod)
}

fn map_native(
    types: &TypeRegistry,
    opts: &ValueOptions,
    native: u32,
    typmod: i32,
) -> Option<(SchemaBuilder, Conv)> {
    use oid::*;
    let base_of_array = match types.get(native).map(|t| &t.kind) {
        Some(TypeKind::Array { element }) => *element,
        _ => native,
    };
    let (length, scale) = length_and_scale(base_of_array, typmod);
    let string = || Some((SchemaBuilder::string(), Conv::Text));
    let elem = |e: u32| map_native(types, opts, e, typmod);
    match native {
        BIT | VARBIT => Some(if length > 1 {
            (
                SchemaBuilder::bytes()
                    .name("io.debezium.data.Bits")
                    .version(1)
                    .parameter("length", length.to_string()),
                Conv::Bits,
            )
        } else {
            (SchemaBuilder::boolean(), Conv::Bit)
        }),
        BOOL => Some((SchemaBuilder::boolean(), Conv::Bool)),
        INTERVAL => Some(match opts.interval_handling {
            IntervalMode::String => (
                named_string("io.debezium.time.Interval"),
                Conv::Interval(IntervalMode::String),
            ),
            IntervalMode::Numeric => (
                SchemaBuilder::int64()
                    .name("io.debezium.time.MicroDuration")
                    .version(1),
                Conv::Interval(IntervalMode::Numeric),
            ),
        }),
        TIMESTAMPTZ => Some((
            named_string("io.debezium.time.ZonedTimestamp"),
            Conv::TimestampTz {
                width: (1..=9).contains(&scale).then_some(scale as u32),
            },
        )),
        TIMETZ => Some((named_string("io.debezium.time.ZonedTime"), Conv::TimeTz)),
        OID | INT8 => Some((SchemaBuilder::int64(), Conv::Int64)),
        INT2 => Some((SchemaBuilder::int16(), Conv::Int16)),
        INT4 => Some((SchemaBuilder::int32(), Conv::Int32)),
        FLOAT4 => Some((SchemaBuilder::float32(), Conv::Float32)),
        FLOAT8 => Some((SchemaBuilder::float64(), Conv::Float64)),
        JSON | JSONB => Some((named_string("io.debezium.data.Json"), Conv::Text)),
        XML => Some((named_string("io.debezium.data.Xml"), Conv::Text)),
        UUID => Some((named_string("io.debezium.data.Uuid"), Conv::Text)),
        TSRANGE | TSTZRANGE | DATERANGE | INET | CIDR | MACADDR | MACADDR8 | INT4RANGE
        | NUMRANGE | INT8RANGE | BPCHAR | CHAR | NAME | TEXT | VARCHAR => string(),
        POINT => Some((point_schema(), Conv::Point)),
        MONEY => Some((
            match opts.decimal_handling {
                DecimalMode::Double => SchemaBuilder::float64(),
                DecimalMode::Precise => logical::decimal(opts.money_fraction_digits),
                DecimalMode::String => SchemaBuilder::string(),
            },
            Conv::Money {
                mode: opts.decimal_handling,
                digits: opts.money_fraction_digits,
            },
        )),
        NUMERIC => Some(numeric(opts, length, scale)),
        BYTEA => Some((
            binary_schema(opts.binary_handling),
            Conv::Binary(opts.binary_handling),
        )),
        DATE => Some((date(opts), Conv::Date(opts.time_precision))),
        TIME => {
            let (s, unit) = time(opts, scale);
            Some((s, Conv::Time(unit)))
        }
        TIMESTAMP => {
            let (s, unit) = timestamp(opts, scale);
            Some((s, Conv::Timestamp(unit)))
        }
        // Arrays Debezium maps explicitly: optional elements of the element mapping.
        INT2_ARRAY | INT4_ARRAY | INT8_ARRAY | OID_ARRAY | CHAR_ARRAY | VARCHAR_ARRAY
        | TEXT_ARRAY | BPCHAR_ARRAY | INET_ARRAY | CIDR_ARRAY | MACADDR_ARRAY | MACADDR8_ARRAY
        | TSRANGE_ARRAY | TSTZRANGE_ARRAY | DATERANGE_ARRAY | INT4RANGE_ARRAY | NUMRANGE_ARRAY
        | INT8RANGE_ARRAY | NUMERIC_ARRAY | FLOAT4_ARRAY | FLOAT8_ARRAY | BOOL_ARRAY
        | DATE_ARRAY | UUID_ARRAY | JSONB_ARRAY | JSON_ARRAY | TIME_ARRAY | TIMETZ_ARRAY
        | TIMESTAMP_ARRAY | TIMESTAMPTZ_ARRAY | BYTEA_ARRAY => array_of(
            elem(base_of_array),
            true,
            matches!(native, TIME_ARRAY | TIMETZ_ARRAY),
        ),
        // Arrays Debezium leaves without schema (dropped), and bit[] whose schema and value
        // disagree in Debezium 3.0.
        MONEY_ARRAY | NAME_ARRAY | INTERVAL_ARRAY | VARBIT_ARRAY | XML_ARRAY | POINT_ARRAY
        | REFCURSOR_ARRAY | BIT_ARRAY => None,
        _ => map_other(types, opts, native, typmod),
    }
}

fn map_other(
    types: &TypeRegistry,
    opts: &ValueOptions,
    native: u32,
    typmod: i32,
) -> Option<(SchemaBuilder, Conv)> {
    if types.is_named(native, "citext") || types.is_named(native, "isbn") {
        return Some((SchemaBuilder::string(), Conv::Text));
    }
    if types.is_named(native, "hstore") {
        return Some(hstore(opts));
    }
    if types.is_named(native, "ltree") {
        return Some((named_string("io.debezium.data.Ltree"), Conv::Text));
    }
    if types.is_named(native, "_citext") {
        return array_of(Some((SchemaBuilder::string(), Conv::Text)), true, false);
    }
    if types.is_named(native, "_hstore") {
        return array_of(Some(hstore(opts)), true, false);
    }
    if types.is_named(native, "_ltree") {
        return array_of(
            Some((named_string("io.debezium.data.Ltree"), Conv::Text)),
            true,
            false,
        );
    }
    match types.get(native).map(|t| &t.kind) {
        Some(TypeKind::Enum(labels)) => Some((enum_schema(&labels.join(",")), Conv::Text)),
        Some(TypeKind::Array { element }) => {
            // Element schemas here are not made optional (Debezium's generic array path);
            // domain elements are not resolved, so they count as unknown.
            if let Some(TypeKind::Enum(labels)) = types.get(*element).map(|t| &t.kind) {
                return array_of(
                    Some((enum_schema(&labels.join(",")), Conv::Text)),
                    false,
                    false,
                );
            }
            let elem = match types.get(*element).map(|t| &t.kind) {
                Some(TypeKind::Domain { .. }) | None => unknown(opts),
                _ => map_native(types, opts, *element, typmod),
            };
            array_of(elem, false, false)
        }
        _ => unknown(opts),
    }
}
