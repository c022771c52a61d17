//! `contains` over many needles per path. Needles live in a few Aho-Corasick automata of
//! growing sizes (the logarithmic method): a new needle waits in a small overlay, a full
//! overlay becomes an automaton, and two automata of similar size merge into one. Adding n
//! needles costs O(n log n) automaton building in total, and a probe scans the event string
//! once per automaton, O(log n) times, plus the overlay.
//!
//! **Necessary, not sufficient**: a found needle makes its subscriptions candidates, and
//! verification decides. Removed needles linger in their automaton until it is merged again;
//! they find no posting list and produce nothing.

use super::posting::Posting;
use aho_corasick::AhoCorasick;
use std::collections::HashMap;
use std::sync::Arc;

/// Needles checked one by one before they are built into an automaton.
const OVERLAY_MAX: usize = 32;

/// A level merges into the one below it unless that one is this many times larger. Higher
/// means fewer automata to scan per event (about log base MERGE_RATIO of n) for a little more
/// rebuilding per needle.
const MERGE_RATIO: usize = 2;

#[derive(Default)]
pub(crate) struct ContainsIndex {
    postings: HashMap<Arc<str>, Posting>,
    /// Automata, largest first; each with the needles it was built from, by pattern id.
    levels: Vec<(AhoCorasick, Vec<Arc<str>>)>,
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
        self.overlay.push(needle);
        if self.overlay.len() >= OVERLAY_MAX {
            let fresh = std::mem::take(&mut self.overlay);
            self.push_level(fresh);
        }
    }

    /// Builds `needles` into an automaton, merging with smaller-or-similar levels first.
    fn push_level(&mut self, mut needles: Vec<Arc<str>>) {
        while let Some((_, last)) = self.levels.last() {
            if last.len() > needles.len() * MERGE_RATIO {
                break;
            }
            let (_, older) = self.levels.pop().expect("non-empty");
            needles.extend(older);
        }
        // Drop needles that were removed (and duplicates of re-added ones) while merging.
        needles.retain(|n| self.postings.contains_key(n));
        needles.sort_unstable();
        needles.dedup();
        if needles.is_empty() {
            return;
        }
        // A contiguous NFA: quick to build (levels are rebuilt as they merge) and compact;
        // a DFA would search a little faster at many times the memory.
        let built = AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::Standard)
            .kind(Some(aho_corasick::AhoCorasickKind::ContiguousNFA))
            .build(needles.iter().map(|s| s.as_bytes()));
        match built {
            Ok(ac) => self.levels.push((ac, needles)),
            // Cannot happen for plain needles (no size limits are set); if it did, keep them in
            // the overlay so that nothing is missed.
            Err(_) => self.overlay.extend(needles),
        }
    }

    pub fn remove(&mut self, needle: &str, slot: u32) {
        if self.postings.get_mut(needle).is_some_and(|p| p.remove(slot)) {
            self.postings.remove(needle);
            self.overlay.retain(|n| &**n != needle);
            // When most built needles are dead, rebuild everything once.
            let built: usize = self.levels.iter().map(|(_, n)| n.len()).sum();
            if built > 64 && self.postings.len() * 2 < built {
                let live: Vec<Arc<str>> = self.levels.drain(..).flat_map(|(_, n)| n).collect();
                self.push_level(live);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.postings.is_empty()
    }

    pub fn candidates(&self, haystack: &str, out: &mut Vec<u32>) {
        for (ac, needles) in &self.levels {
            // Overlapping search: every needle that occurs, not just leftmost ones. A needle
            // that occurs twice posts twice; the caller deduplicates candidates anyway.
            for m in ac.find_overlapping_iter(haystack) {
                if let Some(p) = self.postings.get(&needles[m.pattern().as_usize()]) {
                    p.extend_into(out);
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

    pub fn has(&self, needle: &str, slot: u32) -> bool {
        self.postings.get(needle).is_some_and(|p| p.contains(slot))
    }

    /// Calls `f` for every filed slot, once per needle it is filed under.
    pub fn for_each_slot(&self, f: &mut dyn FnMut(u32)) {
        self.postings.values().for_each(|p| p.iter().for_each(&mut *f));
    }

    /// Every live needle is in exactly one place: the overlay or a built level.
    pub fn validate(&self) -> Result<(), String> {
        for n in self.postings.keys() {
            let places = self.overlay.iter().filter(|o| *o == n).count() + self.levels.iter().filter(|(_, ns)| ns.contains(n)).count();
            if places == 0 {
                return Err(format!("contains needle {n:?} is in no automaton and not in the overlay"));
            }
        }
        Ok(())
    }

    pub fn bytes(&self) -> usize {
        self.postings.iter().map(|(k, p)| 48 + k.len() * 2 + p.bytes()).sum::<usize>()
            + self.levels.iter().map(|(ac, n)| ac.memory_usage() + n.len() * 16).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_needle_is_found_across_levels_and_the_overlay() {
        let mut c = ContainsIndex::default();
        let needles: Vec<String> = (0..500).map(|i| format!("n{i:04}x")).collect();
        for (slot, n) in needles.iter().enumerate() {
            c.insert(n, slot as u32);
        }
        assert!(c.levels.len() > 1 && c.levels.len() < 12, "logarithmic levels: {}", c.levels.len());
        c.validate().unwrap();
        for (slot, n) in needles.iter().enumerate() {
            let mut out = Vec::new();
            c.candidates(&format!("..{n}.."), &mut out);
            assert!(out.contains(&(slot as u32)), "{n} not found");
        }
        // Remove most of them: the rest are still found, the removed ones never.
        for (slot, n) in needles.iter().enumerate().filter(|(i, _)| i % 10 != 0) {
            c.remove(n, slot as u32);
        }
        c.validate().unwrap();
        let mut out = Vec::new();
        c.candidates(&needles.concat(), &mut out);
        out.sort_unstable();
        out.dedup();
        assert_eq!(out, (0..500).filter(|i| i % 10 == 0).collect::<Vec<u32>>());
    }
}
