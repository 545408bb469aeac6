#!/usr/bin/env bash
#  TAP: ferryctl's exit statuses and output as an operator meets them, and
#  the generated documents (doc/config.md, contrib/ferry.cfg) are what the
#  key tables say.
set -u
. "$FERRY_SRCDIR/tests/tap.sh"
ctl="$FERRY_BUILDDIR/tools/ferryctl"
src=$FERRY_SRCDIR
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -x "$ctl" ] || bail_out "no $ctl"

#  Every golden sample is valid, and what is printed is the compact event.
for f in "$src"/tests/data/events/*.json; do
    "$ctl" validate < "$f" > /dev/null; rc=$?
    is "$rc" 0 "validate $(basename "$f") exits 0"
done
"$ctl" validate < "$src/tests/data/events/goal.created.json" > "$tmp/out"
want=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])), separators=(",",":"), ensure_ascii=False))' "$src/tests/data/events/goal.created.json")
is "$(cat "$tmp/out")" "$want" "validate prints the decoded event as compact JSON"

#  The SNS envelope prints the inner event.
"$ctl" validate < "$src/tests/data/events/sns/user.login.json" > "$tmp/sns"
is "$?" 0 "SNS envelope is valid"
grep -q '"type":"user.login"' "$tmp/sns"; ok $? "SNS envelope prints the inner event"

#  Invalid samples: exit 1, nothing on stdout, the reason on stderr.
for f in "$src"/tests/data/events/invalid/*.json; do
    name=$(basename "$f" .json)
    "$ctl" validate < "$f" > "$tmp/out" 2> "$tmp/err"; rc=$?
    is "$rc" 1 "validate invalid/$name exits 1"
    want=$(head -n1 "${f%.json}.err")
    grep -qF -- "$want" "$tmp/err"
    ok $? "invalid/$name: stderr names '$want'"
    [ ! -s "$tmp/out" ]; ok $? "invalid/$name: nothing on stdout"
done
printf 'not json' | "$ctl" validate 2> "$tmp/err"; rc=$?
is "$rc" 1 "garbage exits 1"
grep -q '^invalid (invalid_json): ' "$tmp/err"; ok $? "garbage is invalid_json"
head -c 300000 /dev/zero | tr '\0' ' ' | "$ctl" validate 2> "$tmp/err"; rc=$?
is "$rc" 1 "oversize body exits 1"
grep -q '^invalid (oversize)' "$tmp/err"; ok $? "oversize is named"
head -c 65536 /dev/urandom | "$ctl" validate 2>/dev/null; rc=$?
is "$rc" 1 "random bytes exit 1, no crash"

#  Usage errors exit 2.
"$ctl" validate extra < /dev/null 2>/dev/null; is "$?" 2 "unexpected argument exits 2"
"$ctl" 2>/dev/null; is "$?" 2 "no command exits 2"
"$ctl" frobnicate 2>/dev/null; is "$?" 2 "unknown command exits 2"
"$ctl" validate --schema /nonexistent < /dev/null 2>/dev/null
is "$?" 2 "missing schema exits 2"

#  Configuration: check answers 0 or 1; a bad key stops other commands
#  with one line and status 2.
"$ctl" config check -c "$src/contrib/ferry.cfg" > /dev/null
is "$?" 0 "config check accepts contrib/ferry.cfg"
printf 'log\n    levle = debug\n' > "$tmp/bad.cfg"
"$ctl" config check -c "$tmp/bad.cfg" 2> "$tmp/err"; rc=$?
is "$rc" 1 "config check refuses an unknown key"
is "$(cat "$tmp/err")" "ferryctl: $tmp/bad.cfg: unknown key log.levle" \
   "the refusal is one line naming the key"
"$ctl" -c "$tmp/bad.cfg" validate < "$src/tests/data/events/goal.created.json" \
    > /dev/null 2> "$tmp/err"; rc=$?
is "$rc" 2 "a bad key stops validate with status 2"
is "$(wc -l < "$tmp/err")" 1 "with one line"
FERRY_LOG_LEVEL=loud "$ctl" validate < /dev/null 2> "$tmp/err"; rc=$?
is "$rc" 2 "a bad environment override stops with status 2"
grep -q "log.level (env): 'loud'" "$tmp/err"; ok $? "naming the key and origin"
"$ctl" --set log.level=debug config show | grep -q 'level = "debug"'
ok $? "--set reaches config show"

#  render: a template with a partial from its own directory, escaping,
#  sections; errors name the place and exit 1.
mkdir "$tmp/tpl"
printf 'Hi {{user.name}},\n{{> footer}}{{#goals}}- {{title}} {{progress}}%%\n{{/goals}}{{^goals}}no goals\n{{/goals}}' \
    > "$tmp/tpl/mail.mustache"
printf -- '-- {{company}} <{{&url}}>\n' > "$tmp/tpl/footer.mustache"
echo '{"user":{"name":"Ada <A>"},"company":"Acme","url":"https://x/?a=1&b=2","goals":[{"title":"Ship","progress":40},{"title":"Hire","progress":0}]}' \
    > "$tmp/data.json"
"$ctl" render "$tmp/tpl/mail.mustache" "$tmp/data.json" > "$tmp/out"
is "$?" 0 "render exits 0"
is "$(cat "$tmp/out")" "$(printf 'Hi Ada &lt;A&gt;,\n-- Acme <https://x/?a=1&b=2>\n- Ship 40%%\n- Hire 0%%')" \
   "render: partial, escaped and raw values, a list"
echo '{}' | "$ctl" render "$tmp/tpl/mail.mustache" > "$tmp/out"
is "$(cat "$tmp/out")" "$(printf 'Hi ,\n--  <>\nno goals')" \
   "render: data from stdin, missing names print nothing"
mkdir "$tmp/other"
printf -- '-- other\n' > "$tmp/other/footer.mustache"
echo '{}' | "$ctl" render --partials "$tmp/other" "$tmp/tpl/mail.mustache" \
    | grep -qx -- '-- other'
ok $? "render --partials takes them from another directory"
printf '{{#a}}x' > "$tmp/bad.mustache"
echo '{}' | "$ctl" render "$tmp/bad.mustache" > "$tmp/out" 2> "$tmp/err"
is "$?" 1 "render: a template that does not compile exits 1"
grep -q "line 1 column 1: unclosed section 'a'" "$tmp/err"
ok $? "naming the line and column"
[ ! -s "$tmp/out" ]; ok $? "and prints nothing"
echo '{"a":' | "$ctl" render "$tmp/tpl/mail.mustache" 2> "$tmp/err"
is "$?" 1 "render: bad JSON data exits 1"
grep -q 'stdin: invalid JSON' "$tmp/err"; ok $? "naming it"
printf '[{{>../data}}]' > "$tmp/tpl/escape.mustache"
echo '{}' | "$ctl" render "$tmp/tpl/escape.mustache" > "$tmp/out" 2> "$tmp/err"
is "$(cat "$tmp/out")" "[]" "render: a partial name with a path reads nothing"
grep -q "partial '../data': not a file name" "$tmp/err"; ok $? "and says so"
printf '[{{>nowhere}}]' > "$tmp/tpl/missing.mustache"
echo '{}' | "$ctl" render "$tmp/tpl/missing.mustache" 2> "$tmp/err" > /dev/null
grep -q "partial 'nowhere': .*nowhere.mustache" "$tmp/err"
ok $? "render: a missing partial is named on stderr"
"$ctl" render 2>/dev/null; is "$?" 2 "render without a template exits 2"

#  render --strict on a file: a missing name is an error with its line.
printf 'Hi\n{{user.nick}}' > "$tmp/tpl/nick.mustache"
echo '{"user":{}}' | "$ctl" render --strict "$tmp/tpl/nick.mustache" \
    > "$tmp/out" 2> "$tmp/err"
is "$?" 1 "render --strict: a missing name exits 1"
grep -q "line 2: no value for 'user.nick'" "$tmp/err"; ok $? "naming it and its line"
echo '{"user":{}}' | "$ctl" render "$tmp/tpl/nick.mustache" > "$tmp/out"
is "$(cat "$tmp/out")" "Hi" "without --strict it prints nothing"
echo '{}' | "$ctl" render --locale fr "$tmp/tpl/mail.mustache" 2> "$tmp/err"
is "$?" 2 "render --locale on a file exits 2"
grep -q "need a template directory" "$tmp/err"; ok $? "saying why"

#  render of a template directory: its locale variant, shared partials
#  and layout, each part under a header, html escaped and text plain, the
#  version on stderr.
mkdir -p "$tmp/t/welcome" "$tmp/t/welcome.fr" "$tmp/t/partials"
printf 'Welcome {{name}}' > "$tmp/t/welcome/subject.mustache"
printf 'Hi {{name}}\n' > "$tmp/t/welcome/text.mustache"
printf 'Bienvenue {{name}}' > "$tmp/t/welcome.fr/subject.mustache"
printf 'Salut {{name}}\n' > "$tmp/t/welcome.fr/text.mustache"
printf '{{#> layout}}<p>Salut {{name}}</p>{{/layout}}' \
    > "$tmp/t/welcome.fr/html.mustache"
printf '<html>{{> @partial-block}}{{#each links~}}\n  <a>{{@index}}</a>\n{{~/each}}</html>' \
    > "$tmp/t/partials/layout.mustache"
echo '{"name":"Ada <A>","links":[1,2]}' > "$tmp/w.json"
"$ctl" render --locale fr-CA "$tmp/t/welcome" "$tmp/w.json" > "$tmp/out" 2> "$tmp/err"
is "$?" 0 "render --locale fr-CA of a template directory exits 0"
is "$(cat "$tmp/out")" "$(printf '==> welcome.fr/subject.mustache <==\nBienvenue Ada <A>\n\n==> welcome.fr/text.mustache <==\nSalut Ada <A>\n\n==> welcome.fr/html.mustache <==\n<html><p>Salut Ada &lt;A&gt;</p><a>0</a><a>1</a></html>')" \
   "render: the fr variant, every part, html escaped, the layout"
grep -Eq '^ferryctl render: welcome.fr version [0-9a-f]{64}$' "$tmp/err"
ok $? "the variant and its version on stderr"
v1=$(cut -d' ' -f5 "$tmp/err")
"$ctl" render --locale de --part subject "$tmp/t/welcome/" "$tmp/w.json" > "$tmp/out" 2> /dev/null
is "$(cat "$tmp/out")" "Welcome Ada <A>" "render --part subject: no locale de, the base, no header"
printf '{{#> layout}}<p>Salut {{name}}!</p>{{/layout}}' \
    > "$tmp/t/welcome.fr/html.mustache"
"$ctl" render --locale fr --part html "$tmp/t/welcome.fr/../welcome" "$tmp/w.json" 2> "$tmp/err" > /dev/null
v2=$(cut -d' ' -f5 "$tmp/err")
[ -n "$v1" ] && [ "$v1" != "$v2" ]; ok $? "a changed file, a new version"
echo '{"links":[]}' | "$ctl" render --strict --locale fr "$tmp/t/welcome" \
    > /dev/null 2> "$tmp/err"
is "$?" 1 "render --strict of a directory: a missing name exits 1"
grep -q "welcome.fr/subject.mustache: line 1: no value for 'name'" "$tmp/err"
ok $? "naming the file, the line and the name"
echo '{}' | "$ctl" render --locale fr "$tmp/t/nothing" 2> "$tmp/err"
is "$?" 1 "render of a template that is not there exits 1"
echo '{}' | "$ctl" render --part body "$tmp/t/welcome" 2> /dev/null
is "$?" 2 "render --part with another name exits 2"

#  Generated documents match the tables.
"$ctl" config doc | diff -u "$src/doc/config.md" - > "$tmp/diff"
ok $? "doc/config.md is what ferryctl config doc prints"
[ -s "$tmp/diff" ] && diag "$(head -20 "$tmp/diff")"
"$ctl" config sample | diff -u "$src/contrib/ferry.cfg" - > "$tmp/diff"
ok $? "contrib/ferry.cfg is what ferryctl config sample prints"
[ -s "$tmp/diff" ] && diag "$(head -20 "$tmp/diff")"
done_testing
