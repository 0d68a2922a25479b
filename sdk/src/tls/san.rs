//! Subject alternative names of a server's leaf certificate, and gRFC A29 server authorization:
//! does some SAN match one of the cluster's `match_subject_alt_names` (Envoy `StringMatcher`
//! semantics; `ignore_case` per matcher)?
//!
//! The SANs are read with a small DER walker over the certificate (RFC 5280 §4.1 and §4.2.1.6):
//! only the structure down to the `subjectAltName` extension, with every length checked, so a
//! malformed certificate is an error, never a panic. DNS, URI, e-mail and IP names are kept;
//! other name forms are skipped. Matching follows grpc's xDS credentials: an exact matcher
//! also accepts a DNS SAN wildcard (`*.example.com` for `a.example.com`) and an IP written
//! differently (`::1` vs `0:0:0:0:0:0:0:1`); every other name is matched as text.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::xds::resource::common::{StringMatcher, StringPattern};

/// One subject alternative name of a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubjectAltName {
    /// `dNSName`.
    Dns(String),
    /// `uniformResourceIdentifier` (e.g. a SPIFFE ID).
    Uri(String),
    /// `rfc822Name`.
    Email(String),
    /// `iPAddress`.
    Ip(IpAddr),
}

/// The certificate is not DER this walker can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the server certificate is malformed: {0}")]
pub(super) struct Malformed(&'static str);

/// DER tags used on the way to the SAN extension.
const SEQUENCE: u8 = 0x30;
const EXTENSIONS: u8 = 0xa3;
const OID: u8 = 0x06;
const OCTET_STRING: u8 = 0x04;
/// `id-ce-subjectAltName`, 2.5.29.17.
const SAN_OID: &[u8] = &[0x55, 0x1d, 0x11];

impl SubjectAltName {
    /// Every SAN of the DER certificate `der` (empty when it has no SAN extension).
    pub(super) fn from_certificate(der: &[u8]) -> Result<Vec<SubjectAltName>, Malformed> {
        let (_, certificate, _) = expect(der, SEQUENCE, "certificate")?;
        let (_, mut tbs, _) = expect(certificate, SEQUENCE, "tbsCertificate")?;
        while !tbs.is_empty() {
            let (tag, value, rest) = tlv(tbs)?;
            tbs = rest;
            if tag == EXTENSIONS {
                let (_, mut extensions, _) = expect(value, SEQUENCE, "extensions")?;
                while !extensions.is_empty() {
                    let (_, extension, rest) = expect(extensions, SEQUENCE, "extension")?;
                    extensions = rest;
                    let (_, oid, mut fields) = expect(extension, OID, "extension id")?;
                    if oid != SAN_OID {
                        continue;
                    }
                    while !fields.is_empty() {
                        let (tag, value, rest) = tlv(fields)?;
                        fields = rest;
                        if tag == OCTET_STRING {
                            return names(value);
                        }
                    }
                    return Err(Malformed("subjectAltName extension has no value"));
                }
            }
        }
        Ok(Vec::new())
    }

    /// Whether `matcher` accepts this name.
    pub(super) fn is_matched_by(&self, matcher: &StringMatcher) -> bool {
        match self {
            SubjectAltName::Dns(name) => matcher.matches(name) || wildcard_matches(name, matcher),
            SubjectAltName::Uri(name) | SubjectAltName::Email(name) => matcher.matches(name),
            SubjectAltName::Ip(ip) => {
                matcher.matches(&ip.to_string())
                    || matches!(&matcher.pattern, StringPattern::Exact(p) if p.parse::<IpAddr>().ok() == Some(*ip))
            }
        }
    }
}

impl fmt::Display for SubjectAltName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectAltName::Dns(n) => write!(f, "DNS:{n}"),
            SubjectAltName::Uri(n) => write!(f, "URI:{n}"),
            SubjectAltName::Email(n) => write!(f, "email:{n}"),
            SubjectAltName::Ip(ip) => write!(f, "IP:{ip}"),
        }
    }
}

/// Whether some SAN is accepted by some matcher; an empty matcher list accepts any certificate.
pub(super) fn authorized(sans: &[SubjectAltName], matchers: &[StringMatcher]) -> bool {
    matchers.is_empty()
        || sans
            .iter()
            .any(|san| matchers.iter().any(|m| san.is_matched_by(m)))
}

/// A matcher as the error message shows it, e.g. `exact "spiffe://a/b"` or `prefix "x" (ignore case)`.
pub(super) fn describe(matcher: &StringMatcher) -> String {
    let (kind, text) = match &matcher.pattern {
        StringPattern::Exact(p) => ("exact", p.clone()),
        StringPattern::Prefix(p) => ("prefix", p.clone()),
        StringPattern::Suffix(p) => ("suffix", p.clone()),
        StringPattern::Contains(p) => ("contains", p.clone()),
        StringPattern::Regex(r) => ("safe_regex", r.source().to_string()),
    };
    let case = if matcher.ignore_case {
        " (ignore case)"
    } else {
        ""
    };
    format!("{kind} {text:?}{case}")
}

/// An exact matcher against a DNS SAN `*.rest`: one whole leftmost label may differ.
fn wildcard_matches(name: &str, matcher: &StringMatcher) -> bool {
    let StringPattern::Exact(wanted) = &matcher.pattern else {
        return false;
    };
    let Some(suffix) = name.strip_prefix("*.") else {
        return false;
    };
    let Some((label, rest)) = wanted.split_once('.') else {
        return false;
    };
    let same = if matcher.ignore_case {
        rest.eq_ignore_ascii_case(suffix)
    } else {
        rest == suffix
    };
    same && !label.is_empty() && !label.contains('*')
}

/// The names of a `GeneralNames` sequence.
fn names(der: &[u8]) -> Result<Vec<SubjectAltName>, Malformed> {
    let (_, mut list, _) = expect(der, SEQUENCE, "subjectAltName")?;
    let mut out = Vec::new();
    while !list.is_empty() {
        let (tag, value, rest) = tlv(list)?;
        list = rest;
        let text = || {
            std::str::from_utf8(value)
                .map(str::to_string)
                .map_err(|_| Malformed("a subjectAltName is not valid text"))
        };
        match tag {
            0x81 => out.push(SubjectAltName::Email(text()?)),
            0x82 => out.push(SubjectAltName::Dns(text()?)),
            0x86 => out.push(SubjectAltName::Uri(text()?)),
            0x87 => out.push(SubjectAltName::Ip(ip(value)?)),
            _ => {}
        }
    }
    Ok(out)
}

fn ip(bytes: &[u8]) -> Result<IpAddr, Malformed> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Ok(IpAddr::V4(Ipv4Addr::from(v4)));
    }
    match <[u8; 16]>::try_from(bytes) {
        Ok(v6) => Ok(IpAddr::V6(Ipv6Addr::from(v6))),
        Err(_) => Err(Malformed("an IP address SAN is neither 4 nor 16 bytes")),
    }
}

/// One TLV whose tag must be `tag`.
fn expect<'a>(
    der: &'a [u8],
    tag: u8,
    what: &'static str,
) -> Result<(u8, &'a [u8], &'a [u8]), Malformed> {
    let parsed = tlv(der)?;
    if parsed.0 != tag {
        return Err(Malformed(what));
    }
    Ok(parsed)
}

/// Splits one DER TLV (single-byte tag, definite length) off the front: `(tag, value, rest)`.
fn tlv(der: &[u8]) -> Result<(u8, &[u8], &[u8]), Malformed> {
    const TRUNCATED: Malformed = Malformed("truncated DER");
    let (&tag, rest) = der.split_first().ok_or(TRUNCATED)?;
    if tag & 0x1f == 0x1f {
        return Err(Malformed("multi-byte DER tags are not expected here"));
    }
    let (&first, mut rest) = rest.split_first().ok_or(TRUNCATED)?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return Err(Malformed("unsupported DER length"));
        }
        let bytes = rest.get(..count).ok_or(TRUNCATED)?;
        rest = rest.get(count..).ok_or(TRUNCATED)?;
        bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b))
    };
    let value = rest.get(..length).ok_or(TRUNCATED)?;
    let rest = rest.get(length..).ok_or(TRUNCATED)?;
    Ok((tag, value, rest))
}

#[cfg(test)]
mod tests;
