//! A cursor over parsed JSON that knows its field path, so every type error names the field.
//!
//! Only typing lives here (object, array, string); what a field means is decided in `parse.rs`
//! and `server.rs`. JSON `null` counts as absent, as in the protobuf JSON mapping.

use serde_json::{Map, Value};

use super::error::{BootstrapError, BootstrapSource, FieldError};

/// A JSON value and the path that leads to it.
#[derive(Clone)]
pub(super) struct Cursor<'a> {
    origin: &'a BootstrapSource,
    path: String,
    value: &'a Value,
}

/// A JSON object and the path that leads to it.
pub(super) struct Object<'a> {
    origin: &'a BootstrapSource,
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Cursor<'a> {
    /// The whole document.
    pub(super) fn root(origin: &'a BootstrapSource, value: &'a Value) -> Self {
        Self {
            origin,
            path: String::new(),
            value,
        }
    }

    /// The raw value.
    pub(super) fn value(&self) -> &'a Value {
        self.value
    }

    /// This value as an object.
    pub(super) fn object(&self) -> Result<Object<'a>, BootstrapError> {
        match self.value {
            Value::Object(map) => Ok(Object {
                origin: self.origin,
                path: self.path.clone(),
                map,
            }),
            _ => Err(self.error("a JSON object `{...}`", "write this field as a JSON object")),
        }
    }

    /// This value as an array, one cursor per element.
    pub(super) fn array(&self) -> Result<Vec<Cursor<'a>>, BootstrapError> {
        match self.value {
            Value::Array(items) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, value)| Cursor {
                    origin: self.origin,
                    path: format!("{}[{i}]", self.path),
                    value,
                })
                .collect()),
            _ => Err(self.error("a JSON array `[...]`", "write this field as a JSON array")),
        }
    }

    /// This value as a string.
    pub(super) fn string(&self) -> Result<&'a str, BootstrapError> {
        match self.value {
            Value::String(s) => Ok(s),
            _ => Err(self.error("a JSON string", "write this field as a quoted JSON string")),
        }
    }

    /// An error about this value: `found` describes what is here.
    pub(super) fn error(&self, expected: &str, fix: &str) -> BootstrapError {
        self.error_found(expected, &describe(self.value), fix)
    }

    /// An error about this value with a custom description of what was found.
    pub(super) fn error_found(&self, expected: &str, found: &str, fix: &str) -> BootstrapError {
        field_error(self.origin, &self.path, expected, found, fix)
    }
}

impl<'a> Object<'a> {
    /// The fields as parsed.
    pub(super) fn map(&self) -> &'a Map<String, Value> {
        self.map
    }

    /// The field `key`, or `None` when it is absent or `null`.
    pub(super) fn get(&self, key: &str) -> Option<Cursor<'a>> {
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => Some(Cursor {
                origin: self.origin,
                path: join(&self.path, key),
                value,
            }),
        }
    }

    /// The field `key`, which must be present and not `null`.
    pub(super) fn required(
        &self,
        key: &str,
        expected: &str,
        fix: &str,
    ) -> Result<Cursor<'a>, BootstrapError> {
        self.get(key).ok_or_else(|| {
            let found = if self.map.contains_key(key) {
                "null"
            } else {
                "nothing (the field is missing)"
            };
            field_error(self.origin, &join(&self.path, key), expected, found, fix)
        })
    }

    /// The optional string field `key`.
    pub(super) fn opt_string(&self, key: &str) -> Result<Option<&'a str>, BootstrapError> {
        self.get(key).map(|c| c.string()).transpose()
    }

    /// Every field of a map-like object, in key order, with paths like `authorities["name"]`.
    pub(super) fn entries(&self) -> impl Iterator<Item = (&'a str, Cursor<'a>)> + '_ {
        self.map.iter().map(|(key, value)| {
            let cursor = Cursor {
                origin: self.origin,
                path: format!("{}[{key:?}]", self.path),
                value,
            };
            (key.as_str(), cursor)
        })
    }

    /// An error about a field of this object that is not a single JSON value (e.g. two fields
    /// that must be set together).
    pub(super) fn error(
        &self,
        key: &str,
        expected: &str,
        found: &str,
        fix: &str,
    ) -> BootstrapError {
        field_error(self.origin, &join(&self.path, key), expected, found, fix)
    }
}

/// Builds a [`BootstrapError::Field`].
pub(super) fn field_error(
    origin: &BootstrapSource,
    path: &str,
    expected: &str,
    found: &str,
    fix: &str,
) -> BootstrapError {
    BootstrapError::Field(Box::new(FieldError {
        origin: origin.clone(),
        field: if path.is_empty() {
            "(top level)".to_string()
        } else {
            path.to_string()
        },
        expected: expected.to_string(),
        found: found.to_string(),
        fix: fix.to_string(),
    }))
}

/// A short description of a JSON value for error messages; long strings are cut.
pub(super) fn describe(value: &Value) -> String {
    const MAX: usize = 60;
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > MAX => {
            let cut: String = s.chars().take(MAX).collect();
            format!("the string {:?}…", cut)
        }
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(items) => format!("an array of {} element(s)", items.len()),
        Value::Object(map) => format!("an object with {} field(s)", map.len()),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}
