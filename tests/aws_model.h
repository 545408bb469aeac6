/*  aws_model.h: read AWS's Smithy models (JSON AST, in
    $FERRY_TESTDATA/aws-models/api-models-aws) in place, for the tests of
    the AWS clients: a value checked against a shape (every member known,
    required members there, each of the right type), an operation's
    errors with their codes and HTTP statuses. */
#ifndef FY_TEST_AWS_MODEL_H_INCLUDED
#define FY_TEST_AWS_MODEL_H_INCLUDED

#include <jansson.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "aws/fy_aws_client.h"
#include "tap.h"

static inline json_t *
aws_model_load (const char *rel)
{
    json_error_t jerr;
    json_t *model = json_load_file (tap_testdata (rel), 0, &jerr);
    if (!model)
        BAIL_OUT ("cannot load %s: %s", rel, jerr.text);
    return model;
}

static inline json_t *
aws_model_shape (json_t *model, const char *id)
{
    return json_object_get (json_object_get (model, "shapes"), id);
}

//  The type of shape id: the model's, or the prelude's for smithy.api#X.
static inline const char *
aws_model_type (json_t *model, const char *id)
{
    json_t *shape = aws_model_shape (model, id);
    if (shape)
        return json_string_value (json_object_get (shape, "type"));
    if (strncmp (id, "smithy.api#", 11) == 0) {
        static char lower [32];
        snprintf (lower, sizeof lower, "%s", id + 11);
        lower [0] = (char) (lower [0] - 'A' + 'a');
        return lower;
    }
    return NULL;
}

//  0 when value fits shape id; else -1 with why (a path and a reason).
static inline int
aws_model_check (json_t *model, const char *id, json_t *value, char *why,
                 size_t size)
{
    const char *type = aws_model_type (model, id);
    json_t *shape = aws_model_shape (model, id);
    if (!type) {
        snprintf (why, size, "%s: unknown shape", id);
        return -1;
    }
    if (strcmp (type, "structure") == 0) {
        json_t *members = json_object_get (shape, "members");
        const char *key;
        json_t *item;
        if (!json_is_object (value)) {
            snprintf (why, size, "%s: not an object", id);
            return -1;
        }
        json_object_foreach (value, key, item)
        {
            json_t *member = json_object_get (members, key);
            if (!member) {
                snprintf (why, size, "%s: no member %s", id, key);
                return -1;
            }
            if (aws_model_check (
                    model,
                    json_string_value (json_object_get (member, "target")),
                    item, why, size))
                return -1;
        }
        json_object_foreach (
            members, key,
            item) if (json_object_get (json_object_get (item, "traits"),
                                       "smithy.api#required")
                      && !json_object_get (value, key))
        {
            snprintf (why, size, "%s: required %s missing", id, key);
            return -1;
        }
        return 0;
    }
    if (strcmp (type, "list") == 0) {
        size_t i;
        json_t *item;
        if (!json_is_array (value)) {
            snprintf (why, size, "%s: not an array", id);
            return -1;
        }
        const char *target = json_string_value (
            json_object_get (json_object_get (shape, "member"), "target"));
        json_array_foreach (value, i,
                            item) if (aws_model_check (model, target, item, why,
                                                       size)) return -1;
        return 0;
    }
    bool fits = strcmp (type, "string") == 0 || strcmp (type, "blob") == 0
                        || strcmp (type, "enum") == 0
                    ? json_is_string (value)
                : strcmp (type, "boolean") == 0 ? json_is_boolean (value)
                : strcmp (type, "integer") == 0 || strcmp (type, "long") == 0
                    ? json_is_integer (value)
                    : json_is_object (value);
    if (!fits)
        snprintf (why, size, "%s: not a %s", id, type);
    return fits ? 0 : -1;
}

//  The errors of operation id, as an array of shape ids. Caller owns.
static inline json_t *
aws_model_errors (json_t *model, const char *id)
{
    json_t *list = json_array ();
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (aws_model_shape (model, id), "errors"),
                        i, item)
        json_array_append (list, json_object_get (item, "target"));
    return list;
}

//  The code a client sees for error shape id: the awsQueryError code when
//  there is one, else the shape's name; and its HTTP status.
static inline const char *
aws_model_error_code (json_t *model, const char *id, int *status)
{
    json_t *traits = json_object_get (aws_model_shape (model, id), "traits");
    json_t *query = json_object_get (traits, "aws.protocols#awsQueryError");
    *status = (int) json_integer_value (
        json_object_get (traits, "smithy.api#httpError"));
    if (query) {
        *status = (int) json_integer_value (
            json_object_get (query, "httpResponseCode"));
        return json_string_value (json_object_get (query, "code"));
    }
    const char *hash = strchr (id, '#');
    return hash ? hash + 1 : id;
}

//  botocore's protocol error cases of file (protocols/output/...) through
//  parse: each must be an error with botocore's code and message (""
//  when it names none), the sender's fault below 500, and request_id
//  when not NULL. Returns how many cases ran.
static inline int
aws_model_error_cases (const char *file, fy_http_parse_fn *parse,
                       const char *request_id)
{
    json_t *suites = aws_model_load (file);
    size_t i, j;
    json_t *suite, *test;
    int cases = 0;
    json_array_foreach (suites, i, suite)
        json_array_foreach (json_object_get (suite, "cases"), j, test)
    {
        const char *want =
            json_string_value (json_object_get (test, "errorCode"));
        if (!want)
            continue;
        json_t *response = json_object_get (test, "response");
        const char *body =
            json_string_value (json_object_get (response, "body"));
        fy_http_answer_t answer = {
            .status = (int) json_integer_value (
                json_object_get (response, "status_code")),
            .body = body ? body : "",
            .len = body ? strlen (body) : 0,
            .error_type = json_string_value (json_object_get (
                json_object_get (response, "headers"), "X-Amzn-Errortype")),
        };
        fy_http_service_error_t error;
        char *message_id = NULL, *got_request_id = NULL;
        const char *name = json_string_value (json_object_get (test, "id"));
        ok (parse (&answer, &error, &message_id, &got_request_id) == -1
                && !message_id,
            "%s: an error", name);
        is_str (error.code, want, "%s: code", name);
        const char *message =
            json_string_value (json_object_get (test, "errorMessage"));
        is_str (error.message, message ? message : "", "%s: message", name);
        ok (error.sender_fault == (answer.status < 500),
            "%s: sender's fault below 500", name);
        if (request_id)
            is_str (got_request_id, request_id, "%s: request id", name);
        free (got_request_id);
        cases++;
    }
    json_decref (suites);
    return cases;
}

//  Every error of operation op in the model: fy_aws_is_retryable must
//  retry it exactly when it is throttling or 5xx (what the client
//  retries at once; the rest a worker sends to its DLQ). And each of
//  permanent (NULL-terminated codes) must be one of op's errors and not
//  retried.
static inline void
aws_model_check_errors (json_t *model, const char *op, const char **permanent)
{
    json_t *errors = aws_model_errors (model, op);
    ok (json_array_size (errors) >= 8, "%s has %zu errors", op,
        json_array_size (errors));
    size_t i;
    json_t *id;
    json_array_foreach (errors, i, id)
    {
        int status;
        const char *code =
            aws_model_error_code (model, json_string_value (id), &status);
        bool want =
            status == 429 || status >= 500 || strstr (code, "Throttl") != NULL;
        ok (fy_aws_is_retryable (status, code) == want, "%s (%d): %s", code,
            status, want ? "retried" : "permanent");
    }
    for (size_t p = 0; permanent [p]; p++) {
        bool found = false;
        json_array_foreach (errors, i, id)
        {
            int status;
            found |= strcmp (aws_model_error_code (
                                 model, json_string_value (id), &status),
                             permanent [p])
                     == 0;
        }
        ok (found && !fy_aws_is_retryable (400, permanent [p]),
            "%s is an error of %s, permanent", permanent [p], op);
    }
    json_decref (errors);
}

//  botocore's endpoint rule tests of service against
//  fy_aws_region_endpoint (prefix, region): every case of a region
//  without FIPS, dual-stack, a custom endpoint or any other parameter
//  (SES's EndpointId), which fy_aws_client does not know.
static inline void
aws_model_endpoints (const char *service, const char *prefix)
{
    char rel [160];
    snprintf (rel, sizeof rel,
              "aws-models/botocore/tests/functional/"
              "endpoint-rules/%s/endpoint-tests-1.json",
              service);
    json_t *tests = aws_model_load (rel);
    size_t i;
    json_t *test;
    int cases = 0, right = 0;
    json_array_foreach (json_object_get (tests, "testCases"), i, test)
    {
        json_t *params = json_object_get (test, "params");
        const char *region =
            json_string_value (json_object_get (params, "Region"));
        const char *url = json_string_value (json_object_get (
            json_object_get (json_object_get (test, "expect"), "endpoint"),
            "url"));
        if (!region || !url
            || json_is_true (json_object_get (params, "UseFIPS"))
            || json_is_true (json_object_get (params, "UseDualStack"))
            || json_object_size (params) > 3)
            continue;
        char *got = fy_aws_region_endpoint (prefix, region);
        cases++;
        right += strcmp (got, url) == 0;
        if (strcmp (got, url))
            diag ("%s: got %s, want %s", region, got, url);
        free (got);
    }
    ok (cases >= 15, "%s endpoint rule cases: %d", service, cases);
    is_int (right, cases,
            "%s: every default endpoint as botocore resolves "
            "it",
            service);
    json_decref (tests);
}

#endif
