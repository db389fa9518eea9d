//! A resolved value that remembers where it comes from.

use std::cmp::Ordering;
use std::fmt;
use std::ops::Deref;

use serde::Serialize;

/// A resolved value with the JSON pointer of the spec field it resolves
/// and whether the spec wrote it or the default filled it in. Derefs to
/// the value and serialises as the bare value, so templates and renderers
/// read it as before; validation reads where it came from.
///
/// Equality and order compare the values only.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Located<T> {
    value: T,
    #[serde(skip)]
    pointer: String,
    #[serde(skip)]
    written: bool,
}

impl<T> Located<T> {
    /// The field at `pointer`: as written, or `default` when the spec
    /// leaves it out.
    pub(crate) fn field(pointer: impl Into<String>, written: Option<T>, default: T) -> Self {
        Self {
            written: written.is_some(),
            value: written.unwrap_or(default),
            pointer: pointer.into(),
        }
    }

    /// A value the spec writes at `pointer` (a required field, or an
    /// optional one that is present).
    pub(crate) fn given(pointer: impl Into<String>, value: T) -> Self {
        Self {
            value,
            pointer: pointer.into(),
            written: true,
        }
    }

    /// A value the spec cannot set (it is fixed), reported at `pointer`.
    pub(crate) fn fixed(pointer: impl Into<String>, value: T) -> Self {
        Self {
            value,
            pointer: pointer.into(),
            written: false,
        }
    }

    /// The same origin, another value (a unit or type conversion).
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Located<U> {
        Located {
            value: f(self.value),
            pointer: self.pointer,
            written: self.written,
        }
    }

    /// JSON pointer of the spec field.
    pub fn pointer(&self) -> &str {
        &self.pointer
    }

    /// JSON pointer of the field `key` inside the spec field (for a value
    /// that is an object in the spec, such as a secret source).
    pub(crate) fn child(&self, key: &str) -> String {
        format!("{}/{key}", self.pointer)
    }

    /// True when the spec sets the field (false: a default).
    pub fn written(&self) -> bool {
        self.written
    }
}

impl<T> Deref for Located<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Display> fmt::Display for Located<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: PartialEq> PartialEq for Located<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Located<T> {}

impl<T: PartialOrd> PartialOrd for Located<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.value.partial_cmp(&other.value)
    }
}

impl<T: Ord> Ord for Located<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.value.cmp(&other.value)
    }
}

impl<T: PartialEq> PartialEq<T> for Located<T> {
    fn eq(&self, other: &T) -> bool {
        self.value == *other
    }
}

impl PartialEq<&str> for Located<String> {
    fn eq(&self, other: &&str) -> bool {
        self.value == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_located_value_is_its_value_to_readers() {
        let written = Located::field("/a", Some(7u32), 1);
        let default = Located::field("/b", None, 7u32);
        assert!(written.written() && !default.written());
        assert_eq!(written.pointer(), "/a");
        assert_eq!(written, default);
        assert_eq!(*written + 1, 8);
        assert_eq!(written.to_string(), "7");
        assert_eq!(serde_json::to_string(&written).unwrap(), "7");
        assert!(Located::fixed("/c", 9u32) > written);
    }
}
