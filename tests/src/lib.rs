//! Shared helpers for Meshwork's end-to-end tests (loopback sockets, bounded waits).
