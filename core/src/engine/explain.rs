//! `explain` and `stats`: how expressions and subscriptions are indexed, and why an event did
//! or did not fire a subscription ("why didn't my wait resume?").

use super::{Engine, Kind};
use crate::eval::{eval, Ctx, Value};
use crate::frontend::ast::Expr;
use crate::frontend::Shape;
use crate::index;
use crate::CompileError;
use serde::Serialize;
use serde_json::{json, Value as Json};

/// Engine statistics.
#[derive(Clone, Debug, Serialize)]
pub struct Stats {
    pub subscriptions: usize,
    pub waits: usize,
    pub cancels: usize,
    pub owners: usize,
    pub event_names: usize,
    /// Distinct shapes among stored conditions.
    pub shapes: usize,
    /// Index filings per access class (`eq`, `elem`, `prefix`, `suffix`, `contains`,
    /// `range`, `presence`; an `in` list files once per element) and subscriptions in scan
    /// lists (`scan`).
    pub by_class: std::collections::BTreeMap<String, u64>,
    /// Subscriptions verified on every event of their name.
    pub scan: u64,
    pub pending_deadlines: usize,
    pub claims: usize,
    pub lookback_events: usize,
    pub eval_errors: u64,
    /// Estimated heap bytes of subscriptions and indexes.
    pub memory_bytes: usize,
}

impl Stats {
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).expect("stats serialize")
    }
}

fn conjunction_json(shape: &Shape, params: &[Value<'static>]) -> Json {
    match &shape.conjunctions {
        None => json!({"verified": "whole", "reason": "the DNF is larger than max_conjunctions: scan list"}),
        Some(cs) => Json::Array(
            cs.iter()
                .map(|atoms| {
                    let access = index::access::choose(atoms, params);
                    json!({
                        "atoms": atoms.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                        "access": access.map(|(path, pred)| json!({"path": path.join("."), "class": pred.class(), "predicate": pred.to_string()})),
                    })
                })
                .collect(),
        ),
    }
}

impl Engine {
    /// How a condition is understood and indexed: its shape, parameters, conjunctions and
    /// the access predicate of each (or why it is scanned).
    pub fn explain_expr(&self, expr: &str) -> Result<Json, CompileError> {
        let c = self.compile(expr)?;
        Ok(json!({
            "shape": c.shape(),
            "params": c.params(),
            "constant": c.constant(),
            "conjunctions": conjunction_json(&c.shape, &c.params),
        }))
    }

    /// How a pending subscription is indexed, and, given an event, whether and why it would
    /// or would not fire: the event name, time bounds, exclusion, and the value of every
    /// atom of every conjunction. `None` if no subscription has this id.
    pub fn explain(&self, id: &str, event: Option<&Json>) -> Option<Json> {
        let st = self.state.read();
        let r = st.slots[st.ids.get(id, &st.slots)? as usize].as_ref()?;
        let mut out = json!({
            "id": &*r.id,
            "kind": r.kind.as_str(),
            "event": &*r.event,
            "owner": r.owner().map(|o| &**o),
            "deadline_ms": r.deadline_ms(),
            "not_before_ms": r.not_before_ms(),
            "classes": r.filings.iter().filter_map(index::Filing::class).collect::<Vec<_>>(),
        });
        match &r.shape {
            None => out["condition"] = json!("none: every event of the name"),
            Some(s) => {
                out["shape"] = json!(s.key);
                out["params"] = Json::Array(r.params.iter().map(Value::to_json).collect());
                out["conjunctions"] = conjunction_json(s, &r.params);
            }
        }
        if let Some((n, e)) = self.eval_errors(id) {
            out["eval_errors"] = json!({"count": n, "last": {"code": e.code(), "message": e.message()}});
        }
        let Some(event) = event else { return Some(out) };
        let verdict = match self.event_meta(event) {
            Err(e) => json!({"fires": false, "reason": format!("invalid event: {e}")}),
            Ok(meta) if meta.name != &*r.event => {
                json!({"fires": false, "reason": format!("event name {:?} is not {:?}", meta.name, &*r.event)})
            }
            Ok(meta) => {
                let now = self.now();
                let time = meta.time_ms.unwrap_or(now);
                if r.deadline_ms().is_some_and(|d| d <= now) {
                    json!({"fires": false, "reason": "the deadline has passed"})
                } else if r.not_before_ms().is_some_and(|nb| time < nb) {
                    json!({"fires": false, "reason": "the event is older than not_before"})
                } else if r.exclude_event_id().is_some() && r.exclude_event_id() == meta.id {
                    json!({"fires": false, "reason": "the event is the owner's own trigger (excluded id)"})
                } else {
                    match &r.shape {
                        None => json!({"fires": true, "reason": "no condition"}),
                        Some(s) => self.explain_condition(s, &r.params, event),
                    }
                }
            }
        };
        out["verdict"] = verdict;
        Some(out)
    }

    fn explain_condition(&self, shape: &Shape, params: &[Value<'static>], event: &Json) -> Json {
        let dialect = self.config.dialect;
        let result = crate::frontend::matches(shape, params, event, dialect);
        let atom_value = |a: &Expr| {
            let mut cx = Ctx::new(event, params, dialect);
            match eval(a, &mut cx) {
                Ok(v) => json!({"atom": a.to_string(), "value": v.to_json()}),
                Err(e) => json!({"atom": a.to_string(), "error": {"code": e.code(), "message": e.message()}}),
            }
        };
        let detail = match &shape.conjunctions {
            Some(cs) => Json::Array(cs.iter().map(|atoms| Json::Array(atoms.iter().map(atom_value).collect())).collect()),
            None => atom_value(&shape.expr),
        };
        match result {
            Ok(true) => json!({"fires": true, "reason": "the condition is true", "conjunctions": detail}),
            Ok(false) => json!({"fires": false, "reason": "the condition is false (no conjunction has every atom true)", "conjunctions": detail}),
            Err(e) => json!({"fires": false, "reason": format!("evaluation error: {e}"), "conjunctions": detail}),
        }
    }

    pub fn stats(&self) -> Stats {
        let st = self.state.read();
        let waits = st.slots.iter().flatten().filter(|r| r.kind == Kind::Wait).count();
        let mut by_class = std::collections::BTreeMap::new();
        let mut shapes = std::collections::HashSet::new();
        for r in st.slots.iter().flatten() {
            for class in r.filings.iter().filter_map(index::Filing::class) {
                *by_class.entry(class.to_string()).or_insert(0u64) += 1;
            }
            if let Some(s) = &r.shape {
                shapes.insert(std::sync::Arc::as_ptr(s) as usize);
            }
        }
        let records: usize = st
            .slots
            .iter()
            .flatten()
            .map(|r| {
                std::mem::size_of::<super::Record>()
                    + r.extra.as_ref().map_or(0, |_| std::mem::size_of::<super::Extra>())
                    + r.id.len()
                    + 16
                    + r.params.len() * std::mem::size_of::<Value>()
                    + r.params.iter().map(|p| p.as_str().map_or(0, |s| s.len() + 16)).sum::<usize>()
                    + r.filings.len() * std::mem::size_of::<index::Filing>()
            })
            .sum();
        let maps = st.ids.capacity() * 5 + st.deadlines.len() * 32 + st.slots.capacity() * 8;
        Stats {
            subscriptions: st.ids.len(),
            waits,
            cancels: st.ids.len() - waits,
            owners: st.owners.len(),
            event_names: st.partitions.len(),
            shapes: shapes.len(),
            by_class,
            scan: st.partitions.values().map(index::Partition::scan_len).sum(),
            pending_deadlines: st.deadlines.len(),
            claims: self.claims.len(),
            lookback_events: self.lookback.lock().len(),
            eval_errors: self.eval_errors.lock().values().map(|(n, _)| n).sum(),
            memory_bytes: records + maps + st.partitions.values().map(index::Partition::bytes).sum::<usize>(),
        }
    }
}
