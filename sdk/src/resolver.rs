//! Resolution of an `xds:` target into complete, consistent configuration snapshots (gRFC A74).
