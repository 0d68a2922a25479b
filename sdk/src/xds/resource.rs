//! xDS resources decoded and validated into Meshwork's domain types (`TryFrom<proto>`).
