//! schema: being written.
