//! The gRPC xDS bootstrap: where the control plane is and who this client is.
//!
//! Reads the format of grpc/grpc `doc/grpc_xds_bootstrap_format.md` (gRFCs A27, A29, A30, A47, A65, A71).
//! Does no network I/O.
