#!/usr/bin/env bash
#  contrib/testdata.sh [DIR] -- fetch the third-party conformance data the
#  tests read, every suite of contrib/testdata.manifest at its pinned
#  commit, into DIR (var/testdata by default, where configure looks when
#  ../shared/testdata is absent; FERRY_TESTDATA_MANIFEST names another
#  manifest). Each suite comes from a shallow, sparse git fetch of exactly
#  that commit; the script checks that the commit is the one checked out
#  and that every path of the manifest is there, then moves the suite into
#  place whole, with FETCHED.txt naming repository, commit and licence. A
#  suite already there from the same manifest entry is left alone, so a
#  second run fetches nothing. Needs git and https access to github.com.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MANIFEST=${FERRY_TESTDATA_MANIFEST:-$ROOT/contrib/testdata.manifest}
DEST=${1:-$ROOT/var/testdata}

die () {
    echo "testdata: $*" >&2
    exit 1
}

[ $# -le 1 ] || die "usage: contrib/testdata.sh [DIR]"
[ -r "$MANIFEST" ] || die "cannot read the manifest $MANIFEST"
command -v git >/dev/null || die "git is missing (contrib/packages.sh installs it)"

#  A path of the manifest: relative, inside its folder.
check_path () {
    case /$1/ in
        //|*/../*|*/./*) die "$MANIFEST:$2: bad path '$1'" ;;
    esac
    case $1 in
        /*) die "$MANIFEST:$2: absolute path '$1'" ;;
    esac
}

#  ---------------------------------------------------------------------
#  The manifest, read whole before anything is fetched: parallel arrays of
#  suites, and each suite's entries as lines "PATH\tAS" or "!\tPATH".

folders=() repos=() commits=() licences=() entries=()
n=-1
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    line=${line%%#*}
    [ -n "${line//[[:space:]]/}" ] || continue
    read -r -a words <<<"$line"
    if [ "${words[0]}" = suite ]; then
        [ ${#words[@]} -eq 5 ] ||
            die "$MANIFEST:$lineno: want 'suite FOLDER REPOSITORY COMMIT LICENCE'"
        check_path "${words[1]}" "$lineno"
        [[ ${words[3]} =~ ^[0-9a-f]{40}$ ]] ||
            die "$MANIFEST:$lineno: '${words[3]}' is not a full commit id"
        n=$((n + 1))
        folders[n]=${words[1]}
        repos[n]=${words[2]}
        commits[n]=${words[3]}
        licences[n]=${words[4]}
        entries[n]=
        continue
    fi
    [ "$n" -ge 0 ] || die "$MANIFEST:$lineno: a path before any suite line"
    [[ $line =~ ^[[:space:]] ]] ||
        die "$MANIFEST:$lineno: paths are indented under their suite"
    [ ${#words[@]} -le 2 ] || die "$MANIFEST:$lineno: want 'PATH [AS]'"
    path=${words[0]}
    if [ "${path:0:1}" = '!' ]; then
        [ ${#words[@]} -eq 1 ] || die "$MANIFEST:$lineno: want '!PATH'"
        check_path "${path:1}" "$lineno"
        entries[n]+="!"$'\t'"${path:1}"$'\n'
        continue
    fi
    as=${words[1]:-$path}
    check_path "$path" "$lineno"
    check_path "$as" "$lineno"
    if [ "$as" != "$path" ] && [[ $path == *[*?[]* ]]; then
        die "$MANIFEST:$lineno: a glob cannot be renamed"
    fi
    entries[n]+="$path"$'\t'"$as"$'\n'
done <"$MANIFEST"
[ "$n" -ge 0 ] || die "$MANIFEST names no suite"

#  What FETCHED.txt says for suite i: the stamp of a finished fetch.
stamp () {
    local i=$1
    printf 'repository: %s\ncommit: %s\nlicence: %s\nfetched by contrib/testdata.sh from contrib/testdata.manifest:\n%s' \
        "${repos[i]}" "${commits[i]}" "${licences[i]}" "${entries[i]}"
}

#  The entries of suite i missing from folder $2, on stdout: their
#  repository paths in a checkout ($3 = src), the names they are copied to
#  in a suite folder ($3 = dst). A glob must match something.
missing () {
    local i=$1 dir=$2 side=$3 path as
    while IFS=$'\t' read -r path as; do
        [ -n "$path" ] && [ "$path" != '!' ] || continue
        [ "$side" = src ] && as=$path
        if [[ $path == *[*?[]* ]]; then
            [ -n "$(cd "$dir" && compgen -G "$path")" ] || echo "$path"
        else
            [ -e "$dir/$as" ] || echo "$as"
        fi
    done <<<"${entries[i]}"
}

#  Fetch suite i into $2 (a new folder): a shallow fetch of exactly the
#  pinned commit, blobs only for the manifest's paths (sparse checkout).
fetch () {
    local i=$1 out=$2 co path as match
    co=$work/checkout
    rm -rf "$co"
    git init -q "$co"
    git -C "$co" remote add origin "${repos[i]}"
    git -C "$co" config advice.detachedHead false
    git -C "$co" sparse-checkout init --no-cone 2>/dev/null ||
        git -C "$co" config core.sparseCheckout true
    while IFS=$'\t' read -r path as; do
        [ -n "$path" ] || continue
        if [ "$path" = '!' ]; then
            printf '!/%s\n' "$as"
        else
            printf '/%s\n' "$path"
        fi
    done <<<"${entries[i]}" >"$co/.git/info/sparse-checkout"
    if ! GIT_TERMINAL_PROMPT=0 git -C "$co" fetch -q --depth 1 \
            --filter=blob:none origin "${commits[i]}" 2>"$work/git.err"; then
        sed 's/^/    /' "$work/git.err" >&2
        die "cannot fetch ${repos[i]} at ${commits[i]}: is it reachable from" \
            "here (https, github.com)? Nothing was changed in $DEST"
    fi
    git -C "$co" checkout -q FETCH_HEAD 2>"$work/git.err" || {
        sed 's/^/    /' "$work/git.err" >&2
        die "cannot check out ${repos[i]} at ${commits[i]}"
    }
    [ "$(git -C "$co" rev-parse HEAD)" = "${commits[i]}" ] ||
        die "${repos[i]}: fetched $(git -C "$co" rev-parse HEAD)," \
            "not ${commits[i]}"
    local absent
    absent=$(missing "$i" "$co" src)
    [ -z "$absent" ] || die "${repos[i]} at ${commits[i]} has no" \
        $absent "(the manifest is wrong)"
    mkdir -p "$out"
    while IFS=$'\t' read -r path as; do
        [ -n "$path" ] && [ "$path" != '!' ] || continue
        if [[ $path == *[*?[]* ]]; then
            while IFS= read -r match; do
                mkdir -p "$out/$(dirname "$match")"
                cp -R "$co/$match" "$out/$match"
            done < <(cd "$co" && compgen -G "$path")
        else
            mkdir -p "$out/$(dirname "$as")"
            cp -R "$co/$path" "$out/$as"
        fi
    done <<<"${entries[i]}"
    #  The sparse checkout already left them out; this is for copies of a
    #  folder that a later entry re-adds.
    while IFS=$'\t' read -r path as; do
        [ "$path" = '!' ] && rm -rf "${out:?}/$as"
    done <<<"${entries[i]}"
    absent=$(missing "$i" "$out" dst)
    [ -z "$absent" ] || die "${folders[i]}: not copied:" $absent
    stamp "$i" >"$out/FETCHED.txt"
}

mkdir -p "$DEST"
work=$(mktemp -d "$DEST/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

fetched=0
for i in $(seq 0 "$n"); do
    folder=${folders[i]}
    target=$DEST/$folder
    if [ -f "$target/FETCHED.txt" ] &&
            [ "$(cat "$target/FETCHED.txt")" = "$(stamp "$i")" ] &&
            [ -z "$(missing "$i" "$target" dst)" ]; then
        echo "    present  $folder (${commits[i]:0:12})"
        continue
    fi
    echo "    fetch    $folder from ${repos[i]} at ${commits[i]:0:12}"
    fetch "$i" "$work/$i"
    rm -rf "$target"
    mkdir -p "$(dirname "$target")"
    mv "$work/$i" "$target"
    fetched=$((fetched + 1))
done
echo "testdata: $((n + 1)) suites in $DEST ($fetched fetched);" \
    "configure finds it there when ../shared/testdata is absent"
