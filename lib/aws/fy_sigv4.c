/*  fy_sigv4: AWS Signature Version 4, header and presigned-query variants.

    The canonical request is built straight into a buffer the signer keeps:
    headers are sorted by their lowercased names (a stable sort, so that
    repeated headers keep the order they are sent in, which AWS signs),
    query parameters are percent-decoded and re-encoded with AWS's strict
    set (unreserved characters only) and sorted by key then value, and the
    path is normalized and encoded unless the S3 flags say otherwise.
    Checked against the AWS suite in both its aws-c-auth and its botocore
    layout (tests/unit/fy_sigv4.c). */
#include "aws/fy_sigv4.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#define S_ALGORITHM "AWS4-HMAC-SHA256"
//  Scopes a signer serves at once: one service in one region is the
//  bridge's case; a few leave room for SES and SNS beside SQS.
#define S_CACHE_SIZE 4

//  A growable NUL-terminated buffer, reused across calls.
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} s_buf_t;

//  A header on its way into the canonical request: name lowercased.
typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
    size_t order;               //  position as sent, for a stable sort
} s_hdr_t;

//  A query parameter, encoded canonically, NUL-terminated. The offsets
//  into params_text are recorded while the buffer may still move; the
//  pointers are set once it no longer does.
typedef struct {
    size_t key_off;
    size_t value_off;
    const char *key;
    const char *value;
} s_param_t;

//  A derived signing key and the scope it signs for.
typedef struct {
    bool used;
    char date [9];
    char *region;
    char *service;
    char *access_key;
    char *secret_key;
    unsigned char key [32];
} s_key_t;

struct fy_sigv4 {
    s_buf_t creq;               //  canonical request
    s_buf_t sts;                //  string to sign
    s_buf_t auth;               //  Authorization value
    s_buf_t url;                //  presigned URL
    s_buf_t names;              //  lowercased header names
    s_buf_t params_text;        //  encoded query keys and values
    s_buf_t signed_headers;     //  "host;x-amz-date"
    s_buf_t path;               //  normalized path
    s_buf_t token;              //  copy of the session token to add
    s_buf_t scratch;
    s_hdr_t *hdrs;
    size_t hdrs_cap;
    s_param_t *params;
    size_t params_cap;
    char date [17];             //  20150830T123600Z
    char payload_hash [65];
    char signature [65];
    fy_sigv4_header_t added [FY_SIGV4_MAX_ADDED];
    size_t added_count;
    s_key_t cache [S_CACHE_SIZE];
    size_t cache_next;
    uint64_t derivations;
    //  Fetched once: EVP_sha256 () and HMAC () look the algorithm up in
    //  the provider store on every call, a third of the signing time.
    EVP_MD *sha256;
    EVP_MD_CTX *md_ctx;
    EVP_MAC_CTX *mac_ctx;
};

static void
s_buf_need (s_buf_t *buf, size_t more)
{
    if (buf->len + more + 1 <= buf->cap)
        return;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < buf->len + more + 1)
        cap *= 2;
    buf->data = fy_xrealloc (buf->data, cap);
    buf->cap = cap;
}

static void
s_buf_add (s_buf_t *buf, const char *text, size_t len)
{
    s_buf_need (buf, len);
    if (len)
        memcpy (buf->data + buf->len, text, len);
    buf->len += len;
    buf->data [buf->len] = 0;
}

static void
s_buf_puts (s_buf_t *buf, const char *text)
{
    s_buf_add (buf, text, strlen (text));
}

static void
s_buf_putc (s_buf_t *buf, char c)
{
    s_buf_add (buf, &c, 1);
}

static void
s_buf_clear (s_buf_t *buf)
{
    s_buf_need (buf, 0);
    buf->len = 0;
    buf->data [0] = 0;
}

static void
s_buf_free (s_buf_t *buf, bool wipe)
{
    if (buf->data && wipe)
        OPENSSL_cleanse (buf->data, buf->cap);
    free (buf->data);
    buf->data = NULL;
}

static bool
s_is_unreserved (unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'
           || c == '~';
}

//  AWS's URI encoding: every byte but the unreserved ones as %XY (upper
//  case hex), '/' kept when keep_slash (paths).
static void
s_encode (s_buf_t *buf, const char *text, size_t len, bool keep_slash)
{
    static const char hex [] = "0123456789ABCDEF";
    s_buf_need (buf, len * 3);
    char *out = buf->data + buf->len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text [i];
        if (s_is_unreserved (c) || (keep_slash && c == '/'))
            *out++ = (char) c;
        else {
            *out++ = '%';
            *out++ = hex [c >> 4];
            *out++ = hex [c & 15];
        }
    }
    buf->len = (size_t) (out - buf->data);
    buf->data [buf->len] = 0;
}

static int
s_hex_value (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

//  Percent-decode then encode canonically, so that "%E1%88%B4", the raw
//  UTF-8 and "%e1%88%b4" all sign the same. A '%' not followed by two hex
//  digits is taken literally. '+' stays '+' (AWS does not read it as a
//  space) and so becomes %2B.
static void
s_recode (s_buf_t *buf, s_buf_t *tmp, const char *text, size_t len)
{
    s_buf_clear (tmp);
    s_buf_need (tmp, len);
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (text [i] == '%' && i + 2 < len
            && (hi = s_hex_value (text [i + 1])) >= 0
            && (lo = s_hex_value (text [i + 2])) >= 0) {
            tmp->data [tmp->len++] = (char) (hi * 16 + lo);
            i += 2;
        }
        else
            tmp->data [tmp->len++] = text [i];
    }
    s_encode (buf, tmp->data, tmp->len, false);
}

//  The OpenSSL calls below fail only on a broken install or out of
//  memory, which ferry treats as fatal.
static void
s_sha256_hex (fy_sigv4_t *self, const void *data, size_t len, char out [65])
{
    unsigned char md [32];
    unsigned int md_len = 0;
    if (!EVP_DigestInit_ex (self->md_ctx, self->sha256, NULL)
        || !EVP_DigestUpdate (self->md_ctx, data ? data : "", len)
        || !EVP_DigestFinal_ex (self->md_ctx, md, &md_len))
        abort ();
    fy_hex (md, sizeof md, out);
}

static void
s_hmac (fy_sigv4_t *self, const void *key, size_t key_len, const void *data,
        size_t len, unsigned char out [32])
{
    size_t out_len = 0;
    if (!EVP_MAC_init (self->mac_ctx, key, key_len, NULL)
        || !EVP_MAC_update (self->mac_ctx, data, len)
        || !EVP_MAC_final (self->mac_ctx, out, &out_len, 32))
        abort ();
}

fy_sigv4_t *
fy_sigv4_new (void)
{
    fy_sigv4_t *self = fy_xcalloc (1, sizeof *self);
    self->sha256 = EVP_MD_fetch (NULL, "SHA2-256", NULL);
    self->md_ctx = EVP_MD_CTX_new ();
    EVP_MAC *hmac = EVP_MAC_fetch (NULL, "HMAC", NULL);
    self->mac_ctx = hmac ? EVP_MAC_CTX_new (hmac) : NULL;
    EVP_MAC_free (hmac);
    OSSL_PARAM params [] = { OSSL_PARAM_construct_utf8_string (
                                 OSSL_MAC_PARAM_DIGEST, "SHA2-256", 0),
                             OSSL_PARAM_construct_end () };
    if (!self->sha256 || !self->md_ctx || !self->mac_ctx
        || !EVP_MAC_CTX_set_params (self->mac_ctx, params))
        abort ();
    return self;
}

static void
s_key_clear (s_key_t *entry)
{
    free (entry->region);
    free (entry->service);
    free (entry->access_key);
    if (entry->secret_key)
        OPENSSL_cleanse (entry->secret_key, strlen (entry->secret_key));
    free (entry->secret_key);
    OPENSSL_cleanse (entry, sizeof *entry);
}

void
fy_sigv4_destroy (fy_sigv4_t **self_p)
{
    assert (self_p);
    fy_sigv4_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    for (size_t i = 0; i < S_CACHE_SIZE; i++)
        s_key_clear (&self->cache [i]);
    s_buf_free (&self->creq, false);
    s_buf_free (&self->sts, false);
    s_buf_free (&self->auth, false);
    s_buf_free (&self->url, false);
    s_buf_free (&self->names, false);
    s_buf_free (&self->params_text, false);
    s_buf_free (&self->signed_headers, false);
    s_buf_free (&self->path, false);
    s_buf_free (&self->token, true);
    s_buf_free (&self->scratch, true);
    free (self->hdrs);
    free (self->params);
    EVP_MAC_CTX_free (self->mac_ctx);
    EVP_MD_CTX_free (self->md_ctx);
    EVP_MD_free (self->sha256);
    free (self);
    *self_p = NULL;
    errno = saved;
}

//  The signing key for the scope, derived on a cache miss:
//  HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request".
static const unsigned char *
s_signing_key (fy_sigv4_t *self, const fy_aws_keys_t *keys, const char *region,
               const char *service)
{
    const char *date = self->date;
    for (size_t i = 0; i < S_CACHE_SIZE; i++) {
        s_key_t *entry = &self->cache [i];
        if (entry->used && memcmp (entry->date, date, 8) == 0
            && strcmp (entry->region, region) == 0
            && strcmp (entry->service, service) == 0
            && strcmp (entry->access_key, keys->access_key) == 0
            && strcmp (entry->secret_key, keys->secret_key) == 0)
            return entry->key;
    }
    s_key_t *entry = &self->cache [self->cache_next];
    self->cache_next = (self->cache_next + 1) % S_CACHE_SIZE;
    s_key_clear (entry);

    s_buf_clear (&self->scratch);
    s_buf_puts (&self->scratch, "AWS4");
    s_buf_puts (&self->scratch, keys->secret_key);
    unsigned char k1 [32], k2 [32], k3 [32];
    s_hmac (self, self->scratch.data, self->scratch.len, date, 8, k1);
    OPENSSL_cleanse (self->scratch.data, self->scratch.len);
    s_hmac (self, k1, 32, region, strlen (region), k2);
    s_hmac (self, k2, 32, service, strlen (service), k3);
    s_hmac (self, k3, 32, "aws4_request", 12, entry->key);
    OPENSSL_cleanse (k1, sizeof k1);
    OPENSSL_cleanse (k2, sizeof k2);
    OPENSSL_cleanse (k3, sizeof k3);

    memcpy (entry->date, date, 8);
    entry->region = fy_xstrdup (region);
    entry->service = fy_xstrdup (service);
    entry->access_key = fy_xstrdup (keys->access_key);
    entry->secret_key = fy_xstrdup (keys->secret_key);
    entry->used = true;
    self->derivations++;
    return entry->key;
}

//  The parts of an absolute URL the signature needs.
typedef struct {
    const char *host;           //  authority without userinfo/default port
    size_t host_len;
    const char *path;
    size_t path_len;
    const char *query;          //  NULL when there is no '?'
    size_t query_len;
} s_url_t;

static int
s_url_parse (const char *url, s_url_t *parts, fy_error_t *err)
{
    memset (parts, 0, sizeof *parts);
    const char *sep = strstr (url, "://");
    if (!sep || sep == url || strchr (url, '#')) {
        fy_error_set (err, "sigv4: not an absolute URL without fragment");
        errno = EINVAL;
        return -1;
    }
    size_t scheme_len = (size_t) (sep - url);
    const char *auth = sep + 3;
    size_t auth_len = strcspn (auth, "/?");
    const char *at = memchr (auth, '@', auth_len);
    if (at) {
        auth_len -= (size_t) (at + 1 - auth);
        auth = at + 1;
    }
    if (auth_len == 0) {
        fy_error_set (err, "sigv4: URL has no host");
        errno = EINVAL;
        return -1;
    }
    //  libcurl leaves the scheme's default port out of Host.
    if (scheme_len == 5 && strncasecmp (url, "https", 5) == 0 && auth_len > 4
        && memcmp (auth + auth_len - 4, ":443", 4) == 0)
        auth_len -= 4;
    else if (scheme_len == 4 && strncasecmp (url, "http", 4) == 0
             && auth_len > 3 && memcmp (auth + auth_len - 3, ":80", 3) == 0)
        auth_len -= 3;
    parts->host = auth;
    parts->host_len = auth_len;
    const char *rest = auth + strcspn (auth, "/?");
    parts->path = rest;
    parts->path_len = strcspn (rest, "?");
    if (rest [parts->path_len] == '?') {
        parts->query = rest + parts->path_len + 1;
        parts->query_len = strlen (parts->query);
    }
    return 0;
}

//  RFC 3986 remove_dot_segments, plus collapsing empty segments ("//"),
//  as AWS normalizes for every service but S3. A path that ended in a
//  separator, "." or ".." keeps its trailing slash.
static void
s_normalize_path (s_buf_t *out, const char *path, size_t len)
{
    s_buf_clear (out);
    size_t pos = 0;
    bool trailing = false;
    while (pos < len) {
        if (path [pos] == '/') {
            pos++;
            trailing = true;
            continue;
        }
        size_t seg = pos;
        while (pos < len && path [pos] != '/')
            pos++;
        size_t seg_len = pos - seg;
        if (seg_len == 1 && path [seg] == '.')
            trailing = true;
        else if (seg_len == 2 && path [seg] == '.' && path [seg + 1] == '.') {
            char *slash = out->len ? memrchr (out->data, '/', out->len) : NULL;
            out->len = slash ? (size_t) (slash - out->data) : 0;
            out->data [out->len] = 0;
            trailing = true;
        }
        else {
            s_buf_putc (out, '/');
            s_buf_add (out, path + seg, seg_len);
            trailing = false;
        }
    }
    if (out->len == 0 || trailing)
        s_buf_putc (out, '/');
}

static int
s_hdr_compare (const void *a, const void *b)
{
    const s_hdr_t *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int cmp = memcmp (x->name, y->name, n);
    if (cmp == 0)
        cmp = x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
    if (cmp == 0)
        cmp = x->order < y->order ? -1 : x->order > y->order;
    return cmp;
}

static bool
s_same_name (const s_hdr_t *x, const s_hdr_t *y)
{
    return x->name_len == y->name_len
           && memcmp (x->name, y->name, x->name_len) == 0;
}

static int
s_param_compare (const void *a, const void *b)
{
    const s_param_t *x = a, *y = b;
    int cmp = strcmp (x->key, y->key);
    return cmp ? cmp : strcmp (x->value, y->value);
}

static bool
s_is_space (char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

//  The value with surrounding whitespace trimmed and each inner run of
//  whitespace (folded lines included) folded into one space.
static void
s_put_value (s_buf_t *buf, const char *value, size_t len)
{
    size_t i = 0;
    while (i < len && s_is_space (value [i]))
        i++;
    while (len > i && s_is_space (value [len - 1]))
        len--;
    s_buf_need (buf, len - i);
    bool space = false;
    for (; i < len; i++) {
        if (s_is_space (value [i]))
            space = true;
        else {
            if (space)
                buf->data [buf->len++] = ' ';
            buf->data [buf->len++] = value [i];
            space = false;
        }
    }
    buf->data [buf->len] = 0;
}

//  Headers that proxies and libcurl add or change: never signed, as the
//  AWS SDKs leave them out.
static bool
s_is_unsigned_header (const char *name)
{
    return strcasecmp (name, "user-agent") == 0
           || strcasecmp (name, "expect") == 0
           || strcasecmp (name, "x-amzn-trace-id") == 0;
}

static void
s_hdr_push (fy_sigv4_t *self, size_t *count, const char *name,
            const char *value, size_t value_len)
{
    assert (*count < self->hdrs_cap);
    s_hdr_t *hdr = &self->hdrs [*count];
    hdr->name = name;
    hdr->name_len = strlen (name);
    hdr->value = value;
    hdr->value_len = value_len;
    hdr->order = *count;
    (*count)++;
}

//  The sorted headers to sign, into self->hdrs; *count gets how many.
//  Synthesized ones (Host, X-Amz-Date, token, content hash) join the
//  caller's unless the caller sends them already.
static int
s_collect_headers (fy_sigv4_t *self, const fy_sigv4_request_t *req,
                   const fy_aws_keys_t *keys, const s_url_t *url, bool presign,
                   size_t *count, fy_error_t *err)
{
    size_t need = req->header_count + 4;
    if (need > self->hdrs_cap) {
        self->hdrs = fy_xrealloc (self->hdrs, need * sizeof *self->hdrs);
        self->hdrs_cap = need;
    }
    //  Reserve every name's room first: pointers into the buffer stay
    //  valid because it never moves while they are taken.
    s_buf_clear (&self->names);
    size_t names_len = 0;
    for (size_t i = 0; i < req->header_count; i++)
        names_len += strlen (req->headers [i].name) + 1;
    s_buf_need (&self->names, names_len);

    bool has_host = false, has_date = false, has_token = false;
    *count = 0;
    for (size_t i = 0; i < req->header_count; i++) {
        const fy_sigv4_header_t *header = &req->headers [i];
        if (!header->name || !*header->name || !header->value) {
            fy_error_set (err, "sigv4: header %zu has no name or value", i);
            errno = EINVAL;
            return -1;
        }
        if (s_is_unsigned_header (header->name))
            continue;
        char *name = self->names.data + self->names.len;
        size_t len = strlen (header->name);
        for (size_t c = 0; c < len; c++) {
            char ch = header->name [c];
            name [c] = (char) (ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
        name [len] = 0;
        self->names.len += len + 1;
        if (strcmp (name, "host") == 0)
            has_host = true;
        else if (strcmp (name, "x-amz-security-token") == 0)
            has_token = true;
        else if (strcmp (name, "x-amz-date") == 0) {
            s_buf_clear (&self->scratch);
            s_put_value (&self->scratch, header->value, strlen (header->value));
            if (strcmp (self->scratch.data, self->date) != 0) {
                fy_error_set (err,
                              "sigv4: X-Amz-Date %s is not the "
                              "signing time %s",
                              self->scratch.data, self->date);
                errno = EINVAL;
                return -1;
            }
            has_date = true;
        }
        s_hdr_push (self, count, name, header->value, strlen (header->value));
    }
    self->added_count = 0;
    if (!has_host)
        s_hdr_push (self, count, "host", url->host, url->host_len);
    if (!presign) {
        bool token = keys->session_token && *keys->session_token;
        if (token && !has_token) {
            s_buf_clear (&self->token);
            s_buf_puts (&self->token, keys->session_token);
            self->added [self->added_count++] =
                (fy_sigv4_header_t) { .name = "X-Amz-Security-Token",
                                      .value = self->token.data };
            if (!(req->flags & FY_SIGV4_UNSIGNED_TOKEN))
                s_hdr_push (self, count, "x-amz-security-token",
                            self->token.data, self->token.len);
        }
        if (!has_date) {
            s_hdr_push (self, count, "x-amz-date", self->date, 16);
            self->added [self->added_count++] =
                (fy_sigv4_header_t) { .name = "X-Amz-Date",
                                      .value = self->date };
        }
        if (req->flags & FY_SIGV4_CONTENT_SHA256) {
            s_hdr_push (self, count, "x-amz-content-sha256", self->payload_hash,
                        strlen (self->payload_hash));
            self->added [self->added_count++] =
                (fy_sigv4_header_t) { .name = "X-Amz-Content-Sha256",
                                      .value = self->payload_hash };
        }
    }
    qsort (self->hdrs, *count, sizeof *self->hdrs, s_hdr_compare);

    s_buf_clear (&self->signed_headers);
    for (size_t i = 0; i < *count; i++) {
        if (i > 0 && s_same_name (&self->hdrs [i - 1], &self->hdrs [i]))
            continue;
        if (self->signed_headers.len)
            s_buf_putc (&self->signed_headers, ';');
        s_buf_add (&self->signed_headers, self->hdrs [i].name,
                   self->hdrs [i].name_len);
    }
    return 0;
}

//  Canonical headers: "name:v1,v2\n" per distinct name, in sorted order.
static void
s_put_headers (fy_sigv4_t *self, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const s_hdr_t *hdr = &self->hdrs [i];
        if (i > 0 && s_same_name (&self->hdrs [i - 1], hdr))
            s_buf_putc (&self->creq, ',');
        else {
            if (i > 0)
                s_buf_putc (&self->creq, '\n');
            s_buf_add (&self->creq, hdr->name, hdr->name_len);
            s_buf_putc (&self->creq, ':');
        }
        s_put_value (&self->creq, hdr->value, hdr->value_len);
    }
    s_buf_putc (&self->creq, '\n');
}

static void
s_param_add (fy_sigv4_t *self, size_t *count, const char *key,
             const char *value, size_t value_len, bool encode)
{
    s_buf_t *text = &self->params_text;
    s_param_t *param = &self->params [(*count)++];
    param->key_off = text->len;
    s_buf_add (text, key, strlen (key) + 1);
    param->value_off = text->len;
    if (encode)
        s_encode (text, value, value_len, false);
    else
        s_buf_add (text, value, value_len);
    s_buf_add (text, "", 1);
}

//  The canonical query string into self->creq: the URL's parameters and,
//  when presigning, the X-Amz-* ones.
static void
s_put_query (fy_sigv4_t *self, const fy_sigv4_request_t *req,
             const fy_aws_keys_t *keys, const s_url_t *url, int64_t expires_s)
{
    size_t need = 6;
    for (size_t i = 0; i < url->query_len; i++)
        need += url->query [i] == '&';
    need += url->query_len ? 1 : 0;
    if (need > self->params_cap) {
        self->params = fy_xrealloc (self->params, need * sizeof *self->params);
        self->params_cap = need;
    }
    s_buf_t *text = &self->params_text;
    s_buf_clear (text);
    size_t count = 0;
    const char *pos = url->query ? url->query : "";
    const char *end = pos + url->query_len;
    while (pos < end) {
        const char *amp = memchr (pos, '&', (size_t) (end - pos));
        const char *stop = amp ? amp : end;
        if (stop > pos) {
            const char *eq = memchr (pos, '=', (size_t) (stop - pos));
            const char *key_end = eq ? eq : stop;
            s_param_t *param = &self->params [count++];
            param->key_off = text->len;
            s_recode (text, &self->scratch, pos, (size_t) (key_end - pos));
            s_buf_add (text, "", 1);
            param->value_off = text->len;
            if (eq)
                s_recode (text, &self->scratch, eq + 1,
                          (size_t) (stop - eq - 1));
            s_buf_add (text, "", 1);
        }
        pos = stop + 1;
    }
    if (expires_s > 0) {
        char expires [24];
        snprintf (expires, sizeof expires, "%" PRId64, expires_s);
        s_param_add (self, &count, "X-Amz-Algorithm", S_ALGORITHM,
                     strlen (S_ALGORITHM), false);
        s_buf_clear (&self->scratch);
        s_buf_puts (&self->scratch, keys->access_key);
        s_buf_putc (&self->scratch, '/');
        s_buf_add (&self->scratch, self->date, 8);
        s_buf_putc (&self->scratch, '/');
        s_buf_puts (&self->scratch, req->region);
        s_buf_putc (&self->scratch, '/');
        s_buf_puts (&self->scratch, req->service);
        s_buf_puts (&self->scratch, "/aws4_request");
        s_param_add (self, &count, "X-Amz-Credential", self->scratch.data,
                     self->scratch.len, true);
        s_param_add (self, &count, "X-Amz-Date", self->date, 16, false);
        s_param_add (self, &count, "X-Amz-Expires", expires, strlen (expires),
                     false);
        s_param_add (self, &count, "X-Amz-SignedHeaders",
                     self->signed_headers.data, self->signed_headers.len, true);
        if (keys->session_token && *keys->session_token
            && !(req->flags & FY_SIGV4_UNSIGNED_TOKEN))
            s_param_add (self, &count, "X-Amz-Security-Token",
                         keys->session_token, strlen (keys->session_token),
                         true);
    }
    for (size_t i = 0; i < count; i++) {
        self->params [i].key = text->data + self->params [i].key_off;
        self->params [i].value = text->data + self->params [i].value_off;
    }
    qsort (self->params, count, sizeof *self->params, s_param_compare);
    for (size_t i = 0; i < count; i++) {
        if (i)
            s_buf_putc (&self->creq, '&');
        s_buf_puts (&self->creq, self->params [i].key);
        s_buf_putc (&self->creq, '=');
        s_buf_puts (&self->creq, self->params [i].value);
    }
    s_buf_putc (&self->creq, '\n');
}

static void
s_put_credential (s_buf_t *buf, const fy_sigv4_t *self,
                  const fy_sigv4_request_t *req)
{
    s_buf_add (buf, self->date, 8);
    s_buf_putc (buf, '/');
    s_buf_puts (buf, req->region);
    s_buf_putc (buf, '/');
    s_buf_puts (buf, req->service);
    s_buf_puts (buf, "/aws4_request");
}

//  Both variants: canonical request, string to sign, signature. expires_s
//  is 0 for the header variant.
static int
s_sign (fy_sigv4_t *self, const fy_sigv4_request_t *req,
        const fy_aws_keys_t *keys, int64_t expires_s, fy_error_t *err)
{
    assert (self);
    assert (req);
    assert (keys);
    self->added_count = 0;
    self->signature [0] = 0;
    if (!req->method || !*req->method || !req->url || !req->region
        || !*req->region || !req->service || !*req->service
        || (!req->body && req->body_len) || !keys->access_key
        || !*keys->access_key || !keys->secret_key || !*keys->secret_key) {
        fy_error_set (err, "sigv4: method, URL, region, service and "
                           "keys are required");
        errno = EINVAL;
        return -1;
    }
    s_url_t url;
    if (s_url_parse (req->url, &url, err))
        return -1;
    time_t now = (time_t) req->now;
    struct tm tm;
    if (req->now < 0 || !gmtime_r (&now, &tm)
        || strftime (self->date, sizeof self->date, "%Y%m%dT%H%M%SZ", &tm)
               != 16) {
        fy_error_set (err, "sigv4: time %" PRId64 " out of range", req->now);
        errno = EINVAL;
        return -1;
    }
    if (req->payload_hash) {
        if (strlen (req->payload_hash) >= sizeof self->payload_hash) {
            fy_error_set (err, "sigv4: payload hash too long");
            errno = EINVAL;
            return -1;
        }
        snprintf (self->payload_hash, sizeof self->payload_hash, "%s",
                  req->payload_hash);
    }
    else
        s_sha256_hex (self, req->body, req->body_len, self->payload_hash);

    size_t count;
    if (s_collect_headers (self, req, keys, &url, expires_s > 0, &count, err))
        return -1;

    s_buf_t *creq = &self->creq;
    s_buf_clear (creq);
    s_buf_puts (creq, req->method);
    s_buf_putc (creq, '\n');
    const char *path = url.path_len ? url.path : "/";
    size_t path_len = url.path_len ? url.path_len : 1;
    if (!(req->flags & FY_SIGV4_NO_NORMALIZE_PATH)) {
        s_normalize_path (&self->path, path, path_len);
        path = self->path.data;
        path_len = self->path.len;
    }
    if (req->flags & FY_SIGV4_NO_DOUBLE_ENCODE)
        s_buf_add (creq, path, path_len);
    else
        s_encode (creq, path, path_len, true);
    s_buf_putc (creq, '\n');
    s_put_query (self, req, keys, &url, expires_s);
    s_put_headers (self, count);
    s_buf_putc (creq, '\n');
    s_buf_add (creq, self->signed_headers.data, self->signed_headers.len);
    s_buf_putc (creq, '\n');
    s_buf_puts (creq, self->payload_hash);

    char creq_hash [65];
    s_sha256_hex (self, creq->data, creq->len, creq_hash);
    s_buf_t *sts = &self->sts;
    s_buf_clear (sts);
    s_buf_puts (sts, S_ALGORITHM "\n");
    s_buf_add (sts, self->date, 16);
    s_buf_putc (sts, '\n');
    s_put_credential (sts, self, req);
    s_buf_putc (sts, '\n');
    s_buf_puts (sts, creq_hash);

    const unsigned char *key =
        s_signing_key (self, keys, req->region, req->service);
    unsigned char mac [32];
    s_hmac (self, key, 32, sts->data, sts->len, mac);
    fy_hex (mac, sizeof mac, self->signature);
    return 0;
}

int
fy_sigv4_sign (fy_sigv4_t *self, const fy_sigv4_request_t *req,
               const fy_aws_keys_t *keys, fy_error_t *err)
{
    if (s_sign (self, req, keys, 0, err))
        return -1;
    s_buf_t *auth = &self->auth;
    s_buf_clear (auth);
    s_buf_puts (auth, S_ALGORITHM " Credential=");
    s_buf_puts (auth, keys->access_key);
    s_buf_putc (auth, '/');
    s_put_credential (auth, self, req);
    s_buf_puts (auth, ", SignedHeaders=");
    s_buf_add (auth, self->signed_headers.data, self->signed_headers.len);
    s_buf_puts (auth, ", Signature=");
    s_buf_puts (auth, self->signature);
    assert (self->added_count < FY_SIGV4_MAX_ADDED);
    self->added [self->added_count++] =
        (fy_sigv4_header_t) { .name = "Authorization", .value = auth->data };
    return 0;
}

int
fy_sigv4_presign (fy_sigv4_t *self, const fy_sigv4_request_t *req,
                  const fy_aws_keys_t *keys, int64_t expires_s, fy_error_t *err)
{
    if (expires_s < 1 || expires_s > FY_SIGV4_MAX_EXPIRES_S) {
        fy_error_set (err, "sigv4: expiry %" PRId64 " s not in 1..%d",
                      expires_s, FY_SIGV4_MAX_EXPIRES_S);
        errno = EINVAL;
        return -1;
    }
    if (s_sign (self, req, keys, expires_s, err))
        return -1;
    //  The order AWS's own presigners use; servers do not care.
    s_buf_t *out = &self->url;
    s_buf_clear (out);
    s_buf_puts (out, req->url);
    const char *query = strchr (req->url, '?');
    if (!query)
        s_buf_putc (out, '?');
    else if (query [1])
        s_buf_putc (out, '&');
    s_buf_puts (out, "X-Amz-Algorithm=" S_ALGORITHM "&X-Amz-Credential=");
    s_buf_clear (&self->scratch);
    s_buf_puts (&self->scratch, keys->access_key);
    s_buf_putc (&self->scratch, '/');
    s_put_credential (&self->scratch, self, req);
    s_encode (out, self->scratch.data, self->scratch.len, false);
    s_buf_puts (out, "&X-Amz-Date=");
    s_buf_puts (out, self->date);
    s_buf_puts (out, "&X-Amz-SignedHeaders=");
    s_encode (out, self->signed_headers.data, self->signed_headers.len, false);
    char expires [24];
    snprintf (expires, sizeof expires, "&X-Amz-Expires=%" PRId64, expires_s);
    s_buf_puts (out, expires);
    if (keys->session_token && *keys->session_token) {
        s_buf_puts (out, "&X-Amz-Security-Token=");
        s_encode (out, keys->session_token, strlen (keys->session_token),
                  false);
    }
    s_buf_puts (out, "&X-Amz-Signature=");
    s_buf_puts (out, self->signature);
    return 0;
}

const fy_sigv4_header_t *
fy_sigv4_headers (fy_sigv4_t *self, size_t *count)
{
    assert (self);
    assert (count);
    *count = self->added_count;
    return self->added;
}

const char *
fy_sigv4_url (fy_sigv4_t *self)
{
    assert (self);
    return self->url.data ? self->url.data : "";
}

const char *
fy_sigv4_authorization (fy_sigv4_t *self)
{
    assert (self);
    return self->auth.data ? self->auth.data : "";
}

const char *
fy_sigv4_canonical_request (fy_sigv4_t *self)
{
    assert (self);
    return self->creq.data ? self->creq.data : "";
}

const char *
fy_sigv4_string_to_sign (fy_sigv4_t *self)
{
    assert (self);
    return self->sts.data ? self->sts.data : "";
}

const char *
fy_sigv4_signature (fy_sigv4_t *self)
{
    assert (self);
    return self->signature;
}

uint64_t
fy_sigv4_key_derivations (fy_sigv4_t *self)
{
    assert (self);
    return self->derivations;
}
