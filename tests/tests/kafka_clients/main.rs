//! Real Kafka clients against `weir serve`: kcat, confluent-kafka (librdkafka), kafka-python
//! 2.x and 3.x, and kafkajs. The client scripts live in `tests/clients/` and print JSON lines
//! (see `tests/clients/common.py`); `./scripts/test` installs the clients and exports where
//! they are. A client that is missing fails its test: it never skips.
//!
//! The tests are listed here, one line each, so their names stay at the top of the target;
//! their bodies live with the helpers of their role.

mod admin;
mod client;
mod compression;
mod kcat;
mod records;
mod scenario;
mod stored;
mod support;

use client::Client;

#[test]
fn confluent_kafka_group_produce_consume_takeover_restart() {
    scenario::group_scenario(Client::Confluent);
}

#[test]
fn kafka_python_2_group_produce_consume_takeover_restart() {
    scenario::group_scenario(Client::KafkaPython2);
}

#[test]
fn kafka_python_3_group_produce_consume_takeover_restart() {
    scenario::group_scenario(Client::KafkaPython3);
}

#[test]
fn kafkajs_group_produce_consume_takeover_restart() {
    scenario::group_scenario(Client::Kafkajs);
}

#[test]
fn every_client_creates_topics_with_the_admin_api() {
    admin::every_client_creates_topics();
}

#[test]
fn compressed_batches_are_stored_and_fetched_intact() {
    compression::every_codec_round_trips();
}

#[test]
fn kcat_metadata_produce_consume_and_group() {
    kcat::metadata_produce_consume_and_group();
}
