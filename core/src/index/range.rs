//! Range predicates (`<`, `<=`, `>`, `>=` against a number or a string), in ordered maps so
//! that an event value finds its candidates in O(log n + hits).
//!
//! **Necessary, not sufficient.** Every bound is stored as inclusive, and numbers of all CEL
//! types share one order by mapping them to `f64` and then to order-preserving `u64` bits
//! (flip the sign bit of positives, all bits of negatives). The mapping from `i64` to `f64`
//! rounds, but monotonically: `a <= b` implies `f(a) <= f(b)`, so an inclusive probe in the
//! mapped space never misses a true match. It may return a bound that rounding made equal;
//! verification removes it.

use super::posting::Posting;
use crate::eval::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Bound {
    Num(u64),
    Str(Arc<str>),
}

impl Bound {
    /// The ordered key of a number or string; `None` for anything else (and NaN).
    pub fn of(v: &Value<'_>) -> Option<Bound> {
        Some(match v {
            Value::Int(i) => Bound::Num(ordered(*i as f64)),
            Value::UInt(u) => Bound::Num(ordered(*u as f64)),
            Value::Double(d) if !d.is_nan() => Bound::Num(ordered(*d)),
            Value::Str(s) => Bound::Str(Arc::from(&**s)),
            _ => return None,
        })
    }
}

pub(crate) fn ordered(d: f64) -> u64 {
    let d = if d == 0.0 { 0.0 } else { d }; // -0.0 == 0.0
    let bits = d.to_bits();
    if bits >> 63 == 0 {
        bits | 1 << 63
    } else {
        !bits
    }
}

/// The number an order-preserving key stands for (the inverse of `ordered`).
pub(crate) fn unordered(bits: u64) -> f64 {
    f64::from_bits(if bits >> 63 == 1 { bits & !(1 << 63) } else { !bits })
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::Num(n) => write!(f, "{}", unordered(*n)),
            Bound::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// Which side of the event value the bound sits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Side {
    /// `value > bound` / `value >= bound`: candidates have `bound <= value`.
    Lower,
    /// `value < bound` / `value <= bound`: candidates have `bound >= value`.
    Upper,
}

#[derive(Default)]
pub(crate) struct RangeIndex {
    lower: BTreeMap<Bound, Posting>,
    upper: BTreeMap<Bound, Posting>,
    intervals: IntervalIndex,
}

/// Numeric intervals `lo <= value <= hi` (both bounds of one path in one conjunction).
///
/// Indexing by one bound alone would make every interval below (or above) the value a
/// candidate. Instead intervals are grouped by width class (the bit length of `hi - lo` in
/// the order-preserving encoding); in class `k` every interval has `hi - lo < 2^k`, so one
/// containing `v` has `lo` in `[v - 2^k, v]`. A probe reads that window in each non-empty
/// class: O(classes × (log n + window)). Candidates in the window whose `hi` is below `v`
/// are dropped on the spot. **Necessary, not sufficient**: the bounds are inclusive and
/// rounded through `f64`, so verification still decides.
#[derive(Default)]
struct IntervalIndex {
    classes: BTreeMap<u32, BTreeMap<u64, Vec<(u64, u32)>>>,
}

fn width_class(lo: u64, hi: u64) -> u32 {
    64 - hi.saturating_sub(lo).leading_zeros()
}

impl RangeIndex {
    fn map(&mut self, side: Side) -> &mut BTreeMap<Bound, Posting> {
        match side {
            Side::Lower => &mut self.lower,
            Side::Upper => &mut self.upper,
        }
    }

    /// Files `lo <= value <= hi` (both in the order-preserving encoding).
    pub fn insert_interval(&mut self, lo: u64, hi: u64, slot: u32) {
        let class = self.intervals.classes.entry(width_class(lo, hi)).or_default();
        let list = class.entry(lo).or_default();
        // One entry per (interval, slot), like every posting list: a plan that files the
        // same interval twice is removed in one go.
        if !list.contains(&(hi, slot)) {
            list.push((hi, slot));
        }
    }

    pub fn remove_interval(&mut self, lo: u64, hi: u64, slot: u32) {
        let k = width_class(lo, hi);
        let Some(class) = self.intervals.classes.get_mut(&k) else { return };
        if let Some(v) = class.get_mut(&lo) {
            v.retain(|&(h, s)| !(h == hi && s == slot));
            if v.is_empty() {
                class.remove(&lo);
            }
        }
        if class.is_empty() {
            self.intervals.classes.remove(&k);
        }
    }

    pub fn insert(&mut self, side: Side, bound: Bound, slot: u32) {
        self.map(side).entry(bound).and_modify(|p| p.insert(slot)).or_insert_with(|| Posting::new(slot));
    }

    pub fn remove(&mut self, side: Side, bound: &Bound, slot: u32) {
        let map = self.map(side);
        if map.get_mut(bound).is_some_and(|p| p.remove(slot)) {
            map.remove(bound);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lower.is_empty() && self.upper.is_empty() && self.intervals.classes.is_empty()
    }

    /// Appends the slots whose range may contain `v`.
    pub fn candidates(&self, v: &Value<'_>, out: &mut Vec<u32>) {
        let Some(key) = Bound::of(v) else { return };
        if let Bound::Num(x) = key {
            for (&k, class) in &self.intervals.classes {
                let from = if k >= 64 { 0 } else { x.saturating_sub(1u64 << k) };
                for (_, list) in class.range(from..=x) {
                    out.extend(list.iter().filter(|&&(hi, _)| hi >= x).map(|&(_, s)| s));
                }
            }
        }
        // Numbers and strings never order against each other: stay within the key's kind.
        let (lo, hi) = match &key {
            Bound::Num(_) => (Bound::Num(0), Bound::Num(u64::MAX)),
            Bound::Str(_) => (Bound::Str(Arc::from("")), key.clone()),
        };
        for (_, p) in self.lower.range(lo..=key.clone()) {
            p.extend_into(out);
        }
        match &key {
            Bound::Num(_) => self.upper.range(key..=hi).for_each(|(_, p)| p.extend_into(out)),
            Bound::Str(_) => self.upper.range(key..).for_each(|(_, p)| p.extend_into(out)),
        }
    }

    /// Calls `f` for every filed slot (a slot filed twice is seen twice).
    pub fn for_each_slot(&self, f: &mut dyn FnMut(u32)) {
        self.lower.values().chain(self.upper.values()).for_each(|p| p.iter().for_each(&mut *f));
        self.intervals.classes.values().flat_map(|c| c.values()).flatten().for_each(|&(_, s)| f(s));
    }

    pub fn has(&self, side: Side, bound: &Bound, slot: u32) -> bool {
        let map = match side {
            Side::Lower => &self.lower,
            Side::Upper => &self.upper,
        };
        map.get(bound).is_some_and(|p| p.contains(slot))
    }

    pub fn has_interval(&self, lo: u64, hi: u64, slot: u32) -> bool {
        let class = self.intervals.classes.get(&width_class(lo, hi));
        class.and_then(|c| c.get(&lo)).is_some_and(|v| v.contains(&(hi, slot)))
    }

    pub fn bytes(&self) -> usize {
        self.lower.iter().chain(self.upper.iter()).map(|(k, p)| 48 + p.bytes() + if let Bound::Str(s) = k { s.len() } else { 0 }).sum::<usize>()
            + self.intervals.classes.values().flat_map(|c| c.values()).map(|v| 48 + v.capacity() * 16).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(r: &RangeIndex, v: Value<'_>) -> Vec<u32> {
        let mut out = Vec::new();
        r.candidates(&v, &mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn order_preserving_encoding_keeps_order_across_types() {
        let xs = [f64::NEG_INFINITY, -1e300, -2.5, -1.0, -0.0, 0.0, 1e-300, 1.0, 2.5, 9.007_199_254_740_993e15, f64::INFINITY];
        for w in xs.windows(2) {
            assert!(ordered(w[0]) <= ordered(w[1]), "{} vs {}", w[0], w[1]);
            assert_eq!(unordered(ordered(w[1])), if w[1] == 0.0 { 0.0 } else { w[1] });
        }
        // i64 near 2^63 rounds monotonically: never out of order.
        assert!(ordered(i64::MAX as f64) >= ordered((i64::MAX - 1) as f64));
    }

    #[test]
    fn bounds_and_intervals_find_every_containing_slot() {
        let mut r = RangeIndex::default();
        let num = |x: f64| Bound::Num(ordered(x));
        r.insert(Side::Lower, num(10.0), 1); // v >= 10
        r.insert(Side::Upper, num(5.0), 2); // v <= 5
        r.insert_interval(ordered(3.0), ordered(4.0), 3);
        r.insert_interval(ordered(-1e12), ordered(1e12), 4); // a wide one
        r.insert(Side::Lower, Bound::Str(Arc::from("m")), 5); // v >= "m"
        assert_eq!(found(&r, Value::Int(10)), vec![1, 4]);
        assert_eq!(found(&r, Value::Double(3.5)), vec![2, 3, 4]);
        assert_eq!(found(&r, Value::Int(7)), vec![4]);
        assert_eq!(found(&r, Value::string("z")), vec![5], "strings never order against numbers");
        assert_eq!(found(&r, Value::Bool(true)), Vec::<u32>::new());
        assert!(r.has_interval(ordered(3.0), ordered(4.0), 3));
        r.remove_interval(ordered(3.0), ordered(4.0), 3);
        r.remove(Side::Lower, &num(10.0), 1);
        assert_eq!(found(&r, Value::Double(3.5)), vec![2, 4]);
        let mut all = Vec::new();
        r.for_each_slot(&mut |s| all.push(s));
        all.sort_unstable();
        assert_eq!(all, vec![2, 4, 5]);
    }
}
