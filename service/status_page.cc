#include "service/status_page.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "service/build_info.h"

namespace overlapd {

extern const char kStatusPageHtml[];  // status_page.html, embedded by CMake

namespace {

nlohmann::json JobJson(const v1::Job& job, bool redact) {
  return {{"id", job.id()},
          {"label", redact ? "" : job.label()},
          {"state", v1::JobState_Name(job.state())},
          {"ops_total", job.ops_total()},
          {"ops_done", job.ops_done()},
          {"ops_failed", job.ops_failed()},
          {"ops_cancelled", job.ops_cancelled()},
          {"bytes_read", job.bytes_read()},
          {"bytes_written", job.bytes_written()},
          {"created_ns", job.created_ns()},
          {"started_ns", job.started_ns()},
          {"finished_ns", job.finished_ns()}};
}

nlohmann::json EventJson(const v1::Event& e, bool redact) {
  std::string error;
  if (e.has_error() && e.error().code() != 0) {
    error = redact ? std::to_string(e.error().code()) : e.error().message();
  }
  return {{"seq", e.seq()},         {"type", v1::EventType_Name(e.type())},
          {"job_id", e.job_id()},   {"tag", e.tag()},
          {"path", redact ? "" : e.path()}, {"bytes", e.bytes()},
          {"error", error}};
}

// The newest jobs, running (and queued) ones first.
nlohmann::json Jobs(JobManager& jobs, bool redact) {
  absl::StatusOr<v1::ListJobsResponse> list = jobs.List(200, "", "");
  nlohmann::json out = nlohmann::json::array();
  if (!list.ok()) return out;
  std::vector<const v1::Job*> shown;
  for (const v1::Job& j : list->jobs()) shown.push_back(&j);
  std::stable_partition(shown.begin(), shown.end(), [](const v1::Job* j) {
    return j->state() == v1::QUEUED || j->state() == v1::RUNNING;
  });
  for (size_t i = 0; i < shown.size() && i < static_cast<size_t>(kStatusJobs); ++i) {
    out.push_back(JobJson(*shown[i], redact));
  }
  return out;
}

nlohmann::json Events(const EventLog& log, bool redact) {
  const uint64_t end = log.end_position();
  const uint64_t from = end > kStatusEvents ? end - kStatusEvents : 0;
  EventLog::ReadResult r = log.Read(from, kStatusEvents);
  nlohmann::json out = nlohmann::json::array();
  for (const EventLog::Entry& e : r.entries) out.push_back(EventJson(*e.event, redact));
  return out;
}

}  // namespace

std::string StatusJson(const StatusSources& s) {
  nlohmann::json server = {{"version", std::string(BuildVersion())},
                           {"commit", std::string(BuildCommit())},
                           {"engine", s.engine == nullptr ? "" : std::string(s.engine->name())},
                           {"workers", s.engine == nullptr ? 0 : s.engine->workers()},
                           {"redacted", s.redact}};
  nlohmann::json body = {
      {"server", server},
      {"jobs", s.jobs == nullptr ? nlohmann::json::array() : Jobs(*s.jobs, s.redact)},
      {"events", s.log == nullptr ? nlohmann::json::array() : Events(*s.log, s.redact)}};
  // Paths are UTF-8 on the wire (wire_names.h); replace anything else
  // rather than fail the page.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void AddStatusPage(HttpServer& http, const StatusSources& sources) {
  http.Handle("/$", [] {
    return HttpReply{200, "text/html; charset=utf-8", std::string(kStatusPageHtml)};
  });
  http.Handle("/status.json", [sources] {
    return HttpReply{200, "application/json", StatusJson(sources)};
  });
}

}  // namespace overlapd
