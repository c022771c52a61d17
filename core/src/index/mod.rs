//! The index of one event name's subscriptions (a *partition*).
//!
//! Every conjunction of a subscription's condition is filed under its access predicate
//! ([`access::choose`]); a condition with a conjunction the index cannot test, or whose DNF
//! was too large, goes to the scan list. For an event, [`Partition::candidates`] reads each
//! indexed path once and collects the subscriptions whose predicate may hold.
//!
//! **Contract: candidates may include false positives, never a false negative.** A
//! subscription whose condition is true for an event is always a candidate for it;
//! verification (full evaluation) removes the rest.

pub(crate) mod access;
mod keys;
mod posting;
mod range;
mod substring;

use crate::eval::{lookup_path, Value};
use crate::frontend::ast::Path;
use crate::frontend::Shape;
use crate::Dialect;
use access::Pred;
use keys::{key_hash, str_hash, KeyKind, KeyMap};
use posting::Posting;
use range::{Bound, RangeIndex, Side};
use roaring::RoaringBitmap;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::sync::Arc;
use substring::ContainsIndex;

/// Where one subscription is filed, kept so it can be unfiled.
#[derive(Clone, Debug)]
pub(crate) enum Filing {
    Key { path: u32, kind: KeyKind, hash: u64 },
    Affix { path: u32, kind: KeyKind, len: usize, hash: u64 },
    Range { path: u32, side: Side, bound: Bound },
    Interval { path: u32, lo: u64, hi: u64 },
    Contains { path: u32, needle: Arc<str> },
    Presence { path: u32 },
    Scan,
}

impl Filing {
    /// The access class, for statistics and `explain` (an `in` list files one `eq` key per
    /// element).
    pub fn class(&self) -> Option<&'static str> {
        Some(match self {
            Filing::Key { kind: KeyKind::Eq, .. } => "eq",
            Filing::Key { .. } => "elem",
            Filing::Affix { kind: KeyKind::Prefix, .. } => "prefix",
            Filing::Affix { .. } => "suffix",
            Filing::Range { .. } => "range",
            Filing::Interval { .. } => "interval",
            Filing::Contains { .. } => "contains",
            Filing::Presence { .. } => "presence",
            Filing::Scan => "scan",
        })
    }
}

/// Everything indexed under one field path.
#[derive(Default)]
struct PathEntry {
    path: Option<Path>,
    /// Filings that reference this path (the entry is freed at zero).
    refs: u32,
    eq: u32,
    elem: u32,
    /// Needle lengths in bytes, with how many needles have each.
    prefix_lens: BTreeMap<usize, u32>,
    suffix_lens: BTreeMap<usize, u32>,
    range: RangeIndex,
    contains: ContainsIndex,
    presence: Option<Posting>,
}

#[derive(Default)]
pub(crate) struct Partition {
    entries: Vec<PathEntry>,
    free_entries: Vec<u32>,
    path_ids: ahash::AHashMap<Path, u32>,
    keys: KeyMap,
    scan: RoaringBitmap,
}

/// The access predicates of a subscription: one per conjunction, or `None` for the scan list.
pub(crate) fn plan(shape: &Shape, params: &[Value<'static>]) -> Option<Vec<(Path, Pred)>> {
    let conjunctions = shape.conjunctions.as_ref()?;
    conjunctions.iter().map(|atoms| access::choose(atoms, params)).collect()
}

impl Partition {
    pub fn is_empty(&self) -> bool {
        self.path_ids.is_empty() && self.scan.is_empty()
    }

    fn path_id(&mut self, path: &Path) -> u32 {
        if let Some(&id) = self.path_ids.get(path) {
            self.entries[id as usize].refs += 1;
            return id;
        }
        let id = match self.free_entries.pop() {
            Some(id) => id,
            None => {
                self.entries.push(PathEntry::default());
                self.entries.len() as u32 - 1
            }
        };
        let e = &mut self.entries[id as usize];
        e.path = Some(path.clone());
        e.refs = 1;
        self.path_ids.insert(path.clone(), id);
        id
    }

    fn release_path(&mut self, id: u32) {
        let e = &mut self.entries[id as usize];
        e.refs -= 1;
        if e.refs == 0 {
            let path = e.path.take().expect("live entry");
            self.path_ids.remove(&path);
            self.entries[id as usize] = PathEntry::default();
            self.free_entries.push(id);
        }
    }

    fn post_key(&mut self, hash: u64, slot: u32) {
        self.keys.entry(hash).and_modify(|p| p.insert(slot)).or_insert_with(|| Posting::new(slot));
    }

    fn unpost_key(&mut self, hash: u64, slot: u32) {
        if self.keys.get_mut(&hash).is_some_and(|p| p.remove(slot)) {
            self.keys.remove(&hash);
        }
    }

    /// Files `slot` under `plan` (from [`plan`]; `None` means the scan list) and returns the
    /// filings to pass to [`Partition::remove`].
    pub fn insert(&mut self, slot: u32, plan: Option<Vec<(Path, Pred)>>) -> Vec<Filing> {
        let Some(plan) = plan else {
            self.scan.insert(slot);
            return vec![Filing::Scan];
        };
        let mut filings = Vec::with_capacity(plan.len());
        for (path, pred) in plan {
            let pid = self.path_id(&path);
            let mut hashed = |this: &mut Self, kind: KeyKind, v: &Value<'_>| {
                if let Some(h) = key_hash(pid, kind, v) {
                    this.post_key(h, slot);
                    this.path_id(&path);
                    match kind {
                        KeyKind::Eq => this.entries[pid as usize].eq += 1,
                        _ => this.entries[pid as usize].elem += 1,
                    }
                    filings.push(Filing::Key { path: pid, kind, hash: h });
                }
            };
            match &pred {
                Pred::Eq(values) => values.iter().for_each(|v| hashed(self, KeyKind::Eq, v)),
                Pred::Elem(v) => hashed(self, KeyKind::Elem, v),
                Pred::Prefix(s) | Pred::Suffix(s) => {
                    let kind = if matches!(pred, Pred::Prefix(_)) { KeyKind::Prefix } else { KeyKind::Suffix };
                    let h = str_hash(pid, kind, s);
                    self.post_key(h, slot);
                    let lens = match kind {
                        KeyKind::Prefix => &mut self.entries[pid as usize].prefix_lens,
                        _ => &mut self.entries[pid as usize].suffix_lens,
                    };
                    *lens.entry(s.len()).or_default() += 1;
                    self.path_id(&path);
                    filings.push(Filing::Affix { path: pid, kind, len: s.len(), hash: h });
                }
                Pred::Range(side, bound) => {
                    self.entries[pid as usize].range.insert(*side, bound.clone(), slot);
                    self.path_id(&path);
                    filings.push(Filing::Range { path: pid, side: *side, bound: bound.clone() });
                }
                Pred::Interval(lo, hi) => {
                    self.entries[pid as usize].range.insert_interval(*lo, *hi, slot);
                    self.path_id(&path);
                    filings.push(Filing::Interval { path: pid, lo: *lo, hi: *hi });
                }
                Pred::Contains(needle) => {
                    self.entries[pid as usize].contains.insert(needle, slot);
                    self.path_id(&path);
                    filings.push(Filing::Contains { path: pid, needle: needle.clone() });
                }
                Pred::Presence => {
                    let e = &mut self.entries[pid as usize];
                    match &mut e.presence {
                        Some(p) => p.insert(slot),
                        None => e.presence = Some(Posting::new(slot)),
                    }
                    self.path_id(&path);
                    filings.push(Filing::Presence { path: pid });
                }
            }
            self.release_path(pid);
        }
        filings
    }

    pub fn remove(&mut self, slot: u32, filings: &[Filing]) {
        for f in filings {
            match f {
                Filing::Key { path, kind, hash } => {
                    self.unpost_key(*hash, slot);
                    let e = &mut self.entries[*path as usize];
                    match kind {
                        KeyKind::Eq => e.eq -= 1,
                        _ => e.elem -= 1,
                    }
                    self.release_path(*path);
                }
                Filing::Affix { path, kind, len, hash } => {
                    self.unpost_key(*hash, slot);
                    let e = &mut self.entries[*path as usize];
                    let lens = if *kind == KeyKind::Prefix { &mut e.prefix_lens } else { &mut e.suffix_lens };
                    if let Some(n) = lens.get_mut(len) {
                        *n -= 1;
                        if *n == 0 {
                            lens.remove(len);
                        }
                    }
                    self.release_path(*path);
                }
                Filing::Range { path, side, bound } => {
                    self.entries[*path as usize].range.remove(*side, bound, slot);
                    self.release_path(*path);
                }
                Filing::Interval { path, lo, hi } => {
                    self.entries[*path as usize].range.remove_interval(*lo, *hi, slot);
                    self.release_path(*path);
                }
                Filing::Contains { path, needle } => {
                    self.entries[*path as usize].contains.remove(needle, slot);
                    self.release_path(*path);
                }
                Filing::Presence { path } => {
                    let e = &mut self.entries[*path as usize];
                    if e.presence.as_mut().is_some_and(|p| p.remove(slot)) {
                        e.presence = None;
                    }
                    self.release_path(*path);
                }
                Filing::Scan => {
                    self.scan.remove(slot);
                }
            }
        }
    }

    /// Appends every subscription that may match `event` (unsorted, possibly repeated).
    pub fn candidates(&self, event: &Json, dialect: Dialect, out: &mut Vec<u32>) {
        for (pid, e) in self.entries.iter().enumerate() {
            let Some(path) = &e.path else { continue };
            let pid = pid as u32;
            let found = lookup_path(event, path);
            if e.eq > 0 {
                let v = match found {
                    Ok(j) => Some(Value::from_json(j)),
                    // Lenient: a missing field reads as null.
                    Err(_) if dialect == Dialect::Lenient => Some(Value::Null),
                    Err(_) => None,
                };
                if let Some(h) = v.and_then(|v| key_hash(pid, KeyKind::Eq, &v)) {
                    self.probe(h, out);
                }
            }
            let Ok(j) = found else { continue };
            if e.elem > 0 {
                match j {
                    Json::Array(items) => {
                        for item in items {
                            if let Some(h) = key_hash(pid, KeyKind::Elem, &Value::from_json(item)) {
                                self.probe(h, out);
                            }
                        }
                    }
                    Json::Object(m) => {
                        for k in m.keys() {
                            self.probe(str_hash(pid, KeyKind::Elem, k), out);
                        }
                    }
                    _ => {}
                }
            }
            if let Json::String(s) = j {
                for &len in e.prefix_lens.keys() {
                    if len > s.len() {
                        break;
                    }
                    if s.is_char_boundary(len) {
                        self.probe(str_hash(pid, KeyKind::Prefix, &s[..len]), out);
                    }
                }
                for &len in e.suffix_lens.keys() {
                    if len > s.len() {
                        break;
                    }
                    if s.is_char_boundary(s.len() - len) {
                        self.probe(str_hash(pid, KeyKind::Suffix, &s[s.len() - len..]), out);
                    }
                }
                if !e.contains.is_empty() {
                    e.contains.candidates(s, out);
                }
            }
            if !e.range.is_empty() {
                e.range.candidates(&Value::from_json(j), out);
            }
            if let Some(p) = &e.presence {
                p.extend_into(out);
            }
        }
        out.extend(self.scan.iter());
    }

    fn probe(&self, hash: u64, out: &mut Vec<u32>) {
        if let Some(p) = self.keys.get(&hash) {
            p.extend_into(out);
        }
    }

    pub fn scan_len(&self) -> u64 {
        self.scan.len()
    }

    /// An estimate of the heap bytes this partition holds.
    pub fn bytes(&self) -> usize {
        self.keys.capacity() * 16 + self.keys.values().map(Posting::bytes).sum::<usize>()
            + self.entries.iter().map(|e| 200 + e.range.bytes() + e.contains.bytes() + e.presence.as_ref().map_or(0, Posting::bytes)).sum::<usize>()
            + self.scan.serialized_size()
    }
}
