//! The connector config: being written.
