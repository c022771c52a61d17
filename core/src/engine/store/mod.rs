//! The subscription store: compact records in a slab addressed by [`SlotId`], their strings
//! in one arena, owners and event names interned, and the index partitions kept in step.
//!
//! What one subscription costs (64-bit): its [`Record`] (64 bytes, fixed), its id and
//! encoded parameters in the arena, four bytes and a control byte in the id table, and its
//! filings in the index (a posting in a hash table for an equality). Fields that most
//! subscriptions leave empty (`not_before`, an excluded event id, a source that no template
//! can print back) live in an optional box.
//!
//! Every invariant is checked by [`Store::validate`], which the tests call.

mod arena;
mod deadlines;
mod owners;
mod params;
mod slab;

use super::subscription::{Kind, Subscription};
use crate::eval::Value;
use crate::frontend::ast::Path;
use crate::frontend::{Shape, Template};
use crate::ids::{FormId, OwnerId, PartitionId, SlotId};
use crate::index::access::Pred;
use crate::index::{self, Class, ClassCounts, KeyHasher, Partition};
use crate::{Error, EvalErrorKind};
use arena::{Arena, Blob};
use hashbrown::HashTable;
pub(crate) use owners::table_bytes;
use owners::Owners;
use slab::Slab;
pub(crate) use params::Params;
use serde_json::Value as Json;
use deadlines::Deadlines;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

/// `deadline_ms` of a record without a deadline.
const NO_DEADLINE: i64 = i64::MAX;

/// Live slots stay below 2^31: the index's key table keeps a single posted slot in place and
/// uses the top bit to point at a shared list instead.
const MAX_SLOTS: usize = 1 << 31;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Free,
    Wait,
    Cancel,
}

/// One subscription. Kept at 64 bytes: a million of them must fit in little memory.
pub(crate) struct Record {
    /// Registration sequence: result order, and what tells a reused slot apart.
    seq: u64,
    /// Hash of the subscription as added: re-adding the same one is a no-op.
    fingerprint: u64,
    deadline_ms: i64,
    /// The id and the encoded parameters, in the arena.
    blob: Blob,
    extra: Option<Box<Extra>>,
    /// Event name, shape and template, shared with every subscription of the same form.
    form: FormId,
    owner: OwnerId,
    owner_prev: SlotId,
    owner_next: SlotId,
    /// Evaluation errors while verifying this subscription (saturating at 2^32 − 1). Atomic:
    /// matching runs under a shared lock.
    eval_errors: AtomicU32,
    /// The kind of the last evaluation error (`EvalErrorKind` index + 1; 0 for none).
    last_error: AtomicU8,
    /// Fired by an event that won the claim (compare-and-swap, under the shared lock): no
    /// later event may fire it; the engine takes it out of the store at its next settle.
    claimed: AtomicBool,
    state: State,
}

/// The rarely used fields of a subscription.
#[derive(Default)]
struct Extra {
    not_before_ms: Option<i64>,
    exclude_event_id: Option<Box<str>>,
    /// The condition and trigger as given, for conditions that no template can print back
    /// (and those that folded to `true`).
    source: Option<Box<str>>,
    trigger: Option<Box<Json>>,
}

/// A compiled subscription, ready to be stored.
pub(crate) struct NewRecord<'a> {
    pub sub: &'a Subscription,
    pub compiled: Option<(Arc<Shape>, Option<Arc<Template>>)>,
    pub params: &'a [Value<'static>],
    pub plan: Option<&'a [(Path, Pred<'static>)]>,
    pub deadline_ms: Option<i64>,
    pub fingerprint: u64,
    pub eval_errors: (u32, Option<EvalErrorKind>),
}

/// What verification needs of a stored subscription.
pub(crate) struct View<'s> {
    pub seq: u64,
    pub shape: Option<&'s Shape>,
    pub params: Params<'s>,
    pub deadline_ms: Option<i64>,
    pub not_before_ms: Option<i64>,
    pub exclude_event_id: Option<&'s str>,
}

/// What the subscriptions of one form share.
struct FormEntry {
    partition: PartitionId,
    /// `None`: no condition (or one that folded to `true`).
    shape: Option<Arc<Shape>>,
    template: Option<Arc<Template>>,
    refs: u32,
}

/// Forms are keyed by their partition and the addresses of their shape and template.
type FormKey = (PartitionId, usize, usize);

struct PartitionEntry {
    name: Box<str>,
    index: Partition,
    subs: u32,
}

pub(crate) struct Store {
    records: Slab<Record>,
    free: Vec<SlotId>,
    arena: Arena,
    ids: HashTable<SlotId>,
    owners: Owners,
    forms: Vec<Option<FormEntry>>,
    free_forms: Vec<FormId>,
    form_ids: HashMap<FormKey, FormId>,
    /// Forms per distinct shape (for `stats().shapes`).
    shape_forms: HashMap<usize, u32>,
    partitions: Vec<Option<PartitionEntry>>,
    free_partitions: Vec<PartitionId>,
    partition_ids: HashMap<Box<str>, PartitionId>,
    deadlines: Deadlines,
    next_seq: u64,
    /// Keyed hashing with this store's random seed, for the id and owner tables…
    hasher: ahash::RandomState,
    /// …and for index keys.
    key_hasher: KeyHasher,
    waits: usize,
    extras: usize,
    /// Sum of the live records' error counters.
    eval_errors: AtomicU64,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            records: Slab::default(),
            free: Vec::new(),
            arena: Arena::default(),
            ids: HashTable::new(),
            owners: Owners::default(),
            forms: Vec::new(),
            free_forms: Vec::new(),
            form_ids: HashMap::new(),
            shape_forms: HashMap::new(),
            partitions: Vec::new(),
            free_partitions: Vec::new(),
            partition_ids: HashMap::new(),
            deadlines: Deadlines::default(),
            next_seq: 0,
            hasher: ahash::RandomState::new(),
            key_hasher: KeyHasher::random(),
            waits: 0,
            extras: 0,
            eval_errors: AtomicU64::new(0),
        }
    }
}

fn error_kind_from(code: u8) -> Option<EvalErrorKind> {
    use EvalErrorKind as K;
    const KINDS: [EvalErrorKind; 7] = [K::NoSuchKey, K::NoSuchOverload, K::DivisionByZero, K::Overflow, K::IndexOutOfRange, K::InvalidArgument, K::NotBool];
    code.checked_sub(1).and_then(|i| KINDS.get(i as usize).copied())
}

fn error_code_of(kind: EvalErrorKind) -> u8 {
    (0..=7u8).find(|&c| error_kind_from(c) == Some(kind)).unwrap_or(0)
}

impl Store {
    /// The id of a live subscription.
    pub fn id(&self, slot: SlotId) -> &str {
        params::id(self.arena.get(self.records[slot.index()].blob))
    }

    pub fn find(&self, id: &str) -> Option<SlotId> {
        let (records, arena) = (&self.records, &self.arena);
        self.ids.find(self.hasher.hash_one(id.as_bytes()), |&s| params::id_bytes(arena.get(records[s.index()].blob)) == id.as_bytes()).copied()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_live(&self, slot: SlotId) -> bool {
        self.records.get(slot.index()).is_some_and(|r| r.state != State::Free)
    }

    /// The fingerprint, kind and event name of a stored subscription (for `id_conflict`).
    pub fn identity(&self, slot: SlotId) -> (u64, Kind, &str) {
        let r = &self.records[slot.index()];
        (r.fingerprint, kind_of(r.state), self.partition_name(self.form(r).partition))
    }

    fn partition_name(&self, p: PartitionId) -> &str {
        &self.partitions[p.index()].as_ref().expect("live partition").name
    }

    /// The partition of an event name, if any subscription waits for it.
    pub fn partition(&self, name: &str) -> Option<&Partition> {
        let id = self.partition_ids.get(name)?;
        Some(&self.partitions[id.index()].as_ref().expect("live partition").index)
    }

    fn form(&self, r: &Record) -> &FormEntry {
        self.forms[r.form.index()].as_ref().expect("live form")
    }

    /// What verifying `slot` needs; `None` if the slot is free.
    pub fn view(&self, slot: SlotId) -> Option<View<'_>> {
        let r = self.records.get(slot.index()).filter(|r| r.state != State::Free)?;
        let extra = r.extra.as_deref();
        Some(View {
            seq: r.seq,
            shape: self.form(r).shape.as_deref(),
            params: params::decode(self.arena.get(r.blob)),
            deadline_ms: (r.deadline_ms != NO_DEADLINE).then_some(r.deadline_ms),
            not_before_ms: extra.and_then(|x| x.not_before_ms),
            exclude_event_id: extra.and_then(|x| x.exclude_event_id.as_deref()),
        })
    }

    /// Counts an evaluation error against `slot` (under the shared lock).
    pub fn count_error(&self, slot: SlotId, kind: EvalErrorKind) {
        let r = &self.records[slot.index()];
        if r.eval_errors.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1)).is_ok() {
            self.eval_errors.fetch_add(1, Ordering::Relaxed);
        }
        r.last_error.store(error_code_of(kind), Ordering::Relaxed);
    }

    /// Claims the subscription registered as `seq` in `slot` for one event: `true` for
    /// exactly one caller, however many race (each subscription fires at most once).
    pub fn claim(&self, slot: SlotId, seq: u64) -> bool {
        self.records.get(slot.index()).is_some_and(|r| {
            r.state != State::Free && r.seq == seq && r.claimed.compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed).is_ok()
        })
    }

    /// Gives a claim back (its commit failed, so the subscription did not fire).
    pub fn unclaim(&self, slot: SlotId) {
        self.records[slot.index()].claimed.store(false, Ordering::Release);
    }

    pub fn is_claimed(&self, slot: SlotId) -> bool {
        self.records[slot.index()].claimed.load(Ordering::Acquire)
    }

    /// The evaluation errors counted against `slot`: how many and the last kind.
    pub fn errors(&self, slot: SlotId) -> (u32, Option<EvalErrorKind>) {
        let r = &self.records[slot.index()];
        (r.eval_errors.load(Ordering::Relaxed), error_kind_from(r.last_error.load(Ordering::Relaxed)))
    }

    pub fn insert(&mut self, n: NewRecord<'_>) -> Result<SlotId, Error> {
        let sub = n.sub;
        let blob = self.arena.push(&params::encode(&sub.id, n.params))?;
        let slot = match self.free.pop() {
            Some(s) => s,
            None => match SlotId::try_new(self.records.len()).filter(|_| self.records.len() < MAX_SLOTS) {
                Some(s) => {
                    self.records.push(Record::free());
                    s
                }
                None => {
                    self.arena.free(blob);
                    return Err(Error::limit_exceeded("more than 2^31 subscriptions"));
                }
            },
        };
        let owner = match &sub.owner {
            Some(o) => match self.owners.intern(o, &mut self.arena, &self.hasher) {
                Ok(id) => id,
                Err(e) => {
                    self.arena.free(blob);
                    self.free.push(slot);
                    return Err(e);
                }
            },
            None => OwnerId::NONE,
        };
        let form = self.form_id(&sub.event, n.compiled.as_ref());
        let printable = n.compiled.as_ref().is_some_and(|(_, t)| t.is_some());
        let extra = Extra {
            not_before_ms: sub.not_before_ms,
            exclude_event_id: sub.exclude_event_id.as_deref().map(Box::from),
            source: if printable { None } else { sub.condition.as_deref().map(Box::from) },
            trigger: if printable { None } else { sub.trigger.clone().map(Box::new) },
        };
        let has_extra = extra.not_before_ms.is_some() || extra.exclude_event_id.is_some() || extra.source.is_some() || extra.trigger.is_some();
        self.extras += has_extra as usize;
        let seq = self.next_seq;
        self.next_seq += 1;
        let deadline_ms = n.deadline_ms.unwrap_or(NO_DEADLINE);
        if deadline_ms != NO_DEADLINE {
            self.deadlines.push(deadline_ms, slot);
        }
        let (errors, last) = n.eval_errors;
        self.eval_errors.fetch_add(errors as u64, Ordering::Relaxed);
        let head = if owner.is_none() { SlotId::NONE } else { self.owners.recs[owner.index()].head };
        self.records[slot.index()] = Record {
            seq,
            fingerprint: n.fingerprint,
            deadline_ms,
            blob,
            extra: has_extra.then(|| Box::new(extra)),
            form,
            owner,
            owner_prev: SlotId::NONE,
            owner_next: head,
            eval_errors: AtomicU32::new(errors),
            last_error: AtomicU8::new(last.map_or(0, error_code_of)),
            claimed: AtomicBool::new(false),
            state: match sub.kind {
                Kind::Wait => State::Wait,
                Kind::Cancel => State::Cancel,
            },
        };
        if !owner.is_none() {
            if !head.is_none() {
                self.records[head.index()].owner_prev = slot;
            }
            let o = &mut self.owners.recs[owner.index()];
            o.head = slot;
            o.len += 1;
        }
        self.waits += (sub.kind == Kind::Wait) as usize;
        let (records, arena, hasher) = (&self.records, &self.arena, &self.hasher);
        self.ids.insert_unique(hasher.hash_one(sub.id.as_bytes()), slot, |&s| hasher.hash_one(params::id_bytes(arena.get(records[s.index()].blob))));
        let p = self.partitions[self.forms[form.index()].as_ref().expect("live form").partition.index()].as_mut().expect("live partition");
        p.subs += 1;
        p.index.insert(slot, n.plan);
        Ok(slot)
    }

    fn partition_id(&mut self, name: &str) -> PartitionId {
        if let Some(&id) = self.partition_ids.get(name) {
            return id;
        }
        let entry = PartitionEntry { name: name.into(), index: Partition::new(self.key_hasher.clone()), subs: 0 };
        let id = place(&mut self.partitions, &mut self.free_partitions, entry, PartitionId::index, PartitionId::try_new);
        self.partition_ids.insert(name.into(), id);
        id
    }

    /// The form of a new subscription of `event` (with its compiled shape and template, if
    /// it has a condition), shared with every other of the same form.
    fn form_id(&mut self, event: &str, compiled: Option<&(Arc<Shape>, Option<Arc<Template>>)>) -> FormId {
        let partition = self.partition_id(event);
        let shape = compiled.map(|(s, _)| s);
        let template = compiled.and_then(|(_, t)| t.as_ref());
        let key = (partition, shape.map_or(0, |s| Arc::as_ptr(s) as usize), template.map_or(0, |t| Arc::as_ptr(t) as usize));
        if let Some(&id) = self.form_ids.get(&key) {
            self.forms[id.index()].as_mut().expect("live form").refs += 1;
            return id;
        }
        let entry = FormEntry { partition, shape: shape.cloned(), template: template.cloned(), refs: 1 };
        let id = place(&mut self.forms, &mut self.free_forms, entry, FormId::index, FormId::try_new);
        self.form_ids.insert(key, id);
        if key.1 != 0 {
            *self.shape_forms.entry(key.1).or_default() += 1;
        }
        id
    }

    /// Drops a reference to a form, and the form (and its partition) with the last one.
    fn release_form(&mut self, id: FormId) {
        let e = self.forms[id.index()].as_mut().expect("live form");
        e.refs -= 1;
        if e.refs > 0 {
            return;
        }
        let e = self.forms[id.index()].take().expect("live form");
        let shape = e.shape.as_ref().map_or(0, |s| Arc::as_ptr(s) as usize);
        self.form_ids.remove(&(e.partition, shape, e.template.as_ref().map_or(0, |t| Arc::as_ptr(t) as usize)));
        self.free_forms.push(id);
        if shape != 0 {
            let n = self.shape_forms.get_mut(&shape).expect("counted shape");
            *n -= 1;
            if *n == 0 {
                self.shape_forms.remove(&shape);
            }
        }
        let p = self.partitions[e.partition.index()].as_ref().expect("live partition");
        if p.subs == 0 {
            let p = self.partitions[e.partition.index()].take().expect("live partition");
            self.partition_ids.remove(&p.name);
            self.free_partitions.push(e.partition);
        }
    }

    /// The index plan of a stored record, recomputed from its shape and parameters (which it
    /// borrows from the arena).
    fn plan_of(&self, r: &Record) -> Option<Vec<(Path, Pred<'_>)>> {
        plan_of(&self.forms, &self.arena, r)
    }

    /// The access classes `slot` is filed under (for `explain`).
    pub fn classes(&self, slot: SlotId) -> Vec<&'static str> {
        match self.plan_of(&self.records[slot.index()]) {
            None => vec![Class::Scan.name()],
            Some(plan) => plan.iter().map(|(_, p)| p.class()).collect(),
        }
    }

    /// Removes the record in `slot` from every structure.
    pub fn take(&mut self, slot: SlotId) {
        assert!(self.is_live(slot), "taking a free slot");
        let plan = plan_of(&self.forms, &self.arena, &self.records[slot.index()]);
        let id = params::id_bytes(self.arena.get(self.records[slot.index()].blob));
        if let Ok(e) = self.ids.find_entry(self.hasher.hash_one(id), |&s| s == slot) {
            e.remove();
        }
        let r = std::mem::replace(&mut self.records[slot.index()], Record::free());
        // Unfile: a subscription without a condition is in the scan list (plan `None`).
        let partition = self.form(&r).partition;
        let p = self.partitions[partition.index()].as_mut().expect("live partition");
        p.index.remove(slot, plan.as_deref());
        p.subs -= 1;
        self.release_form(r.form);
        if !r.owner.is_none() {
            if r.owner_prev.is_none() {
                self.owners.recs[r.owner.index()].head = r.owner_next;
            } else {
                self.records[r.owner_prev.index()].owner_next = r.owner_next;
            }
            if !r.owner_next.is_none() {
                self.records[r.owner_next.index()].owner_prev = r.owner_prev;
            }
            let o = &mut self.owners.recs[r.owner.index()];
            o.len -= 1;
            if o.len == 0 {
                self.owners.release(r.owner, &mut self.arena, &self.hasher);
            }
        }
        if r.deadline_ms != NO_DEADLINE {
            self.deadlines.removed();
            if self.deadlines.needs_rebuild() {
                let records = &self.records;
                let live = records.iter().enumerate().filter(|(_, r)| r.state != State::Free && r.deadline_ms != NO_DEADLINE);
                self.deadlines.rebuild(live.map(|(i, r)| (r.deadline_ms, SlotId::from_u32(i as u32))));
            }
        }
        self.extras -= r.extra.is_some() as usize;
        self.waits -= (r.state == State::Wait) as usize;
        self.eval_errors.fetch_sub(r.eval_errors.load(Ordering::Relaxed) as u64, Ordering::Relaxed);
        self.arena.free(r.blob);
        self.free.push(slot);
        if self.arena.should_compact() {
            self.compact();
        }
    }

    /// Rewrites the arena with only the live strings.
    fn compact(&mut self) {
        let records = self.records.iter_mut().filter(|r| r.state != State::Free).map(|r| &mut r.blob);
        self.arena.compact(records.chain(self.owners.blobs_mut()));
    }

    /// Removes every subscription of `owner`, in O(k); returns how many.
    pub fn remove_owner(&mut self, owner: &str) -> usize {
        let Some(o) = self.owners.find(owner, &self.arena, &self.hasher) else { return 0 };
        let k = self.owners.recs[o.index()].len;
        for _ in 0..k {
            self.take(self.owners.recs[o.index()].head);
        }
        k as usize
    }

    /// The slots of `owner`'s subscriptions, newest first.
    pub fn slots_of(&self, owner: &str) -> Vec<SlotId> {
        let Some(o) = self.owners.find(owner, &self.arena, &self.hasher) else { return Vec::new() };
        let mut out = Vec::with_capacity(self.owners.recs[o.index()].len as usize);
        let mut s = self.owners.recs[o.index()].head;
        while !s.is_none() {
            out.push(s);
            s = self.records[s.index()].owner_next;
        }
        out
    }

    /// Up to `limit` subscriptions whose deadline is at or before `now`: the earliest
    /// deadlines (among equal ones, the heap's order, by slot), returned by deadline and then
    /// registration order. Their deadline entries are taken out of the heap: [`Store::take`]
    /// them, or give them back with [`Store::undue`].
    pub fn due(&mut self, now: i64, limit: usize) -> Vec<SlotId> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while out.len() < limit {
            let Some((d, slot)) = self.deadlines.due(now) else { break };
            self.deadlines.pop();
            // A stale entry: the slot is free or holds a record with another deadline. A
            // slot can also have two live-looking entries (a stale one revived by a record
            // with the same deadline): it counts once.
            let Some(r) = self.records.get(slot.index()).filter(|r| r.state != State::Free && r.deadline_ms == d) else { continue };
            if seen.insert(slot) {
                out.push((d, r.seq, slot));
            }
        }
        out.sort_unstable();
        out.into_iter().map(|(_, _, s)| s).collect()
    }

    /// The owner of a live subscription.
    pub fn owner(&self, slot: SlotId) -> Option<String> {
        let r = &self.records[slot.index()];
        (!r.owner.is_none()).then(|| String::from_utf8_lossy(self.arena.get(self.owners.recs[r.owner.index()].name)).into_owned())
    }

    /// Puts back the deadline entries of slots from [`Store::due`] that were not taken.
    pub fn undue(&mut self, slots: &[SlotId]) {
        for &s in slots {
            self.deadlines.repush(self.records[s.index()].deadline_ms, s);
        }
    }


    /// Every subscription as registered, in registration order, with its fingerprint (for
    /// `save`).
    pub fn export(&self) -> Vec<(Subscription, u64)> {
        let mut live: Vec<(u64, SlotId)> = (0..self.records.len()).map(|i| SlotId::from_u32(i as u32)).filter(|&s| self.is_live(s)).map(|s| (self.records[s.index()].seq, s)).collect();
        live.sort_unstable();
        live.into_iter().map(|(_, s)| (self.subscription(s), self.records[s.index()].fingerprint)).collect()
    }

    /// The subscription in `slot` as registered: its condition printed back from its
    /// template with its own literals (or kept verbatim), the trigger fields it reads.
    pub fn subscription(&self, slot: SlotId) -> Subscription {
        let r = &self.records[slot.index()];
        let bytes = self.arena.get(r.blob);
        let extra = r.extra.as_deref();
        let (condition, trigger) = match &self.form(r).template {
            Some(t) => {
                let (text, trigger) = t.source(&params::decode(bytes));
                (Some(text), trigger)
            }
            None => (extra.and_then(|x| x.source.as_deref().map(str::to_owned)), extra.and_then(|x| x.trigger.as_deref().cloned())),
        };
        let owner = (!r.owner.is_none()).then(|| String::from_utf8_lossy(self.arena.get(self.owners.recs[r.owner.index()].name)).into_owned());
        Subscription {
            id: params::id(bytes).to_owned(),
            kind: kind_of(r.state),
            event: self.partition_name(self.form(r).partition).to_owned(),
            condition,
            trigger,
            owner,
            deadline_ms: (r.deadline_ms != NO_DEADLINE).then_some(r.deadline_ms),
            timeout_ms: None,
            not_before_ms: extra.and_then(|x| x.not_before_ms),
            exclude_event_id: extra.and_then(|x| x.exclude_event_id.as_deref().map(str::to_owned)),
            lookback_ms: None,
        }
    }

    /// Live slots from `from` on (in slot order), at most `limit`, and where to continue.
    pub fn slots_from(&self, from: usize, limit: usize) -> (Vec<SlotId>, Option<usize>) {
        let mut out = Vec::new();
        let mut i = from;
        while i < self.records.len() && out.len() < limit {
            if self.records[i].state != State::Free {
                out.push(SlotId::from_u32(i as u32));
            }
            i += 1;
        }
        (out, (i < self.records.len()).then_some(i))
    }

    pub fn waits(&self) -> usize {
        self.waits
    }
    pub fn owners(&self) -> usize {
        self.owners.len()
    }
    pub fn event_names(&self) -> usize {
        self.partition_ids.len()
    }
    pub fn shapes(&self) -> usize {
        self.shape_forms.len()
    }
    pub fn pending_deadlines(&self) -> usize {
        self.deadlines.len()
    }
    pub fn eval_errors_total(&self) -> u64 {
        self.eval_errors.load(Ordering::Relaxed)
    }

    /// Filings per class over every partition.
    pub fn filed(&self) -> ClassCounts {
        let mut total = [0u64; 9];
        for p in self.partitions.iter().flatten() {
            for (t, n) in total.iter_mut().zip(p.index.filed()) {
                *t += n;
            }
        }
        total
    }

    /// An estimate of the heap bytes held for subscriptions, in O(event names).
    pub fn bytes(&self) -> usize {
        // Allocator overhead: 16 bytes per small allocation.
        let extra = self.extras * (std::mem::size_of::<Extra>() + 16);
        self.records.bytes()
            + self.free.capacity() * 4
            + self.arena.bytes()
            + table_bytes(self.ids.capacity(), 4)
            + self.owners.bytes()
            + extra
            + self.deadlines.bytes()
            + self.forms.capacity() * std::mem::size_of::<Option<FormEntry>>()
            + self.partitions.iter().flatten().map(|p| p.index.bytes() + p.name.len() + 64).sum::<usize>()
    }

    /// Checks every invariant: ids map to their live slots, owner lists are consistent,
    /// counters match, and every live slot is filed exactly where its plan says.
    pub fn validate(&self) -> Result<(), String> {
        let live: Vec<SlotId> = (0..self.records.len()).map(|i| SlotId::from_u32(i as u32)).filter(|&s| self.is_live(s)).collect();
        if live.len() != self.ids.len() {
            return Err(format!("{} live records, {} ids", live.len(), self.ids.len()));
        }
        if self.records.len() - live.len() != self.free.len() {
            return Err(format!("{} free records, {} on the free list", self.records.len() - live.len(), self.free.len()));
        }
        let mut waits = 0;
        let mut expected: HashMap<PartitionId, u64> = HashMap::new();
        let mut owner_lens: HashMap<OwnerId, u32> = HashMap::new();
        let mut extras = 0;
        let mut errors = 0u64;
        let mut form_refs: HashMap<FormId, u32> = HashMap::new();
        let deadline_entries: std::collections::HashSet<(i64, SlotId)> = self.deadlines.entries().collect();
        for &s in &live {
            let r = &self.records[s.index()];
            let id = self.id(s);
            if self.find(id) != Some(s) {
                return Err(format!("id {id:?} does not map to its slot {}", s.as_u32()));
            }
            waits += (r.state == State::Wait) as usize;
            extras += r.extra.is_some() as usize;
            errors += r.eval_errors.load(Ordering::Relaxed) as u64;
            let form = self.forms.get(r.form.index()).and_then(Option::as_ref).ok_or_else(|| format!("{id:?}: no form"))?;
            let p = self.partitions.get(form.partition.index()).and_then(Option::as_ref).ok_or_else(|| format!("{id:?}: no partition"))?;
            let plan = self.plan_of(r);
            let filings = p.index.check_filed(s, plan.as_deref()).map_err(|e| format!("{id:?}: {e}"))?;
            *expected.entry(form.partition).or_default() += filings;
            *form_refs.entry(r.form).or_default() += 1;
            if r.deadline_ms != NO_DEADLINE && !deadline_entries.contains(&(r.deadline_ms, s)) {
                return Err(format!("{id:?}: deadline not in the deadline set"));
            }
            if !r.owner.is_none() {
                if !self.owners.is_live(r.owner) {
                    return Err(format!("{id:?}: owner is not live"));
                }
                *owner_lens.entry(r.owner).or_default() += 1;
                let prev_ok = if r.owner_prev.is_none() {
                    self.owners.recs[r.owner.index()].head == s
                } else {
                    self.records[r.owner_prev.index()].owner_next == s
                };
                let next_ok = r.owner_next.is_none() || self.records[r.owner_next.index()].owner_prev == s;
                if !prev_ok || !next_ok {
                    return Err(format!("{id:?}: owner list links are broken"));
                }
            }
        }
        if waits != self.waits || extras != self.extras || errors != self.eval_errors_total() {
            return Err(format!("counters: waits {waits}/{}, extras {extras}/{}, errors {errors}/{}", self.waits, self.extras, self.eval_errors_total()));
        }
        if self.deadlines.len() != live.iter().filter(|s| self.records[s.index()].deadline_ms != NO_DEADLINE).count() {
            return Err("the deadline heap counts a different number of live deadlines".into());
        }
        if owner_lens.len() != self.owners.len() {
            return Err(format!("{} owners with subscriptions, {} interned", owner_lens.len(), self.owners.len()));
        }
        for (o, n) in owner_lens {
            if self.owners.recs[o.index()].len != n {
                return Err(format!("owner {} counts {} subscriptions, has {n}", o.as_u32(), self.owners.recs[o.index()].len));
            }
        }
        for (i, p) in self.partitions.iter().enumerate() {
            let Some(p) = p else { continue };
            let pid = PartitionId::from_u32(i as u32);
            if self.partition_ids.get(&p.name) != Some(&pid) {
                return Err(format!("partition {:?} is not mapped to its id", p.name));
            }
            let in_partition = |s: u32| self.records.get(s as usize).is_some_and(|r| r.state != State::Free && self.form(r).partition == pid);
            let postings = p.index.validate(&in_partition).map_err(|e| format!("partition {:?}: {e}", p.name))?;
            let want = expected.get(&pid).copied().unwrap_or(0);
            if postings != want {
                return Err(format!("partition {:?}: {postings} postings for {want} filings", p.name));
            }
            let subs = live.iter().filter(|s| self.form(&self.records[s.index()]).partition == pid).count() as u32;
            if subs != p.subs {
                return Err(format!("partition {:?} counts {} subscriptions, has {subs}", p.name, p.subs));
            }
        }
        for (i, f) in self.forms.iter().enumerate() {
            let Some(f) = f else { continue };
            let id = FormId::from_u32(i as u32);
            if form_refs.get(&id).copied().unwrap_or(0) != f.refs {
                return Err(format!("form {i} counts {} subscriptions, has {}", f.refs, form_refs.get(&id).copied().unwrap_or(0)));
            }
        }
        if self.arena.live_bytes() < live.iter().map(|s| self.records[s.index()].blob.len()).sum::<usize>() {
            return Err("the arena counts fewer live bytes than the records hold".into());
        }
        Ok(())
    }
}

/// Puts `entry` in a freed place of `table` (or a new one at its end) and returns its id.
/// Tables of forms and partitions never outgrow the slots, whose count is bounded.
fn place<T, Id>(table: &mut Vec<Option<T>>, free: &mut Vec<Id>, entry: T, index: fn(Id) -> usize, new_id: fn(usize) -> Option<Id>) -> Id
where
    Id: Copy,
{
    match free.pop() {
        Some(id) => {
            table[index(id)] = Some(entry);
            id
        }
        None => {
            table.push(Some(entry));
            new_id(table.len() - 1).expect("fewer entries than slots")
        }
    }
}

fn kind_of(state: State) -> Kind {
    match state {
        State::Cancel => Kind::Cancel,
        _ => Kind::Wait,
    }
}

/// [`Store::plan_of`] over just the fields it reads, so the plan can be held while others
/// change.
fn plan_of<'s>(forms: &'s [Option<FormEntry>], arena: &'s Arena, r: &Record) -> Option<Vec<(Path, Pred<'s>)>> {
    let shape = forms[r.form.index()].as_ref().expect("live form").shape.as_ref()?;
    index::plan(shape, &params::decode(arena.get(r.blob)))
}

impl Record {
    fn free() -> Record {
        Record {
            seq: 0,
            fingerprint: 0,
            deadline_ms: NO_DEADLINE,
            blob: Blob::default(),
            extra: None,
            form: FormId::NONE,
            owner: OwnerId::NONE,
            owner_prev: SlotId::NONE,
            owner_next: SlotId::NONE,
            eval_errors: AtomicU32::new(0),
            last_error: AtomicU8::new(0),
            claimed: AtomicBool::new(false),
            state: State::Free,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_record_is_64_bytes() {
        assert_eq!(std::mem::size_of::<super::Record>(), 64);
    }
}
