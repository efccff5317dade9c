//! Command-line interface: argument definitions and dispatch.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::bench::BenchArgs;
use crate::commands;
use crate::config::WorkerConfig;

#[derive(Debug, Parser)]
#[command(
    name = "weir",
    version,
    about = "Change data capture and connectors in one binary: an embedded Kafka-compatible log broker and a Kafka Connect-compatible worker"
)]
pub struct Cli {
    /// Worker config: a JSON object of Kafka-style keys (see configs/worker.json).
    #[arg(long, global = true, env = "WEIR_WORKER_CONFIG", value_name = "FILE")]
    pub worker_config: Option<PathBuf>,
    /// Data directory (overrides `data.dir` from the config; default ./data).
    #[arg(long, global = true, env = "WEIR_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the embedded broker and its Kafka protocol listener until SIGTERM or Ctrl-C.
    Serve(ServeArgs),
    /// Create, list, describe or delete topics.
    Topics(TopicsArgs),
    /// Produce lines from stdin, one record per line (`key<TAB>value`, or just a value).
    Produce(ProduceArgs),
    /// Print records to stdout, one per line (`key<TAB>value`, or just the value).
    Consume(ConsumeArgs),
    /// Measure append and fetch throughput against raw disk writes.
    Bench(BenchArgs),
    /// Manage connectors through the REST API of a running `weir serve` (or Kafka Connect).
    Connectors(ConnectorsArgs),
    /// List the connector plugins (and with --all the transforms, predicates and converters).
    Plugins(PluginsArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Kafka protocol listener `host:port` (overrides `listeners`; port 0 picks a free one).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// REST API listener `host:port` (overrides `rest.listeners`; port 0 picks a free one).
    #[arg(long, value_name = "HOST:PORT")]
    pub rest_listen: Option<String>,
}

/// Where a one-shot command runs: on the data directory (the default) or against a running
/// broker (`--bootstrap`).
#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    /// Talk Kafka to a running broker (`weir serve` or a Kafka cluster) at `host:port`
    /// instead of opening the data directory.
    #[arg(long, env = "WEIR_BOOTSTRAP", value_name = "HOST:PORT")]
    pub bootstrap: Option<String>,
}

#[derive(Debug, Args)]
pub struct TopicsArgs {
    /// Talk Kafka to a running broker (`weir serve` or a Kafka cluster) at `host:port`
    /// instead of opening the data directory.
    #[arg(long, global = true, env = "WEIR_BOOTSTRAP", value_name = "HOST:PORT")]
    pub bootstrap: Option<String>,
    #[command(subcommand)]
    pub command: TopicsCommand,
}

#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Create a topic.
    Create {
        name: String,
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        /// A topic config override `key=value` (repeatable), e.g. --config retention.ms=60000.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        /// Succeed without change when the topic exists.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// List topic names.
    List,
    /// Describe topics: partitions, offsets, sizes and configs.
    Describe { names: Vec<String> },
    /// Delete a topic and its data.
    Delete { name: String },
}

#[derive(Debug, Clone, Args)]
pub struct ProduceArgs {
    pub topic: String,
    /// Send every record to this partition (default: by key hash as Kafka does, or round
    /// robin per batch for records without a key).
    #[arg(long)]
    pub partition: Option<i32>,
    /// Separator between key and value.
    #[arg(long, default_value = "\t")]
    pub key_separator: String,
    /// Treat every whole line as the value (no key).
    #[arg(long)]
    pub no_key: bool,
    /// Records per batch.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Batch compression: none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none")]
    pub compression: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    pub topic: String,
    /// Start at the earliest offset (default: the end) and stop at the end of the log.
    /// With --bootstrap and without it, consume follows the log until --max or Ctrl-C.
    #[arg(long)]
    pub from_beginning: bool,
    /// Read only this partition.
    #[arg(long)]
    pub partition: Option<i32>,
    /// Start offset: a number, `earliest` or `latest` (needs --partition).
    #[arg(long, requires = "partition")]
    pub offset: Option<String>,
    /// Stop after this many records.
    #[arg(long)]
    pub max: Option<u64>,
    /// Separator printed between key and value.
    #[arg(long, default_value = "\t")]
    pub key_separator: String,
    /// Consume as a member of this consumer group (needs --bootstrap): partitions are
    /// shared with the group's other members and offsets are committed.
    #[arg(long, conflicts_with_all = ["partition", "offset"])]
    pub group: Option<String>,
    /// Stop once every partition is read to its end (with --bootstrap; the directory mode
    /// always does).
    #[arg(long)]
    pub exit_at_end: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// How `weir connectors` and `weir plugins` reach the REST API.
#[derive(Debug, Clone, Args)]
pub struct RestArgs {
    /// The REST API: `http://host:port` or `host:port` (the rest= address `weir serve` logs).
    #[arg(
        long,
        global = true,
        env = "WEIR_REST_URL",
        default_value = "http://127.0.0.1:8083",
        value_name = "URL"
    )]
    pub url: String,
    /// Basic-auth user; the password is read from WEIR_REST_PASSWORD or --password-file.
    #[arg(long, global = true, env = "WEIR_REST_USER", value_name = "USER")]
    pub user: Option<String>,
    /// A file whose first line is the basic-auth password (instead of WEIR_REST_PASSWORD).
    #[arg(long, global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Bearer token; prefer WEIR_REST_TOKEN, a flag value is visible to other local users.
    #[arg(
        long,
        global = true,
        env = "WEIR_REST_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        value_parser = parse_secret
    )]
    pub token: Option<weir_connect_api::Secret>,
    /// Print the server's JSON answer (pretty) instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

fn parse_secret(s: &str) -> Result<weir_connect_api::Secret, std::convert::Infallible> {
    Ok(weir_connect_api::Secret::new(s))
}

#[derive(Debug, Args)]
pub struct ConnectorsArgs {
    #[command(flatten)]
    pub rest: RestArgs,
    #[command(subcommand)]
    pub command: ConnectorsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConnectorsCommand {
    /// List connectors with their type, state and running tasks.
    List,
    /// Create a connector, or update its config, from a JSON file (`-` reads stdin):
    /// `{"name": .., "config": {..}}` creates (POST), a flat config map with `name` inside
    /// creates or updates (PUT /connectors/NAME/config).
    Create {
        /// The connector file (`-` reads stdin).
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
    },
    /// Show a connector: type, tasks and config.
    Get { name: String },
    /// Print a connector's config as `key=value` lines.
    Config { name: String },
    /// Show the state of a connector and of each of its tasks.
    Status { name: String },
    /// Pause a connector: its tasks stay assigned but stop working.
    Pause { name: String },
    /// Resume a paused or stopped connector.
    Resume { name: String },
    /// Stop a connector: its tasks shut down (needed before changing offsets).
    Stop { name: String },
    /// Restart a connector (and with --include-tasks its tasks).
    Restart {
        name: String,
        /// Restart the tasks too.
        #[arg(long)]
        include_tasks: bool,
        /// Restart only instances that are FAILED.
        #[arg(long)]
        only_failed: bool,
    },
    /// Delete a connector (its offsets stay in connect-offsets).
    Delete { name: String },
    /// Show a connector's offsets; with --reset or --alter change them (connector STOPPED).
    Offsets {
        name: String,
        /// Remove every offset of the connector.
        #[arg(long, conflicts_with = "alter")]
        reset: bool,
        /// Set offsets from -f FILE (`{"offsets":[{"partition":{..},"offset":{..}}]}`; an
        /// `"offset": null` removes one partition's offset).
        #[arg(long, requires = "file")]
        alter: bool,
        /// The offsets file for --alter (`-` reads stdin).
        #[arg(short = 'f', long = "file", value_name = "FILE", requires = "alter")]
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct PluginsArgs {
    #[command(flatten)]
    pub rest: RestArgs,
    #[command(subcommand)]
    pub command: PluginsCommand,
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List connector plugins: class, type, version.
    List {
        /// Also list transforms, predicates and converters.
        #[arg(long)]
        all: bool,
    },
}

/// `RUST_LOG` or `default_level`, to stderr; `PUT /admin/loggers/...` can change it later.
fn init_tracing(default_level: &str) {
    crate::rest::loggers::init_tracing(default_level);
}

fn worker_config(cli: &Cli) -> anyhow::Result<WorkerConfig> {
    let mut cfg = match &cli.worker_config {
        Some(path) => WorkerConfig::load(path)?,
        None => WorkerConfig::default(),
    };
    if let Some(dir) = &cli.data_dir {
        cfg.data_dir.clone_from(dir);
    }
    Ok(cfg)
}

/// Parses arguments, runs the command and maps an error to exit code 1 with its causes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    });
    let result = worker_config(&cli).and_then(|cfg| match &cli.command {
        Command::Serve(args) => commands::serve::run(cfg, args),
        Command::Topics(t) => commands::topics::run(&cfg, t),
        Command::Produce(p) => commands::produce::run(&cfg, p),
        Command::Consume(c) => commands::consume::run(&cfg, c),
        Command::Bench(b) => crate::bench::run(b),
        Command::Connectors(c) => commands::connectors::run(c),
        Command::Plugins(p) => commands::plugins::run(p),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn arguments_are_consistent() {
        super::Cli::command().debug_assert();
    }
}
