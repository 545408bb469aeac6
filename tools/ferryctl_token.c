/*  ferryctl token: mint a service token (JWT) with the configured key, for
    operators and scripts that call the API (curl, ferryctl send --http).
    HS256 only: RS256 and ES256 tokens are minted by whoever holds the
    private key, which ferry never does. */
#include "ferryctl.h"
#include "http/fy_jwt.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
ferryctl_token (ferryctl_t *ctl)
{
    static const struct option options [] = {
        { "sub", required_argument, NULL, 's' },
        { "ttl", required_argument, NULL, 't' },
        { NULL, 0, NULL, 0 }
    };
    const char *sub = "ferryctl";
    int64_t ttl = 3600;
    optind = 1;
    int opt;
    while ((opt = getopt_long (ctl->argc, ctl->argv, "", options, NULL))
           != -1) {
        if (opt == 's')
            sub = optarg;
        else if (opt != 't' || fy_parse_int64 (optarg, 1, 86400 * 366, &ttl)) {
            fprintf (stderr, "usage: ferryctl token [--sub NAME] "
                             "[--ttl SECONDS]\n");
            return FERRYCTL_USAGE;
        }
    }
    const char *alg = fy_cfg_str (ctl->cfg, "http", "jwt_alg");
    const char *secret = fy_cfg_str (ctl->cfg, "http", "jwt_secret");
    if (strcmp (alg, "HS256") != 0 || !secret || !*secret) {
        fprintf (stderr, "ferryctl token: needs http.jwt_alg HS256 and "
                         "http.jwt_secret (JWT_SERVICE_SECRET)\n");
        return FERRYCTL_USAGE;
    }
    int64_t now = fy_clock_wall_ms () / 1000;
    json_t *claims =
        json_pack ("{s:s, s:I, s:I}", "sub", sub, "iat", (json_int_t) now,
                   "exp", (json_int_t) (now + ttl));
    const char *issuer = fy_cfg_str (ctl->cfg, "http", "jwt_issuer");
    const char *audience = fy_cfg_str (ctl->cfg, "http", "jwt_audience");
    if (issuer)
        json_object_set_new (claims, "iss", json_string (issuer));
    if (audience)
        json_object_set_new (claims, "aud", json_string (audience));
    fy_error_t err = { "" };
    char *token = fy_jwt_sign (alg, secret, strlen (secret), claims, &err);
    json_decref (claims);
    if (!token) {
        fprintf (stderr, "ferryctl token: %s\n", err.text);
        return FERRYCTL_FAILED;
    }
    puts (token);
    free (token);
    return FERRYCTL_OK;
}
