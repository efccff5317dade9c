//! pgoutput: being written.
