/*  fy_cfg_keys: the key table of every section of ferry.cfg. One table per
    section, alphabetical; doc/config.md and contrib/ferry.cfg are checked
    against these by make check. Programs read only their own sections,
    but every section is checked at load, so a typo anywhere in the shared
    file is caught by whichever program starts first. */
#include "ferry/fy_cfg.h"

#ifndef FERRY_SCHEMA_DIR
#define FERRY_SCHEMA_DIR "/usr/local/share/ferry"
#endif

static const fy_cfg_key_t s_log_keys [] = {
    { "format", FY_CFG_STR, "text", FY_CFG_RELOAD,
      "log line format: text (key=value) or json (one object per line)",
      NULL, 0, 0, "text|json" },
    { "level", FY_CFG_STR, "info", FY_CFG_RELOAD,
      "least severe level written",
      NULL, 0, 0, "error|warn|notice|info|debug" },
    { NULL }
};

static const fy_cfg_key_t s_events_keys [] = {
    { "schema", FY_CFG_STR, FERRY_SCHEMA_DIR "/events.schema.json",
      FY_CFG_RESTART, "path of the JSON Schema every event is validated against",
      NULL, 0, 0, NULL },
    { NULL }
};

const fy_cfg_section_t fy_cfg_sections [] = {
    { "log", s_log_keys, "logging, shared by every program" },
    { "events", s_events_keys, "event decoding and validation" },
    { NULL }
};
