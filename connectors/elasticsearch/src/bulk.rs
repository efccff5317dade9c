//! The outcome of each item of a `_bulk` answer, by Confluent's rules (COMPAT 6.4):
//! successes, deletes of missing documents and version conflicts (a replay, or an older
//! record losing to a newer one under external versioning) are done; mapping and parsing
//! errors are "malformed"; item-level 429 and 5xx are retried; anything else fails the record.

use serde_json::Value as Json;

/// What became of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Done,
    Malformed(String),
    Retry(String),
    Failed(String),
}

/// Error types Confluent treats as a malformed document.
const MALFORMED: &[&str] = &[
    "mapper_parsing_exception",
    "document_parsing_exception",
    "illegal_argument_exception",
    "action_request_validation_exception",
    "strict_dynamic_mapping_exception",
    "mapper_exception",
];

/// One outcome per item, in request order.
pub fn settle(answer: &Json) -> Vec<Item> {
    let items = answer.get("items").and_then(Json::as_array);
    let Some(items) = items else {
        return Vec::new();
    };
    items.iter().map(item).collect()
}

fn item(entry: &Json) -> Item {
    let Some((op, result)) = entry.as_object().and_then(|o| o.iter().next()) else {
        return Item::Failed("Elasticsearch answered an item without an action".into());
    };
    let status = result.get("status").and_then(Json::as_u64).unwrap_or(0);
    let error = result.get("error");
    if error.is_none() && (200..300).contains(&status) {
        return Item::Done;
    }
    if op == "delete" && status == 404 && error.is_none() {
        return Item::Done;
    }
    let kind = error
        .and_then(|e| e.get("type"))
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_string();
    let reason = format!(
        "{op} of {}/{}: HTTP {status} {kind}: {}",
        result.get("_index").and_then(Json::as_str).unwrap_or("?"),
        result.get("_id").and_then(Json::as_str).unwrap_or("?"),
        error
            .and_then(|e| e.get("reason"))
            .and_then(Json::as_str)
            .unwrap_or("")
    );
    if kind == "version_conflict_engine_exception" {
        return if op == "update" {
            Item::Retry(reason)
        } else {
            Item::Done
        };
    }
    if MALFORMED.contains(&kind.as_str()) {
        return Item::Malformed(reason);
    }
    if status == 429 || status >= 500 {
        return Item::Retry(reason);
    }
    Item::Failed(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_follow_confluents_rules() {
        let answer = json!({"took": 3, "errors": true, "items": [
            {"index": {"_index": "o", "_id": "1", "status": 201, "result": "created"}},
            {"delete": {"_index": "o", "_id": "2", "status": 404, "result": "not_found"}},
            {"index": {"_index": "o", "_id": "3", "status": 409, "error": {"type": "version_conflict_engine_exception", "reason": "[3]: version conflict"}}},
            {"index": {"_index": "o", "_id": "4", "status": 400, "error": {"type": "mapper_parsing_exception", "reason": "failed to parse field [price]"}}},
            {"index": {"_index": "o", "_id": "5", "status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "rejected"}}},
            {"update": {"_index": "o", "_id": "6", "status": 503, "error": {"type": "unavailable_shards_exception", "reason": "down"}}},
            {"index": {"_index": "o", "_id": "7", "status": 403, "error": {"type": "security_exception", "reason": "no"}}},
            {"update": {"_index": "o", "_id": "8", "status": 409, "error": {"type": "version_conflict_engine_exception", "reason": "busy"}}}
        ]});
        let items = settle(&answer);
        assert_eq!(items[..3], [Item::Done, Item::Done, Item::Done]);
        assert!(
            matches!(&items[3], Item::Malformed(r) if r.contains("index of o/4: HTTP 400 mapper_parsing_exception: failed to parse field [price]"))
        );
        assert!(matches!(&items[4], Item::Retry(_)));
        assert!(matches!(&items[5], Item::Retry(_)));
        assert!(matches!(&items[6], Item::Failed(r) if r.contains("security_exception")));
        assert!(matches!(&items[7], Item::Retry(_)));
    }
}
