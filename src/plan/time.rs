//! Durations as the plan holds them: whole milliseconds, written out in the
//! unit each consumer wants by one formatter per unit.

use std::fmt;

use serde::{Serialize, Serializer};

/// A duration in whole milliseconds. Serialises (and displays) as the bare
/// number of milliseconds, as HAProxy's `inter 1000ms` wants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct Millis(u32);

impl Millis {
    /// `ms` milliseconds.
    pub const fn new(ms: u32) -> Self {
        Self(ms)
    }

    /// The number of milliseconds.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The same duration written as decimal seconds (keepalived's unit).
    pub const fn seconds(self) -> Seconds {
        Seconds(self)
    }

    /// Whole seconds, when the duration is a multiple of 1000 ms (keepalived
    /// before 2.3.2 takes script timings in whole seconds).
    pub fn whole_seconds(self) -> Option<u32> {
        (self.0 % 1000 == 0).then_some(self.0 / 1000)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A [`Millis`] written as a decimal number of seconds without trailing
/// zeros (`500` -> `0.5`, `1000` -> `1`), as keepalived reads intervals.
/// Serialises as that text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seconds(Millis);

impl Seconds {
    /// The duration in milliseconds.
    pub const fn millis(self) -> Millis {
        self.0
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.get();
        let (s, frac) = (ms / 1000, ms % 1000);
        if frac == 0 {
            write!(f, "{s}")
        } else {
            let frac = format!("{frac:03}");
            write!(f, "{s}.{}", frac.trim_end_matches('0'))
        }
    }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_written_like_keepalived_expects() {
        let s = |ms| Millis::new(ms).seconds().to_string();
        assert_eq!(s(500), "0.5");
        assert_eq!(s(1000), "1");
        assert_eq!(s(1250), "1.25");
        assert_eq!(s(10), "0.01");
        assert_eq!(s(0), "0");
    }

    #[test]
    fn whole_seconds_only_for_multiples_of_1000() {
        assert_eq!(Millis::new(2000).whole_seconds(), Some(2));
        assert_eq!(Millis::new(1500).whole_seconds(), None);
        assert_eq!(Millis::new(750).to_string(), "750");
    }
}
