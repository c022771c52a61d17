# Sourced by bindings/python/ci.sh and bindings/node/ci.sh.
# no_rust_path: PATH without the directories that hold cargo or rustc, so that installing and
# testing a package under it proves the package needs no Rust.
no_rust_path() {
    local d out=()
    local IFS=:
    for d in $PATH; do
        [ -n "$d" ] && { [ -x "$d/cargo" ] || [ -x "$d/rustc" ]; } && continue
        out+=("$d")
    done
    printf '%s' "${out[*]}"
}
