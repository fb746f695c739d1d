// Profiler exports: Chrome/Perfetto trace JSON, JSON summary, self-contained HTML report.
#include <algorithm>
#include <cinttypes>
#include <climits>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "profile/profiler_impl.h"
#include "vrseg/profiler.h"

namespace vrseg {

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

// A consistent copy of the trace data (taken under the buffers' mutexes).
struct TraceThread {
  int index = 0;
  std::string name;
  std::vector<SpanEvent> spans;
  std::vector<CounterEvent> counters;
};
struct TraceSnapshot {
  std::vector<std::string> stage_names;
  std::vector<std::string> queue_names;
  std::vector<TraceThread> threads;
  std::vector<MemorySample> memory;
};

// One trace track: the spans of one thread on one stage.
struct Track {
  int tid = 0;
  StageId stage = 0;
  std::string name;
  const TraceThread* thread = nullptr;
};

std::string Fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

// Microseconds with nanosecond precision, as Chrome's trace format wants them.
std::string Micros(int64_t ns) {
  char buf[48];
  const char* sign = ns < 0 ? "-" : "";
  const int64_t a = ns < 0 ? -ns : ns;
  std::snprintf(buf, sizeof(buf), "%s%" PRId64 ".%03" PRId64, sign, a / 1000, a % 1000);
  return buf;
}

std::string FormatNs(double ns) {
  if (ns < 1e3) return Fmt("%.0f ns", ns);
  if (ns < 1e6) return Fmt("%.1f us", ns / 1e3);
  if (ns < 1e9) return Fmt("%.2f ms", ns / 1e6);
  return Fmt("%.2f s", ns / 1e9);
}

std::string FormatBytes(double b) {
  if (b < 1024 * 1024) return Fmt("%.1f KiB", b / 1024);
  if (b < 1024.0 * 1024 * 1024) return Fmt("%.1f MiB", b / (1024 * 1024));
  return Fmt("%.2f GiB", b / (1024.0 * 1024 * 1024));
}

// Tracks in pipeline order: by stage, then by worker (thread creation order).
std::vector<Track> MakeTracks(const TraceSnapshot& snap) {
  std::vector<Track> tracks;
  std::vector<std::vector<const TraceThread*>> workers(snap.stage_names.size());
  std::vector<int> stages_of_thread(snap.threads.size(), 0);
  for (size_t t = 0; t < snap.threads.size(); ++t) {
    std::vector<bool> seen(snap.stage_names.size(), false);
    for (const SpanEvent& e : snap.threads[t].spans) {
      if (e.stage >= 0 && static_cast<size_t>(e.stage) < seen.size() && !seen[e.stage]) {
        seen[e.stage] = true;
        ++stages_of_thread[t];
      }
    }
    for (size_t s = 0; s < seen.size(); ++s) {
      if (seen[s]) workers[s].push_back(&snap.threads[t]);
    }
  }
  int tid = 1;
  for (size_t s = 0; s < workers.size(); ++s) {
    for (size_t w = 0; w < workers[s].size(); ++w) {
      const TraceThread* th = workers[s][w];
      Track tr;
      tr.tid = tid++;
      tr.stage = static_cast<StageId>(s);
      tr.thread = th;
      const int nstages = stages_of_thread[th - snap.threads.data()];
      if (th->name.empty()) {
        tr.name = snap.stage_names[s] + "/" + std::to_string(w);
      } else if (nstages == 1) {
        tr.name = th->name;
      } else {
        tr.name = snap.stage_names[s] + " (" + th->name + ")";
      }
      tracks.push_back(std::move(tr));
    }
  }
  return tracks;
}

int64_t Origin(const TraceSnapshot& snap) {
  int64_t t0 = INT64_MAX;
  for (const TraceThread& t : snap.threads) {
    for (const SpanEvent& e : t.spans) t0 = std::min(t0, e.start_ns);
    for (const CounterEvent& c : t.counters) t0 = std::min(t0, c.t_ns);
  }
  for (const MemorySample& m : snap.memory) t0 = std::min(t0, m.t_ns);
  return t0 == INT64_MAX ? 0 : t0;
}

const char* kStageColors[] = {"#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2",
                              "#edc948", "#9c755f", "#e15759", "#bab0ac", "#ff9da7"};
const char* StageColor(int stage) { return kStageColors[stage % 10]; }

}  // namespace

// Defined here (not in profiler.cc) because only the exports need the raw events.
static TraceSnapshot Snapshot(const Profiler::Impl& impl) {
  TraceSnapshot snap;
  std::vector<ThreadBuffer*> threads;
  {
    std::lock_guard<std::mutex> lock(impl.mu);
    snap.stage_names = impl.stage_names;
    snap.queue_names = impl.queue_names;
    for (const auto& b : impl.threads) threads.push_back(b.get());
  }
  for (ThreadBuffer* b : threads) {
    std::lock_guard<std::mutex> lock(b->mu);
    TraceThread t;
    t.index = b->index;
    t.name = b->name;
    t.spans = b->spans;
    t.counters = b->counters;
    snap.threads.push_back(std::move(t));
  }
  {
    std::lock_guard<std::mutex> lock(impl.memory_mu);
    snap.memory = impl.memory;
  }
  return snap;
}

std::string Profiler::ChromeTraceJson() const {
  const TraceSnapshot snap = Snapshot(*impl_);
  const std::vector<Track> tracks = MakeTracks(snap);
  const int64_t t0 = Origin(snap);
  std::string out;
  out.reserve(256 + 160 * tracks.size());
  out += "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"generator\":\"vrseg profiler\"},";
  out += "\"traceEvents\":[\n";
  out +=
      "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":0,\"args\":{\"name\":\"vrseg\"}}";
  for (const Track& tr : tracks) {
    out += ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":" + std::to_string(tr.tid) +
           ",\"args\":{\"name\":\"" + JsonEscape(tr.name) + "\"}}";
    out += ",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":" +
           std::to_string(tr.tid) + ",\"args\":{\"sort_index\":" + std::to_string(tr.tid) + "}}";
  }
  for (const Track& tr : tracks) {
    const std::string stage = JsonEscape(snap.stage_names[tr.stage]);
    const std::string tid = std::to_string(tr.tid);
    for (const SpanEvent& e : tr.thread->spans) {
      if (e.stage != tr.stage) continue;
      out += ",\n{\"name\":\"";
      out += e.activity == Activity::kBusy ? stage : std::string(ActivityName(e.activity));
      out += "\",\"cat\":\"";
      out += ActivityName(e.activity);
      out += "\",\"ph\":\"X\",\"ts\":" + Micros(e.start_ns - t0) +
             ",\"dur\":" + Micros(e.end_ns - e.start_ns) + ",\"pid\":1,\"tid\":" + tid +
             ",\"args\":{\"stage\":\"" + stage + "\"";
      if (e.activity == Activity::kBusy) out += ",\"items\":" + std::to_string(e.items);
      if (e.frame >= 0) out += ",\"frame\":" + std::to_string(e.frame);
      out += "}}";
    }
  }
  for (const TraceThread& t : snap.threads) {
    for (const CounterEvent& c : t.counters) {
      if (c.id < 0 || static_cast<size_t>(c.id) >= snap.queue_names.size()) continue;
      out += ",\n{\"name\":\"queue " + JsonEscape(snap.queue_names[c.id]) +
             "\",\"ph\":\"C\",\"ts\":" + Micros(c.t_ns - t0) +
             ",\"pid\":1,\"args\":{\"depth\":" + std::to_string(c.value) + "}}";
    }
  }
  for (const MemorySample& m : snap.memory) {
    out += ",\n{\"name\":\"rss\",\"ph\":\"C\",\"ts\":" + Micros(m.t_ns - t0) +
           ",\"pid\":1,\"args\":{\"MiB\":" + Fmt("%.3f", m.rss_bytes / 1048576.0) + "}}";
  }
  out += "\n]}\n";
  return out;
}

namespace {

nlohmann::json StatsJson(const LatencyStats& s) {
  return {{"count", s.count},   {"mean_ns", s.mean_ns}, {"std_ns", s.std_ns}, {"min_ns", s.min_ns},
          {"p50_ns", s.p50_ns}, {"p90_ns", s.p90_ns},   {"p99_ns", s.p99_ns}, {"max_ns", s.max_ns}};
}

}  // namespace

std::string Profiler::SummaryJson() const {
  const ProfileReport r = Report();
  nlohmann::json j;
  j["start_ns"] = r.start_ns;
  j["end_ns"] = r.end_ns;
  j["wall_ns"] = r.wall_ns;
  j["stages"] = nlohmann::json::array();
  for (const StageReport& s : r.stages) {
    nlohmann::json hist = nlohmann::json::array();
    for (const HistogramBin& b : s.histogram) {
      hist.push_back({{"lower_ns", b.lower_ns}, {"upper_ns", b.upper_ns}, {"count", b.count}});
    }
    j["stages"].push_back({{"name", s.name},
                           {"workers", s.workers},
                           {"items", s.items},
                           {"latency", StatsJson(s.latency)},
                           {"histogram", hist},
                           {"busy_ns", s.busy_ns},
                           {"starved_ns", s.starved_ns},
                           {"blocked_ns", s.blocked_ns},
                           {"busy_fraction", s.busy_fraction},
                           {"starved_fraction", s.starved_fraction},
                           {"blocked_fraction", s.blocked_fraction},
                           {"throughput_fps", s.throughput_fps},
                           {"capacity_fps", s.capacity_fps}});
  }
  j["queues"] = nlohmann::json::array();
  for (const QueueReport& q : r.queues) {
    j["queues"].push_back({{"name", q.name},
                           {"capacity", q.capacity},
                           {"depth_samples", q.depth_samples},
                           {"mean_depth", q.mean_depth},
                           {"max_depth", q.max_depth},
                           {"full_fraction", q.full_fraction},
                           {"wait", StatsJson(q.wait)}});
  }
  nlohmann::json mem = nlohmann::json::array();
  for (const MemorySample& m : r.memory) mem.push_back({m.t_ns, m.rss_bytes});
  j["memory"] = {{"peak_rss_bytes", r.peak_rss_bytes}, {"samples", mem}};
  j["trace_events"] = r.trace_events;
  j["dropped_events"] = r.dropped_events;
  j["bottleneck"] = {{"reason", std::string(BottleneckReasonName(r.bottleneck.reason))},
                     {"stage", r.bottleneck.stage},
                     {"stage_name", r.bottleneck.stage_name},
                     {"explanation", r.bottleneck.explanation}};
  return j.dump(2) + "\n";
}

namespace {

constexpr size_t kMaxTimelineSpans = 20000;
constexpr size_t kMaxMemoryPoints = 2000;

// A latency histogram on a logarithmic time axis: each bar spans its bin's [lower, upper), so
// gaps between bins show as gaps; dashed lines mark p50 and p99.
void AppendHistogramSvg(std::string& h, const StageReport& s, int stage) {
  const int w = 420, ht = 150, left = 40, right = 10, bottom = 30, top = 10;
  int64_t max_count = 1;
  for (const HistogramBin& b : s.histogram) max_count = std::max(max_count, b.count);
  h += "<svg class=\"hist\" width=\"" + std::to_string(w) + "\" height=\"" + std::to_string(ht) +
       "\" role=\"img\" aria-label=\"latency histogram of " + HtmlEscape(s.name) + "\">";
  h += "<line x1=\"" + std::to_string(left) + "\" y1=\"" + std::to_string(ht - bottom) +
       "\" x2=\"" + std::to_string(w - right) + "\" y2=\"" + std::to_string(ht - bottom) +
       "\" stroke=\"#333\"/>";
  const double plot_w = w - left - right, plot_h = ht - bottom - top;
  if (!s.histogram.empty()) {
    const double lo = static_cast<double>(std::max<int64_t>(1, s.histogram.front().lower_ns));
    const double hi = std::max(lo * 1.001, static_cast<double>(s.histogram.back().upper_ns));
    const double span = std::log(hi / lo);
    auto x_of = [&](double ns) {
      return left + plot_w * std::clamp(std::log(std::max(ns, lo) / lo) / span, 0.0, 1.0);
    };
    for (const HistogramBin& b : s.histogram) {
      const double x0 = x_of(static_cast<double>(b.lower_ns));
      const double x1 = x_of(static_cast<double>(b.upper_ns));
      const double bh = plot_h * static_cast<double>(b.count) / static_cast<double>(max_count);
      h += "<rect x=\"" + Fmt("%.1f", x0) + "\" y=\"" + Fmt("%.1f", ht - bottom - bh) +
           "\" width=\"" + Fmt("%.1f", std::max(1.0, x1 - x0 - 0.5)) + "\" height=\"" +
           Fmt("%.1f", bh) + "\" fill=\"" + StageColor(stage) + "\"><title>" +
           FormatNs(static_cast<double>(b.lower_ns)) + " - " +
           FormatNs(static_cast<double>(b.upper_ns)) + ": " + std::to_string(b.count) +
           "</title></rect>";
    }
    for (const auto& [label, v] : {std::pair<const char*, int64_t>{"p50", s.latency.p50_ns},
                                   std::pair<const char*, int64_t>{"p99", s.latency.p99_ns}}) {
      const double x = x_of(static_cast<double>(v));
      h += "<line x1=\"" + Fmt("%.1f", x) + "\" y1=\"" + std::to_string(top) + "\" x2=\"" +
           Fmt("%.1f", x) + "\" y2=\"" + std::to_string(ht - bottom) +
           "\" stroke=\"#333\" stroke-dasharray=\"3,2\"/><text x=\"" + Fmt("%.1f", x + 2) +
           "\" y=\"" + std::to_string(top + 8) + "\">" + label + "</text>";
    }
    h += "<text x=\"" + std::to_string(left) + "\" y=\"" + std::to_string(ht - 12) + "\">" +
         FormatNs(lo) + "</text>";
    h += "<text x=\"" + std::to_string(w - right) + "\" y=\"" + std::to_string(ht - 12) +
         "\" text-anchor=\"end\">" + FormatNs(hi) + "</text>";
    h += "<text x=\"" + Fmt("%.0f", left + plot_w / 2) + "\" y=\"" + std::to_string(ht - 2) +
         "\" text-anchor=\"middle\">latency (log scale)</text>";
  }
  h += "<text x=\"2\" y=\"" + std::to_string(top + 10) + "\">" + std::to_string(max_count) +
       "</text>";
  h += "</svg>";
}

}  // namespace

std::string Profiler::HtmlReport() const {
  const ProfileReport r = Report();
  const TraceSnapshot snap = Snapshot(*impl_);
  const std::vector<Track> tracks = MakeTracks(snap);
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<title>vrseg profile</title><style>"
       "body{font-family:sans-serif;margin:20px;color:#222}"
       "table{border-collapse:collapse;margin:8px 0}"
       "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;font-size:13px}"
       "th{background:#f0f0f0}td:first-child{text-align:left}"
       ".verdict{background:#fff4e0;border:1px solid #e0b060;padding:8px;max-width:900px}"
       "svg text{font-size:11px;font-family:sans-serif}"
       ".hists{display:flex;flex-wrap:wrap;gap:16px}"
       "</style></head><body>\n";
  h += "<h1>vrseg profile</h1>\n";
  h += "<p>Wall time " + FormatNs(static_cast<double>(r.wall_ns)) + ", " +
       std::to_string(r.stages.size()) + " stages, " + std::to_string(r.queues.size()) +
       " queues, peak RSS " + FormatBytes(static_cast<double>(r.peak_rss_bytes)) + ", " +
       std::to_string(r.trace_events) + " trace events (" + std::to_string(r.dropped_events) +
       " dropped).</p>\n";
  h += "<h2>Bottleneck</h2>\n<p class=\"verdict\" id=\"bottleneck\"><b>" +
       HtmlEscape(r.bottleneck.stage_name.empty() ? "none" : r.bottleneck.stage_name) + "</b> (" +
       std::string(BottleneckReasonName(r.bottleneck.reason)) +
       "): " + HtmlEscape(r.bottleneck.explanation) + "</p>\n";

  h += "<h2>Stages</h2>\n<table id=\"stages\"><tr><th>stage</th><th>workers</th><th>items</th>"
       "<th>fps</th><th>capacity fps</th><th>calls</th><th>mean</th><th>std</th><th>p50</th>"
       "<th>p90</th><th>p99</th><th>max</th><th>busy / starved / blocked</th></tr>\n";
  for (size_t i = 0; i < r.stages.size(); ++i) {
    const StageReport& s = r.stages[i];
    const LatencyStats& l = s.latency;
    const double bw = 160;
    const double b1 = bw * s.busy_fraction, b2 = bw * s.starved_fraction,
                 b3 = bw * s.blocked_fraction;
    h += "<tr><td>" + HtmlEscape(s.name) + "</td><td>" + std::to_string(s.workers) + "</td><td>" +
         std::to_string(s.items) + "</td><td>" + Fmt("%.1f", s.throughput_fps) + "</td><td>" +
         Fmt("%.1f", s.capacity_fps) + "</td><td>" + std::to_string(l.count) + "</td><td>" +
         FormatNs(l.mean_ns) + "</td><td>" + FormatNs(l.std_ns) + "</td><td>" +
         FormatNs(static_cast<double>(l.p50_ns)) + "</td><td>" +
         FormatNs(static_cast<double>(l.p90_ns)) + "</td><td>" +
         FormatNs(static_cast<double>(l.p99_ns)) + "</td><td>" +
         FormatNs(static_cast<double>(l.max_ns)) + "</td><td>";
    h += "<svg width=\"170\" height=\"14\"><rect x=\"0\" y=\"1\" width=\"" + Fmt("%.1f", b1) +
         "\" height=\"12\" fill=\"" + StageColor(static_cast<int>(i)) + "\"/><rect x=\"" +
         Fmt("%.1f", b1) + "\" y=\"1\" width=\"" + Fmt("%.1f", b2) +
         "\" height=\"12\" fill=\"#cfcfcf\"/><rect x=\"" + Fmt("%.1f", b1 + b2) +
         "\" y=\"1\" width=\"" + Fmt("%.1f", b3) + "\" height=\"12\" fill=\"#e15759\"/></svg> " +
         Fmt("%.0f", 100 * s.busy_fraction) + " / " + Fmt("%.0f", 100 * s.starved_fraction) +
         " / " + Fmt("%.0f", 100 * s.blocked_fraction) + " %</td></tr>\n";
  }
  h += "</table>\n";

  if (!r.queues.empty()) {
    h += "<h2>Queues</h2>\n<table id=\"queues\"><tr><th>queue</th><th>capacity</th>"
         "<th>samples</th><th>mean depth</th><th>max depth</th><th>full</th><th>wait mean</th>"
         "<th>wait p99</th><th>wait max</th></tr>\n";
    for (const QueueReport& q : r.queues) {
      h += "<tr><td>" + HtmlEscape(q.name) + "</td><td>" + std::to_string(q.capacity) +
           "</td><td>" + std::to_string(q.depth_samples) + "</td><td>" + Fmt("%.2f", q.mean_depth) +
           "</td><td>" + std::to_string(q.max_depth) + "</td><td>" +
           Fmt("%.0f%%", 100 * q.full_fraction) + "</td><td>" + FormatNs(q.wait.mean_ns) +
           "</td><td>" + FormatNs(static_cast<double>(q.wait.p99_ns)) + "</td><td>" +
           FormatNs(static_cast<double>(q.wait.max_ns)) + "</td></tr>\n";
    }
    h += "</table>\n";
  }

  h += "<h2>Latency histograms</h2>\n<div class=\"hists\">\n";
  for (size_t i = 0; i < r.stages.size(); ++i) {
    h += "<figure><figcaption>" + HtmlEscape(r.stages[i].name) + " (p50 " +
         FormatNs(static_cast<double>(r.stages[i].latency.p50_ns)) + ", p99 " +
         FormatNs(static_cast<double>(r.stages[i].latency.p99_ns)) + ")</figcaption>";
    AppendHistogramSvg(h, r.stages[i], static_cast<int>(i));
    h += "</figure>\n";
  }
  h += "</div>\n";

  // Timeline: the earliest kMaxTimelineSpans spans, one row per track.
  std::vector<std::pair<int64_t, std::pair<int, const SpanEvent*>>> spans;
  for (size_t k = 0; k < tracks.size(); ++k) {
    for (const SpanEvent& e : tracks[k].thread->spans) {
      if (e.stage == tracks[k].stage) spans.push_back({e.start_ns, {static_cast<int>(k), &e}});
    }
  }
  const size_t total_spans = spans.size();
  if (spans.size() > kMaxTimelineSpans) {
    std::nth_element(spans.begin(), spans.begin() + kMaxTimelineSpans, spans.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    spans.resize(kMaxTimelineSpans);
  }
  int64_t t_begin = INT64_MAX, t_end = INT64_MIN;
  for (const auto& s : spans) {
    t_begin = std::min(t_begin, s.second.second->start_ns);
    t_end = std::max(t_end, s.second.second->end_ns);
  }
  h += "<h2>Timeline</h2>\n";
  if (spans.empty()) {
    h += "<p>No spans recorded.</p>\n";
  } else {
    if (spans.size() < total_spans) {
      h += "<p>The first " + std::to_string(spans.size()) + " of " + std::to_string(total_spans) +
           " spans (" + FormatNs(static_cast<double>(t_end - t_begin)) +
           "); the trace holds all of them.</p>\n";
    }
    h += "<p>Colour: busy (stage colour), <span style=\"background:#cfcfcf\">starved</span>, "
         "<span style=\"background:#e15759\">blocked</span>.</p>\n";
    const int label_w = 170, plot_w = 1000, row_h = 16;
    const int height = static_cast<int>(tracks.size()) * row_h + 24;
    const double scale =
        static_cast<double>(plot_w) / static_cast<double>(std::max<int64_t>(1, t_end - t_begin));
    h += "<svg id=\"timeline\" width=\"" + std::to_string(label_w + plot_w + 10) + "\" height=\"" +
         std::to_string(height) + "\" role=\"img\" aria-label=\"timeline\">";
    for (size_t k = 0; k < tracks.size(); ++k) {
      const int y = static_cast<int>(k) * row_h;
      h += "<text x=\"2\" y=\"" + std::to_string(y + 12) + "\">" + HtmlEscape(tracks[k].name) +
           "</text><line x1=\"" + std::to_string(label_w) + "\" y1=\"" + std::to_string(y + row_h) +
           "\" x2=\"" + std::to_string(label_w + plot_w) + "\" y2=\"" + std::to_string(y + row_h) +
           "\" stroke=\"#eee\"/>";
    }
    for (const auto& s : spans) {
      const SpanEvent& e = *s.second.second;
      const int y = s.second.first * row_h + 2;
      const double x = label_w + static_cast<double>(e.start_ns - t_begin) * scale;
      const double w = std::max(0.5, static_cast<double>(e.end_ns - e.start_ns) * scale);
      const char* fill = e.activity == Activity::kBusy      ? StageColor(e.stage)
                         : e.activity == Activity::kStarved ? "#cfcfcf"
                                                            : "#e15759";
      h += "<rect x=\"" + Fmt("%.2f", x) + "\" y=\"" + std::to_string(y) + "\" width=\"" +
           Fmt("%.2f", w) + "\" height=\"" + std::to_string(row_h - 4) + "\" fill=\"" + fill +
           "\"/>";
    }
    const int axis_y = static_cast<int>(tracks.size()) * row_h + 16;
    h += "<text x=\"" + std::to_string(label_w) + "\" y=\"" + std::to_string(axis_y) +
         "\">0</text><text x=\"" + std::to_string(label_w + plot_w) + "\" y=\"" +
         std::to_string(axis_y) + "\" text-anchor=\"end\">" +
         FormatNs(static_cast<double>(t_end - t_begin)) + "</text></svg>\n";
  }

  h += "<h2>Memory (RSS)</h2>\n";
  if (r.memory.empty()) {
    h += "<p>No memory samples.</p>\n";
  } else {
    const int w = 1000, ht = 160, left = 70;
    const int64_t m0 = r.memory.front().t_ns, m1 = r.memory.back().t_ns;
    int64_t lo = INT64_MAX, hi = 0;
    for (const MemorySample& m : r.memory) {
      lo = std::min(lo, m.rss_bytes);
      hi = std::max(hi, m.rss_bytes);
    }
    const double yspan = static_cast<double>(std::max<int64_t>(1, hi - lo));
    const double xspan = static_cast<double>(std::max<int64_t>(1, m1 - m0));
    const size_t stride = std::max<size_t>(1, r.memory.size() / kMaxMemoryPoints);
    std::string points;
    for (size_t i = 0; i < r.memory.size(); i += stride) {
      const MemorySample& m = r.memory[i];
      points +=
          Fmt("%.1f", left + (w - left) * static_cast<double>(m.t_ns - m0) / xspan) + "," +
          Fmt("%.1f", 10 + (ht - 30) * (1.0 - static_cast<double>(m.rss_bytes - lo) / yspan)) + " ";
    }
    h += "<svg id=\"memory\" width=\"" + std::to_string(w + 10) + "\" height=\"" +
         std::to_string(ht) + "\" role=\"img\" aria-label=\"resident set size over time\">" +
         "<polyline fill=\"none\" stroke=\"#4e79a7\" stroke-width=\"1.5\" points=\"" + points +
         "\"/><text x=\"2\" y=\"14\">" + FormatBytes(static_cast<double>(hi)) +
         "</text><text x=\"2\" y=\"" + std::to_string(ht - 20) + "\">" +
         FormatBytes(static_cast<double>(lo)) + "</text><text x=\"" + std::to_string(w) +
         "\" y=\"" + std::to_string(ht - 4) + "\" text-anchor=\"end\">" +
         FormatNs(static_cast<double>(m1 - m0)) + "</text></svg>\n";
  }
  h += "</body></html>\n";
  return h;
}

namespace {
Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return Status::IoError("cannot open " + path + " for writing");
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
  f.close();
  if (!f) return Status::IoError("cannot write " + path);
  return Status::Ok();
}
}  // namespace

Status Profiler::WriteChromeTrace(const std::string& path) const {
  return WriteText(path, ChromeTraceJson());
}
Status Profiler::WriteSummaryJson(const std::string& path) const {
  return WriteText(path, SummaryJson());
}
Status Profiler::WriteHtmlReport(const std::string& path) const {
  return WriteText(path, HtmlReport());
}

Status Profiler::WriteReports(const std::string& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IoError("cannot create directory " + dir + ": " + ec.message());
  VRSEG_RETURN_IF_ERROR(WriteChromeTrace(dir + "/trace.json"));
  VRSEG_RETURN_IF_ERROR(WriteSummaryJson(dir + "/summary.json"));
  return WriteHtmlReport(dir + "/report.html");
}

}  // namespace vrseg
