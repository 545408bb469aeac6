/*  Tests for fy_template: every case of the mustache spec v1.4.2 files in
    the shared test data (core modules, ~inheritance, ~dynamic-names),
    compared byte for byte, with the data checked unchanged after each;
    then what the spec leaves to us: compile errors and their positions,
    the render limits (self-including partials and parents, output size,
    work), how values print, the partial set's cache, and the time one
    render of a 2 KB e-mail takes. */
#include "ferry/ferry.h"
#include "notify/fy_template.h"
#include "tap.h"

#include <errno.h>

static size_t s_files, s_cases, s_passed;

//  Partials of a spec case: its "partials" object, name -> text.
static const char *
s_from_object (const char *name, size_t *len_p, void *arg)
{
    json_t *text = json_object_get ((json_t *) arg, name);
    if (!json_is_string (text))
        return NULL;
    *len_p = json_string_length (text);
    return json_string_value (text);
}

static void
s_spec_case (const char *file, json_t *test)
{
    const char *name = json_string_value (json_object_get (test, "name"));
    json_t *text = json_object_get (test, "template");
    json_t *expected = json_object_get (test, "expected");
    json_t *data = json_object_get (test, "data");
    json_t *before = json_deep_copy (data);
    fy_template_partials_t *partials = fy_template_partials_new (
        s_from_object, json_object_get (test, "partials"));
    fy_error_t err = { "" };
    fy_template_t *template = fy_template_compile (
        json_string_value (text), json_string_length (text), &err);
    char *out = NULL;
    size_t len = 0;
    int rc = template ? fy_template_render (template, data, partials, &out,
                                            &len, &err)
                      : -1;
    bool same = rc == 0 && len == json_string_length (expected)
                && memcmp (out, json_string_value (expected), len) == 0;
    if (ok (same && json_equal (data, before), "%s: %s", file, name))
        s_passed++;
    else {
        char *want = json_dumps (expected, JSON_ENCODE_ANY);
        json_t *got = rc == 0 ? json_stringn (out, len) : NULL;
        char *shown = got ? json_dumps (got, JSON_ENCODE_ANY) : NULL;
        diag ("  want %s", want);
        diag ("  got  %s", shown ? shown : err.text);
        free (want);
        free (shown);
        json_decref (got);
    }
    s_cases++;
    free (out);
    fy_template_destroy (&template);
    fy_template_partials_destroy (&partials);
    json_decref (before);
}

static void
s_spec_file (const char *path, const char *file)
{
    //  Lambdas need code in the data: not supported, and not in the data.
    if (strncmp (file, "~lambdas", 8) == 0)
        return;
    size_t size;
    char *text = tap_slurp (path, &size);
    fy_error_t err = { "" };
    json_t *spec = fy_json_loadb (text, size, &err);
    free (text);
    if (!ok (spec != NULL, "%s parses", file)) {
        diag ("  %s", err.text);
        return;
    }
    size_t passed = s_passed, cases = s_cases, index;
    json_t *test;
    json_array_foreach (json_object_get (spec, "tests"), index, test)
        s_spec_case (file, test);
    diag ("%s: %zu of %zu cases pass", file, s_passed - passed,
          s_cases - cases);
    s_files++;
    json_decref (spec);
}

static fy_template_t *
s_compile (const char *text)
{
    fy_error_t err = { "" };
    fy_template_t *template = fy_template_compile (text, strlen (text), &err);
    if (!template)
        diag ("compile '%s': %s", text, err.text);
    return template;
}

//  The output of text rendered against the JSON data, or the error text
//  prefixed by "error: ". Caller owns result.
static char *
s_render (const char *text, const char *data_json,
          fy_template_partials_t *partials, int *errno_p)
{
    json_t *data = data_json ? json_loads (data_json, 0, NULL) : NULL;
    fy_error_t err = { "" };
    fy_template_t *template = fy_template_compile (text, strlen (text), &err);
    char *out = NULL;
    *errno_p = 0;
    if (!template
        || fy_template_render (template, data, partials, &out, NULL, &err)) {
        *errno_p = errno;
        out = fy_xasprintf ("error: %s", err.text);
    }
    fy_template_destroy (&template);
    json_decref (data);
    return out;
}

static void
s_test_compile_errors (void)
{
    static const struct {
        const char *text;
        const char *error;
    } cases [] = {
        { "Hello {{name", "line 1 column 7: unclosed tag" },
        { "Hi\n  {{{name}}", "line 2 column 3: unclosed tag" },
        { "a\n  {{#list}}x", "line 2 column 3: unclosed section 'list'" },
        { "{{#a}}\n{{#b}}\n{{/a}}", "line 3 column 1: close tag 'a' does "
                                    "not match open section 'b'" },
        { "x {{/a}}", "line 1 column 3: close tag 'a' without an open "
                      "section" },
        { "{{=<%%>=}}", "line 1 column 1: bad delimiter change" },
        { "\n {{= a= b =}}", "line 2 column 2: bad delimiter change" },
        { "{{=<% %>=}}<% x", "line 1 column 12: unclosed tag" },
        { "{{ }}", "line 1 column 1: empty tag name" },
        { "{{<parent}}{{/parent}}{{$b}}", "line 1 column 23: unclosed "
                                          "section 'b'" },
        //  The Handlebars forms (fy_template_hbs.t tests what they do).
        { "a {{else}}", "line 1 column 3: {{else}} outside #if, #unless, "
                        "#each, #with or a section" },
        { "{{#if a}}{{else}}{{else}}{{/if}}", "line 1 column 18: a second "
                                              "{{else}} in 'if'" },
        { "{{#if a}}\n{{/each}}", "line 2 column 1: close tag 'each' does not "
                                  "match open section 'if'" },
        { "{{#if a}}", "line 1 column 1: unclosed section 'if'" },
        { "{{#if}}{{/if}}", "line 1 column 1: #if needs a value: {{#if "
                            "name}}" },
        { "{{#each a b}}{{/each}}", "line 1 column 1: #each: unsupported "
                                    "argument 'b'" },
        { "{{#each l as |x|}}{{/each}}", "line 1 column 1: #each: "
                                         "unsupported argument 'as'" },
        { "{{#lookup a b}}{{/lookup}}", "line 1 column 1: unknown helper "
                                        "'lookup' (#if, #unless, #each, "
                                        "#with)" },
        { "{{#*inline \"x\"}}{{/inline}}", "line 1 column 1: unknown helper "
                                           "'*inline' (#if, #unless, #each, "
                                           "#with)" },
        { "{{log x}}", "line 1 column 1: 'log x': no helpers but #if, "
                       "#unless, #each and #with" },
        { "{{@foo}}", "line 1 column 1: '@foo': unknown @-variable (@index, "
                      "@first, @last, @key, @root)" },
        { "{{#if @rooty}}{{/if}}", "line 1 column 1: '@rooty': unknown "
                                   "@-variable (@index, @first, @last, "
                                   "@key, @root)" },
        { "{{../..x}}", "line 1 column 1: '../..x': '..' is a path of its "
                        "own: ../a, ../../a" },
        { "{{> @layout}}", "line 1 column 1: '@layout': the one @-partial "
                           "is @partial-block" },
        { "{{#> l}}{{else}}{{/l}}", "line 1 column 9: {{else}} outside #if, "
                                    "#unless, #each, #with or a section" },
        { "{{!-- x }}", "line 1 column 1: unclosed tag" },
        { "{{~}}", "line 1 column 1: empty tag name" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        fy_error_t err = { "" };
        errno = 0;
        fy_template_t *template =
            fy_template_compile (cases [i].text, strlen (cases [i].text), &err);
        ok (!template && errno == EINVAL, "'%s' does not compile",
            cases [i].text);
        is_str (err.text, cases [i].error, "  error names line and column");
    }
    //  Nesting: FY_TEMPLATE_MAX_NESTING sections compile, one more not.
    char *deep = NULL;
    for (int extra = 0; extra < 2; extra++) {
        size_t levels = FY_TEMPLATE_MAX_NESTING + (size_t) extra;
        deep = fy_xmalloc (levels * 12 + 1);
        char *p = deep;
        for (size_t i = 0; i < levels; i++)
            p += snprintf (p, 7, "{{#a}}");
        for (size_t i = 0; i < levels; i++)
            p += snprintf (p, 7, "{{/a}}");
        fy_error_t err = { "" };
        fy_template_t *template =
            fy_template_compile (deep, strlen (deep), &err);
        if (extra)
            ok (!template && strstr (err.text, "nested more than 100 deep"),
                "%zu nested sections refused: %s", levels, err.text);
        else
            ok (template != NULL, "%zu nested sections compile", levels);
        fy_template_destroy (&template);
        free (deep);
    }
}

static void
s_test_limits (void)
{
    fy_template_partials_t *partials = fy_template_partials_new (NULL, NULL);
    fy_error_t err = { "" };
    ok (fy_template_partials_add (partials, "self", "x{{>self}}", 10, &err)
            == 0,
        "a partial may include itself");
    ok (fy_template_partials_add (partials, "loop", "{{<loop}}{{/loop}}", 18,
                                  &err)
            == 0,
        "a parent may be itself");
    ok (fy_template_partials_add (partials, "p", "{{$a}}{{/a}}", 12, &err) == 0,
        "a parent with a block");
    int error;
    char *out = s_render ("{{>self}}", "{}", partials, &error);
    ok (error == ELOOP
            && strstr (out, "partial 'self' nested more than 64 "
                            "deep (does it include itself?)"),
        "self-including partial ends: %s", out);
    free (out);
    out = s_render ("{{<loop}}{{/loop}}", "{}", partials, &error);
    ok (error == ELOOP && strstr (out, "partial 'loop' nested more than"),
        "self-including parent ends: %s", out);
    free (out);
    out = s_render ("{{<p}}{{$a}}{{$a}}{{/a}}{{/a}}{{/p}}", "{}", partials,
                    &error);
    ok (error == ELOOP && strstr (out, "nested more than 256 deep"),
        "a block that is its own argument ends: %s", out);
    free (out);
    //  A recursive partial over data nested deeper than the limit.
    ok (fy_template_partials_add (partials, "node",
                                  "<{{#kids}}{{>node}}{{/kids}}>", 28, &err)
            == 0,
        "a recursive partial");
    char data [4096] = "";
    for (int i = 0; i < 150; i++)
        strcat (data, "{\"kids\":[");
    for (int i = 0; i < 150; i++)
        strcat (data, "]}");
    out = s_render ("{{>node}}", data, partials, &error);
    ok (error == ELOOP && strstr (out, "nested more than"),
        "data nested deeper than the limit: %s", out);
    free (out);
    //  Output: 100 x 64 KB.
    json_t *big = json_pack ("{s:s%,s:[]}", "big", "", (size_t) 0, "list");
    char *chunk = fy_xmalloc (65536);
    memset (chunk, 'x', 65536);
    json_object_set_new (big, "big", json_stringn (chunk, 65536));
    free (chunk);
    for (int i = 0; i < 100; i++)
        json_array_append_new (json_object_get (big, "list"), json_integer (i));
    fy_template_t *template = s_compile ("{{#list}}{{{big}}}{{/list}}");
    char *text = (char *) "untouched";
    size_t len = 1;
    errno = 0;
    ok (fy_template_render (template, big, NULL, &text, &len, &err) == -1
            && errno == EFBIG && !text && len == 0,
        "output past %zu bytes fails: %s", FY_TEMPLATE_MAX_OUTPUT, err.text);
    fy_template_destroy (&template);
    //  Work: 100^4 empty turns print nothing, and still stop.
    template = s_compile ("{{#list}}{{#list}}{{#list}}{{#list}}"
                          "{{/list}}{{/list}}{{/list}}{{/list}}");
    errno = 0;
    ok (fy_template_render (template, big, NULL, &text, &len, &err) == -1
            && errno == EINVAL && strstr (err.text, "steps"),
        "a render that takes too long fails: %s", err.text);
    fy_template_destroy (&template);
    json_decref (big);
    //  Work that prints little: a 100-part name, 90 000 times.
    char name [256] = "a", deep [2048] = "{\"l\": [";
    for (int i = 1; i < 100; i++)
        strcat (name, ".a");
    for (int i = 0; i < 300; i++)
        strcat (deep, i ? ",0" : "0");
    strcat (deep, "], ");
    for (int i = 0; i < 100; i++)
        strcat (deep, "\"a\": {");
    for (int i = 0; i < 101; i++)
        strcat (deep, "}");
    char *text_deep = fy_xasprintf ("{{#l}}{{#l}}{{%s}}{{/l}}{{/l}}", name);
    out = s_render (text_deep, deep, NULL, &error);
    ok (error == EINVAL && strstr (out, "steps"),
        "long names looked up in a loop are work: %s", out);
    free (out);
    free (text_deep);
    //  A partial that does not compile fails the render, with its name.
    ok (fy_template_partials_add (partials, "bad", "{{#x}}", 6, &err) == -1
            && errno == EINVAL,
        "a bad partial is refused: %s", err.text);
    is_str (err.text, "partial 'bad': line 1 column 1: unclosed section 'x'",
            "  with its name and position");
    fy_template_partials_destroy (&partials);
    fy_template_partials_destroy (&partials);
    ok (partials == NULL, "destroy sets the reference to NULL");
}

//  A resolver that counts its calls and knows "a" and "bad".
static int s_resolved;

static const char *
s_counting (const char *name, size_t *len_p, void *arg)
{
    (void) arg;
    s_resolved++;
    const char *text = strcmp (name, "a") == 0     ? "[{{x}}]"
                       : strcmp (name, "bad") == 0 ? "{{/x}}"
                                                   : NULL;
    *len_p = text ? strlen (text) : 0;
    return text;
}

static void
s_test_partials (void)
{
    fy_template_partials_t *partials =
        fy_template_partials_new (s_counting, NULL);
    int error;
    for (int i = 0; i < 3; i++) {
        char *out = s_render ("{{>a}}{{>a}}{{>nope}}{{>*which}}",
                              "{\"x\": 1, \"which\": \"a\"}", partials, &error);
        is_str (out, "[1][1][1]", "render %d with partials", i + 1);
        free (out);
    }
    is_int (s_resolved, 2, "each name asked once, the missing one too");
    char *out = s_render ("x{{>bad}}", "{}", partials, &error);
    ok (error == EINVAL
            && strcmp (out, "error: partial 'bad': line 1 "
                            "column 1: close tag 'x' without an open "
                            "section")
                   == 0,
        "a resolved partial that does not compile: %s", out);
    free (out);
    //  Found by template_fuzz: the close delimiter's first character
    //  as the sigil (the name came out -1 bytes long).
    out = s_render ("{{=<% >=}}[<%>a>|<%{x}>|<%>>", "{\"x\": \"<\"}", partials,
                    &error);
    is_str (out, "error: line 1 column 25: empty tag name",
            "the sigil is not the close delimiter");
    free (out);
    out = s_render ("{{=<% >=}}[<%>a>|<%{x}>]", "{\"x\": \"<\"}", partials,
                    &error);
    is_str (out, "[[&lt;]|<]", "a partial and a raw value with > to close");
    free (out);
    fy_template_partials_destroy (&partials);
    out = s_render ("a{{>a}}b", "{}", NULL, &error);
    is_str (out, "ab", "no partial set: partials are empty");
    free (out);
}

static void
s_test_values (void)
{
    static const struct {
        const char *text;
        const char *data;
        const char *want;
    } cases [] = {
        { "{{i}} {{r}} {{e}} {{n}}",
          "{\"i\": -9007199254740993, \"r\": 0.1, \"e\": 1e300, \"n\": 2.5}",
          "-9007199254740993 0.1 1e+300 2.5" },
        { "{{t}}/{{f}}/{{z}}/{{missing}}",
          "{\"t\": true, \"f\": false, \"z\": null}", "true/false//" },
        { "{{o}} {{{o}}}", "{\"o\": {\"a\": [1, \"<b>\"]}}",
          "{&quot;a&quot;:[1,&quot;&lt;b&gt;&quot;]} {\"a\":[1,\"<b>\"]}" },
        { "{{s}}", "{\"s\": \"it's <a href=\\\"x\\\">&</a>\"}",
          "it's &lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;" },
        //  Truth as in mustache.js: "", 0, 0.0, [] and null are false.
        { "{{#s}}[{{.}}]{{/s}}{{#zero}}0{{/zero}}{{#r}}r{{/r}}"
          "{{^empty}}none{{/empty}}{{^s}}!s{{/s}}{{^zero}}!0{{/zero}}",
          "{\"s\": \"\", \"zero\": 0, \"r\": 0.0, \"empty\": []}", "none!s!0" },
        { "{{#s}}[{{.}}]{{/s}}{{#one}}{{.}}{{/one}}{{#o}}{}{{/o}}",
          "{\"s\": \" \", \"one\": -1, \"o\": {}}", "[ ]-1{}" },
        { "{{#user}}{{name}} <{{email}}>{{/user}}",
          "{\"user\": {\"name\": \"Ada\", \"email\": \"ada@example.com\"}}",
          "Ada <ada@example.com>" },
        { "{{a.b.c}}|{{a.x.c}}|{{a.b}}", "{\"a\": {\"b\": {\"c\": 7}}}",
          "7||{&quot;c&quot;:7}" },
        { "{{.}}", "[1,2]", "[1,2]" },
        //  Two core tags on a line: not standalone, the newline stays.
        { "{{#l}}{{>p}}\n{{/l}}", "{\"l\": [1, 2]}", "\n\n" },
        { "{{#l}}\n{{/l}}{{#l}}\n{{/l}}", "{\"l\": [1]}", "\n" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        int error;
        char *out = s_render (cases [i].text, cases [i].data, NULL, &error);
        is_str (out, cases [i].want, "'%s' prints", cases [i].text);
        free (out);
    }
    //  NULL data is null; NUL bytes in the template are text.
    fy_template_t *template = fy_template_compile ("a\0b{{x}}", 8, NULL);
    char *out = NULL;
    size_t len = 0;
    ok (template
            && fy_template_render (template, NULL, NULL, &out, &len, NULL) == 0
            && len == 3 && memcmp (out, "a\0b", 4) == 0,
        "NUL bytes are text, NULL data renders");
    free (out);
    fy_template_destroy (&template);
    fy_template_destroy (&template);
    ok (template == NULL, "destroy sets the reference to NULL");
}

//  The escaping, which reads a word of 8 bytes or two of 4 at a time:
//  values of every length to 40 with one byte to escape at every place,
//  or none, in a text of every length up to 120 before them (so the
//  value ends at every distance from the end of the output's room),
//  escaped and raw; and a value with a NUL inside.
static void
s_test_escaping (void)
{
    static const char specials [] = "&\"<>";
    static const char *entities [] = { "&amp;", "&quot;", "&lt;", "&gt;" };
    size_t cases = 0, wrong = 0;
    for (size_t len = 0; len <= 40; len++)
        for (size_t at = 0; at <= len; at++)
            for (size_t kind = 0; kind < 4; kind++) {
                char value [48], want [256];
                size_t n = 0;
                for (size_t i = 0; i < len; i++) {
                    value [i] =
                        i == at ? specials [kind] : (char) ('a' + i % 26);
                    if (i == at) {
                        size_t size = strlen (entities [kind]);
                        memcpy (want + n, entities [kind], size);
                        n += size;
                    }
                    else
                        want [n++] = value [i];
                }
                value [len] = want [n] = 0;
                json_t *data = json_pack ("{s:s}", "v", value);
                for (size_t lead = 0; lead <= 120; lead += 1 + lead / 8) {
                    char *text =
                        fy_xasprintf ("%*s{{v}}|{{{v}}}", (int) lead, "");
                    fy_template_t *template = s_compile (text);
                    char *out = NULL;
                    char *expect =
                        fy_xasprintf ("%*s%s|%s", (int) lead, "", want, value);
                    if (!template
                        || fy_template_render (template, data, NULL, &out, NULL,
                                               NULL)
                        || strcmp (out, expect)) {
                        if (!wrong)
                            diag ("'%s' gave '%s'", expect, out ? out : "");
                        wrong++;
                    }
                    cases++;
                    free (out);
                    free (expect);
                    free (text);
                    fy_template_destroy (&template);
                }
                json_decref (data);
            }
    is_int (wrong, 0, "%zu values escaped byte for byte", cases);
    json_t *data =
        json_loads ("{\"v\": \"a\\u0000<b>\\u0000c&\"}", JSON_ALLOW_NUL, NULL);
    fy_template_t *template = s_compile ("{{v}}");
    char *out = NULL;
    size_t len = 0;
    ok (template && data
            && fy_template_render (template, data, NULL, &out, &len, NULL) == 0
            && len == 18 && memcmp (out, "a\0&lt;b&gt;\0c&amp;", 19) == 0,
        "a value with NUL bytes is escaped whole");
    free (out);
    fy_template_destroy (&template);
    json_decref (data);
}

//  A 2 KB HTML e-mail with 20 variables, as the notification worker will
//  render one per event.
static const char s_email [] =
    "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
    "<title>{{subject}}</title>\n<style>\n"
    "  body { font-family: Helvetica, Arial, sans-serif; color: #333; }\n"
    "  .box { border: 1px solid #ddd; padding: 16px; margin: 16px 0; }\n"
    "  .muted { color: #888; font-size: 12px; }\n"
    "  a.button { background: #2a7ae2; color: #fff; padding: 8px 16px; }\n"
    "</style>\n</head>\n<body>\n"
    "<p>Hi {{recipient.first_name}} {{recipient.last_name}},</p>\n"
    "<p>{{actor.name}} ({{actor.title}}) has {{action}} the review\n"
    "<strong>{{review.title}}</strong> for the cycle {{cycle.name}}.</p>\n"
    "<div class=\"box\">\n"
    "  <p>Status: {{review.status}}</p>\n"
    "  <p>Due: {{review.due_date}} ({{review.days_left}} days left)</p>\n"
    "  <p>Overall rating: {{review.rating}} of {{review.scale}}</p>\n"
    "  {{#review.comment}}<blockquote>{{review.comment}}</blockquote>"
    "{{/review.comment}}\n"
    "</div>\n"
    "<p>Your manager, {{manager.name}}, and your HR partner,\n"
    "{{hr.name}}, can see this review. Questions about the cycle go to\n"
    "<a href=\"mailto:{{hr.email}}\">{{hr.email}}</a>.</p>\n"
    "<p><a class=\"button\" href=\"{{{links.review}}}\">Open the review"
    "</a></p>\n"
    "<p>You can also reply from your phone with the {{company.app}} app,\n"
    "or read every review of the cycle on the dashboard.</p>\n"
    "<hr>\n"
    "<p class=\"muted\">You receive this e-mail because you take part in\n"
    "the {{cycle.name}} performance cycle at {{company.name}}. To choose\n"
    "which e-mails you receive, open <a href=\"{{{links.settings}}}\">your\n"
    "notification settings</a>. This message was sent to\n"
    "{{recipient.email}}; do not forward it, as its links sign you in.</p>\n"
    "<p class=\"muted\">{{company.name}}, {{company.address}}</p>\n"
    "<p class=\"muted\">Sent {{sent_at}} - reference {{event_id}}</p>\n"
    "<p class=\"muted\">Lorem ipsum dolor sit amet, consectetur adipiscing\n"
    "elit, sed do eiusmod tempor incididunt ut labore et dolore magna\n"
    "aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco\n"
    "laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor\n"
    "in reprehenderit in voluptate velit esse cillum dolore eu fugiat.\n"
    "</p>\n</body>\n</html>\n";

static const char s_email_data [] =
    "{\"subject\": \"Your review was submitted\","
    " \"recipient\": {\"first_name\": \"Ada\", \"last_name\": \"Lovelace\","
    "  \"email\": \"ada@example.com\"},"
    " \"actor\": {\"name\": \"Charles Babbage\", \"title\": \"Engineer\"},"
    " \"action\": \"submitted\","
    " \"review\": {\"title\": \"H1 self review\", \"status\": \"submitted\","
    "  \"due_date\": \"2025-07-01\", \"days_left\": 12, \"rating\": 4.5,"
    "  \"scale\": 5, \"comment\": \"Great <work> & more\"},"
    " \"cycle\": {\"name\": \"2025 H1\"},"
    " \"manager\": {\"name\": \"Grace Hopper\"},"
    " \"hr\": {\"name\": \"Alan Turing\", \"email\": \"hr@example.com\"},"
    " \"links\": {\"review\": \"https://app.example.com/r/1?a=1&b=2\","
    "  \"settings\": \"https://app.example.com/settings\"},"
    " \"company\": {\"name\": \"Example Ltd\", \"app\": \"Example\","
    "  \"address\": \"1 Main St, London\"},"
    " \"sent_at\": \"2025-06-19T10:00:00Z\","
    " \"event_id\": \"6a2f41a0-6b3c-4f5e-9d7a-0c8e2b1f3d4e\"}";

static void
s_test_speed (void)
{
    size_t size = strlen (s_email);
    ok (size > 1950 && size < 2300, "the e-mail template is %zu bytes", size);
    json_t *data = json_loads (s_email_data, 0, NULL);
    fy_template_t *template = s_compile (s_email);
    char *out = NULL;
    size_t len = 0;
    int rc = template
                 ? fy_template_render (template, data, NULL, &out, &len, NULL)
                 : -1;
    ok (rc == 0 && strstr (out, "Hi Ada Lovelace,")
            && strstr (out, "<blockquote>Great &lt;work&gt; &amp; more<")
            && strstr (out, "href=\"https://app.example.com/r/1?a=1&b=2\"")
            && strstr (out, "Overall rating: 4.5 of 5"),
        "the e-mail renders (%zu bytes)", len);
    free (out);
    int64_t start = fy_clock_mono_ns ();
    int renders = 10000, failures = 0;
    for (int i = 0; i < renders; i++) {
        failures +=
            fy_template_render (template, data, NULL, &out, &len, NULL) != 0;
        free (out);
    }
    double per = (double) (fy_clock_mono_ns () - start) / renders / 1000;
    is_int (failures, 0, "%d renders", renders);
    diag ("one render of the %zu-byte e-mail: %.2f us", size, per);
    fy_template_destroy (&template);
    json_decref (data);
}

int
main (void)
{
    plan (NO_PLAN);
    s_test_compile_errors ();
    s_test_limits ();
    s_test_partials ();
    s_test_values ();
    s_test_escaping ();
    s_test_speed ();
    //  Last: without the conformance data it skips the rest of the test.
    tap_each_file (tap_testdata ("mustache/specs"), ".json", s_spec_file);
    diag ("mustache spec: %zu of %zu cases pass in %zu files", s_passed,
          s_cases, s_files);
    //  The data holds 136 core cases, 27 of inheritance, 21 of dynamic
    //  names (SOURCE.txt): all must have run.
    is_int (s_files, 8, "eight spec files read");
    is_int (s_cases, 184, "every spec case ran");
    return done_testing ();
}
