//! Splitting a condition in negation normal form into conjunctions (disjunctive normal form),
//! bounded: a condition whose DNF would exceed the bound is not split (`None`), so it is kept
//! whole and verified on every event of its name. Never dropped, never wrong.

use super::ast::Expr;

/// The conjunctions of `e`, each a list of atoms, or `None` past `max` conjunctions.
pub(crate) fn conjunctions(e: &Expr, max: usize) -> Option<Vec<Vec<Expr>>> {
    match e {
        Expr::Or(a, b) => {
            let mut l = conjunctions(a, max)?;
            let r = conjunctions(b, max)?;
            if l.len() + r.len() > max {
                return None;
            }
            l.extend(r);
            Some(l)
        }
        Expr::And(a, b) => {
            let l = conjunctions(a, max)?;
            let r = conjunctions(b, max)?;
            if l.len().saturating_mul(r.len()) > max {
                return None;
            }
            let mut out = Vec::with_capacity(l.len() * r.len());
            for x in &l {
                for y in &r {
                    let mut c = x.clone();
                    c.extend(y.iter().cloned());
                    out.push(c);
                }
            }
            Some(out)
        }
        atom => Some(vec![vec![atom.clone()]]),
    }
}
