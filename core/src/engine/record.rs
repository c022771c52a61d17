//! What subscription records and configuration records share: the check that every key is a
//! known one (with "did you mean" for a near miss) and given in one spelling only.

use serde_json::{Map, Value as Json};

/// Checks the keys of a record object against `groups` (each a key with its other accepted
/// spellings, the first being the canonical one). `what` names the record in messages ("a
/// subscription record", "lookback"). The error is the message; the caller picks its kind.
pub(crate) fn check_keys(obj: &Map<String, Json>, groups: &[&[&str]], what: &str) -> Result<(), String> {
    for key in obj.keys() {
        if !groups.iter().any(|group| group.contains(&key.as_str())) {
            let hint = closest(key, groups.iter().flat_map(|g| g.iter().copied())).map_or(String::new(), |k| format!("; did you mean {k:?}?"));
            let known: Vec<&str> = groups.iter().map(|g| g[0]).collect();
            return Err(format!("unknown key {key:?} in {what}{hint} (known: {})", known.join(", ")));
        }
    }
    if let Some(group) = groups.iter().find(|g| g.iter().filter(|k| obj.contains_key(**k)).count() > 1) {
        return Err(format!("give one of {} in {what}, not several", group.join(" / ")));
    }
    Ok(())
}

/// The value of the first spelling in `names` that the record holds, with the spelling used
/// (for messages); a `null` value is an absent one.
pub(crate) fn field<'a, 'n>(obj: &'a Map<String, Json>, names: &[&'n str]) -> Option<(&'n str, &'a Json)> {
    names.iter().find_map(|n| obj.get(*n).map(|v| (*n, v))).filter(|(_, v)| !v.is_null())
}

/// The candidate within two edits of `key` (case-insensitively), if any: for "did you mean".
fn closest<'a>(key: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let key = key.to_ascii_lowercase();
    candidates.map(|c| (edit_distance(&key, &c.to_ascii_lowercase()), c)).filter(|(d, _)| *d <= 2).min_by_key(|(d, _)| *d).map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb { prev } else { 1 + prev.min(cur).min(row[j]) };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GROUPS: [&[&str]; 2] = [&["max_events", "maxEvents"], &["owner"]];

    fn check(v: Json) -> Result<(), String> {
        check_keys(v.as_object().unwrap(), &GROUPS, "a test record")
    }

    #[test]
    fn unknown_keys_name_the_key_and_the_closest_known_one() {
        let e = check(json!({"max_event": 1})).unwrap_err();
        assert!(e.contains("\"max_event\"") && e.contains("did you mean \"max_events\"") && e.contains("known: max_events, owner"), "{e}");
        let e = check(json!({"MaxEvent": 1})).unwrap_err();
        assert!(e.contains("did you mean \"maxEvents\""), "{e}");
        let e = check(json!({"zzz": 1})).unwrap_err();
        assert!(!e.contains("did you mean"), "{e}");
        let e = check(json!({"max_events": 1, "maxEvents": 2})).unwrap_err();
        assert!(e.contains("max_events / maxEvents"), "{e}");
        assert!(check(json!({"maxEvents": 1, "owner": null})).is_ok());
    }

    #[test]
    fn a_null_field_is_absent() {
        let v = json!({"maxEvents": 3, "owner": null});
        let obj = v.as_object().unwrap();
        assert_eq!(field(obj, &["max_events", "maxEvents"]), Some(("maxEvents", &json!(3))));
        assert_eq!(field(obj, &["owner"]), None);
    }
}
