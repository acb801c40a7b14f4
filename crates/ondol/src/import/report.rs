//! What an import made of each key of the source file: mapped (and to what), or
//! not supported (and why). Printed before a deploy, so nothing is dropped
//! silently.

use std::fmt;

/// One key's fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Mapped to this part of the manifest.
    Mapped(String),
    /// Left out, with the reason.
    Unsupported(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key as the source file spells it (`functions.hello.events[0].http`).
    pub key: String,
    pub verdict: Verdict,
}

/// Every key an importer looked at.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub entries: Vec<Entry>,
}

impl Report {
    pub fn mapped(&mut self, key: impl Into<String>, to: impl Into<String>) {
        self.entries.push(Entry {
            key: key.into(),
            verdict: Verdict::Mapped(to.into()),
        });
    }

    pub fn unsupported(&mut self, key: impl Into<String>, why: impl Into<String>) {
        self.entries.push(Entry {
            key: key.into(),
            verdict: Verdict::Unsupported(why.into()),
        });
    }

    pub fn unsupported_count(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e.verdict, Verdict::Unsupported(_)))
            .count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            match &e.verdict {
                Verdict::Mapped(to) => writeln!(f, "  mapped       {}  →  {to}", e.key)?,
                Verdict::Unsupported(why) => writeln!(f, "  unsupported  {}: {why}", e.key)?,
            }
        }
        Ok(())
    }
}
