//! The simple query protocol: rows in text format, read from the socket as the caller asks.

use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::{DataRowBody, Message, RowDescriptionBody};
use postgres_protocol::message::frontend;

use super::error::ServerFields;
use super::frame::Backend;
use super::{Connection, WireError};

/// The columns of one result set, shared by its rows.
#[derive(Debug)]
struct Columns {
    names: Vec<String>,
    types: Vec<u32>,
}

/// One row of a result set: text values (the simple query protocol's format) with the
/// result's column names and type OIDs.
#[derive(Debug, Clone)]
pub struct Row {
    columns: Arc<Columns>,
    /// The DataRow body after the column count; `ranges` index into it.
    data: Bytes,
    ranges: Vec<Option<Range<usize>>>,
}

impl Row {
    fn new(columns: Arc<Columns>, body: &DataRowBody, addr: &str) -> Result<Row, WireError> {
        let bad = |reason: String| WireError::protocol(addr, reason);
        let mut ranges = Vec::with_capacity(columns.names.len());
        let mut it = body.ranges();
        while let Some(r) = it
            .next()
            .map_err(|e| bad(format!("invalid DataRow: {e}")))?
        {
            ranges.push(r);
        }
        if ranges.len() != columns.names.len() {
            return Err(bad(format!(
                "DataRow has {} values for {} columns",
                ranges.len(),
                columns.names.len()
            )));
        }
        let data = body.buffer_bytes().clone();
        // client_encoding is UTF8, so every text value must be UTF-8; checked once here so
        // `get` can tell NULL from a value.
        for r in ranges.iter().flatten() {
            if std::str::from_utf8(&data[r.clone()]).is_err() {
                return Err(bad("DataRow value is not UTF-8".to_string()));
            }
        }
        Ok(Row {
            columns,
            data,
            ranges,
        })
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The text value of column `i`; `None` for SQL NULL or an index past the end.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.get_bytes(i).and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The raw bytes of column `i`; `None` for SQL NULL or an index past the end.
    pub fn get_bytes(&self, i: usize) -> Option<&[u8]> {
        let r = self.ranges.get(i)?.clone()?;
        self.data.get(r)
    }

    /// Name of column `i` (empty past the end).
    pub fn column_name(&self, i: usize) -> &str {
        self.columns.names.get(i).map(String::as_str).unwrap_or("")
    }

    /// Type OID of column `i` (0 past the end).
    pub fn column_type(&self, i: usize) -> u32 {
        self.columns.types.get(i).copied().unwrap_or(0)
    }

    /// The value of the first column named `name`; `None` for NULL or no such column.
    pub fn by_name(&self, name: &str) -> Option<&str> {
        let i = self.columns.names.iter().position(|n| n == name)?;
        self.get(i)
    }

    /// All values as owned strings, in column order.
    pub fn to_vec(&self) -> Vec<Option<String>> {
        (0..self.len())
            .map(|i| self.get(i).map(str::to_string))
            .collect()
    }
}

/// The state of a query whose replies have not all been read.
pub(super) struct InFlight {
    columns: Option<Arc<Columns>>,
    /// The first ErrorResponse (or unsupported COPY); returned once ReadyForQuery arrives.
    error: Option<WireError>,
}

/// The rows of one `query_stream` call, read from the socket one `next()` at a time, so a
/// slow consumer holds back the server instead of buffering the result.
///
/// Dropping it before the end leaves the connection usable: the next call on the connection
/// first reads and discards the rest of the result (each message bounded by the query
/// timeout).
pub struct RowStream<'a> {
    conn: &'a mut Connection,
}

impl RowStream<'_> {
    /// The next row; `Ok(None)` once the query is complete. A server error arrives here after
    /// the rows sent before it.
    pub async fn next(&mut self) -> Result<Option<Row>, WireError> {
        self.conn.next_row().await
    }
}

impl Connection {
    /// Runs one or more statements; returns the rows of every result set in order. The rows
    /// are all held in memory: use [`Connection::query_stream`] for large results.
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<Row>, WireError> {
        self.start_query(sql).await?;
        let mut rows = Vec::new();
        while let Some(row) = self.next_row().await? {
            rows.push(row);
        }
        Ok(rows)
    }

    /// Runs statements, discarding any rows.
    pub async fn execute(&mut self, sql: &str) -> Result<(), WireError> {
        self.start_query(sql).await?;
        while self.next_row().await?.is_some() {}
        Ok(())
    }

    /// Streams the rows of a query without holding them all: call `next().await` until
    /// `Ok(None)`. See [`RowStream`] for dropping it early.
    pub async fn query_stream(&mut self, sql: &str) -> Result<RowStream<'_>, WireError> {
        self.start_query(sql).await?;
        Ok(RowStream { conn: self })
    }

    /// Finishes any abandoned query, then sends Query.
    pub(super) async fn start_query(&mut self, sql: &str) -> Result<(), WireError> {
        self.check_usable()?;
        self.finish_in_flight().await?;
        let mut buf = BytesMut::new();
        frontend::query(sql, &mut buf).map_err(|e| {
            WireError::protocol(self.addr(), format!("cannot encode the query: {e}"))
        })?;
        self.send(&buf).await?;
        self.in_flight = Some(InFlight {
            columns: None,
            error: None,
        });
        Ok(())
    }

    /// Reads and discards what is left of a query whose stream was dropped.
    pub(super) async fn finish_in_flight(&mut self) -> Result<(), WireError> {
        while self.in_flight.is_some() {
            match self.next_row().await {
                Ok(_) => {}
                // The abandoned query's own error is of no interest to the next caller.
                Err(e) if self.broken.is_none() => {
                    tracing::debug!(error = %e, "abandoned postgres query failed");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads until the next DataRow (`Some`) or ReadyForQuery (`None`, or the query's error).
    pub(super) async fn next_row(&mut self) -> Result<Option<Row>, WireError> {
        let mut copy_out = false;
        loop {
            if self.in_flight.is_none() {
                return Ok(None);
            }
            let m = match self.recv().await {
                Ok(m) => m,
                Err(e) => {
                    // A FATAL ErrorResponse (the backend was terminated, the server is
                    // shutting down) comes just before the socket closes: it says more.
                    let stored = self.in_flight.take().and_then(|q| q.error);
                    return Err(stored.unwrap_or(e));
                }
            };
            let addr = self.framed.addr.clone();
            let Some(q) = self.in_flight.as_mut() else {
                return Ok(None);
            };
            match m {
                Backend::Message(Message::RowDescription(body)) => {
                    q.columns = Some(Arc::new(columns(&body, &addr)?));
                }
                Backend::Message(Message::DataRow(body)) => {
                    let Some(cols) = q.columns.clone() else {
                        return Err(self.unexpected(
                            &Backend::Message(Message::DataRow(body)),
                            "before RowDescription",
                        ));
                    };
                    match Row::new(cols, &body, &addr) {
                        Ok(row) => return Ok(Some(row)),
                        Err(e) => {
                            self.broken = Some(e.to_string());
                            return Err(e);
                        }
                    }
                }
                Backend::Message(Message::CommandComplete(_) | Message::EmptyQueryResponse) => {
                    q.columns = None;
                }
                Backend::Message(Message::ErrorResponse(body)) => {
                    let e = ServerFields::parse(body.fields()).into_error();
                    q.error.get_or_insert(e);
                }
                Backend::Message(Message::CopyInResponse(_)) => {
                    q.error.get_or_insert(WireError::protocol(
                        &addr,
                        "COPY ... FROM STDIN is not supported on this connection",
                    ));
                    let mut buf = BytesMut::new();
                    frontend::copy_fail(
                        "COPY FROM STDIN is not supported by weir's client",
                        &mut buf,
                    )
                    .map_err(|e| {
                        WireError::protocol(&addr, format!("cannot encode CopyFail: {e}"))
                    })?;
                    // The server answers with an ErrorResponse, then ReadyForQuery.
                    self.send(&buf).await?;
                }
                Backend::Message(Message::CopyOutResponse(_)) => {
                    copy_out = true;
                    q.error.get_or_insert(WireError::protocol(
                        &addr,
                        "COPY ... TO STDOUT is not supported by the simple query methods; \
                         its data was discarded",
                    ));
                }
                Backend::Message(Message::CopyData(_)) if copy_out => {}
                Backend::Message(Message::CopyDone) if copy_out => copy_out = false,
                Backend::Message(Message::ReadyForQuery(_)) => {
                    let q = self.in_flight.take();
                    return match q.and_then(|q| q.error) {
                        Some(e) => Err(e),
                        None => Ok(None),
                    };
                }
                other => return Err(self.unexpected(&other, "in reply to a simple query")),
            }
        }
    }
}

fn columns(body: &RowDescriptionBody, addr: &str) -> Result<Columns, WireError> {
    let mut names = Vec::new();
    let mut types = Vec::new();
    let mut it = body.fields();
    while let Some(f) = it
        .next()
        .map_err(|e| WireError::protocol(addr, format!("invalid RowDescription: {e}")))?
    {
        names.push(f.name().to_string());
        types.push(f.type_oid());
    }
    Ok(Columns { names, types })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    fn data_row(values: &[Option<&[u8]>]) -> DataRowBody {
        let mut body = BytesMut::new();
        body.put_u16(values.len() as u16);
        for v in values {
            match v {
                Some(v) => {
                    body.put_i32(v.len() as i32);
                    body.put_slice(v);
                }
                None => body.put_i32(-1),
            }
        }
        let mut frame = BytesMut::new();
        frame.put_u8(b'D');
        frame.put_i32(body.len() as i32 + 4);
        frame.put_slice(&body);
        match Message::parse(&mut frame) {
            Ok(Some(Message::DataRow(d))) => d,
            _ => panic!("expected a DataRow"),
        }
    }

    fn cols() -> Arc<Columns> {
        Arc::new(Columns {
            names: vec!["id".into(), "name".into(), "note".into()],
            types: vec![23, 25, 25],
        })
    }

    #[test]
    fn row_values_nulls_and_names() {
        let body = data_row(&[Some(b"1"), Some("é".as_bytes()), None]);
        let row = Row::new(cols(), &body, "db:5432").expect("row");
        assert_eq!(row.len(), 3);
        assert_eq!(row.get(0), Some("1"));
        assert_eq!(row.get(1), Some("é"));
        assert_eq!(row.get(2), None);
        assert_eq!(row.get(3), None);
        assert_eq!(row.by_name("name"), Some("é"));
        assert_eq!(row.by_name("missing"), None);
        assert_eq!(row.column_name(0), "id");
        assert_eq!(row.column_type(0), 23);
        assert_eq!(row.get_bytes(1), Some("é".as_bytes()));
        assert_eq!(
            row.to_vec(),
            vec![Some("1".to_string()), Some("é".to_string()), None]
        );
    }

    #[test]
    fn rows_with_the_wrong_width_or_bad_utf8_are_refused() {
        let body = data_row(&[Some(b"1")]);
        assert!(Row::new(cols(), &body, "db:5432").is_err());
        let body = data_row(&[Some(b"1"), Some(&[0xff]), None]);
        let e = Row::new(cols(), &body, "db:5432").expect_err("bad utf-8");
        assert!(e.to_string().contains("UTF-8"), "{e}");
    }
}
