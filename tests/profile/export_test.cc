// Trace JSON, summary JSON and HTML exports: parsed with nlohmann and checked against the
// recorded (known) spans.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "vrseg/profiler.h"

namespace vrseg {
namespace {

using nlohmann::json;

ProfilerOptions Quiet() {
  ProfilerOptions o;
  o.enabled = true;
  o.memory_sample_interval_ms = 0;
  return o;
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1))
    ++n;
  return n;
}

// decode (1 worker) → infer (2 workers, one named) → "sink \"x\" <b>" (1 worker), with known times.
struct Fixture {
  Profiler p{Quiet()};
  StageId decode = p.RegisterStage("decode");
  StageId infer = p.RegisterStage("infer");
  StageId sink = p.RegisterStage("sink \"x\" <b>");
  QueueId q = p.RegisterQueue("decode->infer", 2);

  Fixture() {
    std::thread([&] {
      p.RecordSpan(decode, Activity::kBusy, 1'000'000, 1'002'500, 1, 0);  // ts 0, dur 2.5 us
      p.RecordSpan(decode, Activity::kBlocked, 1'002'500, 1'010'000);
      p.RecordQueuePush(q, 1);
    }).join();
    std::thread([&] {
      p.SetThreadName("infer-main");
      p.RecordSpan(infer, Activity::kStarved, 1'000'000, 1'010'000);
      p.RecordSpan(infer, Activity::kBusy, 1'010'000, 1'030'000, 2, 0);
    }).join();
    std::thread([&] {
      p.RecordSpan(infer, Activity::kBusy, 1'030'000, 1'040'001, 1);
      p.RecordSpan(sink, Activity::kBusy, 1'040'001, 1'041'000, 1);  // same thread, 2nd stage
    }).join();
    p.RecordMemory(1'000'000, 10 << 20);
    p.RecordMemory(1'040'000, 12 << 20);
  }
};

TEST(ChromeTrace, ParsesWithTracksAndEvents) {
  Fixture f;
  const std::string text = f.p.ChromeTraceJson();
  const json j = json::parse(text);  // throws (fails the test) if not valid JSON
  ASSERT_TRUE(j.contains("traceEvents"));
  const json& ev = j["traceEvents"];
  std::map<int, std::string> thread_names;
  std::string process_name;
  std::vector<json> complete, counters;
  for (const json& e : ev) {
    const std::string ph = e.at("ph");
    EXPECT_EQ(e.at("pid"), 1);
    if (ph == "M" && e.at("name") == "thread_name") thread_names[e.at("tid")] = e["args"]["name"];
    if (ph == "M" && e.at("name") == "process_name") process_name = e["args"]["name"];
    if (ph == "X") complete.push_back(e);
    if (ph == "C") counters.push_back(e);
  }
  EXPECT_EQ(process_name, "vrseg");
  // Tracks: decode/0; infer: the named thread and infer/1; the third thread's sink span gets its
  // own track named after the stage.
  std::set<std::string> names;
  for (const auto& [tid, name] : thread_names) names.insert(name);
  EXPECT_EQ(names,
            (std::set<std::string>{"decode/0", "infer-main", "infer/1", "sink \"x\" <b>/0"}));
  ASSERT_EQ(complete.size(), 6u);
  // Every X event is on a named track, and its name/cat say stage and activity.
  std::map<std::string, int> per_track;
  for (const json& e : complete) {
    ASSERT_TRUE(thread_names.count(e.at("tid")));
    ++per_track[thread_names[e.at("tid")]];
    EXPECT_TRUE(e.at("ts").is_number());
    EXPECT_TRUE(e.at("dur").is_number());
  }
  EXPECT_EQ(per_track["decode/0"], 2);
  EXPECT_EQ(per_track["infer-main"], 2);
  EXPECT_EQ(per_track["infer/1"], 1);
  EXPECT_EQ(per_track["sink \"x\" <b>/0"], 1);
  // Times are microseconds from the earliest event.
  bool found_decode = false, found_batch = false;
  for (const json& e : complete) {
    if (e["name"] == "decode" && e["cat"] == "busy") {
      found_decode = true;
      EXPECT_DOUBLE_EQ(e["ts"].get<double>(), 0.0);
      EXPECT_DOUBLE_EQ(e["dur"].get<double>(), 2.5);
      EXPECT_EQ(e["args"]["frame"], 0);
      EXPECT_EQ(e["args"]["items"], 1);
    }
    if (e["name"] == "infer" && e["args"]["items"] == 2) {
      found_batch = true;
      EXPECT_DOUBLE_EQ(e["ts"].get<double>(), 10.0);
      EXPECT_DOUBLE_EQ(e["dur"].get<double>(), 20.0);
      EXPECT_EQ(thread_names[e["tid"]], "infer-main");
    }
    if (e["cat"] == "starved") {
      EXPECT_EQ(e["name"], "starved");
    }
    if (e["name"] == "infer" && e["args"]["items"] == 1) {
      EXPECT_DOUBLE_EQ(e["dur"].get<double>(), 10.001);
    }
  }
  EXPECT_TRUE(found_decode);
  EXPECT_TRUE(found_batch);
  // One queue-depth counter and two RSS counters.
  int queue = 0, rss = 0;
  for (const json& c : counters) {
    if (c["name"] == "queue decode->infer") {
      ++queue;
      EXPECT_EQ(c["args"]["depth"], 1);
    }
    if (c["name"] == "rss") ++rss;
  }
  EXPECT_EQ(queue, 1);
  EXPECT_EQ(rss, 2);
}

TEST(ChromeTrace, EmptyProfilerIsValid) {
  Profiler p(Quiet());
  const json j = json::parse(p.ChromeTraceJson());
  EXPECT_EQ(j["traceEvents"].size(), 1u);  // the process name only
}

TEST(SummaryJson, MatchesReport) {
  Fixture f;
  const ProfileReport r = f.p.Report();
  const json j = json::parse(f.p.SummaryJson());
  EXPECT_EQ(j["wall_ns"], r.wall_ns);
  EXPECT_EQ(j["wall_ns"], 41'000);
  ASSERT_EQ(j["stages"].size(), 3u);
  const json& infer = j["stages"][1];
  EXPECT_EQ(infer["name"], "infer");
  EXPECT_EQ(infer["workers"], 2);
  EXPECT_EQ(infer["items"], 3);
  EXPECT_EQ(infer["latency"]["count"], 2);
  EXPECT_EQ(infer["latency"]["max_ns"], 20'000);
  EXPECT_EQ(infer["latency"]["min_ns"], 10'001);
  EXPECT_EQ(infer["busy_ns"], 30'001);
  EXPECT_EQ(infer["starved_ns"], 10'000);
  EXPECT_DOUBLE_EQ(infer["busy_fraction"].get<double>(), 30'001.0 / (2 * 41'000));
  EXPECT_EQ(j["stages"][2]["name"], "sink \"x\" <b>");
  EXPECT_EQ(j["queues"][0]["name"], "decode->infer");
  EXPECT_EQ(j["queues"][0]["max_depth"], 1);
  EXPECT_EQ(j["memory"]["peak_rss_bytes"], 12 << 20);
  EXPECT_EQ(j["memory"]["samples"].size(), 2u);
  EXPECT_EQ(j["bottleneck"]["reason"], std::string(BottleneckReasonName(r.bottleneck.reason)));
  EXPECT_EQ(j["bottleneck"]["stage_name"], r.bottleneck.stage_name);
  int64_t hist_total = 0;
  for (const json& b : infer["histogram"]) hist_total += b["count"].get<int64_t>();
  EXPECT_EQ(hist_total, 2);
}

TEST(HtmlReport, SelfContainedWithHistogramsAndTimeline) {
  Fixture f;
  const std::string h = f.p.HtmlReport();
  EXPECT_EQ(h.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(h.find("</html>"), std::string::npos);
  // Nothing fetched from elsewhere: no scripts, links, imports, URLs or external images.
  for (const char* bad : {"<script", "<link", "@import", "url(",
                          "http:", "https:", "src=", "href=", "<iframe", "<img"}) {
    EXPECT_EQ(h.find(bad), std::string::npos) << bad;
  }
  // One histogram per stage, a timeline with one rect per span, a memory chart.
  EXPECT_EQ(Count(h, "<svg class=\"hist\""), 3u);
  const size_t tl = h.find("<svg id=\"timeline\"");
  ASSERT_NE(tl, std::string::npos);
  const std::string timeline = h.substr(tl, h.find("</svg>", tl) - tl);
  EXPECT_EQ(Count(timeline, "<rect"), 6u);
  EXPECT_NE(h.find("<svg id=\"memory\""), std::string::npos);
  EXPECT_NE(h.find("<polyline"), std::string::npos);
  // Names are escaped.
  EXPECT_EQ(h.find("<b>/0"), std::string::npos);
  EXPECT_NE(h.find("sink &quot;x&quot; &lt;b&gt;"), std::string::npos);
  EXPECT_NE(h.find("id=\"bottleneck\""), std::string::npos);
  // Every tag that opens an svg closes it.
  EXPECT_EQ(Count(h, "<svg"), Count(h, "</svg>"));
}

TEST(HtmlReport, EmptyProfiler) {
  Profiler p(Quiet());
  const std::string h = p.HtmlReport();
  EXPECT_NE(h.find("No spans recorded"), std::string::npos);
  EXPECT_NE(h.find("No memory samples"), std::string::npos);
}

TEST(WriteReports, WritesThreeFilesAndReportsBadPaths) {
  Fixture f;
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("vrseg_profile_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
       "_" + std::to_string(reinterpret_cast<uintptr_t>(&f)));
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(f.p.WriteReports((dir / "nested").string()).ok());
  for (const char* name : {"trace.json", "summary.json", "report.html"}) {
    std::ifstream in(dir / "nested" / name);
    ASSERT_TRUE(in.good()) << name;
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_GT(ss.str().size(), 100u) << name;
    if (std::string(name).ends_with(".json")) {
      EXPECT_TRUE(json::accept(ss.str())) << name;
    }
  }
  // A directory below a regular file cannot be made; a file cannot be written into a missing dir.
  const std::string file = (dir / "nested" / "trace.json").string();
  const Status s = f.p.WriteReports(file + "/sub");
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_NE(s.message().find(file), std::string::npos) << s.message();
  const Status w = f.p.WriteChromeTrace((dir / "missing" / "t.json").string());
  EXPECT_EQ(w.code(), StatusCode::kIoError);
  EXPECT_NE(w.message().find("missing/t.json"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vrseg
