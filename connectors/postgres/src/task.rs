//! task: being written.
