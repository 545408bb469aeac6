/*  Fuzz target for fy_template: the input up to its first NUL byte is a
    template (Mustache and the Handlebars built-ins), the rest JSON data
    (null when there is no NUL or it does not parse). Partials come from
    the data's "partials" object (name -> text), and "self" is the
    template itself, so recursion is reached. A template that does not
    compile must say where; one that does must render the same text twice
    (the second time from the partial cache), end it with a NUL, stay
    within the output limit, fail only with the documented errno values,
    and leave the data as it was. Strict, it renders the same text or
    fails with ENOENT (or a limit); plain, it fails as escaped does, or
    earlier. */
#include "ferry/ferry.h"
#include "notify/fy_template.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

typedef struct {
    const char *text;
    size_t len;
    json_t *partials;
} s_input_t;

static const char *
s_resolve (const char *name, size_t *len_p, void *arg)
{
    s_input_t *input = arg;
    if (strcmp (name, "self") == 0) {
        *len_p = input->len;
        return input->text;
    }
    json_t *text = json_object_get (input->partials, name);
    if (!json_is_string (text))
        return NULL;
    *len_p = json_string_length (text);
    return json_string_value (text);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *text = (const char *) data;
    const char *nul = memchr (text, 0, size);
    s_input_t input = { text, nul ? (size_t) (nul - text) : size, NULL };
    json_t *values =
        nul ? fy_json_loadb (nul + 1, size - input.len - 1, NULL) : NULL;
    input.partials = json_object_get (values, "partials");
    fy_error_t err = { "" };
    fy_template_t *template = fy_template_compile (text, input.len, &err);
    if (!template) {
        if (errno != EINVAL || strncmp (err.text, "line ", 5))
            abort ();
        json_decref (values);
        return 0;
    }
    json_t *before = json_deep_copy (values);
    fy_template_partials_t *partials =
        fy_template_partials_new (s_resolve, &input);
    char *out [2] = { NULL, NULL };
    size_t len [2] = { 0, 0 };
    int rc [2], error [2] = { 0, 0 };
    for (int i = 0; i < 2; i++) {
        rc [i] = fy_template_render (template, values, partials, &out [i],
                                     &len [i], &err);
        if (rc [i]) {
            error [i] = errno;
            if ((errno != EINVAL && errno != ELOOP && errno != EFBIG) || out [i]
                || !err.text [0])
                abort ();
        }
        else if (!out [i] || out [i][len [i]]
                 || len [i] > FY_TEMPLATE_MAX_OUTPUT)
            abort ();
    }
    if (rc [0] != rc [1] || error [0] != error [1] || len [0] != len [1]
        || (rc [0] == 0 && memcmp (out [0], out [1], len [0])))
        abort ();
    //  Strict: the same text, or a missing name; plain: never longer.
    for (unsigned flags = FY_TEMPLATE_PLAIN; flags <= FY_TEMPLATE_STRICT;
         flags++) {
        char *other = NULL;
        size_t other_len = 0;
        if (fy_template_render_flags (template, values, partials, flags, &other,
                                      &other_len, &err)) {
            if ((errno != EINVAL && errno != ELOOP && errno != EFBIG
                 && (errno != ENOENT || flags != FY_TEMPLATE_STRICT))
                || other || !err.text [0])
                abort ();
        }
        else {
            if (!other || other [other_len])
                abort ();
            //  Strict finds every name, so lenient rendered the same.
            if (flags == FY_TEMPLATE_STRICT
                && (rc [0] || other_len != len [0]
                    || memcmp (other, out [0], len [0])))
                abort ();
            if (flags == FY_TEMPLATE_PLAIN && rc [0] == 0
                && other_len > len [0])
                abort ();
        }
        free (other);
    }
    if (!json_equal (values, before) && (values || before))
        abort ();
    free (out [0]);
    free (out [1]);
    fy_template_partials_destroy (&partials);
    fy_template_destroy (&template);
    json_decref (before);
    json_decref (values);
    return 0;
}
