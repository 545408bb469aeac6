/*  Tests for fy_template's Handlebars built-ins, which the notification
    templates of the old service were written with: #if, #unless, #each
    (arrays and objects, @index, @first, @last, @key), #with, each with
    {{else}}; this, ./, ../ and @root paths; {{~ ~}} whitespace control;
    {{!-- --}} comments; partial blocks and @partial-block for layouts;
    the HTML-escaping switch; strict mode's errors (the compile errors of
    the new syntax are in fy_template.c's table); and every cut and many random mutations of a template
    that uses all of it, which must compile or say where, and render or
    fail with a documented errno. */
#include "ferry/ferry.h"
#include "notify/fy_template.h"
#include "tap.h"

#include <errno.h>

//  Partials of these tests, name -> text.
static const char *
s_partial (const char *name, size_t *len_p, void *arg)
{
    (void) arg;
    static const char *partials [][2] = {
        { "layout", "<html>{{title}}|{{> @partial-block}}|</html>" },
        { "frame", "[{{> @partial-block}}]" },
        { "item", "{{name}}@{{@index}}" },
        { "missing_var", "a\n{{nope}}" },
    };
    for (size_t i = 0; i < sizeof partials / sizeof partials [0]; i++)
        if (strcmp (name, partials [i][0]) == 0) {
            *len_p = strlen (partials [i][1]);
            return partials [i][1];
        }
    return NULL;
}

//  text rendered against data_json with flags: the output, or "error: "
//  and the error text (*errno_p gets errno). Caller owns result.
static char *
s_render (const char *text, const char *data_json, unsigned flags, int *errno_p)
{
    json_t *data = data_json ? json_loads (data_json, 0, NULL) : NULL;
    if (data_json && !data)
        BAIL_OUT ("bad test data %s", data_json);
    fy_template_partials_t *partials =
        fy_template_partials_new (s_partial, NULL);
    fy_error_t err = { "" };
    fy_template_t *template = fy_template_compile (text, strlen (text), &err);
    char *out = NULL;
    *errno_p = 0;
    if (!template
        || fy_template_render_flags (template, data, partials, flags, &out,
                                     NULL, &err)) {
        *errno_p = errno;
        out = fy_xasprintf ("error: %s", err.text);
    }
    fy_template_destroy (&template);
    fy_template_partials_destroy (&partials);
    json_decref (data);
    return out;
}

typedef struct {
    const char *text;
    const char *data;
    const char *want;
} s_case_t;

static void
s_run (const char *what, const s_case_t *cases, size_t count, unsigned flags)
{
    for (size_t i = 0; i < count; i++) {
        int error;
        char *out = s_render (cases [i].text, cases [i].data, flags, &error);
        is_str (out, cases [i].want, "%s: %s", what, cases [i].text);
        free (out);
    }
}

static void
s_test_if (void)
{
    static const s_case_t cases [] = {
        { "{{#if a}}yes{{else}}no{{/if}}", "{\"a\": true}", "yes" },
        { "{{#if a}}yes{{else}}no{{/if}}", "{\"a\": false}", "no" },
        { "{{#if a}}yes{{else}}no{{/if}}", "{}", "no" },
        { "{{#if a}}yes{{else}}no{{/if}}", "{\"a\": null}", "no" },
        { "{{#if a}}yes{{else}}no{{/if}}", "{\"a\": []}", "no" },
        { "{{#if a}}yes{{else}}no{{/if}}", "{\"a\": [0]}", "yes" },
        { "{{#if a}}yes{{else}}no{{/if}}", "{\"a\": {}}", "yes" },
        { "{{#if a}}yes{{else}}no{{/if}}", "{\"a\": \"\"}", "no" },
        { "{{#if a}}yes{{else}}no{{/if}}", "{\"a\": \"0\"}", "yes" },
        //  0 is false, as in Handlebars, unless includeZero=true.
        { "{{#if a}}yes{{else}}no{{/if}}", "{\"a\": 0}", "no" },
        { "{{#if a}}yes{{else}}no{{/if}}", "{\"a\": 0.0}", "no" },
        { "{{#if a includeZero=true}}yes{{else}}no{{/if}}", "{\"a\": 0}",
          "yes" },
        { "{{#if a includeZero=true}}yes{{else}}no{{/if}}", "{\"a\": null}",
          "no" },
        //  #if keeps the context: names inside are the same names.
        { "{{#if user}}{{user.name}}/{{name}}{{/if}}",
          "{\"user\": {\"name\": \"Ada\"}, \"name\": \"top\"}", "Ada/top" },
        { "{{#if a}}{{#if b}}ab{{else}}a{{/if}}{{else}}-{{/if}}",
          "{\"a\": 1, \"b\": 0}", "a" },
        { "{{#unless a}}no a{{else}}a{{/unless}}", "{\"a\": 0}", "no a" },
        { "{{#unless a}}no a{{else}}a{{/unless}}", "{\"a\": 2}", "a" },
        { "{{#unless a includeZero=true}}no a{{else}}a{{/unless}}",
          "{\"a\": 0}", "a" },
        { "{{#unless a}}none{{/unless}}", "{\"a\": [1]}", "" },
        //  Mustache sections and inverted sections take {{else}} too.
        { "{{#a}}[{{.}}]{{else}}none{{/a}}", "{\"a\": [1, 2]}", "[1][2]" },
        { "{{#a}}[{{.}}]{{else}}none{{/a}}", "{\"a\": []}", "none" },
        { "{{^a}}none{{else}}some{{/a}}", "{\"a\": [1]}", "some" },
        { "{{~#if a~}}  x  {{~else~}}  y  {{~/if~}}", "{\"a\": 1}", "x" },
    };
    s_run ("#if", cases, sizeof cases / sizeof cases [0], 0);
}

static void
s_test_each (void)
{
    static const s_case_t cases [] = {
        { "{{#each l}}{{@index}}:{{this}}{{#if @first}}(first){{/if}}"
          "{{#if @last}}(last){{/if}},{{/each}}",
          "{\"l\": [\"a\", \"b\", \"c\"]}", "0:a(first),1:b,2:c(last)," },
        { "{{#each l}}{{@key}}={{.}};{{/each}}",
          "{\"l\": {\"x\": 1, \"y\": \"<2>\", \"z\": null}}",
          "x=1;y=&lt;2&gt;;z=;" },
        { "{{#each l}}{{@key}}{{@index}}{{@first}}{{@last}} {{/each}}",
          "{\"l\": {\"a\": 1, \"b\": 2}}", "a0truefalse b1falsetrue " },
        //  Over an array @key is the index, as in Handlebars.
        { "{{#each l}}{{@key}}{{/each}}", "{\"l\": [5, 6]}", "01" },
        { "{{#each l}}x{{else}}empty{{/each}}", "{\"l\": []}", "empty" },
        { "{{#each l}}x{{else}}empty{{/each}}", "{\"l\": {}}", "empty" },
        { "{{#each l}}x{{else}}empty{{/each}}", "{}", "empty" },
        { "{{#each l}}x{{else}}empty{{/each}}", "{\"l\": \"abc\"}", "empty" },
        { "{{#each l}}x{{else}}empty{{/each}}", "{\"l\": 3}", "empty" },
        { "{{#each items}}<li>{{name}} {{price}}</li>{{/each}}",
          "{\"items\": [{\"name\": \"a\", \"price\": 1}, {\"name\": \"b\"}]}",
          "<li>a 1</li><li>b </li>" },
        //  Nested: @index is the inner loop's, ../ the outer element.
        { "{{#each rows}}{{#each cells}}{{../id}}.{{@index}}={{this}} "
          "{{/each}}{{/each}}",
          "{\"rows\": [{\"id\": \"r0\", \"cells\": [1, 2]},"
          " {\"id\": \"r1\", \"cells\": [3]}]}",
          "r0.0=1 r0.1=2 r1.0=3 " },
        { "{{#each l}}{{@index}}{{#if ok}}!{{@index}}{{/if}}{{/each}}",
          "{\"l\": [{\"ok\": true}, {\"ok\": false}]}", "0!01" },
        { "{{#each l}}{{> item}};{{/each}}",
          "{\"l\": [{\"name\": \"a\"}, {\"name\": \"b\"}]}", "a@0;b@1;" },
        { "{{@index}}|{{#if @first}}x{{/if}}|{{@key}}", "{}", "||" },
    };
    s_run ("#each", cases, sizeof cases / sizeof cases [0], 0);
}

static void
s_test_with_and_paths (void)
{
    static const s_case_t cases [] = {
        { "{{#with user}}{{name}} <{{email}}>{{else}}nobody{{/with}}",
          "{\"user\": {\"name\": \"Ada\", \"email\": \"a@x\"}}", "Ada <a@x>" },
        { "{{#with user}}{{name}}{{else}}nobody{{/with}}", "{\"user\": null}",
          "nobody" },
        { "{{#with user}}{{name}}{{else}}nobody{{/with}}", "{}", "nobody" },
        //  #with takes 0, as Handlebars does.
        { "{{#with n}}[{{this}}]{{else}}none{{/with}}", "{\"n\": 0}", "[0]" },
        { "{{#with a}}{{#with b}}{{c}}/{{../x}}/{{../../x}}{{/with}}"
          "{{/with}}",
          "{\"x\": \"top\", \"a\": {\"x\": \"in a\", \"b\": {\"c\": 1}}}",
          "1/in a/top" },
        //  #if between does not count as a context for ../.
        { "{{#each l}}{{#if this}}{{../title}}:{{this}} {{/if}}{{/each}}",
          "{\"title\": \"T\", \"l\": [1, 0, 2]}", "T:1 T:2 " },
        //  Nor does a section on true, Handlebars' fn(this).
        { "{{#with a}}{{#flag}}{{../name}}{{/flag}}{{/with}}",
          "{\"name\": \"top\", \"a\": {\"flag\": true, \"name\": \"a\"}}",
          "top" },
        { "{{#with a}}{{../../x}}|{{..}}{{/with}}", "{\"a\": {\"x\": 1}}",
          "|{&quot;a&quot;:{&quot;x&quot;:1}}" },
        { "{{#with a}}{{this.x}}|{{./x}}|{{this}}|{{@root.y}}|{{x}}"
          "{{/with}}",
          "{\"y\": 2, \"a\": {\"x\": 1}}", "1|1|{&quot;x&quot;:1}|2|1" },
        //  Names still go down the stack (Mustache); this. stays in the
        //  current context.
        { "{{#with a}}{{y}}|{{this.y}}|{{../a/x}}{{/with}}",
          "{\"y\": 2, \"a\": {\"x\": 1}}", "2||1" },
        { "{{@root}}", "[1]", "[1]" },
        //  Outer names are asked of jansson once a render: the same name
        //  from another context is another answer.
        { "{{#each l}}{{@root.t.x}}{{../t.x}}{{#with w}}{{../../t.x}}"
          "{{../w.y}}{{/with}};{{/each}}",
          "{\"t\": {\"x\": 1}, \"l\": [{\"w\": {\"y\": 2}, \"t\": {\"x\": 5}},"
          " {\"w\": {}}, {\"w\": {\"y\": 3}}]}",
          "1112;111;1113;" },
    };
    s_run ("#with, paths", cases, sizeof cases / sizeof cases [0], 0);
}

static void
s_test_whitespace (void)
{
    static const s_case_t cases [] = {
        { "a  {{~x~}}  b", "{\"x\": 1}", "a1b" },
        { "a \n {{~x}} \n b", "{\"x\": 1}", "a1 \n b" },
        { "<ul>\n  {{~#each l}}\n  <li>{{.}}</li>\n  {{~/each}}\n</ul>",
          "{\"l\": [1, 2]}", "<ul>  <li>1</li>  <li>2</li></ul>" },
        { "<ul>\n{{#each l~}}\n  <li>{{.}}</li>\n{{~/each}}\n</ul>",
          "{\"l\": [1, 2]}", "<ul>\n<li>1</li><li>2</li></ul>" },
        //  Standalone lines go as in Mustache.
        { "<ul>\n{{#each l}}\n  <li>{{.}}</li>\n{{/each}}\n</ul>\n",
          "{\"l\": [1, 2]}", "<ul>\n  <li>1</li>\n  <li>2</li>\n</ul>\n" },
        { "{{#if a}}\nyes\n{{else}}\nno\n{{/if}}\n", "{}", "no\n" },
        { "x {{~! gone ~}} y|{{!-- a }} b --}}|{{~!-- c --~}} |", "{}",
          "xy|||" },
        { "{{~{x}~}} {{~&x}}", "{\"x\": \"<\"}", "<<" },
        { "  {{~ x ~}}  ", "{\"x\": \" \"}", " " },
        //  Found by template_fuzz under UBSan: an empty list's end.
        { "", "{}", "" },
        { "{{#if a}}{{/if}}{{#each l}}{{/each}}", "{\"a\": 1, \"l\": [1]}",
          "" },
    };
    s_run ("whitespace", cases, sizeof cases / sizeof cases [0], 0);
}

static void
s_test_layouts_and_escaping (void)
{
    static const s_case_t cases [] = {
        { "{{#> layout}}<p>{{body}}</p>{{/layout}}",
          "{\"title\": \"T&\", \"body\": \"<b>\"}",
          "<html>T&amp;|<p>&lt;b&gt;</p>|</html>" },
        //  Nested: each @partial-block is its own call's.
        { "{{#> frame}}{{#> frame}}x{{/frame}}{{/frame}}", "{}", "[[x]]" },
        { "{{#> layout}}{{#each l}}{{.}}{{/each}}{{/layout}}",
          "{\"title\": 1, \"l\": [1, 2]}", "<html>1|12|</html>" },
        //  A missing layout renders its content, as in Handlebars.
        { "{{#> nowhere}}fallback{{/nowhere}}", "{}", "fallback" },
        { "a{{> @partial-block}}b", "{}", "ab" },
    };
    s_run ("layouts", cases, sizeof cases / sizeof cases [0], 0);
    //  One switch: {{x}} escapes unless FY_TEMPLATE_PLAIN.
    static const s_case_t plain [] = {
        { "{{x}} {{{x}}} {{&x}} {{#each l}}{{@key}}{{/each}}",
          "{\"x\": \"<a & 'b'>\", \"l\": {\"<k>\": 1}}",
          "<a & 'b'> <a & 'b'> <a & 'b'> <k>" },
        { "{{#> layout}}{{x}}{{/layout}}", "{\"x\": \"<\", \"title\": \"&\"}",
          "<html>&|<|</html>" },
    };
    s_run ("plain", plain, sizeof plain / sizeof plain [0], FY_TEMPLATE_PLAIN);
}

static void
s_test_strict (void)
{
    static const struct {
        const char *text;
        const char *data;
        const char *want;
    } cases [] = {
        { "Hi {{name}}", "{\"name\": null}", "Hi " },
        { "Hi\n\n  {{user.name}}", "{\"user\": {}}",
          "error: line 3: no value for 'user.name'" },
        { "{{{raw}}}", "{}", "error: line 1: no value for 'raw'" },
        { "{{#each l}}{{/each}}", "{}", "error: line 1: no value for 'l'" },
        { "{{#with w}}{{/with}}", "{}", "error: line 1: no value for 'w'" },
        { "{{#s}}{{/s}}", "{}", "error: line 1: no value for 's'" },
        { "{{@index}}", "{}", "error: line 1: no value for '@index'" },
        { "{{#each l}}{{../nope}}{{/each}}", "{\"l\": [1]}",
          "error: line 1: no value for '../nope'" },
        //  Conditions test presence without failing.
        { "{{#if a}}a{{/if}}{{#unless b}}!b{{/unless}}{{^c}}!c{{/c}}", "{}",
          "!b!c" },
        { "x\n{{> missing_var}}", "{}",
          "error: partial 'missing_var': line 2: no value for 'nope'" },
        { "{{#> frame}}\n{{gone}}{{/frame}}", "{}",
          "error: line 2: no value for 'gone'" },
        { "{{> nowhere}}", "{}", "error: line 1: no partial 'nowhere'" },
        { "{{>*which}}", "{\"which\": \"nowhere\"}",
          "error: line 1: no partial 'nowhere'" },
        { "{{#> nowhere}}ok{{/nowhere}}", "{}", "ok" },
        { "{{#each l}}{{@index}}{{@key}}{{/each}}", "{\"l\": [1]}", "00" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        int error;
        char *out = s_render (cases [i].text, cases [i].data,
                              FY_TEMPLATE_STRICT, &error);
        is_str (out, cases [i].want, "strict: %s", cases [i].text);
        if (strncmp (cases [i].want, "error", 5) == 0)
            is_int (error, ENOENT, "  errno ENOENT");
        free (out);
    }
    int error;
    char *out = s_render ("{{a.b}}{{> nowhere}}", "{}", 0, &error);
    is_str (out, "", "not strict: missing names and partials print nothing");
    free (out);
}

//  Partials fy_template_each_partial gives.
static int
s_collect (const char *name, void *arg)
{
    char *names = arg;
    strcat (names, name);
    strcat (names, ",");
    return strcmp (name, "stop") == 0 ? 7 : 0;
}

static void
s_test_each_partial (void)
{
    const char *text = "{{> a}}{{#if x}}{{#> b}}{{> @partial-block}}{{/b}}"
                       "{{else}}{{>*dyn}}{{< c}}{{/c}}{{/if}}{{> stop}}{{> d}}";
    fy_template_t *template = fy_template_compile (text, strlen (text), NULL);
    char names [64] = "";
    ok (template && fy_template_each_partial (template, s_collect, names) == 7,
        "each_partial stops where fn says");
    is_str (names, "a,b,c,stop,", "  giving the static names in order");
    fy_template_destroy (&template);
}

//  Every cut of a template that uses everything, and random changes of
//  it, compile or say where, and render or fail as documented.
static void
s_test_cuts (void)
{
    static const char text [] =
        "{{#> layout}}\n{{!-- note --}}\n<ul>\n{{~#each items~}}\n"
        "  <li class=\"{{#if @first}}first{{else}}x{{/if}}\">{{@index}} "
        "{{name}} {{{../title}}}{{#with tag}}{{this}}{{/with}}</li>\n"
        "{{~else}}none{{/each}}</ul>{{#unless done includeZero=true}}!"
        "{{/unless}}{{#> frame}}y{{/frame}}{{=<% %>=}}<%x%><%={{ "
        "}}=%>{{@root.x}}\n"
        "{{/layout}}\n";
    json_t *data = json_loads ("{\"title\": \"T\", \"x\": \"<\", \"done\": 0,"
                               " \"items\": [{\"name\": \"a\", \"tag\": 1},"
                               " {\"name\": \"b\", \"tag\": null}]}",
                               0, NULL);
    fy_template_partials_t *partials =
        fy_template_partials_new (s_partial, NULL);
    size_t size = sizeof text - 1, compiled = 0, bad = 0, failed = 0;
    char *copy = fy_xmalloc (size);
    unsigned seed = 14;
    static const char alphabet [] = "{}#/^~>&!@.=$<*else if each ";
    for (size_t i = 0; i < size * 21; i++) {
        size_t len = i <= size ? i : size;
        memcpy (copy, text, len);
        if (i > size)
            //  Past the cuts: one to four random bytes changed.
            for (int k = 0, n = 1 + rand_r (&seed) % 4; k < n; k++)
                copy [rand_r (&seed) % len] =
                    alphabet [rand_r (&seed) % (sizeof alphabet - 1)];
        fy_error_t err = { "" };
        errno = 0;
        fy_template_t *template = fy_template_compile (copy, len, &err);
        if (!template) {
            bad += errno != EINVAL || strncmp (err.text, "line ", 5) != 0;
            continue;
        }
        compiled++;
        for (unsigned flags = 0; flags < 4; flags++) {
            char *out = NULL;
            size_t out_len = 0;
            if (fy_template_render_flags (template, data, partials, flags, &out,
                                          &out_len, &err)) {
                failed++;
                bad += (errno != ENOENT && errno != EINVAL) || out
                       || !err.text [0];
            }
            else
                bad += !out || out [out_len] != 0;
            free (out);
        }
        fy_template_destroy (&template);
    }
    ok (compiled > size && bad == 0,
        "%zu cuts and changes: %zu compile, %zu renders fail, %zu "
        "bad answers",
        size * 21, compiled, failed, bad);
    char *out = NULL;
    fy_template_t *template = fy_template_compile (text, size, NULL);
    ok (template
            && fy_template_render_flags (template, data, partials,
                                         FY_TEMPLATE_STRICT, &out, NULL, NULL)
                   == 0,
        "the whole template renders strict");
    is_str (out,
            "<html>T|<ul><li class=\"first\">0 a T1</li><li class=\"x\">1 b "
            "T</li></ul>[y]&lt;&lt;\n|</html>",
            "  as Handlebars would");
    free (out);
    fy_template_destroy (&template);
    free (copy);
    fy_template_partials_destroy (&partials);
    json_decref (data);
}

int
main (void)
{
    plan (NO_PLAN);
    s_test_if ();
    s_test_each ();
    s_test_with_and_paths ();
    s_test_whitespace ();
    s_test_layouts_and_escaping ();
    s_test_strict ();
    s_test_each_partial ();
    s_test_cuts ();
    return done_testing ();
}
