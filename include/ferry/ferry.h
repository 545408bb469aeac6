/*  ferry.h: libferry's umbrella header. Programs include this one file. */
#ifndef FERRY_H_INCLUDED
#define FERRY_H_INCLUDED

#define FERRY_VERSION_MAJOR 0
#define FERRY_VERSION_MINOR 1

#include "ferry/fy_common.h"
#include "ferry/fy_cfg.h"
#include "ferry/fy_client.h"
#include "ferry/fy_daemon.h"
#include "ferry/fy_event.h"
#include "ferry/fy_json.h"
#include "ferry/fy_log.h"
#include "ferry/fy_metrics.h"
#include "ferry/fy_msgpack.h"
#include "ferry/fy_proto.h"
#include "ferry/fy_route.h"
#include "ferry/fy_schema.h"
#include "ferry/fy_signals.h"
#include "ferry/fy_time.h"
#include "ferry/fy_uuid.h"
#include "ferry/fy_worker.h"

#endif
