//! `contains` over many needles per path: one Aho-Corasick automaton finds every needle in
//! the event string in a single pass. The automaton is rebuilt lazily; needles added since
//! the last build wait in a small overlay that is checked one by one.
//!
//! **Necessary, not sufficient**: a found needle makes its subscriptions candidates, and
//! verification decides (removed needles may linger in the automaton until the next build;
//! they find no posting list and produce nothing).

use super::posting::Posting;
use aho_corasick::AhoCorasick;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default)]
pub(crate) struct ContainsIndex {
    postings: HashMap<Arc<str>, Posting>,
    automaton: Option<AhoCorasick>,
    /// The needles the automaton was built from, by pattern id.
    built: Vec<Arc<str>>,
    /// Needles added since the build.
    overlay: Vec<Arc<str>>,
}

impl ContainsIndex {
    pub fn insert(&mut self, needle: &str, slot: u32) {
        if let Some(p) = self.postings.get_mut(needle) {
            p.insert(slot);
            return;
        }
        let needle: Arc<str> = Arc::from(needle);
        self.postings.insert(needle.clone(), Posting::new(slot));
        if !self.built.contains(&needle) {
            self.overlay.push(needle);
        }
        // Rebuild when the overlay outgrows a quarter of the automaton: the amortized cost
        // per insert stays constant.
        if self.overlay.len() > 8 && self.overlay.len() * 4 > self.built.len() {
            self.rebuild();
        }
    }

    pub fn remove(&mut self, needle: &str, slot: u32) {
        if self.postings.get_mut(needle).is_some_and(|p| p.remove(slot)) {
            self.postings.remove(needle);
            self.overlay.retain(|n| &**n != needle);
            if self.postings.len() * 2 < self.built.len() {
                self.rebuild();
            }
        }
    }

    fn rebuild(&mut self) {
        self.built = self.postings.keys().cloned().collect();
        self.overlay.clear();
        self.automaton = if self.built.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::Standard)
                .build(self.built.iter().map(|s| s.as_bytes()))
                .ok()
        };
        if self.automaton.is_none() {
            // Could not build (cannot happen for plain needles): keep every needle in the
            // overlay, so nothing is missed.
            self.overlay = std::mem::take(&mut self.built);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.postings.is_empty()
    }

    pub fn candidates(&self, haystack: &str, out: &mut Vec<u32>) {
        if let Some(ac) = &self.automaton {
            let mut seen = vec![false; self.built.len()];
            // Overlapping search: every needle that occurs, not just leftmost ones.
            for m in ac.find_overlapping_iter(haystack) {
                let id = m.pattern().as_usize();
                if !std::mem::replace(&mut seen[id], true) {
                    if let Some(p) = self.postings.get(&self.built[id]) {
                        p.extend_into(out);
                    }
                }
            }
        }
        for n in &self.overlay {
            if haystack.contains(&**n) {
                if let Some(p) = self.postings.get(n) {
                    p.extend_into(out);
                }
            }
        }
    }

    pub fn bytes(&self) -> usize {
        self.postings.iter().map(|(k, p)| 48 + k.len() * 2 + p.bytes()).sum::<usize>()
            + self.automaton.as_ref().map_or(0, |a| a.memory_usage())
    }
}
