/*  Tests for fy_template_set: a template directory with parts, locale
    variants, shared partials and a layout, written to a temporary
    directory; the locale fallback (fr-CA -> fr -> none, for templates
    and for partials, from partials/ then layouts/), escaping by part, strict errors naming the file,
    the load errors, and the version hash: the same for the same files,
    changed by a change to any file the set uses, unchanged by files it
    does not use. */
#include "ferry/ferry.h"
#include "notify/fy_template.h"
#include "notify/fy_template_set.h"
#include "tap.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

static char s_dir [] = "/tmp/fy_template_set.XXXXXX";

static void
s_write (const char *relative, const char *text)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s", s_dir, relative);
    char *slash = strrchr (path, '/');
    *slash = 0;
    mkdir (path, 0700);
    *slash = '/';
    FILE *file = fopen (path, "w");
    if (!file || fputs (text, file) < 0 || fclose (file))
        BAIL_OUT ("cannot write %s", path);
}

static void
s_remove (const char *relative)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s", s_dir, relative);
    if (unlink (path))
        BAIL_OUT ("cannot remove %s", path);
}

//  The version of name in locale, or "error: " and the error. Borrowed
//  until the next call.
static const char *
s_version (const char *name, const char *locale)
{
    static char text [200];
    fy_error_t err = { "" };
    fy_template_set_t *set = fy_template_set_load (s_dir, name, locale, &err);
    snprintf (text, sizeof text, "%s%s", set ? "" : "error: ",
              set ? fy_template_set_version (set) : err.text);
    fy_template_set_destroy (&set);
    return text;
}

//  part of name in locale rendered against data_json, or the error.
//  Caller owns result.
static char *
s_render (const char *name, const char *locale, fy_template_part_t part,
          const char *data_json, unsigned flags)
{
    fy_error_t err = { "" };
    json_t *data = json_loads (data_json, 0, NULL);
    fy_template_set_t *set = fy_template_set_load (s_dir, name, locale, &err);
    char *out = NULL;
    if (!set
        || fy_template_set_render (set, part, data, flags, &out, NULL, &err))
        out = fy_xasprintf ("error: %s", err.text);
    fy_template_set_destroy (&set);
    json_decref (data);
    return out;
}

static const char s_data [] =
    "{\"name\": \"Ada <A>\", \"items\": [{\"title\": \"x&y\"}, "
    "{\"title\": \"z\"}]}";

static void
s_test_locales (void)
{
    s_write ("welcome/subject.mustache", "Welcome, {{name}}");
    s_write ("welcome/text.mustache", "Hi {{name}}\n{{> footer}}");
    s_write ("welcome/html.mustache",
             "{{#> layout}}<p>Hi {{name}}</p>{{> list}}{{/layout}}");
    s_write ("welcome.fr/subject.mustache", "Bienvenue, {{name}}");
    s_write ("welcome.fr/text.mustache", "Salut {{name}}\n{{> footer}}");
    s_write ("welcome.fr/html.mustache",
             "{{#> layout}}<p>Salut {{name}}</p>{{> list}}{{/layout}}");
    s_write ("partials/layout.mustache",
             "<html>{{> @partial-block}}{{> footer}}</html>");
    s_write ("partials/list.mustache",
             "<ul>{{#each items}}<li>{{@index}} {{title}}</li>{{/each}}</ul>");
    s_write ("partials/footer.mustache", "-- {{> sig}}");
    s_write ("partials/footer.fr.mustache", "-- l'équipe");
    s_write ("partials/sig.mustache", "the team");
    s_write ("partials/unused.mustache", "{{#x}}");

    static const struct {
        const char *locale;
        const char *variant;
        const char *found;
        const char *subject;
    } cases [] = {
        { NULL, "welcome", "", "Welcome, Ada <A>" },
        { "", "welcome", "", "Welcome, Ada <A>" },
        { "de", "welcome", "", "Welcome, Ada <A>" },
        { "fr", "welcome.fr", "fr", "Bienvenue, Ada <A>" },
        { "fr-CA", "welcome.fr", "fr", "Bienvenue, Ada <A>" },
        { "fr_CA", "welcome.fr", "fr", "Bienvenue, Ada <A>" },
        { "fr-Latn-CA", "welcome.fr", "fr", "Bienvenue, Ada <A>" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        fy_error_t err = { "" };
        fy_template_set_t *set =
            fy_template_set_load (s_dir, "welcome", cases [i].locale, &err);
        if (!ok (set != NULL, "welcome loads for locale %s",
                 cases [i].locale ? cases [i].locale : "NULL")) {
            diag ("%s", err.text);
            continue;
        }
        is_str (fy_template_set_variant (set), cases [i].variant, "  from %s",
                cases [i].variant);
        is_str (fy_template_set_locale (set), cases [i].found,
                "  its locale '%s'", cases [i].found);
        ok (fy_template_set_has (set, FY_TEMPLATE_SUBJECT)
                && fy_template_set_has (set, FY_TEMPLATE_HTML),
            "  with its parts");
        is_int ((int) strlen (fy_template_set_version (set)), 64,
                "  a SHA-256 version");
        json_t *data = json_loads (s_data, 0, NULL);
        char *out = NULL;
        ok (fy_template_set_render (set, FY_TEMPLATE_SUBJECT, data, 0, &out,
                                    NULL, &err)
                == 0,
            "  subject renders");
        is_str (out, cases [i].subject, "  plain: %s", out);
        free (out);
        json_decref (data);
        fy_template_set_destroy (&set);
    }
    char *out = s_render ("welcome", "fr-CA", FY_TEMPLATE_HTML, s_data, 0);
    is_str (out,
            "<html><p>Salut Ada &lt;A&gt;</p><ul><li>0 x&amp;y</li>"
            "<li>1 z</li></ul>-- l'équipe</html>",
            "html: escaped, the layout and the partials of the locale");
    free (out);
    out =
        s_render ("welcome", NULL, FY_TEMPLATE_TEXT, s_data, FY_TEMPLATE_PLAIN);
    is_str (out, "Hi Ada <A>\n-- the team",
            "text: plain, a partial a partial names");
    free (out);
    out =
        s_render ("welcome", NULL, FY_TEMPLATE_HTML, s_data, FY_TEMPLATE_PLAIN);
    ok (strstr (out, "Ada &lt;A&gt;") != NULL,
        "html is escaped whatever the flags say");
    free (out);
}

static void
s_test_errors (void)
{
    s_write ("sms/text.mustache", "Code {{code}} for {{user.name}}");
    char *out = s_render ("sms", "en", FY_TEMPLATE_TEXT, "{\"code\": 1}",
                          FY_TEMPLATE_STRICT);
    is_str (out, "error: sms/text.mustache: line 1: no value for 'user.name'",
            "a strict render names the file, the line and the name");
    free (out);
    out = s_render ("sms", "en", FY_TEMPLATE_TEXT, "{\"code\": 1}", 0);
    is_str (out, "Code 1 for ", "not strict, it prints nothing");
    free (out);
    out = s_render ("sms", NULL, FY_TEMPLATE_HTML, "{}", 0);
    is_str (out, "error: sms: no html.mustache", "a part it does not have");
    free (out);

    s_write ("bad/html.mustache", "ok\n{{#each l}}");
    s_write ("badpartial/text.mustache", "{{> broken}}");
    s_write ("partials/broken.mustache", "{{/x}}");
    s_write ("escape/text.mustache", "{{> ../secret}}");
    char empty [512];
    snprintf (empty, sizeof empty, "%s/empty", s_dir);
    mkdir (empty, 0700);
    static const struct {
        const char *name;
        const char *locale;
        int error;
        const char *text;
    } cases [] = {
        { "bad", NULL, EINVAL,
          "bad/html.mustache: line 2 column 1: unclosed section 'each'" },
        { "badpartial", NULL, EINVAL,
          "partials/broken.mustache: line 1 column 1: close tag 'x' "
          "without an open section" },
        { "escape", NULL, EINVAL,
          "partial '../secret': not a file name (letters, digits, _ . -)" },
        { "nope", "fr-CA", ENOENT, "no template 'nope' for locale fr-CA in " },
        { "empty", NULL, ENOENT, "empty: no subject, text or html.mustache" },
        { "../etc", NULL, EINVAL,
          "template '../etc': not a file name (letters, digits, _ . -)" },
        { ".hidden", NULL, EINVAL,
          "template '.hidden': not a file name (letters, digits, _ . -)" },
        { "welcome", "fr/../x", EINVAL,
          "locale 'fr/../x': not a locale (letters, digits, - _)" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        fy_error_t err = { "" };
        errno = 0;
        fy_template_set_t *set = fy_template_set_load (s_dir, cases [i].name,
                                                       cases [i].locale, &err);
        ok (!set && errno == cases [i].error, "'%s' does not load: errno %d",
            cases [i].name, cases [i].error);
        ok (strncmp (err.text, cases [i].text, strlen (cases [i].text)) == 0,
            "  %s", err.text);
    }
    //  A partial that is not there: nothing, or a strict error.
    s_write ("gap/text.mustache", "[{{> gone}}]");
    out = s_render ("gap", NULL, FY_TEMPLATE_TEXT, "{}", 0);
    is_str (out, "[]", "a missing partial loads and prints nothing");
    free (out);
    out = s_render ("gap", NULL, FY_TEMPLATE_TEXT, "{}", FY_TEMPLATE_STRICT);
    is_str (out, "error: gap/text.mustache: line 1: no partial 'gone'",
            "or fails a strict render");
    free (out);
    //  A partial that names itself loads once.
    s_write ("tree/text.mustache", "{{> node}}");
    s_write ("partials/node.mustache", "({{#kids}}{{> node}}{{/kids}})");
    out = s_render (
        "tree", NULL, FY_TEMPLATE_TEXT,
        "{\"kids\": [{\"kids\": [{\"kids\": []}]}, {\"kids\": []}]}", 0);
    is_str (out, "((())())", "a recursive partial");
    free (out);
    //  Layouts may live in layouts/ (ferry-notify's templates do); a
    //  partial of the same name wins, a locale variant in either first.
    s_write ("boxed/text.mustache",
             "{{<frame}}{{$in}}{{name}}{{/in}}{{/frame}}");
    s_write ("layouts/frame.mustache", "[{{$in}}-{{/in}}]");
    s_write ("layouts/frame.fr.mustache", "<{{$in}}-{{/in}}>");
    out = s_render ("boxed", NULL, FY_TEMPLATE_TEXT, s_data, 0);
    is_str (out, "[Ada <A>]", "a layout from layouts/");
    free (out);
    out = s_render ("boxed", "fr-CA", FY_TEMPLATE_TEXT, s_data, 0);
    is_str (out, "<Ada <A>>", "  its locale variant");
    free (out);
    s_write ("partials/frame.mustache", "({{$in}}-{{/in}})");
    out = s_render ("boxed", NULL, FY_TEMPLATE_TEXT, s_data, 0);
    is_str (out, "(Ada <A>)", "  partials/ before layouts/");
    free (out);
}

static void
s_test_versions (void)
{
    char base [65], fr [65];
    snprintf (base, sizeof base, "%s", s_version ("welcome", NULL));
    snprintf (fr, sizeof fr, "%s", s_version ("welcome", "fr"));
    ok (strcmp (base, fr) != 0, "each variant has its version");
    is_str (s_version ("welcome", "de"), base, "the same files, the same hash");
    is_str (s_version ("welcome", "fr-CA"), fr, "  for every locale");

    s_write ("partials/unused.mustache", "changed");
    s_write ("welcome.de-AT/extra.txt", "not a template");
    is_str (s_version ("welcome", NULL), base,
            "a file the set does not use changes nothing");
    s_write ("partials/sig.mustache", "the whole team");
    const char *now = s_version ("welcome", NULL);
    ok (strcmp (now, base) != 0,
        "a partial's partial changed: a new version (%.12s)", now);
    is_str (s_version ("welcome", "fr"), fr,
            "  and not for fr, which uses footer.fr instead");
    snprintf (base, sizeof base, "%s", now);
    s_write ("welcome/html.mustache",
             "{{#> layout}}<p>Hello {{name}}</p>{{> list}}{{/layout}}");
    ok (strcmp (s_version ("welcome", NULL), base) != 0,
        "a part changed: a new version");
    snprintf (base, sizeof base, "%s", s_version ("welcome", NULL));
    s_remove ("partials/footer.fr.mustache");
    const char *fallback = s_version ("welcome", "fr");
    ok (strcmp (fallback, fr) != 0 && strcmp (fallback, base) != 0,
        "a locale partial removed: fr falls back, a new version");
    s_remove ("welcome/subject.mustache");
    ok (strcmp (s_version ("welcome", NULL), base) != 0,
        "a part removed: a new version");
    //  Moving bytes from one file to the next is a change.
    s_write ("a/subject.mustache", "ab");
    s_write ("a/text.mustache", "c");
    snprintf (base, sizeof base, "%s", s_version ("a", NULL));
    s_write ("a/subject.mustache", "a");
    s_write ("a/text.mustache", "bc");
    ok (strcmp (s_version ("a", NULL), base) != 0,
        "the same bytes cut elsewhere: a new version");
}

int
main (void)
{
    plan (NO_PLAN);
    if (!mkdtemp (s_dir))
        BAIL_OUT ("mkdtemp");
    s_test_locales ();
    s_test_errors ();
    s_test_versions ();
    fy_template_set_t *set = NULL;
    fy_template_set_destroy (&set);
    ok (set == NULL, "destroy is safe on NULL");
    char command [256];
    snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
    if (system (command) != 0)
        diag ("could not remove %s", s_dir);
    return done_testing ();
}
