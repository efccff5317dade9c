//! transforms: being written.
