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
//!
//! The partition keeps no per-subscription record of where it filed a slot: the filings are
//! a pure function of the subscription's shape and parameters ([`plan`]), so removal
//! recomputes them. That saves the memory of a filing list per subscription.

pub(crate) mod access;
mod keys;
mod posting;
mod range;
mod substring;

use crate::eval::{lookup_path, Value};
use crate::frontend::ast::Path;
use crate::frontend::Shape;
use crate::ids::{PathId, SlotId};
use crate::Dialect;
use access::Pred;
pub(crate) use keys::{integral, KeyHasher};
use keys::{KeyKind, KeyTable};
use posting::Posting;
use range::{Bound, RangeIndex, Side};
use roaring::RoaringBitmap;
use crate::event::Node;
use std::collections::BTreeMap;
use substring::ContainsIndex;

/// Access classes, for statistics and `explain`. An `in` list files one `eq` key per
/// element, so it counts once per element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Eq,
    Elem,
    Prefix,
    Suffix,
    Contains,
    Interval,
    Range,
    Presence,
    Scan,
}

impl Class {
    pub const ALL: [Class; 9] =
        [Class::Eq, Class::Elem, Class::Prefix, Class::Suffix, Class::Contains, Class::Interval, Class::Range, Class::Presence, Class::Scan];

    pub fn name(self) -> &'static str {
        match self {
            Class::Eq => "eq",
            Class::Elem => "elem",
            Class::Prefix => "prefix",
            Class::Suffix => "suffix",
            Class::Contains => "contains",
            Class::Interval => "interval",
            Class::Range => "range",
            Class::Presence => "presence",
            Class::Scan => "scan",
        }
    }
}

/// Filing counts per [`Class`], in `Class::ALL` order.
pub(crate) type ClassCounts = [u64; 9];

/// One place a subscription is filed, computed from its plan (never stored).
enum Filing<'p> {
    Key { kind: KeyKind, hash: u32 },
    Affix { kind: KeyKind, len: usize, hash: u32 },
    Range { side: Side, bound: &'p Bound },
    Interval { lo: u64, hi: u64 },
    Contains { needle: &'p str },
    Presence,
}

impl Filing<'_> {
    fn class(&self) -> Class {
        match self {
            Filing::Key { kind: KeyKind::Eq, .. } => Class::Eq,
            Filing::Key { .. } => Class::Elem,
            Filing::Affix { kind: KeyKind::Prefix, .. } => Class::Prefix,
            Filing::Affix { .. } => Class::Suffix,
            Filing::Range { .. } => Class::Range,
            Filing::Interval { .. } => Class::Interval,
            Filing::Contains { .. } => Class::Contains,
            Filing::Presence => Class::Presence,
        }
    }
}

/// Everything indexed under one field path.
#[derive(Default)]
struct PathEntry {
    path: Option<Path>,
    /// Filings under this path (the entry is freed at zero).
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

pub(crate) struct Partition {
    hasher: KeyHasher,
    entries: Vec<PathEntry>,
    free_entries: Vec<PathId>,
    path_ids: ahash::AHashMap<Path, PathId>,
    keys: KeyTable,
    scan: RoaringBitmap,
    filed: ClassCounts,
}

/// The access predicates of a subscription: one per conjunction, or `None` for the scan list.
pub(crate) fn plan<'v>(shape: &Shape, params: &[Value<'v>]) -> Option<Vec<(Path, Pred<'v>)>> {
    let conjunctions = shape.conjunctions.as_ref()?;
    conjunctions.iter().map(|atoms| access::choose(atoms, params)).collect()
}

impl Partition {
    pub fn new(hasher: KeyHasher) -> Self {
        Partition {
            hasher,
            entries: Vec::new(),
            free_entries: Vec::new(),
            path_ids: Default::default(),
            keys: KeyTable::default(),
            scan: RoaringBitmap::new(),
            filed: [0; 9],
        }
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.path_ids.is_empty() && self.scan.is_empty()
    }

    /// Filing counts per class.
    pub fn filed(&self) -> &ClassCounts {
        &self.filed
    }

    /// The places `pred` files under path `pid`, in a fixed order.
    fn filings<'p>(&self, pid: PathId, pred: &'p Pred<'_>, f: &mut dyn FnMut(Filing<'p>)) {
        match pred {
            Pred::Eq(values) => {
                // A value no key stands for (NaN) can never be equal: nothing to file.
                for v in values {
                    if let Some(hash) = self.hasher.key(pid, KeyKind::Eq, v) {
                        f(Filing::Key { kind: KeyKind::Eq, hash });
                    }
                }
            }
            Pred::Elem(v) => {
                if let Some(hash) = self.hasher.key(pid, KeyKind::Elem, v) {
                    f(Filing::Key { kind: KeyKind::Elem, hash });
                }
            }
            Pred::Prefix(s) => f(Filing::Affix { kind: KeyKind::Prefix, len: s.len(), hash: self.hasher.str(pid, KeyKind::Prefix, s) }),
            Pred::Suffix(s) => f(Filing::Affix { kind: KeyKind::Suffix, len: s.len(), hash: self.hasher.str(pid, KeyKind::Suffix, s) }),
            Pred::Range(side, bound) => f(Filing::Range { side: *side, bound }),
            Pred::Interval(lo, hi) => f(Filing::Interval { lo: *lo, hi: *hi }),
            Pred::Contains(needle) => f(Filing::Contains { needle }),
            Pred::Presence => f(Filing::Presence),
        }
    }

    fn path_id(&mut self, path: &Path) -> PathId {
        if let Some(&id) = self.path_ids.get(path) {
            return id;
        }
        let id = match self.free_entries.pop() {
            Some(id) => id,
            None => {
                self.entries.push(PathEntry::default());
                PathId::try_new(self.entries.len() - 1).expect("fewer than 2^32 paths")
            }
        };
        self.entries[id.index()].path = Some(path.clone());
        self.path_ids.insert(path.clone(), id);
        id
    }

    /// Frees the entry of `id` once nothing is filed under it.
    fn release_path_if_unused(&mut self, id: PathId) {
        let e = &mut self.entries[id.index()];
        if e.refs == 0 {
            let path = e.path.take().expect("live entry");
            self.path_ids.remove(&path);
            self.entries[id.index()] = PathEntry::default();
            self.free_entries.push(id);
        }
    }

    /// Files `slot` under `plan` (from [`plan`]; `None` means the scan list).
    pub fn insert(&mut self, slot: SlotId, plan: Option<&[(Path, Pred<'_>)]>) {
        let Some(plan) = plan else {
            self.scan.insert(slot.as_u32());
            self.filed[Class::Scan as usize] += 1;
            return;
        };
        let s = slot.as_u32();
        for (path, pred) in plan {
            let pid = self.path_id(path);
            let mut todo: smallvec::SmallVec<[Filing<'_>; 2]> = smallvec::SmallVec::new();
            self.filings(pid, pred, &mut |f| todo.push(f));
            for f in todo {
                self.filed[f.class() as usize] += 1;
                let e = &mut self.entries[pid.index()];
                e.refs += 1;
                match f {
                    Filing::Key { kind, hash } => {
                        match kind {
                            KeyKind::Eq => e.eq += 1,
                            _ => e.elem += 1,
                        }
                        self.keys.insert(hash, s);
                    }
                    Filing::Affix { kind, len, hash } => {
                        let lens = if kind == KeyKind::Prefix { &mut e.prefix_lens } else { &mut e.suffix_lens };
                        *lens.entry(len).or_default() += 1;
                        self.keys.insert(hash, s);
                    }
                    Filing::Range { side, bound } => e.range.insert(side, bound.clone(), s),
                    Filing::Interval { lo, hi } => e.range.insert_interval(lo, hi, s),
                    Filing::Contains { needle } => e.contains.insert(needle, s),
                    Filing::Presence => match &mut e.presence {
                        Some(p) => p.insert(s),
                        None => e.presence = Some(Posting::new(s)),
                    },
                }
            }
            self.release_path_if_unused(pid);
        }
    }

    /// Unfiles `slot`, which was filed under the same `plan`.
    pub fn remove(&mut self, slot: SlotId, plan: Option<&[(Path, Pred<'_>)]>) {
        let Some(plan) = plan else {
            self.scan.remove(slot.as_u32());
            self.filed[Class::Scan as usize] -= 1;
            return;
        };
        let s = slot.as_u32();
        for (path, pred) in plan {
            // No entry: the predicate filed nothing (an equality with NaN only).
            let Some(&pid) = self.path_ids.get(path) else { continue };
            let mut todo: smallvec::SmallVec<[Filing<'_>; 2]> = smallvec::SmallVec::new();
            self.filings(pid, pred, &mut |f| todo.push(f));
            for f in todo {
                self.filed[f.class() as usize] -= 1;
                let e = &mut self.entries[pid.index()];
                e.refs -= 1;
                match f {
                    Filing::Key { kind, hash } => {
                        match kind {
                            KeyKind::Eq => e.eq -= 1,
                            _ => e.elem -= 1,
                        }
                        self.keys.remove(hash, s);
                    }
                    Filing::Affix { kind, len, hash } => {
                        let lens = if kind == KeyKind::Prefix { &mut e.prefix_lens } else { &mut e.suffix_lens };
                        if let Some(n) = lens.get_mut(&len) {
                            *n -= 1;
                            if *n == 0 {
                                lens.remove(&len);
                            }
                        }
                        self.keys.remove(hash, s);
                    }
                    Filing::Range { side, bound } => e.range.remove(side, bound, s),
                    Filing::Interval { lo, hi } => e.range.remove_interval(lo, hi, s),
                    Filing::Contains { needle } => e.contains.remove(needle, s),
                    Filing::Presence => {
                        if e.presence.as_mut().is_some_and(|p| p.remove(s)) {
                            e.presence = None;
                        }
                    }
                }
            }
            self.release_path_if_unused(pid);
        }
    }

    /// Appends every subscription that may match `event` (unsorted, possibly repeated).
    pub fn candidates(&self, event: &Node<'_>, dialect: Dialect, out: &mut Vec<u32>) {
        for (pid, e) in self.entries.iter().enumerate() {
            let Some(path) = &e.path else { continue };
            let pid = PathId::from_u32(pid as u32);
            let found = lookup_path(event, path);
            if e.eq > 0 {
                let v = match found {
                    Ok(j) => Some(Value::from_node(j)),
                    // Lenient: a missing field reads as null.
                    Err(_) if dialect == Dialect::Lenient => Some(Value::Null),
                    Err(_) => None,
                };
                if let Some(h) = v.and_then(|v| self.hasher.key(pid, KeyKind::Eq, &v)) {
                    self.probe(h, out);
                }
            }
            let Ok(j) = found else { continue };
            if e.elem > 0 {
                match j {
                    Node::List(items) => {
                        for item in items {
                            if let Some(h) = self.hasher.key(pid, KeyKind::Elem, &Value::from_node(item)) {
                                self.probe(h, out);
                            }
                        }
                    }
                    Node::Map(m) => {
                        // A repeated key probes twice; the caller removes repeats.
                        for (k, _) in m {
                            self.probe(self.hasher.str(pid, KeyKind::Elem, k), out);
                        }
                    }
                    _ => {}
                }
            }
            if let Node::Str(s) = j {
                for &len in e.prefix_lens.keys() {
                    if len > s.len() {
                        break;
                    }
                    if s.is_char_boundary(len) {
                        self.probe(self.hasher.str(pid, KeyKind::Prefix, &s[..len]), out);
                    }
                }
                for &len in e.suffix_lens.keys() {
                    if len > s.len() {
                        break;
                    }
                    if s.is_char_boundary(s.len() - len) {
                        self.probe(self.hasher.str(pid, KeyKind::Suffix, &s[s.len() - len..]), out);
                    }
                }
                if !e.contains.is_empty() {
                    e.contains.candidates(s, out);
                }
            }
            if !e.range.is_empty() {
                e.range.candidates(&Value::from_node(j), out);
            }
            if let Some(p) = &e.presence {
                p.extend_into(out);
            }
        }
        out.extend(self.scan.iter());
    }

    fn probe(&self, key: u32, out: &mut Vec<u32>) {
        self.keys.extend_into(key, out);
    }

    /// Checks that `slot` is filed everywhere `plan` says, and returns how many distinct
    /// postings that makes (a plan that files one key twice, as `x == 1 || x == 1.0` does,
    /// posts the slot once).
    pub fn check_filed(&self, slot: SlotId, plan: Option<&[(Path, Pred<'_>)]>) -> Result<u64, String> {
        let s = slot.as_u32();
        let Some(plan) = plan else {
            return if self.scan.contains(s) { Ok(1) } else { Err(format!("slot {s} is not in the scan list")) };
        };
        let mut distinct = std::collections::BTreeSet::new();
        for (path, pred) in plan {
            let Some(&pid) = self.path_ids.get(path) else {
                let mut any = false;
                self.filings(PathId::NONE, pred, &mut |_| any = true);
                if any {
                    return Err(format!("slot {s}: path {} has no entry", path.join(".")));
                }
                continue;
            };
            let e = &self.entries[pid.index()];
            let mut missing = None;
            self.filings(pid, pred, &mut |f| {
                distinct.insert(match &f {
                    Filing::Key { hash, .. } | Filing::Affix { hash, .. } => format!("key {hash}"),
                    Filing::Range { side, bound } => format!("{} range {side:?} {bound}", pid.as_u32()),
                    Filing::Interval { lo, hi } => format!("{} interval {lo} {hi}", pid.as_u32()),
                    Filing::Contains { needle } => format!("{} contains {needle}", pid.as_u32()),
                    Filing::Presence => format!("{} presence", pid.as_u32()),
                });
                let ok = match &f {
                    Filing::Key { hash, .. } | Filing::Affix { hash, .. } => self.keys.contains(*hash, s),
                    Filing::Range { side, bound } => e.range.has(*side, bound, s),
                    Filing::Interval { lo, hi } => e.range.has_interval(*lo, *hi, s),
                    Filing::Contains { needle } => e.contains.has(needle, s),
                    Filing::Presence => e.presence.as_ref().is_some_and(|p| p.contains(s)),
                };
                if !ok && missing.is_none() {
                    missing = Some(f.class().name());
                }
            });
            if let Some(class) = missing {
                return Err(format!("slot {s} is not filed under its {class} predicate on {}", path.join(".")));
            }
        }
        Ok(distinct.len() as u64)
    }

    /// Checks the partition's own invariants and that every posting names a slot for which
    /// `is_live` holds. Returns the number of postings, which must equal the number of
    /// distinct filings the live subscriptions' plans make (the store checks that).
    pub fn validate(&self, is_live: &dyn Fn(u32) -> bool) -> Result<u64, String> {
        let mut postings = 0u64;
        let mut dead = None;
        let mut count = |s: u32| {
            postings += 1;
            if !is_live(s) && dead.is_none() {
                dead = Some(s);
            }
        };
        self.keys.for_each_slot(&mut count);
        self.scan.iter().for_each(&mut count);
        let (mut refs, mut keyed) = (0u64, 0u64);
        for (i, e) in self.entries.iter().enumerate() {
            let Some(path) = &e.path else {
                if e.refs != 0 {
                    return Err(format!("free path entry {i} has {} filings", e.refs));
                }
                continue;
            };
            if self.path_ids.get(path) != Some(&PathId::from_u32(i as u32)) {
                return Err(format!("path {} is not mapped to its entry {i}", path.join(".")));
            }
            if e.refs == 0 {
                return Err(format!("path {} has an entry but no filings", path.join(".")));
            }
            e.range.for_each_slot(&mut count);
            e.contains.for_each_slot(&mut count);
            e.contains.validate()?;
            if let Some(p) = &e.presence {
                p.iter().for_each(&mut count);
            }
            refs += e.refs as u64;
            keyed += (e.eq + e.elem) as u64 + e.prefix_lens.values().chain(e.suffix_lens.values()).map(|&n| n as u64).sum::<u64>();
        }
        if let Some(s) = dead {
            return Err(format!("a posting names slot {s}, which is not live in this partition"));
        }
        if self.path_ids.len() != self.entries.iter().filter(|e| e.path.is_some()).count() {
            return Err("path map and entries disagree".into());
        }
        let filed: u64 = self.filed.iter().sum();
        if refs + self.scan.len() != filed {
            return Err(format!("{refs} path filings + {} scanned, but {filed} filings counted", self.scan.len()));
        }
        let keyed_counted: u64 = [Class::Eq, Class::Elem, Class::Prefix, Class::Suffix].iter().map(|c| self.filed[*c as usize]).sum();
        if keyed != keyed_counted {
            return Err(format!("{keyed} keyed filings on paths, {keyed_counted} counted"));
        }
        Ok(postings)
    }

    /// An estimate of the heap bytes this partition holds, in O(paths).
    pub fn bytes(&self) -> usize {
        let keyed: u64 = [Class::Eq, Class::Elem, Class::Prefix, Class::Suffix].iter().map(|c| self.filed[*c as usize]).sum();
        self.keys.bytes(keyed)
            + self.entries.iter().map(|e| 200 + e.range.bytes() + e.contains.bytes() + e.presence.as_ref().map_or(0, Posting::bytes)).sum::<usize>()
            + self.scan.serialized_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::ast::Path;
    use std::sync::Arc;

    fn path(s: &str) -> Path {
        s.split('.').map(Arc::<str>::from).collect::<Vec<_>>().into()
    }

    fn candidates(p: &Partition, event: serde_json::Value) -> Vec<u32> {
        let mut out = Vec::new();
        p.candidates(&Node::from_json(&event), Dialect::Strict, &mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn keys_affixes_and_presence_file_and_unfile() {
        let mut p = Partition::new(KeyHasher::random());
        let plans: Vec<Vec<(Path, Pred<'static>)>> = vec![
            vec![(path("data.id"), Pred::Eq(vec![Value::string("a"), Value::Int(1)]))],
            vec![(path("data.tags"), Pred::Elem(Value::string("x")))],
            vec![(path("data.p"), Pred::Prefix(crate::eval::Str::Shared(Arc::from("/t/"))))],
            vec![(path("data.p"), Pred::Suffix(crate::eval::Str::Shared(Arc::from(".pdf"))))],
            vec![(path("data.n"), Pred::Presence)],
            vec![(path("data.id"), Pred::Eq(vec![Value::Double(1.0)])), (path("data.q"), Pred::Contains(crate::eval::Str::Shared(Arc::from("zz"))))],
        ];
        for (i, plan) in plans.iter().enumerate() {
            p.insert(SlotId::from_u32(i as u32), Some(plan));
        }
        p.insert(SlotId::from_u32(9), None);
        for (i, plan) in plans.iter().enumerate() {
            p.check_filed(SlotId::from_u32(i as u32), Some(plan)).unwrap();
        }
        let distinct: u64 = plans.iter().enumerate().map(|(i, plan)| p.check_filed(SlotId::from_u32(i as u32), Some(plan)).unwrap()).sum();
        assert_eq!(distinct, 8);
        assert_eq!(p.validate(&|s| s < 6 || s == 9).unwrap(), 9);
        assert_eq!(candidates(&p, serde_json::json!({"data": {"id": 1}})), vec![0, 5, 9], "1 and 1.0 share a key");
        assert_eq!(candidates(&p, serde_json::json!({"data": {"tags": ["y", "x"], "p": "/t/a.pdf"}})), vec![1, 2, 3, 9]);
        assert_eq!(candidates(&p, serde_json::json!({"data": {"n": null, "q": "azzb"}})), vec![4, 5, 9]);
        for (i, plan) in plans.iter().enumerate() {
            p.remove(SlotId::from_u32(i as u32), Some(plan));
        }
        p.remove(SlotId::from_u32(9), None);
        assert!(p.is_empty());
        assert_eq!(p.validate(&|_| false).unwrap(), 0);
        assert_eq!(p.filed(), &[0; 9]);
    }

    #[test]
    fn each_engine_hashes_keys_with_its_own_seed() {
        let (a, b) = (KeyHasher::random(), KeyHasher::random());
        let v = Value::string("same key");
        assert_ne!(a.key(PathId::from_u32(0), KeyKind::Eq, &v), b.key(PathId::from_u32(0), KeyKind::Eq, &v));
        assert_eq!(a.key(PathId::from_u32(0), KeyKind::Eq, &Value::Int(3)), a.key(PathId::from_u32(0), KeyKind::Eq, &Value::Double(3.0)));
    }
}
