//! The library clients (confluent-kafka, kafka-python 2.x and 3.x, kafkajs): how to run each
//! one's script, and producing through it.

use std::process::Command;

use serde_json::Value;
use weir_e2e::{Finished, Proc, run_with_timeout};

use crate::records::json_lines;
use crate::support::{CLIENT_TIMEOUT, cache_dir, clients_dir, installed, on_path};

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Client {
    Confluent,
    KafkaPython2,
    KafkaPython3,
    Kafkajs,
}

impl Client {
    pub(crate) const ALL: [Client; 4] = [
        Client::Confluent,
        Client::KafkaPython2,
        Client::KafkaPython3,
        Client::Kafkajs,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Client::Confluent => "confluent-kafka",
            Client::KafkaPython2 => "kafka-python 2.x",
            Client::KafkaPython3 => "kafka-python 3.x",
            Client::Kafkajs => "kafkajs",
        }
    }

    /// A command running this client's script with `args`.
    pub(crate) fn command(self, args: &[&str]) -> Command {
        // A Python client: the venv's interpreter (`env` overrides it) running `script`.
        let python = |env: &str, venv: &str, script: &str| {
            let python = installed(
                env,
                cache_dir().join("venvs").join(venv).join("bin/python"),
                &format!("{} (Python venv {venv})", self.name()),
            );
            let mut c = Command::new(python);
            c.env("PYTHONDONTWRITEBYTECODE", "1");
            c.arg("-u").arg(clients_dir().join(script));
            c
        };
        let mut cmd = match self {
            Client::Confluent => python(
                "WEIR_PY_CONFLUENT",
                "confluent",
                "confluent_kafka_client.py",
            ),
            Client::KafkaPython2 => {
                python("WEIR_PY_KAFKA2", "kafka-python-2", "kafka_python_client.py")
            }
            Client::KafkaPython3 => {
                python("WEIR_PY_KAFKA3", "kafka-python-3", "kafka_python_client.py")
            }
            Client::Kafkajs => {
                let modules = installed(
                    "WEIR_NODE_PATH",
                    cache_dir().join("node/node_modules"),
                    "kafkajs (npm, node_modules directory)",
                );
                assert!(
                    modules.join("kafkajs").exists(),
                    "kafkajs is missing from {} (run ./scripts/test)",
                    modules.display()
                );
                let node = on_path("node").expect("node not on PATH (run ./scripts/test)");
                let mut c = Command::new(node);
                c.arg(clients_dir().join("kafkajs_client.js"))
                    .env("NODE_PATH", modules)
                    .env("KAFKAJS_NO_PARTITIONER_WARNING", "1");
                c
            }
        };
        cmd.args(args);
        cmd
    }

    /// Runs the script with `args` to completion, whatever its exit status; the result is
    /// named `<client> <args>`.
    pub(crate) fn try_run(self, args: &[&str]) -> Finished {
        let what = format!("{} {}", self.name(), args.join(" "));
        run_with_timeout(&what, self.command(args), CLIENT_TIMEOUT)
    }

    /// Like [`Client::try_run`], and the test fails unless the script exits with status 0.
    pub(crate) fn run(self, args: &[&str]) -> Finished {
        self.try_run(args).success()
    }

    pub(crate) fn spawn(self, label: &str, args: &[&str]) -> Proc {
        Proc::spawn(&format!("{} {label}", self.name()), self.command(args))
    }

    /// Produces messages `start..start+count` of `tag` (see [`crate::records::expected`]).
    pub(crate) fn produce(
        self,
        bootstrap: &str,
        topic: &str,
        tag: &str,
        start: usize,
        count: usize,
    ) {
        self.produce_with(bootstrap, topic, tag, start, count, "none");
    }

    pub(crate) fn produce_with(
        self,
        bootstrap: &str,
        topic: &str,
        tag: &str,
        start: usize,
        count: usize,
        compression: &str,
    ) -> Vec<Value> {
        let (start, count) = (start.to_string(), count.to_string());
        let out = self.run(&[
            "produce",
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--tag",
            tag,
            "--start",
            &start,
            "--count",
            &count,
            "--compression",
            compression,
        ]);
        let lines = json_lines(&out.lines());
        assert!(
            lines.iter().any(|l| l["event"] == "produced"),
            "{} produce did not finish:\n{}",
            self.name(),
            out.tail()
        );
        lines
    }
}
