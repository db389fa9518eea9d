//! The human rendering of a [`ChangePlan`], as `rmqgen plan` prints it.

use std::fmt;

use super::ChangePlan;

impl fmt::Display for ChangePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_noop() {
            writeln!(
                f,
                "cluster {}: no change (both specs render the same hosts and role files)",
                self.cluster
            )?;
        } else {
            let disruptive = self.changes.iter().filter(|c| c.disruptive).count();
            let n = self.changes.len();
            write!(
                f,
                "cluster {}: {n} change{}",
                self.cluster,
                if n == 1 { "" } else { "s" }
            )?;
            if disruptive > 0 {
                write!(f, ", {disruptive} disruptive")?;
            }
            writeln!(f, ", in this order:")?;
        }
        for (i, c) in self.changes.iter().enumerate() {
            writeln!(f)?;
            write!(f, "{}. [{}] {}", i + 1, c.kind, c.summary)?;
            if c.disruptive {
                write!(f, " (DISRUPTIVE)")?;
            }
            writeln!(f)?;
            if let Some(p) = &c.pointer {
                writeln!(f, "   at: {p}")?;
            }
            if !c.hosts.is_empty() {
                writeln!(f, "   hosts: {}", c.hosts.join(", "))?;
            }
            if let Some(hop) = &c.hop {
                writeln!(
                    f,
                    "   hop: {} → {}, Erlang {}",
                    hop.from, hop.to, hop.erlang
                )?;
                for note in &hop.notes {
                    writeln!(f, "   note: {note}")?;
                }
            }
            for s in &c.steps {
                writeln!(f, "   - {s}")?;
            }
        }
        if !self.warnings.is_empty() {
            writeln!(f)?;
            write!(f, "{}", self.warnings)?;
        }
        Ok(())
    }
}
