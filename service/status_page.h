// The status page on the metrics listener, for operators without Grafana:
//
//   GET /             one self-contained HTML page (status_page.html,
//                     compiled into the binary): queue depth per worker,
//                     op latency percentiles, throughput, calls, jobs with
//                     their progress and the event log's tail, refreshed
//                     every 2 s from the two URLs below; no CDN, no network
//                     beyond this server
//   GET /status.json  {"server": {...}, "jobs": [...], "events": [...]}
//   GET /metrics      (metrics.h)
//
// The metrics listener has no authentication. With --tokens, the page shows
// no paths and no job labels (they could name what a token's prefix hides),
// only ids, states, counts and types; --status-page off removes / and
// /status.json altogether.
#ifndef OVERLAPD_SERVICE_STATUS_PAGE_H_
#define OVERLAPD_SERVICE_STATUS_PAGE_H_

#include <string>

#include "ioengine/engine.h"
#include "service/event_log.h"
#include "service/http_server.h"
#include "service/jobs.h"

namespace overlapd {

struct StatusSources {
  JobManager* jobs = nullptr;
  const EventLog* log = nullptr;
  const io::Engine* engine = nullptr;
  bool redact = false;  // --tokens: no paths, no labels
};

// Jobs shown: the newest, running ones first. Events shown: the log's last.
constexpr int kStatusJobs = 20;
constexpr int kStatusEvents = 30;

// The body of /status.json.
std::string StatusJson(const StatusSources& sources);

// Serves / and /status.json on `http`. `sources` must outlive `http`'s
// serving (the HttpServer is stopped before they go).
void AddStatusPage(HttpServer& http, const StatusSources& sources);

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_STATUS_PAGE_H_
