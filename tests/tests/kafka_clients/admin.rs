//! The Admin API: every library client creates a topic, and kcat sees them all.

use serde_json::Value;
use weir_e2e::Workdir;

use crate::client::Client;
use crate::kcat::{kcat_metadata, topic_partitions};
use crate::records::complete_json;

pub(crate) fn every_client_creates_topics() {
    let w = Workdir::new();
    let served = w.serve(&[]);
    let bs = served.bootstrap();
    // Every client runs even when one fails, so one report names all of them.
    let mut failures = Vec::new();
    for (n, client) in Client::ALL.into_iter().enumerate() {
        let topic = format!("admin-{n}");
        let parts = (n + 2).to_string();
        let args = [
            "create-topic",
            "--bootstrap",
            &bs,
            "--topic",
            &topic,
            "--partitions",
            &parts,
        ];
        let out = client.try_run(&args);
        let created = complete_json(&out).last().map(|l| l["partitions"].clone());
        if !out.status.success() || created != Some(Value::from(n + 2)) {
            failures.push(format!("{}: {}\n{}", out.name, out.status, out.tail()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let md = kcat_metadata(&bs);
    for n in 0..4 {
        assert_eq!(
            topic_partitions(&md, &format!("admin-{n}")),
            Some(n + 2),
            "{md}"
        );
    }
    let (clean, log) = served.stop();
    assert!(clean, "{}", log.join("\n"));
}
