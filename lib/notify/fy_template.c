/*  fy_template: Mustache with the Handlebars built-ins, compiled in five
    passes over the text and rendered by walking a tree (see
    fy_template.h for what it supports).

    Compiling: the scanner cuts the text into tokens (text split after
    each newline, and tags, following delimiter changes as it goes; a
    Handlebars block "#each items" becomes an S_EACH token named items,
    which {{/each}} closes, and each name is checked as a path); a match
    pass pairs sections with their close tags and their {{else}}, which
    is where the errors are found; a line pass finds the standalone
    lines, those of whitespace and one tag that prints nothing of its
    own, and takes out their whitespace and newline; a strip pass does
    the {{~ ~}} whitespace control on what is left, as Handlebars does
    after its own standalone pass; the build pass makes the tree, with
    each name compiled into its path (kind and parts). A standalone line
    may also hold several parent and block tags ("{{<parent}}{{$block}}"),
    as the inheritance module needs.

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

    Rendering: each node carries the operation that renders it (s_op_t),
    chosen when compiling: text, a name in the current context, @index
    and #if on an @-variable or a name get one that does only what their
    kind needs, and leave anything rarer to the general s_render_node.

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
    S_DELIM,                    //  {{=<% %>=}}
    S_IF,                       //  {{#if x}}
    S_UNLESS,                   //  {{#unless x}}
    S_EACH,                     //  {{#each x}}
    S_WITH,                     //  {{#with x}}
    S_ELSE,                     //  {{else}}
    S_PARTIAL_BLOCK             //  {{#> x}}
} s_kind_t;

//  Where a name is looked for.
typedef enum {
    S_PATH_NAME,                //  a.b: a down the context stack
    S_PATH_THIS,                //  ., this, this.a, ./a: the current only
    S_PATH_UP,                  //  ../a: up contexts above the current
    S_PATH_ROOT,                //  @root, @root.a: the data
    S_PATH_INDEX,               //  @index, @first, @last, @key: the
    S_PATH_FIRST,               //  innermost #each
    S_PATH_LAST,
    S_PATH_KEY
} s_path_kind_t;

//  A name compiled once: its parts point into the node's str.
typedef struct {
    const char *str;
    size_t len;
} s_part_t;

typedef struct {
    s_path_kind_t kind;
    size_t up;                  //  S_PATH_UP: how many ../
    size_t count;
    s_part_t *parts;
} s_path_t;

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
    bool strip_left;            //  {{~x}}: whitespace before goes
    bool strip_right;           //  {{x~}}: whitespace after goes
    bool include_zero;          //  {{#if x includeZero=true}}
    size_t line;                //  Its line in the source, from 1
    size_t else_at;             //  Open tag: its {{else}}'s index, or 0
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
    size_t steps;               //  Nodes before texts were joined to tags
} s_list_t;

//  What the render does with a node, decided when compiling: the kinds
//  that make up most of a message get an operation of their own, which
//  does only what that kind needs and falls back to the general one
//  (S_OP_NODE) on anything rare.
typedef enum {
    S_OP_NODE,                  //  s_render_node: everything
    S_OP_TEXT,                  //  Text
    S_OP_NAME,                  //  {{a.b}}: a found in the current context
    S_OP_NAME_RAW,              //  {{{a.b}}}: likewise
    S_OP_INDEX,                 //  {{@index}}
    S_OP_IF_FIRST,              //  {{#if @first}}, {{#unless @first}}
    S_OP_IF_LAST,               //  {{#if @last}}, {{#unless @last}}
    S_OP_IF                     //  {{#if a}}, {{#unless a}}: a one-part name
} s_op_t;

struct s_node {
    s_kind_t kind;
    s_op_t op;
    bool at_bol;                //  Starts a line of its template
    bool standalone;
    bool dynamic;
    bool force_newline;         //  Block whose close tag ended its line
    bool include_zero;          //  #if, #unless: 0 is true
    size_t line;
    char *str;                  //  Text, or the name; NUL-terminated
    size_t len;
    s_path_t path;              //  The name compiled, for lookups
    char *indent;               //  Partial, parent: the standalone line's
    size_t indent_len;          //  whitespace; block: its indentation
    s_list_t children;          //  Parent: only its blocks
    s_list_t inverse;           //  What {{else}} starts
    //  The text before a tag of a specialised operation, written first
    //  (S_TEXT_PAD padded, as a text node's): one node less to dispatch.
    char *prefix;
    size_t prefix_len;
    bool prefix_bol;            //  The text starts a line
};

//  The bytes a text node's text is padded to.
#define S_TEXT_PAD 16

struct fy_template {
    s_list_t root;
    size_t text_size;           //  Bytes of text, to size the output
    size_t last_size;           //  Of the last output, to size the next
};

typedef struct {
    const char *src;
    size_t len;
    fy_error_t *err;
    s_token_t *tokens;
    size_t count;
    size_t cap;
    size_t text_size;
    size_t line;  //  Line of line_off, counted as it scans
    size_t line_off;
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
    //  Tokens come in order: the lines are counted once.
    for (const char *at = p->src + p->line_off;
         (at = memchr (at, '\n', off - (size_t) (at - p->src))); at++)
        p->line++;
    p->line_off = off;
    s_token_t *token = &p->tokens [p->count++];
    *token =
        (s_token_t) { .kind = kind, .off = off, .bol = bol, .line = p->line };
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

//  The words of the syntax and their kinds (s_kind_t, s_path_kind_t).
typedef struct {
    const char *word;
    int kind;
} s_word_t;

//  The kind of the word of len bytes at str in table, or -1.
static int
s_word_kind (const s_word_t *table, size_t count, const char *str, size_t len)
{
    for (size_t i = 0; i < count; i++)
        if (strlen (table [i].word) == len
            && memcmp (table [i].word, str, len) == 0)
            return table [i].kind;
    return -1;
}

//  What is wrong with name as a path (NULL: nothing); with path, the
//  path compiled, its parts pointing into name.
static const char *
s_path_parse (const char *name, size_t len, s_path_t *path)
{
    static const s_word_t data [] = { { "@index", S_PATH_INDEX },
                                      { "@first", S_PATH_FIRST },
                                      { "@last", S_PATH_LAST },
                                      { "@key", S_PATH_KEY } };
    s_path_kind_t kind = S_PATH_NAME;
    const char *seps = ".";
    size_t up = 0;
    int known = s_word_kind (data, sizeof data / sizeof data [0], name, len);
    if (known >= 0) {
        if (path)
            *path = (s_path_t) { .kind = (s_path_kind_t) known };
        return NULL;
    }
    if (len && name [0] == '@') {
        if (len < 5 || memcmp (name, "@root", 5)
            || (len > 5 && name [5] != '.'))
            return "unknown @-variable (@index, @first, @last, @key, "
                   "@root)";
        kind = S_PATH_ROOT;
        name += 5 + (len > 5);
        len -= 5 + (len > 5);
    }
    else if (len == 1 && name [0] == '.') {
        kind = S_PATH_THIS;
        len = 0;
    }
    else if (len >= 4 && memcmp (name, "this", 4) == 0
             && (len == 4 || name [4] == '.' || name [4] == '/')) {
        kind = S_PATH_THIS;
        seps = "./";
        name += 4 + (len > 4);
        len -= 4 + (len > 4);
    }
    else if (len >= 2 && memcmp (name, "./", 2) == 0) {
        kind = S_PATH_THIS;
        seps = "./";
        name += 2;
        len -= 2;
    }
    else if (len >= 2 && memcmp (name, "..", 2) == 0) {
        kind = S_PATH_UP;
        seps = "./";
        while (len >= 2 && memcmp (name, "..", 2) == 0
               && (len == 2 || name [2] == '/')) {
            up++;
            name += 2 + (len > 2);
            len -= 2 + (len > 2);
        }
        if (len >= 2 && memcmp (name, "..", 2) == 0)
            return "'..' is a path of its own: ../a, ../../a";
    }
    size_t count = len > 0;
    for (size_t i = 0; i < len; i++)
        count += strchr (seps, name [i]) != NULL;
    if (!path)
        return NULL;
    *path = (s_path_t) { .kind = kind, .up = up, .count = count };
    if (!count)
        return NULL;
    path->parts = fy_xmalloc (count * sizeof *path->parts);
    for (size_t i = 0, from = 0, n = 0; i <= len; i++)
        if (i == len || strchr (seps, name [i])) {
            path->parts [n++] = (s_part_t) { name + from, i - from };
            from = i + 1;
        }
    return NULL;
}

//  A Handlebars block helper's name and arguments, "each items": the
//  helper becomes the token's kind and raw (which {{/each}} closes), the
//  argument its name.
static int
s_helper (s_parser_t *p, s_token_t *token, size_t start, size_t end)
{
    static const s_word_t helpers [] = { { "if", S_IF },
                                         { "unless", S_UNLESS },
                                         { "each", S_EACH },
                                         { "with", S_WITH } };
    const char *src = p->src;
    size_t word = start;
    while (word < end && !s_is_space (src [word]))
        word++;
    int kind = s_word_kind (helpers, sizeof helpers / sizeof helpers [0],
                            src + start, word - start);
    int n = (int) (word - start < 40 ? word - start : 40);
    if (kind < 0 && word < end)
        return s_error (p, token->off,
                        "unknown helper '%.*s' (#if, #unless, #each, "
                        "#with)",
                        n, src + start);
    const char *why;
    if (kind < 0) {
        //  A Mustache section named by one word stays one.
        why = s_path_parse (src + start, end - start, NULL);
        if (why)
            return s_error (p, token->off, "'%.*s': %s", n, src + start, why);
        return 0;
    }
    token->kind = (s_kind_t) kind;
    token->raw = start;
    token->raw_len = word - start;
    size_t arg = 0, args = 0;
    for (size_t at = word; at < end;) {
        while (at < end && s_is_space (src [at]))
            at++;
        size_t from = at;
        while (at < end && !s_is_space (src [at]))
            at++;
        if (args++ == 0) {
            arg = from;
            token->str = from;
            token->len = at - from;
            continue;
        }
        static const char zero [] = "includeZero=true";
        if ((token->kind == S_IF || token->kind == S_UNLESS)
            && at - from == sizeof zero - 1
            && !memcmp (src + from, zero, at - from))
            token->include_zero = true;
        else
            return s_error (p, token->off, "#%.*s: unsupported argument '%.*s'",
                            n, src + start,
                            (int) (at - from < 40 ? at - from : 40),
                            src + from);
    }
    if (!args)
        return s_error (p, token->off, "#%.*s needs a value: {{#%.*s name}}", n,
                        src + start, n, src + start);
    why = s_path_parse (src + arg, token->len, NULL);
    if (why)
        return s_error (p, token->off, "'%.*s': %s",
                        (int) (token->len < 40 ? token->len : 40), src + arg,
                        why);
    return 0;
}

//  The tag that starts at *pos: one token, *pos after it.
static int
s_scan_tag (s_parser_t *p, size_t *pos, const char **open, size_t *open_len,
            const char **close, size_t *close_len, bool bol)
{
    const char *src = p->src;
    size_t off = *pos, inner = off + *open_len;
    //  {{~x}}: Handlebars' whitespace control, before the sigil.
    bool strip_left = inner < p->len && src [inner] == '~';
    inner += strip_left;
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
    //  {{{x}}} ends at '}' and the close delimiter, {{=a b=}} at '=',
    //  {{!-- x --}} at "--" (it may hold "}}"); any may end in '~'.
    size_t content = inner + (kind != S_VAR), from = content, end;
    const char *before = sigil == '{' ? "}" : sigil == '=' ? "=" : "";
    size_t least = 1;
    if (kind == S_COMMENT && p->len - content >= 2
        && memcmp (src + content, "--", 2) == 0) {
        before = "--";
        least = 4;
    }
    size_t before_len = strlen (before);
    bool strip_right;
    const char *found;
    while (true) {
        found = from <= p->len
                    ? memmem (src + from, p->len - from, *close, *close_len)
                    : NULL;
        if (!found)
            return s_error (p, off, "unclosed tag");
        end = (size_t) (found - src);
        strip_right = end > content && src [end - 1] == '~';
        size_t last = end - strip_right;
        if (!before_len) {
            end = last;
            break;
        }
        if (last >= content + least
            && memcmp (src + last - before_len, before, before_len) == 0) {
            end = last - before_len;
            break;
        }
        from = end + 1;
    }
    *pos = (size_t) (found - src) + *close_len;
    s_token_t *token = s_push (p, kind, off, bol);
    token->strip_left = strip_left;
    token->strip_right = strip_right;
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
    //  {{#> layout}}: a partial block.
    if (kind == S_SECTION && start < end && src [start] == '>') {
        token->kind = kind = S_PARTIAL_BLOCK;
        for (start++; start < end && s_is_space (src [start]); start++)
            ;
    }
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
    int n = (int) (end - start < 40 ? end - start : 40);
    if (kind == S_VAR && end - start == 4
        && memcmp (src + start, "else", 4) == 0)
        token->kind = kind = S_ELSE;
    if (kind == S_SECTION)
        return s_helper (p, token, start, end);
    if (token->dynamic) {
        const char *why = s_path_parse (src + start, end - start, NULL);
        if (why)
            return s_error (p, off, "'%.*s': %s", n, src + start, why);
        return 0;
    }
    if (kind == S_PARTIAL || kind == S_PARENT || kind == S_PARTIAL_BLOCK) {
        if (src [start] == '@'
            && (kind != S_PARTIAL || end - start != 14
                || memcmp (src + start, "@partial-block", 14)))
            return s_error (p, off,
                            "'%.*s': the one @-partial is "
                            "@partial-block",
                            n, src + start);
        return 0;
    }
    for (size_t i = start; i < end && kind != S_CLOSE && kind != S_BLOCK; i++)
        if (s_is_space (src [i]))
            return s_error (p, off,
                            "'%.*s': no helpers but #if, #unless, #each and "
                            "#with",
                            n, src + start);
    if (kind == S_VAR || kind == S_RAW || kind == S_INVERTED) {
        const char *why = s_path_parse (src + start, end - start, NULL);
        if (why)
            return s_error (p, off, "'%.*s': %s", n, src + start, why);
    }
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

//  Handlebars' whitespace control: {{~x}} takes the whitespace before
//  the tag, newlines included, back to the previous tag; {{x~}} the
//  whitespace after it, up to the next.
static void
s_strip (s_parser_t *p)
{
    const char *src = p->src;
    for (size_t i = 0; i < p->count; i++) {
        if (p->tokens [i].strip_left)
            for (size_t j = i; j-- > 0 && p->tokens [j].kind == S_TEXT;) {
                s_token_t *text = &p->tokens [j];
                while (text->len
                       && s_is_space (src [text->str + text->len - 1]))
                    text->len--;
                if (text->len)
                    break;
            }
        if (p->tokens [i].strip_right)
            for (size_t j = i + 1; j < p->count && p->tokens [j].kind == S_TEXT;
                 j++) {
                s_token_t *text = &p->tokens [j];
                while (text->len && s_is_space (src [text->str])) {
                    text->str++;
                    text->len--;
                }
                if (text->len)
                    break;
            }
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
            case S_IF:
            case S_UNLESS:
            case S_EACH:
            case S_WITH:
            case S_PARTIAL_BLOCK:
                if (depth == FY_TEMPLATE_MAX_NESTING)
                    return s_error (p, token->off,
                                    "sections nested more than %d deep",
                                    FY_TEMPLATE_MAX_NESTING);
                stack [depth++] = i;
                break;
            case S_ELSE: {
                s_token_t *open = depth ? &p->tokens [stack [depth - 1]] : NULL;
                if (!open || open->kind == S_PARENT || open->kind == S_BLOCK
                    || open->kind == S_PARTIAL_BLOCK)
                    return s_error (p, token->off,
                                    "{{else}} outside #if, #unless, #each, "
                                    "#with or a section");
                if (open->else_at)
                    return s_error (
                        p, token->off, "a second {{else}} in '%.*s'",
                        (int) (open->raw_len < 40 ? open->raw_len : 40),
                        p->src + open->raw);
                open->else_at = i;
                token->match = stack [depth - 1];
                break;
            }
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
    for (size_t i = 0; i < node->inverse.count; i++)
        s_node_free (&node->inverse.nodes [i]);
    free (node->inverse.nodes);
    free (node->path.parts);
    free (node->str);
    free (node->indent);
    free (node->prefix);
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
        //  Zeros after the NUL, to S_TEXT_PAD: s_put_short reads a
        //  short text as two words.
        node->str = fy_xcalloc (1, total + S_TEXT_PAD);
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

//  The operation that renders node (see s_op_t). A tag that starts a
//  line without standing alone writes the indentation first: the
//  general operation does that.
static s_op_t
s_node_op (const s_node_t *node)
{
    const s_path_t *path = &node->path;
    if (node->kind == S_TEXT)
        return S_OP_TEXT;
    if (node->at_bol && !node->standalone)
        return S_OP_NODE;
    switch (node->kind) {
        case S_VAR:
        case S_RAW:
            if (path->kind == S_PATH_INDEX)
                return S_OP_INDEX;
            if (path->kind == S_PATH_NAME)
                return node->kind == S_VAR ? S_OP_NAME : S_OP_NAME_RAW;
            return S_OP_NODE;
        case S_IF:
        case S_UNLESS:
            if (path->kind == S_PATH_FIRST)
                return S_OP_IF_FIRST;
            if (path->kind == S_PATH_LAST)
                return S_OP_IF_LAST;
            if (path->kind == S_PATH_NAME && path->count == 1)
                return S_OP_IF;
            return S_OP_NODE;
        default:
            return S_OP_NODE;
    }
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
        node->line = token->line;
        node->include_zero = token->include_zero;
        if (token->kind != S_PARTIAL_BLOCK && token->kind != S_BLOCK
            && ((token->kind != S_PARTIAL && token->kind != S_PARENT)
                || token->dynamic))
            s_path_parse (node->str, node->len, &node->path);
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
        size_t inverse = token->else_at ? token->else_at : token->match;
        s_build (p, i + 1, inverse, &node->children, inner, inner_len);
        if (token->else_at)
            s_build (p, inverse + 1, token->match, &node->inverse, inner,
                     inner_len);
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
    for (size_t i = 0; i < list->count; i++)
        list->nodes [i].op = s_node_op (&list->nodes [i]);
    //  Each text before a tag of a specialised operation becomes its
    //  prefix: the render writes it first, as the text node would have.
    list->steps = list->count;
    size_t kept = 0;
    for (size_t i = 0; i < list->count; i++) {
        s_node_t *node = &list->nodes [i];
        if (node->op == S_OP_TEXT && i + 1 < list->count
            && list->nodes [i + 1].op != S_OP_NODE
            && list->nodes [i + 1].op != S_OP_TEXT) {
            s_node_t *next = &list->nodes [i + 1];
            next->prefix = node->str;
            next->prefix_len = node->len;
            next->prefix_bol = node->at_bol;
            node->str = NULL;
            s_node_free (node);
            continue;
        }
        list->nodes [kept++] = *node;
    }
    list->count = kept;
}

fy_template_t *
fy_template_compile (const char *text, size_t len, fy_error_t *err)
{
    assert (text || len == 0);
    s_parser_t parser = {
        .src = text ? text : "", .len = len, .err = err, .line = 1
    };
    fy_template_t *self = NULL;
    if (s_scan (&parser) == 0 && s_match (&parser) == 0) {
        s_standalone (&parser);
        s_strip (&parser);
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
    fy_template_partials_insert (self, name, &template);
    return 0;
}

void
fy_template_partials_insert (fy_template_partials_t *self, const char *name,
                             fy_template_t **template_p)
{
    assert (self);
    assert (name);
    assert (template_p && *template_p);
    zhashx_update (self->templates, name, *template_p);
    *template_p = NULL;
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

//  The content partial blocks ({{#> layout}}...{{/layout}}) pass down
//  to {{> @partial-block}}, innermost first, with the blocks and the
//  template name where it was written.
typedef struct s_given s_given_t;
struct s_given {
    const s_list_t *content;
    const s_given_t *next;
    const s_frame_t *overrides;
    const char *where;
};

//  The turn of the innermost #each, for @index, @first, @last, @key.
typedef struct s_turn s_turn_t;
struct s_turn {
    size_t index;
    size_t count;
    const char *key;  //  Over an object: the key; else NULL
    const s_turn_t *next;
};

//  What a name finds: a JSON value, or an @-variable that is none.
typedef enum {
    S_VALUE_MISSING,
    S_VALUE_JSON,
    S_VALUE_INDEX,  //  @index, and @key over an array
    S_VALUE_KEY  //  @key over an object
} s_value_kind_t;

typedef struct {
    s_value_kind_t kind;
    json_t *json;
    size_t index;
    const char *key;
} s_value_t;

//  A name looked up from an outer context (../a.b, @root.a) during this
//  render: the data does not change while it renders, so a loop asks
//  jansson once, not once a turn.
typedef struct {
    const s_path_t *path;
    json_t *base;  //  The context the parts start from
    json_t *value;  //  What they found, NULL: nothing
} s_memo_t;

#define S_MEMOS 16

typedef struct {
    char *out;
    size_t len;
    size_t cap;
    s_memo_t memos [S_MEMOS];
    json_t **stack;  //  Context stack, FY_TEMPLATE_MAX_DEPTH + 1 deep
    //  Whether a frame is a context of its own for ../: not when a
    //  section pushed true, or the same value again (Handlebars counts
    //  only the blocks that change the context).
    bool *counts;
    size_t depth;
    const s_turn_t *turn;
    const s_given_t *given;
    const char *where;  //  The partial being rendered, NULL: the template
    unsigned flags;
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

//  The slow path of s_reserve: the output grows, or the render fails.
static char *
s_grow (s_render_t *r, size_t len)
{
    if (r->error)
        return NULL;
    if (len > FY_TEMPLATE_MAX_OUTPUT - r->len) {
        s_fail (r, EFBIG, "output larger than %zu bytes",
                FY_TEMPLATE_MAX_OUTPUT);
        return NULL;
    }
    size_t cap = r->cap * 2 > r->len + len + 1 ? r->cap * 2 : r->len + len + 1;
    r->cap =
        cap < FY_TEMPLATE_MAX_OUTPUT + 1 ? cap : FY_TEMPLATE_MAX_OUTPUT + 1;
    r->out = fy_xrealloc (r->out, r->cap);
    return r->out + r->len;
}

//  Room for len more bytes at the end of the output, or NULL when the
//  render failed or would pass the output limit; the caller writes them
//  and adds len. The buffer is sized for the template at first, so this
//  is one comparison on almost every call.
static inline char *
s_reserve (s_render_t *r, size_t len)
{
    if (r->len + len < r->cap && !r->error)
        return r->out + r->len;
    return s_grow (r, len);
}

static inline void
s_put (s_render_t *r, const char *data, size_t len)
{
    char *at = s_reserve (r, len);
    if (!at)
        return;
    memcpy (at, data, len);
    r->len += len;
}

//  Text of at most S_TEXT_PAD bytes that may be read as S_TEXT_PAD (a
//  text node's): copied as two words when the output has room for
//  them, without a call.
static inline void
s_put_short (s_render_t *r, const char *text, size_t len)
{
    if (len > S_TEXT_PAD || S_TEXT_PAD >= r->cap - r->len || r->error) {
        s_put (r, text, len);
        return;
    }
    uint64_t words [2];
    memcpy (words, text, S_TEXT_PAD);
    memcpy (r->out + r->len, words, S_TEXT_PAD);
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

//  The spec's HTML escaping: & " < > and nothing else. What each byte
//  becomes, padded to 8 bytes to be copied as one word, and how many
//  bytes it adds (0: none, it stays itself).
static const char s_entities [256][8] = {
    ['&'] = "&amp;", ['"'] = "&quot;", ['<'] = "&lt;", ['>'] = "&gt;"
};
static const unsigned char s_extra [256] = {
    ['&'] = 4, ['"'] = 5, ['<'] = 3, ['>'] = 3
};

//  Writes text's len bytes escaped at at; returns the end. With padded,
//  each entity is written as a word of 8 bytes, and at has room for
//  6 * len + 2; else for exactly what the escaped text takes.
static inline char *
s_escape (char *at, const char *text, size_t len, bool padded)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text [i];
        if (!s_extra [c])
            *at++ = (char) c;
        else {
            memcpy (at, s_entities [c], padded ? 8 : s_extra [c] + 1u);
            at += s_extra [c] + 1u;
        }
    }
    return at;
}

//  Whether one of the 8 bytes of x is & " < or >: " and & differ in
//  bit 2 only (0x22, 0x26), < and > in bit 1 (0x3c, 0x3e), so x with
//  that bit set is compared with 0x26 and 0x3e, each byte at once (a
//  byte is zero when (v - 1) & ~v sets its high bit, exactly).
static inline bool
s_has_special (uint64_t x)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t a = (x | 0x0404040404040404u) ^ 0x2626262626262626u;
    uint64_t b = (x | 0x0202020202020202u) ^ 0x3e3e3e3e3e3e3e3eu;
    return (((a - ones) & ~a) | ((b - ones) & ~b)) & highs;
}

//  Writes text's len bytes escaped at at, a word at a time where none
//  needs escaping; returns the end. at has room for 6 * len + 2 bytes.
//  The bytes that end a text longer than a word are the end of its last
//  word, shifted down; 4 to 7 bytes are two words of 4 that overlap.
static char *
s_escape_words (char *at, const char *text, size_t len)
{
    if (len < 4)
        return s_escape (at, text, len, true);
    if (len < 8) {
        uint32_t head, tail;
        memcpy (&head, text, 4);
        memcpy (&tail, text + len - 4, 4);
        if (s_has_special ((uint64_t) tail << 32 | head))
            return s_escape (at, text, len, true);
        memcpy (at, &head, 4);
        memcpy (at + len - 4, &tail, 4);
        return at + len;
    }
    size_t i = 0;
    uint64_t word;
    for (; i + 8 <= len; i += 8) {
        memcpy (&word, text + i, 8);
        if (s_has_special (word))
            at = s_escape (at, text + i, 8, true);
        else {
            memcpy (at, &word, 8);
            at += 8;
        }
    }
    if (i == len)
        return at;
    memcpy (&word, text + len - 8, 8);
    unsigned shift = (unsigned) (8 - (len - i)) * 8;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    word >>= shift;
#else
    word <<= shift;
#endif
    //  The bytes shifted in are zeros, which are not escaped.
    if (s_has_special (word))
        return s_escape (at, text + i, len - i, true);
    memcpy (at, &word, 8);
    return at + (len - i);
}

//  s_put_escaped without room for the worst case: the size is counted
//  first. Out of line, so that the common case saves no registers.
static void __attribute__ ((noinline))
s_put_escaped_counted (s_render_t *r, const char *text, size_t len)
{
    size_t size = len;
    for (size_t i = 0; i < len; i++)
        size += s_extra [(unsigned char) text [i]];
    char *at = s_reserve (r, size);
    if (!at)
        return;
    s_escape (at, text, len, false);
    r->len += size;
}

//  When the output has room for the worst case (each byte an entity),
//  one pass writes it.
static inline void
s_put_escaped (s_render_t *r, const char *text, size_t len)
{
    if (len < FY_TEMPLATE_MAX_OUTPUT && 6 * len + 3 <= r->cap - r->len
        && !r->error)
        r->len =
            (size_t) (s_escape_words (r->out + r->len, text, len) - r->out);
    else
        s_put_escaped_counted (r, text, len);
}

//  value in decimal, at the end of buffer; returns where it starts.
static char *
s_format_integer (json_int_t value, char buffer [32])
{
    char *at = buffer + 32;
    uint64_t magnitude =
        value < 0 ? (uint64_t) 0 - (uint64_t) value : (uint64_t) value;
    do
        *--at = (char) ('0' + magnitude % 10);
    while (magnitude /= 10);
    if (value < 0)
        *--at = '-';
    return at;
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
            text = s_format_integer (json_integer_value (value), buffer);
            len = (size_t) (buffer + sizeof buffer - text);
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
    //  Numbers and words hold nothing to escape: only text and JSON do.
    if (escape && (json_is_string (value) || dumped))
        s_put_escaped (r, text, len);
    else
        s_put (r, text, len);
    free (dumped);
}

//  The member of object that part names, or NULL (also when object is
//  not an object).
static inline json_t *
s_get (json_t *object, const s_part_t *part)
{
    return json_is_object (object)
               ? json_object_getn (object, part->str, part->len)
               : NULL;
}

//  What path finds: its first part down the context stack (a plain
//  name), in the current context (this, ./), n contexts up (../) or in
//  the data (@root), the rest inside what it found; or an @-variable of
//  the innermost #each. Each frame and part counts as a step: a long
//  dotted name in a loop is work.
static s_value_t
s_lookup (s_render_t *r, const s_path_t *path)
{
    s_value_t found = { S_VALUE_MISSING, NULL, 0, NULL };
    const s_turn_t *turn = r->turn;
    json_t *value = NULL;
    size_t part = 0, i;
    switch (path->kind) {
        case S_PATH_INDEX:
        case S_PATH_KEY:
            if (turn) {
                found.kind = turn->key && path->kind == S_PATH_KEY
                                 ? S_VALUE_KEY
                                 : S_VALUE_INDEX;
                found.index = turn->index;
                found.key = turn->key;
            }
            return found;
        case S_PATH_FIRST:
        case S_PATH_LAST:
            if (turn) {
                bool yes = path->kind == S_PATH_FIRST
                               ? turn->index == 0
                               : turn->index + 1 == turn->count;
                found.kind = S_VALUE_JSON;
                found.json = yes ? json_true () : json_false ();
            }
            return found;
        case S_PATH_ROOT:
            value = r->stack [0];
            break;
        case S_PATH_THIS:
            value = r->stack [r->depth - 1];
            break;
        case S_PATH_UP:
            i = r->depth - 1;
            for (size_t up = 0; up <= path->up; up++, r->steps++) {
                if (up && i-- == 0)
                    return found;
                while (i > 0 && !r->counts [i])
                    i--;
            }
            value = r->stack [i];
            break;
        case S_PATH_NAME:
            for (i = r->depth; i-- > 0 && !value; r->steps++)
                value = s_get (r->stack [i], &path->parts [0]);
            part = 1;
            break;
    }
    s_memo_t *memo = NULL;
    if ((path->kind == S_PATH_UP || path->kind == S_PATH_ROOT) && path->count) {
        memo = &r->memos [(uintptr_t) path / sizeof (s_node_t) % S_MEMOS];
        if (memo->path == path && memo->base == value) {
            value = memo->value;
            part = path->count;
        }
        else
            *memo = (s_memo_t) { path, value, NULL };
    }
    for (; value && part < path->count; part++, r->steps++)
        value = s_get (value, &path->parts [part]);
    if (memo)
        memo->value = value;
    if (value) {
        found.kind = S_VALUE_JSON;
        found.json = value;
    }
    return found;
}

//  s_find when the common case missed: the whole lookup, and strict's
//  failure. Out of line, so that the common case saves no registers.
static s_value_t __attribute__ ((noinline))
s_find_slow (s_render_t *r, const s_node_t *node, bool required)
{
    s_value_t value = s_lookup (r, &node->path);
    if (value.kind == S_VALUE_MISSING && required
        && (r->flags & FY_TEMPLATE_STRICT) && !r->error)
        s_fail (r, ENOENT, "%s%.40s%sline %zu: no value for '%.60s'",
                r->where ? "partial '" : "", r->where ? r->where : "",
                r->where ? "': " : "", node->line, node->str);
    return value;
}

//  The name of node looked up; strict, a name that is missing fails
//  the render when required (what prints, iterates or enters a context).
static inline s_value_t
s_find (s_render_t *r, const s_node_t *node, bool required)
{
    //  The common case first: a plain name, found in the innermost
    //  context, one part.
    const s_path_t *path = &node->path;
    if (path->kind == S_PATH_NAME && path->count == 1) {
        json_t *found = s_get (r->stack [r->depth - 1], &path->parts [0]);
        if (found) {
            r->steps++;
            return (s_value_t) { S_VALUE_JSON, found, 0, NULL };
        }
    }
    return s_find_slow (r, node, required);
}

static void
s_put_index (s_render_t *r, size_t index)
{
    char buffer [32];
    const char *text = s_format_integer ((json_int_t) index, buffer);
    s_put (r, text, (size_t) (buffer + sizeof buffer - text));
}

static void
s_put_found (s_render_t *r, const s_value_t *value, bool escape)
{
    switch (value->kind) {
        case S_VALUE_JSON:
            s_put_value (r, value->json, escape);
            break;
        case S_VALUE_INDEX:
            s_put_index (r, value->index);
            break;
        case S_VALUE_KEY:
            if (escape)
                s_put_escaped (r, value->key, strlen (value->key));
            else
                s_put (r, value->key, strlen (value->key));
            break;
        default:
            break;
    }
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

//  Truth for sections and #if: as above; with include_zero (#if's
//  includeZero=true, and #with always, as in Handlebars) 0 is true.
static bool
s_is_true (const s_value_t *value, bool include_zero)
{
    if (value->kind == S_VALUE_INDEX)
        return value->index || include_zero;
    if (value->kind == S_VALUE_KEY)
        return value->key [0] != 0;
    if (include_zero && json_is_number (value->json))
        return true;
    return !s_is_falsy (value->json);
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
    //  Nothing to render (an #if without {{else}}, false): one step.
    if (!list->count) {
        r->steps++;
        return;
    }
    if (!s_enter (r))
        return;
    if (context) {
        r->counts [r->depth] =
            context != r->stack [r->depth - 1] && !json_is_boolean (context);
        r->stack [r->depth++] = context;
    }
    s_render_list (r, list);
    r->depth -= context != NULL;
    r->nesting--;
}

//  #if's content when truth, else what {{else}} starts; #unless's the
//  other way round.
static inline void
s_render_if (s_render_t *r, const s_node_t *node, bool truth)
{
    s_render_section (
        r, truth == (node->kind == S_IF) ? &node->children : &node->inverse,
        NULL);
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

//  A partial's or parent's template, or a partial block's content
//  (list): its lines are indented by the tag's whitespace when it stands
//  alone, else not at all; it sees the blocks of overrides and the
//  content given, and is where (a template name) for errors.
static void
s_render_included (s_render_t *r, const s_node_t *node, const s_list_t *list,
                   const char *where, const s_frame_t *overrides,
                   const s_given_t *given)
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
    const s_frame_t *saved_overrides = r->overrides;
    const s_given_t *saved_given = r->given;
    const char *saved_where = r->where;
    if (node->standalone)
        s_indent_push (r, node->indent, node->indent_len);
    else
        r->indent_start = r->indent_end;
    r->overrides = overrides;
    r->given = given;
    r->where = where;
    r->partial_depth++;
    s_render_list (r, list);
    r->partial_depth--;
    r->overrides = saved_overrides;
    r->given = saved_given;
    r->where = saved_where;
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

//  The template a partial, parent or partial block tag names (*name_p
//  gets the name), or NULL. Strict, a partial or parent that does not
//  exist fails the render; a partial block renders its own content.
static fy_template_t *
s_resolve (s_render_t *r, const s_node_t *node, const char **name_p)
{
    const char *name = node->str;
    if (node->dynamic) {
        s_value_t value = s_find (r, node, true);
        name =
            json_is_string (value.json) ? json_string_value (value.json) : NULL;
    }
    *name_p = name;
    bool failed = false;
    fy_template_t *template =
        name && r->partials
            ? s_partials_get (r->partials, name, r->err, &failed)
            : NULL;
    if (failed)
        r->error = EINVAL;
    else if (!template && node->kind != S_PARTIAL_BLOCK
             && (r->flags & FY_TEMPLATE_STRICT) && !r->error)
        s_fail (r, ENOENT, "%s%.40s%sline %zu: no partial '%.60s'",
                r->where ? "partial '" : "", r->where ? r->where : "",
                r->where ? "': " : "", node->line, name ? name : node->str);
    return template;
}

//  #each: the content once per element of an array or member of an
//  object, else what {{else}} starts.
static void
s_render_each (s_render_t *r, const s_node_t *node, json_t *value)
{
    size_t count = json_is_array (value)    ? json_array_size (value)
                   : json_is_object (value) ? json_object_size (value)
                                            : 0;
    if (!count) {
        s_render_section (r, &node->inverse, NULL);
        return;
    }
    s_turn_t turn = { .count = count, .next = r->turn };
    r->turn = &turn;
    if (json_is_array (value))
        for (; turn.index < count && !r->error; turn.index++)
            s_render_section (r, &node->children,
                              json_array_get (value, turn.index));
    else {
        const char *key;
        json_t *member;
        json_object_foreach (value, key, member)
        {
            if (r->error)
                break;
            turn.key = key;
            s_render_section (r, &node->children, member);
            turn.index++;
        }
    }
    r->turn = turn.next;
}

static void
s_render_node (s_render_t *r, const s_node_t *node)
{
    if (node->at_bol && !node->standalone)
        s_put_indent (r);
    s_value_t value;
    fy_template_t *template;
    const char *name;
    switch (node->kind) {
        case S_TEXT:
            s_put_text (r, node->str, node->len);
            break;
        case S_VAR:
        case S_RAW:
            value = s_find (r, node, true);
            s_put_found (r, &value,
                         node->kind == S_VAR
                             && !(r->flags & FY_TEMPLATE_PLAIN));
            break;
        case S_SECTION:
            value = s_find (r, node, true);
            if (!s_is_true (&value, false))
                s_render_section (r, &node->inverse, NULL);
            else if (!json_is_array (value.json))
                s_render_section (r, &node->children, value.json);
            else
                for (size_t i = 0;
                     i < json_array_size (value.json) && !r->error; i++)
                    s_render_section (r, &node->children,
                                      json_array_get (value.json, i));
            break;
        case S_INVERTED:
            value = s_find (r, node, false);
            s_render_section (
                r, s_is_true (&value, false) ? &node->inverse : &node->children,
                NULL);
            break;
        case S_IF:
        case S_UNLESS:
            value = s_find (r, node, false);
            s_render_if (r, node, s_is_true (&value, node->include_zero));
            break;
        case S_EACH:
            value = s_find (r, node, true);
            s_render_each (r, node, value.json);
            break;
        case S_WITH:
            value = s_find (r, node, true);
            if (s_is_true (&value, true))
                s_render_section (r, &node->children, value.json);
            else
                s_render_section (r, &node->inverse, NULL);
            break;
        case S_PARTIAL:
            if (node->str [0] == '@' && !node->dynamic) {
                //  {{> @partial-block}}: the content given, where it
                //  was written.
                const s_given_t *given = r->given;
                if (given)
                    s_render_included (r, node, given->content, given->where,
                                       given->overrides, given->next);
                break;
            }
            template = s_resolve (r, node, &name);
            if (template)
                s_render_included (r, node, &template->root, name, r->overrides,
                                   r->given);
            break;
        case S_PARENT:
            template = s_resolve (r, node, &name);
            if (template) {
                s_frame_t frame = { .parent = node, .next = r->overrides };
                s_render_included (r, node, &template->root, name, &frame,
                                   r->given);
            }
            break;
        case S_PARTIAL_BLOCK:
            template = s_resolve (r, node, &name);
            if (template) {
                s_given_t given = { &node->children, r->given, r->overrides,
                                    r->where };
                s_render_included (r, node, &template->root, name, r->overrides,
                                   &given);
            }
            else
                s_render_section (r, &node->children, NULL);
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
    //  The steps of the whole list at once: the loop then only renders.
    //  (Lookups count steps too, and may have passed the limit.)
    if (r->steps > FY_TEMPLATE_MAX_STEPS
        || list->steps > FY_TEMPLATE_MAX_STEPS - r->steps) {
        s_fail (r, EINVAL, "render takes more than %d steps",
                FY_TEMPLATE_MAX_STEPS);
        return;
    }
    if (!list->count)
        return;
    r->steps += list->steps;
    const s_node_t *node = list->nodes, *end = node + list->count;
    for (; node < end && !r->error; node++) {
        if (node->prefix_len) {
            if (r->indent_end == r->indent_start)
                s_put_short (r, node->prefix, node->prefix_len);
            else {
                if (node->prefix_bol)
                    s_put_indent (r);
                s_put_text (r, node->prefix, node->prefix_len);
            }
        }
        //  Each operation does what its kind needs in the common case,
        //  and leaves the rest to s_render_node: text while there is no
        //  indentation; a name whose first part is in the current
        //  context (the rest of it inside what that found); @-variables
        //  inside #each; #if on a value or an @-variable.
        json_t *top = r->stack [r->depth - 1], *value;
        const s_turn_t *turn = r->turn;
        size_t steps;
        switch (node->op) {
            case S_OP_TEXT:
                if (r->indent_end != r->indent_start)
                    break;
                s_put_short (r, node->str, node->len);
                continue;
            case S_OP_NAME:
            case S_OP_NAME_RAW:
                value = s_get (top, &node->path.parts [0]);
                if (!value)
                    break;
                steps = r->steps++;
                for (size_t part = 1; value && part < node->path.count;
                     part++, r->steps++)
                    value = s_get (value, &node->path.parts [part]);
                if (!value) {
                    //  Missing: s_render_node looks again, and counts.
                    r->steps = steps;
                    break;
                }
                if (!json_is_string (value))
                    s_put_value (r, value,
                                 node->op == S_OP_NAME
                                     && !(r->flags & FY_TEMPLATE_PLAIN));
                else if (node->op == S_OP_NAME
                         && !(r->flags & FY_TEMPLATE_PLAIN))
                    s_put_escaped (r, json_string_value (value),
                                   json_string_length (value));
                else
                    s_put (r, json_string_value (value),
                           json_string_length (value));
                continue;
            case S_OP_INDEX:
                if (!turn)
                    break;
                s_put_index (r, turn->index);
                continue;
            case S_OP_IF_FIRST:
            case S_OP_IF_LAST:
                if (!turn)
                    break;
                s_render_if (r, node,
                             node->op == S_OP_IF_FIRST
                                 ? turn->index == 0
                                 : turn->index + 1 == turn->count);
                continue;
            case S_OP_IF:
                value = s_get (top, &node->path.parts [0]);
                if (!value)
                    break;
                r->steps++;
                s_render_if (r, node,
                             json_is_boolean (value)
                                 ? json_is_true (value)
                                 : !s_is_falsy (value)
                                       || (node->include_zero
                                           && json_is_number (value)));
                continue;
            default:
                break;
        }
        s_render_node (r, node);
    }
}

//  The largest output size a render starts from (it grows past it).
#define S_HINT_MAX ((size_t) 1 << 16)

int
fy_template_render (fy_template_t *self, json_t *data,
                    fy_template_partials_t *partials, char **out_p,
                    size_t *len_p, fy_error_t *err)
{
    return fy_template_render_flags (self, data, partials, 0, out_p, len_p,
                                     err);
}

int
fy_template_render_flags (fy_template_t *self, json_t *data,
                          fy_template_partials_t *partials, unsigned flags,
                          char **out_p, size_t *len_p, fy_error_t *err)
{
    assert (self);
    assert (out_p);
    //  On the stack: the output is the one allocation of a render.
    //  On the stack, the frames not cleared: only those below the depth
    //  are read.
    json_t *stack [FY_TEMPLATE_MAX_DEPTH + 1];
    bool counts [FY_TEMPLATE_MAX_DEPTH + 1];
    s_render_t render = { .partials = partials,
                          .err = err,
                          .flags = flags,
                          .stack = stack,
                          .counts = counts };
    s_render_t *r = &render;
    r->stack [0] = data ? data : json_null ();
    r->counts [0] = true;
    r->depth = 1;
    //  Room for the text and as much again for values, or for what the
    //  last render made (partials and lists make more than the text):
    //  the output is then the one allocation. Not past S_HINT_MAX, so
    //  that one large output does not make every later one large.
    size_t cap = self->text_size * 2 + 64;
    size_t hint = self->last_size < S_HINT_MAX ? self->last_size : S_HINT_MAX;
    cap = hint + 64 > cap ? hint + 64 : cap;
    r->cap =
        cap < FY_TEMPLATE_MAX_OUTPUT + 1 ? cap : FY_TEMPLATE_MAX_OUTPUT + 1;
    r->out = fy_xmalloc (r->cap);
    s_render_list (r, &self->root);
    int rc = r->error ? -1 : 0;
    if (rc == 0) {
        r->out [r->len] = 0;
        self->last_size = r->len;
    }
    else {
        free (r->out);
        r->out = NULL;
        r->len = 0;
    }
    *out_p = r->out;
    if (len_p)
        *len_p = r->len;
    free (r->indent);
    if (rc)
        errno = r->error;
    return rc;
}

//  The names a list's partial tags give, depth first.
static int
s_each_partial (const s_list_t *list, fy_template_name_fn *fn, void *arg)
{
    int rc = 0;
    for (size_t i = 0; i < list->count && !rc; i++) {
        const s_node_t *node = &list->nodes [i];
        bool named = (node->kind == S_PARTIAL || node->kind == S_PARENT
                      || node->kind == S_PARTIAL_BLOCK)
                     && !node->dynamic && node->str [0] != '@';
        if (named)
            rc = fn (node->str, arg);
        if (!rc)
            rc = s_each_partial (&node->children, fn, arg);
        if (!rc)
            rc = s_each_partial (&node->inverse, fn, arg);
    }
    return rc;
}

int
fy_template_each_partial (fy_template_t *self, fy_template_name_fn *fn,
                          void *arg)
{
    assert (self);
    assert (fn);
    return s_each_partial (&self->root, fn, arg);
}
