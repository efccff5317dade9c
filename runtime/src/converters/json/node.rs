//! A minimal JSON tree with the two properties Kafka's JsonConverter relies on and
//! `serde_json` (without `preserve_order`/`arbitrary_precision`) lacks: object keys keep
//! their insertion order, and numbers keep their exact text (decimals of any precision, and
//! Jackson's integral-versus-floating distinction).
//!
//! Output is compact and escaped exactly as Jackson's default generator does: `"` and `\`,
//! the short escapes `\b \t \n \f \r`, other control characters as `\u00XX` with upper-case
//! hex, everything else (including non-ASCII) written raw as UTF-8.

use std::collections::HashSet;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Node {
    Null,
    Bool(bool),
    /// The number's text: as read, or as formatted for output.
    Number(String),
    Str(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl Node {
    /// An object from entries; a repeated key keeps its first position and its last value
    /// (Jackson's `ObjectNode.set`).
    pub fn object(mut entries: Vec<(String, Node)>) -> Node {
        let mut seen = HashSet::with_capacity(entries.len());
        if entries.iter().all(|(k, _)| seen.insert(k.as_str())) {
            return Node::Object(entries);
        }
        let mut out: Vec<(String, Node)> = Vec::with_capacity(entries.len());
        for (k, v) in entries.drain(..) {
            match out.iter_mut().find(|(existing, _)| *existing == k) {
                Some(slot) => slot.1 = v,
                None => out.push((k, v)),
            }
        }
        Node::Object(out)
    }

    /// The value of `key` in an object (`None` for other nodes, as Jackson's `get`).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Jackson's `JsonNodeType` name, used in Kafka's error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Node::Null => "NULL",
            Node::Bool(_) => "BOOLEAN",
            Node::Number(_) => "NUMBER",
            Node::Str(_) => "STRING",
            Node::Array(_) => "ARRAY",
            Node::Object(_) => "OBJECT",
        }
    }

    /// Whether a number has no fraction and no exponent (Jackson's `isIntegralNumber`).
    pub fn is_integral(text: &str) -> bool {
        !text.contains(['.', 'e', 'E'])
    }

    pub fn to_json_string(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Node::Null => out.push_str("null"),
            Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Node::Number(n) => out.push_str(n),
            Node::Str(s) => write_string(s, out),
            Node::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Node::Object(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0C}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let b = c as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[b >> 4]));
                out.push(char::from(HEX[b & 0xF]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
