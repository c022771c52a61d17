//! `explain` and `stats`: how expressions and subscriptions are indexed, and why an event did
//! or did not fire a subscription ("why didn't my wait resume?").

use super::Engine;
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
        let st = self.read();
        let slot = st.find(id)?;
        let sub = st.subscription(slot);
        let v = st.view(slot)?;
        let mut out = json!({
            "id": &sub.id,
            "kind": sub.kind.as_str(),
            "event": &sub.event,
            "owner": &sub.owner,
            "deadline_ms": sub.deadline_ms,
            "not_before_ms": sub.not_before_ms,
            "classes": st.classes(slot),
        });
        match v.shape {
            None => out["condition"] = json!("none: every event of the name"),
            Some(s) => {
                let params: Vec<Value<'static>> = v.params.iter().cloned().map(Value::into_owned).collect();
                out["shape"] = json!(s.key);
                out["params"] = Json::Array(params.iter().map(Value::to_json).collect());
                out["conjunctions"] = conjunction_json(s, &params);
            }
        }
        let (errors, last) = st.errors(slot);
        if let Some(kind) = last.filter(|_| errors > 0) {
            out["eval_errors"] = json!({"count": errors, "last": {"code": kind.code(), "message": format!("{} (explain with the event shows the full error)", kind.code())}});
        }
        let Some(event) = event else { return Some(out) };
        let event = crate::event::Node::from_json(event);
        let event = &event;
        let verdict = match self.event_meta(event) {
            Err(e) => json!({"fires": false, "reason": format!("invalid event: {e}")}),
            Ok(meta) if meta.name != sub.event => {
                json!({"fires": false, "reason": format!("event name {:?} is not {:?}", meta.name, sub.event)})
            }
            Ok(meta) => {
                let now = self.now();
                let time = meta.time_ms.unwrap_or(now);
                if v.deadline_ms.is_some_and(|d| d <= now) {
                    json!({"fires": false, "reason": "the deadline has passed"})
                } else if v.not_before_ms.is_some_and(|nb| time < nb) {
                    json!({"fires": false, "reason": "the event is older than not_before"})
                } else if v.exclude_event_id.is_some() && v.exclude_event_id == meta.id {
                    json!({"fires": false, "reason": "the event is the owner's own trigger (excluded id)"})
                } else {
                    match v.shape {
                        None => json!({"fires": true, "reason": "no condition"}),
                        Some(s) => self.explain_condition(s, &v.params, event),
                    }
                }
            }
        };
        out["verdict"] = verdict;
        Some(out)
    }

    fn explain_condition(&self, shape: &Shape, params: &[Value<'_>], event: &crate::event::Node<'_>) -> Json {
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

    /// Statistics, in O(event names): every count is kept current as subscriptions come
    /// and go.
    pub fn stats(&self) -> Stats {
        let st = self.read();
        let filed = st.filed();
        let by_class = index::Class::ALL.iter().zip(filed).filter(|(_, n)| *n > 0).map(|(c, n)| (c.name().to_string(), n)).collect();
        let lookback = self.lookback.lock();
        Stats {
            subscriptions: st.len(),
            waits: st.waits(),
            cancels: st.len() - st.waits(),
            owners: st.owners(),
            event_names: st.event_names(),
            shapes: st.shapes(),
            by_class,
            scan: filed[index::Class::Scan as usize],
            pending_deadlines: st.pending_deadlines(),
            claims: self.claims.len(),
            lookback_events: lookback.len(),
            eval_errors: st.eval_errors_total(),
            memory_bytes: st.bytes() + lookback.bytes(),
        }
    }
}
