//! ParquetFormat read back with the parquet crate: the layout parquet-avro writes, values,
//! nulls, and logical types.

use super::*;
use crate::spool::Budget;
use parquet::file::reader::{FileReader, SerializedFileReader};
use weir_connect_api::{SchemaBuilder, Struct};

/// The file's schema as Parquet prints it, and its rows.
fn read_back(spool: Spool) -> (String, Vec<String>) {
    let mut parts = spool.into_parts(usize::MAX).expect("parts");
    let bytes = parts.next_part().expect("read").unwrap_or_default();
    let reader = SerializedFileReader::new(bytes).expect("a Parquet file");
    let mut schema = Vec::new();
    parquet::schema::printer::print_schema(&mut schema, reader.metadata().file_metadata().schema());
    let rows = reader
        .get_row_iter(None)
        .expect("rows")
        .map(|r| r.expect("row").to_string())
        .collect();
    (String::from_utf8(schema).expect("utf-8"), rows)
}

#[test]
fn structs_arrays_maps_and_nulls_round_trip() {
    let tags = SchemaBuilder::array(SchemaBuilder::string().build())
        .optional()
        .build();
    let attrs = SchemaBuilder::map(
        SchemaBuilder::string().build(),
        SchemaBuilder::int32().build(),
    )
    .build();
    let inner = SchemaBuilder::structure()
        .field("x", SchemaBuilder::int64().build())
        .optional()
        .build();
    let schema = SchemaBuilder::structure()
        .name("shop.Order")
        .field("id", SchemaBuilder::int64().build())
        .field("note", SchemaBuilder::string().optional().build())
        .field("tags", tags)
        .field("attrs", attrs)
        .field("inner", inner.clone())
        .build();
    let budget = Budget::new(1 << 20);
    let mut file = ParquetFile::open(&schema, Codec::Snappy, Spool::new(budget)).expect("open");
    for i in 0..4i64 {
        let mut v = Struct::new(Arc::clone(&schema));
        v.put("id", Value::Int64(i)).expect("id");
        if i % 2 == 0 {
            v.put("note", Value::String(format!("n{i}"))).expect("note");
            v.put(
                "tags",
                Value::Array(vec![Value::String("a".into()), Value::String("b".into())]),
            )
            .expect("tags");
            let mut inn = Struct::new(Arc::clone(&inner));
            inn.put("x", Value::Int64(i * 10)).expect("x");
            v.put("inner", Value::Struct(inn)).expect("inner");
        } else {
            v.put("tags", Value::Array(vec![])).expect("tags");
        }
        v.put(
            "attrs",
            Value::Map(vec![(Value::String("k".into()), Value::Int32(i as i32))]),
        )
        .expect("attrs");
        let mut record = ConnectRecord::new(
            "t",
            None,
            Value::Null,
            Some(Arc::clone(&schema)),
            Value::Struct(v),
        );
        record.kafka_offset = Some(i);
        file.push(&record).expect("push");
    }
    let (printed, rows) = read_back(file.finish().expect("finish"));
    // parquet-avro's layout: two-level lists, `key_value` maps.
    let expected = [
        "message shop.Order {",
        "  REQUIRED INT64 id;",
        "  OPTIONAL BYTE_ARRAY note (STRING);",
        "  OPTIONAL group tags (LIST) {",
        "    REPEATED BYTE_ARRAY array (STRING);",
        "  }",
        "  REQUIRED group attrs (MAP) {",
        "    REPEATED group key_value {",
        "      REQUIRED BYTE_ARRAY key (STRING);",
        "      REQUIRED INT32 value;",
        "    }",
        "  }",
        "  OPTIONAL group inner {",
        "    REQUIRED INT64 x;",
        "  }",
        "}",
        "",
    ]
    .join("\n");
    assert_eq!(printed, expected);
    assert_eq!(rows.len(), 4, "{rows:?}");
    // The parquet crate's row reader shows a two-level list of primitives one level
    // deeper than it is (`[[...]]`); the levels themselves are those of the schema.
    assert_eq!(
        rows[0],
        "{id: 0, note: \"n0\", tags: [[\"a\", \"b\"]], attrs: {\"k\" -> 0}, inner: {x: 0}}"
    );
    assert_eq!(
        rows[1],
        "{id: 1, note: null, tags: [], attrs: {\"k\" -> 1}, inner: null}"
    );
}

#[test]
fn logical_types_map_as_parquet_avro_does() {
    let schema = SchemaBuilder::structure()
        .name("shop.Payment")
        .field("amount", logical::decimal(2).build())
        .field("day", logical::date().build())
        .field("at", logical::timestamp().build())
        .field("small", SchemaBuilder::int16().build())
        .field("raw", SchemaBuilder::bytes().optional().build())
        .build();
    let mut file =
        ParquetFile::open(&schema, Codec::None, Spool::new(Budget::new(1 << 20))).expect("open");
    let mut v = Struct::new(Arc::clone(&schema));
    v.put(
        "amount",
        Value::Bytes(bytes::Bytes::from_static(&[0x30, 0x39])),
    )
    .expect("amount");
    v.put("day", Value::Int32(19_844)).expect("day");
    v.put("at", Value::Int64(1_714_571_106_789)).expect("at");
    v.put("small", Value::Int16(-7)).expect("small");
    let record = ConnectRecord::new(
        "t",
        None,
        Value::Null,
        Some(Arc::clone(&schema)),
        Value::Struct(v),
    );
    file.push(&record).expect("push");
    // A value of another schema is refused and leaves the file as it was.
    let other = SchemaBuilder::structure()
        .field("x", SchemaBuilder::int32().build())
        .build();
    let mut o = Struct::new(Arc::clone(&other));
    o.put("x", Value::Int32(1)).expect("x");
    let bad = ConnectRecord::new("t", None, Value::Null, Some(other), Value::Struct(o));
    assert!(file.push(&bad).is_err());
    let mut parts = file
        .finish()
        .expect("finish")
        .into_parts(usize::MAX)
        .expect("parts");
    let bytes = parts.next_part().expect("read").unwrap_or_default();
    let reader = SerializedFileReader::new(bytes).expect("a Parquet file");
    let mut printed = Vec::new();
    parquet::schema::printer::print_schema(
        &mut printed,
        reader.metadata().file_metadata().schema(),
    );
    let printed = String::from_utf8(printed).expect("utf-8");
    for line in [
        "REQUIRED BYTE_ARRAY amount (DECIMAL(64,2));",
        "REQUIRED INT32 day (DATE);",
        "REQUIRED INT64 at (TIMESTAMP(MILLIS,true));",
        "REQUIRED INT32 small;",
        "OPTIONAL BYTE_ARRAY raw;",
    ] {
        assert!(printed.contains(line), "{line} in {printed}");
    }
    let rows: Vec<String> = reader
        .get_row_iter(None)
        .expect("rows")
        .map(|r| r.expect("row").to_string())
        .collect();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("amount: 123.45"), "{rows:?}");
    assert!(rows[0].contains("day: 2024-05-01"), "{rows:?}");
}
