#!/usr/bin/env bash
#  layering.sh: the include rule of lib/README.md, read from the sources.
#  Each lib/ folder may include only the folders below it (core < codec <
#  wire, http < aws, notify, store; the three backends never each other),
#  public headers (include/ferry/) count as the folder their source is in,
#  an installed header includes only installed headers, and no program
#  includes another program's headers.
. "${FERRY_SRCDIR:?}/tests/tap.sh"
cd "$FERRY_SRCDIR" || bail_out "cannot cd to $FERRY_SRCDIR"

#  The folders each lib folder may include, itself included.
declare -A allowed=(
    [core]="core"
    [codec]="core codec"
    [wire]="core codec wire"
    [http]="core codec http"
    [aws]="core codec http aws"
    [notify]="core codec http notify"
    [store]="core codec http store"
)

#  The folder of a public header: the folder of its source file.
folder_of_public () {
    local src
    src=$(ls lib/*/"${1%.h}.c" 2>/dev/null | head -n 1)
    [ -n "$src" ] || { echo "?"; return; }
    src=${src#lib/}
    echo "${src%%/*}"
}

#  Every quoted include of a file, one per line.
includes_of () {
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$1"
}

bad=()
for dir in "${!allowed[@]}"; do
    [ -d "lib/$dir" ] || bad+=("lib/$dir: missing")
done
for file in lib/*/*.[ch]; do
    dir=${file#lib/}
    dir=${dir%%/*}
    [ -n "${allowed[$dir]:-}" ] || { bad+=("$file: lib/$dir is not a known folder"); continue; }
    while read -r inc; do
        case $inc in
            ferry/*) target=$(folder_of_public "${inc#ferry/}") ;;
            */*) target=${inc%%/*} ;;
            *) target=$dir ;;    #  beside it
        esac
        case " ${allowed[$dir]} " in
            *" $target "*) ;;
            *) bad+=("$file includes \"$inc\" ($target)") ;;
        esac
    done < <(includes_of "$file")
done
ok "${#bad[@]}" "lib/ folders include only what lib/README.md allows"
[ ${#bad[@]} -eq 0 ] || diag "${bad[@]}"

bad=()
for file in include/ferry/*.h; do
    while read -r inc; do
        case $inc in
            ferry/*) [ -f "include/$inc" ] || bad+=("$file includes \"$inc\"") ;;
            *) bad+=("$file includes internal \"$inc\"") ;;
        esac
    done < <(includes_of "$file")
    [ "$(folder_of_public "$(basename "$file")")" != "?" ] ||
        [ "$(basename "$file")" = ferry.h ] ||
        bad+=("$file: no lib/*/ source of that name")
done
ok "${#bad[@]}" "installed headers include only installed headers"
[ ${#bad[@]} -eq 0 ] || diag "${bad[@]}"

bad=()
for file in broker/*.[ch] bridge/*.[ch] tools/*.[ch] workers/*/*.[ch]; do
    while read -r inc; do
        case $inc in
            ../*|*/../*|broker/*|bridge/*|tools/*|workers/*)
                bad+=("$file includes \"$inc\"") ;;
        esac
    done < <(includes_of "$file")
done
ok "${#bad[@]}" "no program includes another program's headers"
[ ${#bad[@]} -eq 0 ] || diag "${bad[@]}"

done_testing
