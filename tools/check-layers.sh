#!/usr/bin/env bash
# Keeps the layers honest (docs/ARCHITECTURE.md): fails when a file of
# plugin/ (or of tests/unit/<layer>/) includes a header of a layer above its
# own, when a host includes the other host, or when any file outside
# plugin/uwsgi/ includes uwsgi.h.
#
#   bash tools/check-layers.sh [ROOT]     (run by `make check`)
set -uo pipefail
root=${1:-$(dirname "$0")/..}
cd "$root" || exit 2

# Lowest first, as plugin/uwsgiplugin.py lists them; the hosts come last and
# sit side by side.
read -r -a layers < <(cd plugin && python3 -c 'exec(open("uwsgiplugin.py").read()); print(*LAYERS)')
hosts=(uwsgi testing)
[ ${#layers[@]} -gt 0 ] || { echo "check-layers: cannot read LAYERS" >&2; exit 2; }

rank() { # the rank of a folder: its index among the layers, hosts above all
    local i
    for i in "${!layers[@]}"; do [ "${layers[$i]}" = "$1" ] && { echo "$i"; return; }; done
    for i in "${!hosts[@]}"; do [ "${hosts[$i]}" = "$1" ] && { echo "${#layers[@]}"; return; }; done
    echo -1
}

# The rank a public header belongs to: aio_common.h is everyone's, aio.h
# and its clients (aio_pg.h, aio_http.h) are the framework's promise,
# aio_testing.h the test host's.
public_rank() {
    case "$1" in
    aio_common.h) echo 0 ;;
    aio.h | aio_pg.h | aio_http.h) rank app ;;
    aio_testing.h) rank testing ;;
    *) echo 99 ;;
    esac
}

failures=0
fail() {
    echo "check-layers: $1" >&2
    failures=$((failures + 1))
}

# check FILE FOLDER: FOLDER is the layer (or host) the file belongs to.
check() {
    local file=$1 folder=$2 own line header target target_rank
    own=$(rank "$folder")
    while IFS= read -r line; do
        if [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*[\<\"]uwsgi\.h[\>\"] ]]; then
            [ "$folder" = uwsgi ] || fail "$file includes uwsgi.h: only plugin/uwsgi/ may"
            continue
        fi
        if [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*[\<\"]uwsgi-aio/([A-Za-z0-9_.]+)[\>\"] ]]; then
            header=${BASH_REMATCH[1]}
            target_rank=$(public_rank "$header")
            if [ "$target_rank" -gt "$own" ] || { [ "$header" = aio_testing.h ] && [ "$folder" != testing ]; }; then
                fail "$file ($folder) includes <uwsgi-aio/$header>, which is above its layer"
            fi
            continue
        fi
        [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([a-z]+)/([A-Za-z0-9_.]+)\" ]] || continue
        target=${BASH_REMATCH[1]}
        target_rank=$(rank "$target")
        [ "$target_rank" -ge 0 ] || continue # not ours (tests' own "unit/testing.h" ...)
        if [ "$target_rank" -gt "$own" ]; then
            fail "$file ($folder) includes \"$target/${BASH_REMATCH[2]}\", a layer above it"
        elif [ "$target" != "$folder" ] && [ "$own" -eq "${#layers[@]}" ] &&
             [ "$target_rank" -eq "${#layers[@]}" ]; then
            fail "$file ($folder) includes \"$target/${BASH_REMATCH[2]}\": hosts never include each other"
        fi
    done < "$file"
}

for folder in "${layers[@]}" "${hosts[@]}"; do
    for file in plugin/"$folder"/*.[ch]; do
        [ -e "$file" ] && check "$file" "$folder"
    done
done
for layer in "${layers[@]}"; do
    for file in tests/unit/"$layer"/*.c; do
        [ -e "$file" ] && check "$file" "$layer"
    done
done
# Public headers include only each other, never the implementation.
for file in plugin/include/uwsgi-aio/*.h; do
    if grep -Eq '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[a-z]+/' "$file"; then
        fail "$file (public) includes an internal header"
    fi
done
# View modules and tests are not uWSGI plugins either.
while IFS= read -r file; do
    fail "$file includes uwsgi.h: only plugin/uwsgi/ may"
done < <(grep -rlE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]uwsgi\.h[>"]' \
             --include='*.[ch]' views tests 2>/dev/null)
# Every source file sits in a layer's folder.
for file in plugin/*.[ch]; do
    [ -e "$file" ] && fail "$file is in no layer's folder"
done

if [ "$failures" -gt 0 ]; then
    echo "check-layers: $failures violation(s)" >&2
    exit 1
fi
echo "check-layers: ${layers[*]} + ${hosts[*]}: include rules hold"
