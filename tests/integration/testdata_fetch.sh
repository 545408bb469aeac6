#!/usr/bin/env bash
#  TAP: contrib/testdata.sh on a local repository (file://), offline: the
#  manifest's files, renames, globs and exclusions land where it says,
#  with FETCHED.txt; a second run fetches nothing; a path missing at the
#  commit, an unreachable repository and a malformed manifest each fail
#  with one line and change nothing.
set -u
. "$FERRY_SRCDIR/tests/tap.sh"
script=$FERRY_SRCDIR/contrib/testdata.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
repo=$tmp/upstream
mkdir -p "$repo/suite/cases" "$repo/docs"
echo licence >"$repo/COPYING"
echo a >"$repo/suite/cases/a.json"
echo b >"$repo/suite/cases/b.json"
echo skip >"$repo/suite/cases/strip.sh"
echo x >"$repo/docs/one.md"
echo y >"$repo/docs/two.txt"
echo z >"$repo/unused"
(cd "$repo" && git init -q && git add -A &&
    git -c user.name=t -c user.email=t@t commit -qm data &&
    git config uploadpack.allowFilter true &&
    git config uploadpack.allowAnySHA1InWant true)
commit=$(git -C "$repo" rev-parse HEAD)
cat >"$tmp/manifest" <<END
#  a test manifest
suite group/one file://$repo $commit MIT
    COPYING LICENSE
    suite/cases
    !suite/cases/strip.sh
    docs/*.md
END
export FERRY_TESTDATA_MANIFEST=$tmp/manifest
out=$tmp/out

"$script" "$out" >"$tmp/log" 2>&1
is "$?" 0 "fetch from a local repository"
files=$(cd "$out/group/one" && find . -type f | sort | tr '\n' ' ')
is "$files" "./FETCHED.txt ./LICENSE ./docs/one.md ./suite/cases/a.json ./suite/cases/b.json " \
    "exactly the manifest's files, renamed, globbed and excluded as it says"
grep -qx "commit: $commit" "$out/group/one/FETCHED.txt"
ok $? "FETCHED.txt names the commit"
"$script" "$out" >"$tmp/log" 2>&1
grep -q "present  group/one" "$tmp/log" && grep -q '(0 fetched)' "$tmp/log"
ok $? "a second run finds it present and fetches nothing"

sed -i 's|^    docs/\*.md|    docs/three.md|' "$tmp/manifest"
"$script" "$out" >"$tmp/log" 2>&1
is "$?" 1 "a path missing at the commit fails"
grep -q 'has no docs/three.md (the manifest is wrong)' "$tmp/log"
ok $? "and names the path"
[ -f "$out/group/one/docs/one.md" ]
ok $? "the suite already there is left as it was"

sed -i "s|file://$repo|file://$tmp/nowhere|" "$tmp/manifest"
"$script" "$tmp/out2" >"$tmp/log" 2>&1
is "$?" 1 "an unreachable repository fails"
grep -q "^testdata: cannot fetch file://$tmp/nowhere at $commit: is it reachable" \
    "$tmp/log"
ok $? "with one line naming it"

printf 'suite x file:///x abc MIT\n' >"$tmp/manifest"
"$script" "$tmp/out3" >"$tmp/log" 2>&1
is "$(cat "$tmp/log")" "testdata: $tmp/manifest:1: 'abc' is not a full commit id" \
    "a short commit id is refused"
printf 'suite x file:///x %s MIT\n    ../up\n' "$commit" >"$tmp/manifest"
"$script" "$tmp/out3" >"$tmp/log" 2>&1
is "$(cat "$tmp/log")" "testdata: $tmp/manifest:2: bad path '../up'" \
    "a path out of its folder is refused"
[ ! -e "$tmp/out3" ]
ok $? "a bad manifest creates nothing"

#  The real manifest parses, and names every folder the tests read.
export FERRY_TESTDATA_MANIFEST=$FERRY_SRCDIR/contrib/testdata.manifest
for folder in aws-sigv4 aws-models jose json-schema jsontestsuite msgpack \
        mustache prometheus; do
    grep -q "^suite $folder[/ ]" "$FERRY_TESTDATA_MANIFEST"
    ok $? "contrib/testdata.manifest has $folder"
done

done_testing
