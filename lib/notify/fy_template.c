/*  fy_template: Mustache, compiled in four passes over the text and
    rendered by walking a tree (see fy_template.h for what it supports).

    Compiling: the scanner cuts the text into tokens (text split after
    each newline, and tags, following delimiter changes as it goes); a
    match pass pairs sections with their close tags, which is where the
    errors are found; a line pass finds the standalone lines, those of
    whitespace and one tag that prints nothing of its own, and takes out
    their whitespace and newline; the build pass makes the tree. A
    standalone line may also hold several parent and block tags
    ("{{<parent}}{{$block}}"), as the inheritance module needs.

    Indentation: the spec indents every line of a standalone partial by
    the partial tag's whitespace, as if that whitespace were prepended to
    each line of the partial's text. Rather than compile a partial once
    per indentation, each node remembers whether it starts a line of its
    template, and the render writes the current indentation before such
    a node and after each newline inside a text. Blocks (inheritance)
    are re-indented the same way: when a block's tag stands alone, the
    whitespace that starts its first line is its own ("intrinsic")
    indentation, which is removed from its lines when compiling and
    added back, relative to the enclosing block, where it is rendered.

    Limits (fy_template.h) are checked as the render goes, so a hostile
    template ends with an error instead of a deep stack, a large buffer
    or a long loop. */
#include "notify/fy_template.h"
#include "ferry/fy_json.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    S_TEXT,
    S_VAR,                      //  {{x}}, escaped
    S_RAW,                      //  {{{x}}} or {{&x}}
    S_SECTION,                  //  {{#x}}
    S_INVERTED,                 //  {{^x}}
    S_CLOSE,                    //  {{/x}}
    S_COMMENT,                  //  {{! x}}
    S_PARTIAL,                  //  {{>x}}, {{>*x}}
    S_PARENT,                   //  {{<x}}, {{<*x}}
    S_BLOCK,                    //  {{$x}}
    S_DELIM                     //  {{=<% %>=}}
} s_kind_t;

//  A piece of the source: text, or a tag with its name.
typedef struct {
    s_kind_t kind;
    size_t off;                 //  Where the token starts in the source
    size_t str;                 //  Text, or the tag's name (trimmed)
    size_t len;
    size_t raw;                 //  Tag content before a '*' is taken off
    size_t raw_len;
    bool dynamic;               //  {{>*x}}: the name is looked up
    bool bol;                   //  First token on its source line
    bool standalone;            //  On a standalone line
    bool eats_newline;          //  Last tag of one, which ended in '\n'
    size_t ws;                  //  Standalone: the line's whitespace
    size_t ws_len;
    size_t next_line;           //  eats_newline: start of the next line
    size_t match;               //  Open tag: its close tag's index; close
                                //  tag: its open tag's
} s_token_t;

typedef struct s_node s_node_t;
typedef struct {
    s_node_t *nodes;
    size_t count;
    size_t cap;
} s_list_t;

struct s_node {
    s_kind_t kind;
    bool at_bol;                //  Starts a line of its template
    bool standalone;
    bool dynamic;
    bool force_newline;         //  Block whose close tag ended its line
    char *str;                  //  Text, or the name; NUL-terminated
    size_t len;
    char *indent;               //  Partial, parent: the standalone line's
    size_t indent_len;          //  whitespace; block: its indentation
    s_list_t children;          //  Parent: only its blocks
};

struct fy_template {
    s_list_t root;
    size_t text_size;           //  Bytes of text, to size the output
};

typedef struct {
    const char *src;
    size_t len;
    fy_error_t *err;
    s_token_t *tokens;
    size_t count;
    size_t cap;
    size_t text_size;
} s_parser_t;

static bool
s_is_blank (char c)
{
    return c == ' ' || c == '\t';
}

static bool
s_is_space (char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

//  How many leading bytes of text are also the start of prefix.
static size_t
s_common (const char *text, size_t len, const char *prefix, size_t prefix_len)
{
    size_t n = 0;
    while (n < len && n < prefix_len && text [n] == prefix [n])
        n++;
    return n;
}

static int
s_error (s_parser_t *p, size_t off, const char *format, ...) FY_PRINTF (3, 4);
static int
s_error (s_parser_t *p, size_t off, const char *format, ...)
{
    size_t line = 1, column = 1;
    for (size_t i = 0; i < off && i < p->len; i++) {
        column = p->src [i] == '\n' ? 1 : column + 1;
        line += p->src [i] == '\n';
    }
    char reason [120];
    va_list args;
    va_start (args, format);
    vsnprintf (reason, sizeof reason, format, args);
    va_end (args);
    fy_error_set (p->err, "line %zu column %zu: %s", line, column, reason);
    return -1;
}

static s_token_t *
s_push (s_parser_t *p, s_kind_t kind, size_t off, bool bol)
{
    if (p->count == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->tokens = fy_xrealloc (p->tokens, p->cap * sizeof *p->tokens);
    }
    s_token_t *token = &p->tokens [p->count++];
    *token = (s_token_t) { .kind = kind, .off = off, .bol = bol };
    return token;
}

//  The delimiters of {{=open close=}}, content [start, end): two runs of
//  anything but whitespace and '=', apart.
static int
s_delimiters (s_parser_t *p, size_t start, size_t end, const char **open,
              size_t *open_len, const char **close, size_t *close_len)
{
    const char *src = p->src;
    size_t runs [2][2], count = 0, i = start;
    while (i < end) {
        if (s_is_space (src [i])) {
            i++;
            continue;
        }
        if (count == 2)
            return -1;
        runs [count][0] = i;
        while (i < end && !s_is_space (src [i]))
            if (src [i++] == '=')
                return -1;
        runs [count][1] = i - runs [count][0];
        count++;
    }
    if (count != 2)
        return -1;
    *open = src + runs [0][0];
    *open_len = runs [0][1];
    *close = src + runs [1][0];
    *close_len = runs [1][1];
    return 0;
}

//  The tag that starts at *pos: one token, *pos after it.
static int
s_scan_tag (s_parser_t *p, size_t *pos, const char **open, size_t *open_len,
            const char **close, size_t *close_len, bool bol)
{
    const char *src = p->src;
    size_t off = *pos, inner = off + *open_len;
    char sigil = inner < p->len ? src [inner] : 0;
    static const char sigils [] = "&#^/!><${=";
    static const s_kind_t kinds [] = { S_RAW,    S_SECTION, S_INVERTED,
                                       S_CLOSE,  S_COMMENT, S_PARTIAL,
                                       S_PARENT, S_BLOCK,   S_RAW,
                                       S_DELIM };
    const char *at = sigil ? strchr (sigils, sigil) : NULL;
    s_kind_t kind = at ? kinds [at - sigils] : S_VAR;
    //  The close delimiter is looked for after the sigil, which may be
    //  its first character ("<%>x>" with > as the close delimiter).
    //  {{{x}}} ends at '}' and the close delimiter, {{=a b=}} at '='.
    char before = sigil == '{' ? '}' : sigil == '=' ? '=' : 0;
    size_t content = inner + (kind != S_VAR), from = content, end;
    const char *found;
    while (true) {
        found = from <= p->len
                    ? memmem (src + from, p->len - from, *close, *close_len)
                    : NULL;
        if (!found)
            return s_error (p, off, "unclosed tag");
        end = (size_t) (found - src);
        if (!before)
            break;
        if (end > content && src [end - 1] == before) {
            end--;
            break;
        }
        from = end + 1;
    }
    *pos = (size_t) (found - src) + *close_len;
    s_token_t *token = s_push (p, kind, off, bol);
    if (kind == S_DELIM) {
        if (s_delimiters (p, content, end, open, open_len, close, close_len))
            return s_error (p, off, "bad delimiter change");
        return 0;
    }
    if (kind == S_COMMENT)
        return 0;
    size_t start = content;
    while (start < end && s_is_space (src [start]))
        start++;
    while (end > start && s_is_space (src [end - 1]))
        end--;
    token->raw = start;
    token->raw_len = end - start;
    if ((kind == S_PARTIAL || kind == S_PARENT) && start < end
        && src [start] == '*') {
        token->dynamic = true;
        for (start++; start < end && s_is_space (src [start]); start++)
            ;
    }
    token->str = start;
    token->len = end - start;
    if (start == end)
        return s_error (p, off, "empty tag name");
    return 0;
}

static int
s_scan (s_parser_t *p)
{
    const char *open = "{{", *close = "}}";
    size_t open_len = 2, close_len = 2, pos = 0;
    bool bol = true;
    while (pos < p->len) {
        const char *tag = memmem (p->src + pos, p->len - pos, open, open_len);
        size_t text_end = tag ? (size_t) (tag - p->src) : p->len;
        while (pos < text_end) {
            const char *nl = memchr (p->src + pos, '\n', text_end - pos);
            size_t end = nl ? (size_t) (nl - p->src) + 1 : text_end;
            s_token_t *token = s_push (p, S_TEXT, pos, bol);
            token->str = pos;
            token->len = end - pos;
            bol = nl != NULL;
            pos = end;
        }
        if (!tag)
            break;
        if (s_scan_tag (p, &pos, &open, &open_len, &close, &close_len, bol))
            return -1;
        bol = false;
    }
    return 0;
}

//  A parent or block tag, or the close tag of one.
static bool
s_is_inheritance (s_parser_t *p, const s_token_t *token)
{
    s_kind_t kind =
        token->kind == S_CLOSE ? p->tokens [token->match].kind : token->kind;
    return kind == S_PARENT || kind == S_BLOCK;
}

//  Finds the standalone lines and takes out their whitespace and newline:
//  a line of whitespace and one tag that prints nothing of its own, or
//  of several parent and block tags (the inheritance module's
//  "{{<parent}}{{$block}}"; a core line of two tags is not standalone).
static void
s_standalone (s_parser_t *p)
{
    const char *src = p->src;
    size_t first = 0;
    while (first < p->count) {
        size_t last = first, tags = 0;
        bool alone = true, newline = false, inheritance = true;
        for (; last < p->count; last++) {
            s_token_t *token = &p->tokens [last];
            if (token->kind != S_TEXT) {
                tags++;
                alone &= token->kind != S_VAR && token->kind != S_RAW;
                inheritance &= s_is_inheritance (p, token);
                continue;
            }
            const char *text = src + token->str;
            size_t len = token->len;
            newline = text [len - 1] == '\n';
            len -= newline;
            len -= newline && len && text [len - 1] == '\r';
            for (size_t i = 0; i < len && alone; i++)
                alone = s_is_blank (text [i]);
            if (newline)
                break;
        }
        if (last == p->count)
            last--;
        if (alone && (tags == 1 || (tags > 1 && inheritance))) {
            s_token_t *lead = &p->tokens [first];
            size_t ws = lead->kind == S_TEXT ? lead->str : lead->off;
            size_t ws_len = lead->kind == S_TEXT ? lead->len : 0;
            s_token_t *last_tag = NULL;
            size_t next_line =
                newline ? p->tokens [last].str + p->tokens [last].len : 0;
            for (size_t i = first; i <= last; i++) {
                s_token_t *token = &p->tokens [i];
                if (token->kind == S_TEXT) {
                    token->len = 0;
                    continue;
                }
                token->standalone = true;
                token->ws = ws;
                token->ws_len = ws_len;
                last_tag = token;
            }
            last_tag->eats_newline = newline;
            last_tag->next_line = next_line;
        }
        first = last + 1;
    }
}

//  Pairs open and close tags; fails on the first that does not pair.
static int
s_match (s_parser_t *p)
{
    size_t stack [FY_TEMPLATE_MAX_NESTING], depth = 0;
    for (size_t i = 0; i < p->count; i++) {
        s_token_t *token = &p->tokens [i];
        switch (token->kind) {
            case S_SECTION:
            case S_INVERTED:
            case S_PARENT:
            case S_BLOCK:
                if (depth == FY_TEMPLATE_MAX_NESTING)
                    return s_error (p, token->off,
                                    "sections nested more than %d deep",
                                    FY_TEMPLATE_MAX_NESTING);
                stack [depth++] = i;
                break;
            case S_CLOSE: {
                int n = (int) (token->len < 40 ? token->len : 40);
                if (depth == 0)
                    return s_error (p, token->off,
                                    "close tag '%.*s' "
                                    "without an open section",
                                    n, p->src + token->str);
                s_token_t *open = &p->tokens [stack [depth - 1]];
                if (open->raw_len != token->len
                    || memcmp (p->src + open->raw, p->src + token->str,
                               token->len))
                    return s_error (
                        p, token->off,
                        "close tag '%.*s' does "
                        "not match open section '%.*s'",
                        n, p->src + token->str,
                        (int) (open->raw_len < 40 ? open->raw_len : 40),
                        p->src + open->raw);
                open->match = i;
                token->match = stack [depth - 1];
                depth--;
                break;
            }
            default:
                break;
        }
    }
    if (depth) {
        s_token_t *open = &p->tokens [stack [depth - 1]];
        return s_error (p, open->off, "unclosed section '%.*s'",
                        (int) (open->raw_len < 40 ? open->raw_len : 40),
                        p->src + open->raw);
    }
    return 0;
}

static s_node_t *
s_list_add (s_list_t *list, s_kind_t kind)
{
    if (list->count == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 4;
        list->nodes =
            fy_xrealloc (list->nodes, list->cap * sizeof *list->nodes);
    }
    s_node_t *node = &list->nodes [list->count++];
    *node = (s_node_t) { .kind = kind };
    return node;
}

static void
s_node_free (s_node_t *node)
{
    for (size_t i = 0; i < node->children.count; i++)
        s_node_free (&node->children.nodes [i]);
    free (node->children.nodes);
    free (node->str);
    free (node->indent);
}

//  What a text token leaves: a line's start loses as much of strip (the
//  enclosing block's indentation) as it starts with.
static size_t
s_text (s_parser_t *p, const s_token_t *token, const char *strip,
        size_t strip_len, const char **text_p)
{
    const char *text = p->src + token->str;
    size_t len = token->len;
    if (token->bol && len) {
        size_t n = s_common (text, len, strip, strip_len);
        text += n;
        len -= n;
    }
    *text_p = text;
    return len;
}

//  One text node of the text tokens from *i on, joined across comments
//  and delimiter changes (which leave nothing); *i ends on the last.
static void
s_add_text (s_parser_t *p, size_t *i, size_t to, s_list_t *list,
            const char *strip, size_t strip_len)
{
    size_t end = *i, total = 0;
    const char *text;
    for (;
         end < to
         && (p->tokens [end].kind == S_TEXT || p->tokens [end].kind == S_COMMENT
             || p->tokens [end].kind == S_DELIM);
         end++)
        if (p->tokens [end].kind == S_TEXT)
            total += s_text (p, &p->tokens [end], strip, strip_len, &text);
    if (total) {
        s_node_t *node = s_list_add (list, S_TEXT);
        node->str = fy_xmalloc (total + 1);
        for (size_t k = *i; k < end; k++) {
            if (p->tokens [k].kind != S_TEXT)
                continue;
            size_t len = s_text (p, &p->tokens [k], strip, strip_len, &text);
            if (len && !node->len)
                node->at_bol = p->tokens [k].bol;
            memcpy (node->str + node->len, text, len);
            node->len += len;
        }
        node->str [total] = 0;
        p->text_size += total;
    }
    *i = end - 1;
}

//  A standalone tag's whitespace, less what its block's lines lose.
static void
s_set_indent (s_node_t *node, const char *ws, size_t len, const char *strip,
              size_t strip_len)
{
    size_t n = s_common (ws, len, strip, strip_len);
    node->indent = fy_xstrndup (ws + n, len - n);
    node->indent_len = len - n;
}

//  Nodes of tokens [from, to) into list; strip is the indentation of
//  the enclosing block, which its lines lose.
static void
s_build (s_parser_t *p, size_t from, size_t to, s_list_t *list,
         const char *strip, size_t strip_len)
{
    const char *src = p->src;
    for (size_t i = from; i < to; i++) {
        s_token_t *token = &p->tokens [i];
        if (token->kind == S_TEXT || token->kind == S_COMMENT
            || token->kind == S_DELIM) {
            s_add_text (p, &i, to, list, strip, strip_len);
            continue;
        }
        s_node_t *node = s_list_add (list, token->kind);
        node->at_bol = token->bol;
        node->standalone = token->standalone;
        node->dynamic = token->dynamic;
        node->str = fy_xstrndup (src + token->str, token->len);
        node->len = token->len;
        if (token->standalone
            && (token->kind == S_PARTIAL || token->kind == S_PARENT))
            s_set_indent (node, src + token->ws, token->ws_len, strip,
                          strip_len);
        if (token->kind == S_VAR || token->kind == S_RAW
            || token->kind == S_PARTIAL)
            continue;
        s_token_t *close = &p->tokens [token->match];
        const char *inner = strip;
        size_t inner_len = strip_len;
        if (token->kind == S_BLOCK) {
            //  Intrinsic indentation: the first line's, when the tag
            //  ends its line and a whole line follows inside the block.
            size_t line = token->next_line;
            if (token->eats_newline && line < close->off
                && memchr (src + line, '\n', close->off - line)) {
                size_t n = 0;
                while (line + n < close->off && s_is_blank (src [line + n]))
                    n++;
                inner = src + line;
                inner_len = n;
                s_set_indent (node, inner, inner_len, strip, strip_len);
            }
            else if (token->standalone)
                s_set_indent (node, src + token->ws, token->ws_len, strip,
                              strip_len);
            node->force_newline = close->standalone && close->eats_newline;
        }
        s_build (p, i + 1, token->match, &node->children, inner, inner_len);
        i = token->match;
        if (token->kind == S_PARENT) {
            //  Only the blocks of a parent tag mean anything.
            s_list_t *children = &node->children;
            size_t kept = 0;
            for (size_t k = 0; k < children->count; k++)
                if (children->nodes [k].kind == S_BLOCK)
                    children->nodes [kept++] = children->nodes [k];
                else
                    s_node_free (&children->nodes [k]);
            children->count = kept;
        }
    }
}

fy_template_t *
fy_template_compile (const char *text, size_t len, fy_error_t *err)
{
    assert (text || len == 0);
    s_parser_t parser = { .src = text ? text : "", .len = len, .err = err };
    fy_template_t *self = NULL;
    if (s_scan (&parser) == 0 && s_match (&parser) == 0) {
        s_standalone (&parser);
        self = fy_xcalloc (1, sizeof *self);
        s_build (&parser, 0, parser.count, &self->root, "", 0);
        self->text_size = parser.text_size;
    }
    free (parser.tokens);
    if (!self)
        errno = EINVAL;
    return self;
}

void
fy_template_destroy (fy_template_t **self_p)
{
    assert (self_p);
    fy_template_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    for (size_t i = 0; i < self->root.count; i++)
        s_node_free (&self->root.nodes [i]);
    free (self->root.nodes);
    free (self);
    *self_p = NULL;
    errno = saved;
}

//  ---------------------------------------------------------------------
//  Partials: compiled templates by name.

struct fy_template_partials {
    zhashx_t *templates;  //  name -> fy_template_t *, or &s_missing
    fy_template_resolver_fn *resolver;
    void *arg;
};

//  What a name the resolver does not know maps to. Misses are remembered
//  only while the set is small, as dynamic names come from event data.
static fy_template_t s_missing;
#define S_MAX_MISSES 1024

static void
s_template_free (void **item)
{
    fy_template_t *template = *item;
    if (template != &s_missing)
        fy_template_destroy (&template);
    *item = NULL;
}

fy_template_partials_t *
fy_template_partials_new (fy_template_resolver_fn *resolver, void *arg)
{
    fy_template_partials_t *self = fy_xcalloc (1, sizeof *self);
    self->templates = zhashx_new ();
    assert (self->templates);
    zhashx_set_destructor (self->templates, s_template_free);
    self->resolver = resolver;
    self->arg = arg;
    return self;
}

void
fy_template_partials_destroy (fy_template_partials_t **self_p)
{
    assert (self_p);
    fy_template_partials_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    zhashx_destroy (&self->templates);
    free (self);
    *self_p = NULL;
    errno = saved;
}

int
fy_template_partials_add (fy_template_partials_t *self, const char *name,
                          const char *text, size_t len, fy_error_t *err)
{
    assert (self);
    assert (name);
    fy_template_t *template = fy_template_compile (text, len, err);
    if (!template) {
        fy_error_prefix (err, "partial '%.40s'", name);
        return -1;
    }
    zhashx_update (self->templates, name, template);
    return 0;
}

//  The template called name, or NULL: none (*failed false), or it does
//  not compile (*failed true, err set).
static fy_template_t *
s_partials_get (fy_template_partials_t *self, const char *name, fy_error_t *err,
                bool *failed)
{
    *failed = false;
    fy_template_t *template = zhashx_lookup (self->templates, name);
    if (template || !self->resolver)
        return template == &s_missing ? NULL : template;
    size_t len = 0;
    const char *text = self->resolver (name, &len, self->arg);
    if (!text) {
        if (zhashx_size (self->templates) < S_MAX_MISSES)
            zhashx_insert (self->templates, name, &s_missing);
        return NULL;
    }
    *failed = fy_template_partials_add (self, name, text, len, err) != 0;
    return *failed ? NULL : zhashx_lookup (self->templates, name);
}

//  ---------------------------------------------------------------------
//  Rendering

//  The blocks a parent tag passes down, innermost first.
typedef struct s_frame s_frame_t;
struct s_frame {
    const s_node_t *parent;
    const s_frame_t *next;
};

typedef struct {
    char *out;
    size_t len;
    size_t cap;
    json_t *stack [FY_TEMPLATE_MAX_DEPTH + 1];  //  Context stack
    size_t depth;
    char *indent;  //  Current indentation: [start, end)
    size_t indent_start;
    size_t indent_end;
    size_t indent_cap;
    const s_frame_t *overrides;
    fy_template_partials_t *partials;
    size_t steps;
    int nesting;
    int partial_depth;
    fy_error_t *err;
    int error;  //  errno of the failure, 0 while none
} s_render_t;

static void
s_fail (s_render_t *r, int error, const char *format, ...) FY_PRINTF (3, 4);
static void
s_fail (s_render_t *r, int error, const char *format, ...)
{
    char reason [160];
    va_list args;
    va_start (args, format);
    vsnprintf (reason, sizeof reason, format, args);
    va_end (args);
    fy_error_set (r->err, "%s", reason);
    r->error = error;
}

static void
s_put (s_render_t *r, const char *data, size_t len)
{
    if (r->error || !len)
        return;
    if (len > FY_TEMPLATE_MAX_OUTPUT - r->len) {
        s_fail (r, EFBIG, "output larger than %zu bytes",
                FY_TEMPLATE_MAX_OUTPUT);
        return;
    }
    if (r->len + len + 1 > r->cap) {
        size_t cap =
            r->cap * 2 > r->len + len + 1 ? r->cap * 2 : r->len + len + 1;
        r->cap =
            cap < FY_TEMPLATE_MAX_OUTPUT + 1 ? cap : FY_TEMPLATE_MAX_OUTPUT + 1;
        r->out = fy_xrealloc (r->out, r->cap);
    }
    memcpy (r->out + r->len, data, len);
    r->len += len;
}

static void
s_put_indent (s_render_t *r)
{
    if (r->indent_end > r->indent_start)
        s_put (r, r->indent + r->indent_start, r->indent_end - r->indent_start);
}

//  Template text: the indentation goes after each newline it holds.
static void
s_put_text (s_render_t *r, const char *text, size_t len)
{
    if (r->indent_end == r->indent_start) {
        s_put (r, text, len);
        return;
    }
    while (len) {
        const char *nl = memchr (text, '\n', len);
        size_t n = nl ? (size_t) (nl - text) + 1 : len;
        s_put (r, text, n);
        text += n;
        len -= n;
        if (len)
            s_put_indent (r);
    }
}

//  The spec's HTML escaping: & " < > and nothing else.
static void
s_put_escaped (s_render_t *r, const char *text, size_t len)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        const char *entity;
        switch (text [i]) {
            case '&':
                entity = "&amp;";
                break;
            case '"':
                entity = "&quot;";
                break;
            case '<':
                entity = "&lt;";
                break;
            case '>':
                entity = "&gt;";
                break;
            default:
                continue;
        }
        s_put (r, text + run, i - run);
        s_put (r, entity, strlen (entity));
        run = i + 1;
    }
    s_put (r, text + run, len - run);
}

//  The shortest text that reads back as value, as a script would print
//  it ("1.21", not "1.2099999999999999"); '.' whatever the locale.
static size_t
s_format_real (double value, char buffer [32])
{
    int len = 0;
    for (int precision = 1; precision <= 17; precision++) {
        len = snprintf (buffer, 32, "%.*g", precision, value);
        if (strtod (buffer, NULL) == value)
            break;
    }
    for (char *c = buffer; *c; c++)
        if (*c == ',')
            *c = '.';
    return (size_t) len;
}

static void
s_put_value (s_render_t *r, json_t *value, bool escape)
{
    char buffer [32];
    const char *text = buffer;
    char *dumped = NULL;
    size_t len = 0;
    switch (json_typeof (value)) {
        case JSON_STRING:
            text = json_string_value (value);
            len = json_string_length (value);
            break;
        case JSON_INTEGER:
            len = (size_t) snprintf (buffer, sizeof buffer,
                                     "%" JSON_INTEGER_FORMAT,
                                     json_integer_value (value));
            break;
        case JSON_REAL:
            len = s_format_real (json_real_value (value), buffer);
            break;
        case JSON_TRUE:
            text = "true";
            len = 4;
            break;
        case JSON_FALSE:
            text = "false";
            len = 5;
            break;
        case JSON_NULL:
            return;
        default:
            text = dumped = fy_json_dumps (value, 0, &len);
            if (!dumped)
                return;
            break;
    }
    if (escape)
        s_put_escaped (r, text, len);
    else
        s_put (r, text, len);
    free (dumped);
}

//  name (dotted, or "."): the first part is looked for down the context
//  stack, the rest inside what it found. Borrowed, or NULL. Each frame
//  and part counts as a step: a long dotted name in a loop is work.
static json_t *
s_lookup (s_render_t *r, const char *name, size_t len)
{
    if (len == 1 && name [0] == '.')
        return r->stack [r->depth - 1];
    const char *end = name + len;
    const char *dot = memchr (name, '.', len);
    size_t part = dot ? (size_t) (dot - name) : len;
    json_t *value = NULL;
    for (size_t i = r->depth; i-- > 0 && !value; r->steps++)
        if (json_is_object (r->stack [i]))
            value = json_object_getn (r->stack [i], name, part);
    for (; value && dot; r->steps++) {
        name = dot + 1;
        dot = memchr (name, '.', (size_t) (end - name));
        part = dot ? (size_t) (dot - name) : (size_t) (end - name);
        value = json_is_object (value) ? json_object_getn (value, name, part)
                                       : NULL;
    }
    return value;
}

//  Truth as the spec words it (!!data) and mustache.js reads it, which
//  the templates ported from the NestJS services were written against:
//  "" and 0 are false too, an empty object is true.
static bool
s_is_falsy (json_t *value)
{
    return !value || json_is_null (value) || json_is_false (value)
           || (json_is_array (value) && json_array_size (value) == 0)
           || (json_is_string (value) && json_string_length (value) == 0)
           || (json_is_integer (value) && json_integer_value (value) == 0)
           || (json_is_real (value) && json_real_value (value) == 0.0);
}

static void
s_render_list (s_render_t *r, const s_list_t *list);

//  One level deeper: counts against the depth and the steps.
static bool
s_enter (s_render_t *r)
{
    if (r->error)
        return false;
    if (r->nesting == FY_TEMPLATE_MAX_DEPTH) {
        s_fail (r, ELOOP,
                "sections, partials and blocks nested more "
                "than %d deep",
                FY_TEMPLATE_MAX_DEPTH);
        return false;
    }
    if (++r->steps > FY_TEMPLATE_MAX_STEPS) {
        s_fail (r, EINVAL, "render takes more than %d steps",
                FY_TEMPLATE_MAX_STEPS);
        return false;
    }
    r->nesting++;
    return true;
}

//  A section's content with context pushed (NULL: none, for inverted).
static void
s_render_section (s_render_t *r, const s_list_t *list, json_t *context)
{
    if (!s_enter (r))
        return;
    if (context)
        r->stack [r->depth++] = context;
    s_render_list (r, list);
    r->depth -= context != NULL;
    r->nesting--;
}

//  Appends to the current indentation; callers restore the bounds.
static void
s_indent_push (s_render_t *r, const char *indent, size_t len)
{
    if (!len)
        return;
    if (r->indent_end + len > r->indent_cap) {
        r->indent_cap = (r->indent_end + len) * 2;
        r->indent = fy_xrealloc (r->indent, r->indent_cap);
    }
    memcpy (r->indent + r->indent_end, indent, len);
    r->indent_end += len;
}

//  A partial or parent: its lines are indented by the tag's whitespace
//  when it stands alone, else not at all; a parent passes its blocks.
static void
s_render_template (s_render_t *r, const s_node_t *node, fy_template_t *template,
                   s_frame_t *frame)
{
    if (r->partial_depth == FY_TEMPLATE_MAX_PARTIAL_DEPTH) {
        s_fail (r, ELOOP,
                "partial '%.40s' nested more than %d deep "
                "(does it include itself?)",
                node->str, FY_TEMPLATE_MAX_PARTIAL_DEPTH);
        return;
    }
    if (!s_enter (r))
        return;
    size_t start = r->indent_start, end = r->indent_end;
    const s_frame_t *overrides = r->overrides;
    if (node->standalone)
        s_indent_push (r, node->indent, node->indent_len);
    else
        r->indent_start = r->indent_end;
    if (frame) {
        frame->next = r->overrides;
        r->overrides = frame;
    }
    r->partial_depth++;
    s_render_list (r, &template->root);
    r->partial_depth--;
    r->overrides = overrides;
    r->indent_start = start;
    r->indent_end = end;
    r->nesting--;
}

//  A block: the outermost parent's argument of that name, else its own
//  content, indented by the block's indentation.
static void
s_render_block (s_render_t *r, const s_node_t *node)
{
    const s_list_t *content = &node->children;
    for (const s_frame_t *frame = r->overrides; frame; frame = frame->next) {
        const s_list_t *blocks = &frame->parent->children;
        r->steps += blocks->count;
        for (size_t i = 0; i < blocks->count; i++)
            if (strcmp (blocks->nodes [i].str, node->str) == 0)
                content = &blocks->nodes [i].children;
    }
    if (!s_enter (r))
        return;
    size_t start = r->indent_start, end = r->indent_end, before = r->len;
    s_indent_push (r, node->indent, node->indent_len);
    s_render_list (r, content);
    r->indent_start = start;
    r->indent_end = end;
    r->nesting--;
    //  The close tag took its line's newline: give the line its end.
    if (node->force_newline && r->len > before && r->out [r->len - 1] != '\n')
        s_put (r, "\n", 1);
}

//  The template a partial or parent tag names, or NULL.
static fy_template_t *
s_resolve (s_render_t *r, const s_node_t *node)
{
    if (!r->partials)
        return NULL;
    const char *name = node->str;
    if (node->dynamic) {
        json_t *value = s_lookup (r, node->str, node->len);
        if (!json_is_string (value))
            return NULL;
        name = json_string_value (value);
    }
    bool failed;
    fy_template_t *template =
        s_partials_get (r->partials, name, r->err, &failed);
    if (failed)
        r->error = EINVAL;
    return template;
}

static void
s_render_node (s_render_t *r, const s_node_t *node)
{
    if (node->at_bol && !node->standalone)
        s_put_indent (r);
    json_t *value;
    fy_template_t *template;
    switch (node->kind) {
        case S_TEXT:
            s_put_text (r, node->str, node->len);
            break;
        case S_VAR:
        case S_RAW:
            value = s_lookup (r, node->str, node->len);
            if (value)
                s_put_value (r, value, node->kind == S_VAR);
            break;
        case S_SECTION:
            value = s_lookup (r, node->str, node->len);
            if (s_is_falsy (value))
                break;
            if (!json_is_array (value)) {
                s_render_section (r, &node->children, value);
                break;
            }
            for (size_t i = 0; i < json_array_size (value) && !r->error; i++)
                s_render_section (r, &node->children,
                                  json_array_get (value, i));
            break;
        case S_INVERTED:
            if (s_is_falsy (s_lookup (r, node->str, node->len)))
                s_render_section (r, &node->children, NULL);
            break;
        case S_PARTIAL:
            template = s_resolve (r, node);
            if (template)
                s_render_template (r, node, template, NULL);
            break;
        case S_PARENT:
            template = s_resolve (r, node);
            if (template) {
                s_frame_t frame = { .parent = node };
                s_render_template (r, node, template, &frame);
            }
            break;
        case S_BLOCK:
            s_render_block (r, node);
            break;
        default:
            break;
    }
}

static void
s_render_list (s_render_t *r, const s_list_t *list)
{
    for (size_t i = 0; i < list->count && !r->error; i++) {
        if (++r->steps > FY_TEMPLATE_MAX_STEPS) {
            s_fail (r, EINVAL, "render takes more than %d steps",
                    FY_TEMPLATE_MAX_STEPS);
            return;
        }
        s_render_node (r, &list->nodes [i]);
    }
}

int
fy_template_render (fy_template_t *self, json_t *data,
                    fy_template_partials_t *partials, char **out_p,
                    size_t *len_p, fy_error_t *err)
{
    assert (self);
    assert (out_p);
    s_render_t *r = fy_xcalloc (1, sizeof *r);
    r->partials = partials;
    r->err = err;
    r->stack [0] = data ? data : json_null ();
    r->depth = 1;
    //  Room for the text and as much again for values, at first.
    r->cap = self->text_size < FY_TEMPLATE_MAX_OUTPUT / 2
                 ? self->text_size * 2 + 64
                 : FY_TEMPLATE_MAX_OUTPUT + 1;
    r->out = fy_xmalloc (r->cap);
    s_render_list (r, &self->root);
    int rc = r->error ? -1 : 0;
    if (rc == 0)
        r->out [r->len] = 0;
    else {
        free (r->out);
        r->out = NULL;
        r->len = 0;
    }
    *out_p = r->out;
    if (len_p)
        *len_p = r->len;
    int error = r->error;
    free (r->indent);
    free (r);
    if (rc)
        errno = error;
    return rc;
}
