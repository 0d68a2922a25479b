//! The request hash a ring-hash cluster uses to pick an endpoint (gRFC A42).
//!
//! Each hash policy of the chosen route may yield a value: a `header` policy hashes the header's
//! value (several values joined with `,`, then rewritten by the optional regex substitution) with
//! XXH64, seed 0; the `io.grpc.channel_id` policy yields the channel's random id as is. Values
//! combine in order as `hash = rotl(hash, 1) ^ value`, so repeated policies do not cancel out. A
//! `terminal` policy stops evaluation once any hash exists. Policies that yield nothing (a missing
//! header, a `-bin` header) are skipped; when none yields, the result is `None` and the ring-hash
//! picker draws a random hash instead. Does not pick endpoints.

use tonic::codegen::http::HeaderMap;
use xxhash_rust::xxh64::xxh64;

use super::matcher::header_value;
use crate::xds::resource::common::Regex;
use crate::xds::resource::route::{HashPolicy, HashSource};

/// The seed gRPC uses for XXH64 request hashes.
const XXH64_SEED: u64 = 0;

/// The hash of a request under `policies`, or `None` when no policy produced one.
/// `channel_id` is the channel's fixed random id (A42: drawn uniformly once per channel).
pub fn request_hash(policies: &[HashPolicy], headers: &HeaderMap, channel_id: u64) -> Option<u64> {
    let mut hash: Option<u64> = None;
    for policy in policies {
        let value = match &policy.source {
            HashSource::Header { name, rewrite } => header_hash(headers, name, rewrite.as_ref()),
            HashSource::ChannelId => Some(channel_id),
        };
        if let Some(v) = value {
            hash = Some(hash.unwrap_or(0).rotate_left(1) ^ v);
        }
        if policy.terminal && hash.is_some() {
            break;
        }
    }
    hash
}

/// XXH64 of a header's (rewritten) value; `None` when the header is absent or binary.
fn header_hash(headers: &HeaderMap, name: &str, rewrite: Option<&(Regex, String)>) -> Option<u64> {
    if name.ends_with("-bin") {
        return None;
    }
    let value = header_value(headers, name)?;
    Some(match rewrite {
        Some((pattern, substitution)) => xxh64(
            pattern.replace_all(&value, substitution).as_bytes(),
            XXH64_SEED,
        ),
        None => xxh64(value.as_bytes(), XXH64_SEED),
    })
}

#[cfg(test)]
mod tests;
