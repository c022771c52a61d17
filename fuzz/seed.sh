#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the shared cases in tests/cases/ (eval and engine). The
# corpus directories are git-ignored: this script is what is kept. Idempotent: seeds are
# named by the SHA-1 of their content, as libFuzzer names the inputs it finds.
#
#   compile       each case's expression, as text
#   eval          EXPR \0 EVENT_JSON [\0 TRIGGER_JSON], for every eval case
#   event_json    every event (and trigger) of the eval cases and every processed event of
#                 the engine cases, as JSON text, plus a few hostile ones made here
#   differential, engine_ops
#                 structured targets (the bytes are decoded with `arbitrary`): the same bytes
#                 as `eval`, which decode to non-trivial inputs for libFuzzer to start from
set -euo pipefail
cd "$(dirname "$0")"
python3 - <<'EOF'
import glob, hashlib, json, os

cases_dir = os.path.join("..", "tests", "cases")
targets = ["compile", "eval", "differential", "engine_ops", "event_json"]
counts = {t: 0 for t in targets}


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, hashlib.sha1(data).hexdigest())
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
        counts[target] += 1


def text(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


for f in sorted(glob.glob(os.path.join(cases_dir, "eval", "*.json"))):
    with open(f, encoding="utf-8") as fh:
        doc = json.load(fh)
    for case in doc["cases"]:
        expr = case["expr"]
        event = case.get("event", {"name": "app/e", "data": {}})
        put("compile", expr)
        parts = [expr.encode(), text(event).encode()]
        if "trigger" in case:
            parts.append(text(case["trigger"]).encode())
        joined = b"\0".join(parts)
        put("eval", joined)
        put("differential", joined)
        put("engine_ops", joined)
        put("event_json", text(event))
        if "trigger" in case:
            put("event_json", text(case["trigger"]))

for f in sorted(glob.glob(os.path.join(cases_dir, "engine", "*.json"))):
    with open(f, encoding="utf-8") as fh:
        doc = json.load(fh)
    for case in doc["cases"]:
        for step in case.get("steps", []):
            for key in ("process", "process_bytes"):
                if key in step:
                    ev = step[key]
                    put("event_json", ev if isinstance(ev, str) else text(ev))
            if isinstance(step.get("add"), dict) and isinstance(step["add"].get("if"), str):
                put("compile", step["add"]["if"])

# Hostile events: deep nesting, a long string, duplicate keys, odd numbers, bad UTF-8.
put("event_json", "[" * 70 + "]" * 70)
put("event_json", '{"name":"app/e","data":' + '{"a":' * 70 + "1" + "}" * 70 + "}")
put("event_json", '{"name":"app/e","data":{"s":"' + "a" * 200 + '"}}')
put("event_json", '{"name":"app/e","name":"e","data":{"k":1,"k":2}}')
put("event_json", '{"name":"app/e","ts":"2024-02-30T00:00:00Z","data":{"n":1e308,"m":-0.0,"u":18446744073709551615}}')
put("event_json", b'{"name":"app/e","data":{"s":"\xff\xfe"}}')
put("event_json", '{"name":"app/e","data":{"s":"\\ud800"}}')

for t in targets:
    n = len(os.listdir(os.path.join("corpus", t)))
    print(f"seed: corpus/{t}: {n} inputs ({counts[t]} new)")
EOF
