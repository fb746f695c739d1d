#include "vrseg/pipeline.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "pipeline/fakes.h"
#include "vrseg/profiler.h"

namespace vrseg {
namespace {

using testing::ExpectedMask;
using testing::FakeBackend;
using testing::FakeBackends;
using testing::FakeHooks;
using testing::MakeFrame;
using testing::MaskIs;

// Collects what the pipeline delivers: per stream, the (index, status, mask ok, pts) in order.
struct Delivered {
  struct Entry {
    int64_t index;
    int64_t sequence;
    StatusCode code;
    std::string message;
    bool mask_ok;
    int64_t pts;
  };
  std::mutex mu;
  std::map<int, std::vector<Entry>> by_stream;
  int64_t total = 0;

  FrameCallback Callback() {
    return [this](FrameResult& r) {
      std::lock_guard<std::mutex> lock(mu);
      by_stream[r.stream_id].push_back(
          {r.input.index, r.sequence, r.status.code(), r.status.message(),
           r.status.ok() && MaskIs(r.mask, ExpectedMask(r.stream_id, r.input.index)) &&
               r.mask.index == r.input.index && r.mask.pts == r.input.pts,
           r.input.pts});
      ++total;
    };
  }
};

PipelineOptions Options(int max_batch, int sets = 2, int pre = 2, int post = 2) {
  PipelineOptions o;
  o.batcher.max_batch = max_batch;
  o.batcher.max_delay_us = 200;
  o.batcher.max_queue = 8;
  o.buffer_sets = sets;
  o.infer_workers = 1;
  o.preprocess_workers = pre;
  o.postprocess_workers = post;
  o.sink_queue = 4;
  return o;
}

std::unique_ptr<Pipeline> Make(const PipelineOptions& o, PipelineHooks hooks = FakeHooks(),
                               std::vector<FakeBackend*>* raw = nullptr) {
  auto p = Pipeline::Create(o, FakeBackends(o.buffer_sets, o.batcher.max_batch, raw),
                            std::move(hooks));
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? std::move(*p) : nullptr;
}

// Every accepted frame of every stream delivered exactly once, in order, with the right mask.
void ExpectAllInOrder(Delivered& d, const std::map<int, int64_t>& counts) {
  for (const auto& [stream, n] : counts) {
    const auto& v = d.by_stream[stream];
    ASSERT_EQ(static_cast<int64_t>(v.size()), n) << "stream " << stream;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(v[i].index, i) << "stream " << stream;
      ASSERT_EQ(v[i].sequence, i);
      ASSERT_EQ(v[i].code, StatusCode::kOk) << v[i].message;
      ASSERT_TRUE(v[i].mask_ok) << "stream " << stream << " frame " << i;
      ASSERT_EQ(v[i].pts, i * 1001);
    }
  }
}

TEST(Pipeline, OneStreamInOrderWithTimestamps) {
  for (int sets : {1, 2}) {
    auto p = Make(Options(4, sets));
    Delivered d;
    for (int i = 0; i < 300; ++i) {
      PushOptions po;
      po.on_done = d.Callback();
      ASSERT_TRUE(p->Push(MakeFrame(0, i), po).ok());
    }
    ASSERT_TRUE(p->Finish().ok());
    ExpectAllInOrder(d, {{0, 300}});
    PipelineStats s = p->Stats();
    EXPECT_EQ(s.frames_in, 300);
    EXPECT_EQ(s.frames_out, 300);
    EXPECT_EQ(s.frames_failed, 0);
    int64_t batched = 0;
    for (size_t b = 0; b < s.batch_size_counts.size(); ++b) batched += b * s.batch_size_counts[b];
    EXPECT_EQ(batched, 300);
    EXPECT_EQ(s.latency.count, 300);
    EXPECT_LE(s.latency.p50_us, s.latency.p99_us);
    ASSERT_EQ(s.stages.size(), 5u);
    EXPECT_EQ(s.stages[1].items, 300);  // preprocess
    EXPECT_EQ(s.stages[3].items, 300);  // postprocess
  }
}

TEST(Pipeline, ManyStreamsShareBatchesAndComeBackToTheirOwnOutputs) {
  auto o = Options(8, 2, 2, 2);
  o.batcher.max_delay_us = 2000;
  std::vector<FakeBackend*> raw;
  auto p = Make(o, FakeHooks(), &raw);
  Delivered d;
  constexpr int kStreams = 4, kFrames = 150;
  std::vector<std::thread> sources;
  for (int s = 0; s < kStreams; ++s) {
    sources.emplace_back([&, s] {
      for (int i = 0; i < kFrames; ++i) {
        PushOptions po;
        po.on_done = d.Callback();
        ASSERT_TRUE(p->Push(MakeFrame(s, i), po).ok());
      }
    });
  }
  for (auto& t : sources) t.join();
  ASSERT_TRUE(p->Finish().ok());
  ExpectAllInOrder(d, {{0, kFrames}, {1, kFrames}, {2, kFrames}, {3, kFrames}});
  // Some batch held frames of more than one stream.
  bool mixed = false;
  for (FakeBackend* b : raw) {
    for (const auto& batch : b->batches()) {
      for (int tag : batch) mixed = mixed || tag != batch[0];
    }
  }
  EXPECT_TRUE(mixed);
}

// Workers finish out of order (random work times); the sink still delivers in order.
TEST(Pipeline, ReorderAfterParallelWorkers) {
  auto hooks = FakeHooks();
  auto pre = hooks.preprocess;
  auto post = hooks.postprocess;
  hooks.preprocess = [pre](const Frame& in, const Tensor& t, int slot, int w) {
    thread_local std::mt19937 rng(std::hash<std::thread::id>()(std::this_thread::get_id()));
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
    return pre(in, t, slot, w);
  };
  hooks.postprocess = [post](const Tensor& t, int slot, int w, FrameResult* r) {
    thread_local std::mt19937 rng(7 + w);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
    return post(t, slot, w, r);
  };
  auto p = Make(Options(4, 2, 4, 4), hooks);
  Delivered d;
  for (int i = 0; i < 200; ++i) {
    PushOptions po;
    po.on_done = d.Callback();
    ASSERT_TRUE(p->Push(MakeFrame(i % 2, i / 2), po).ok());
  }
  ASSERT_TRUE(p->Finish().ok());
  ExpectAllInOrder(d, {{0, 100}, {1, 100}});
}

// A stalled sink holds every earlier stage back: intake stops at max_in_flight frames.
TEST(Pipeline, BackpressureBoundsFramesInFlight) {
  std::mutex gate_mu;
  std::condition_variable gate_cv;
  bool open = false;
  auto hooks = FakeHooks();
  hooks.sink = [&](FrameResult&) {
    std::unique_lock<std::mutex> lock(gate_mu);
    gate_cv.wait(lock, [&] { return open; });
    return Status::Ok();
  };
  auto p = Make(Options(2), hooks);
  const int cap = p->max_in_flight();
  std::atomic<int> accepted{0};
  Delivered d;
  std::thread producer([&] {
    for (int i = 0; i < 5 * cap; ++i) {
      PushOptions po;
      po.on_done = d.Callback();
      ASSERT_TRUE(p->Push(MakeFrame(0, i), po).ok());
      ++accepted;
    }
  });
  // Wait until intake has stopped moving (the producer is held back), then check the bound.
  int before = -1;
  while (accepted.load() != before) {
    before = accepted.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  EXPECT_GT(accepted.load(), 0);
  EXPECT_LE(accepted.load(), cap);
  EXPECT_LE(p->Stats().frames_in, cap);
  EXPECT_LT(accepted.load(), 5 * cap);
  {
    std::lock_guard<std::mutex> lock(gate_mu);
    open = true;
  }
  gate_cv.notify_all();
  producer.join();
  ASSERT_TRUE(p->Finish().ok());
  ExpectAllInOrder(d, {{0, 5 * cap}});
}

// A VR-priority frame goes into the next batch ahead of throughput frames that waited longer.
TEST(Pipeline, PriorityFrameJumpsAheadIntoNextBatch) {
  auto o = Options(2, /*sets=*/1, 1, 1);
  o.batcher.max_delay_us = 1'000'000;  // throughput frames would wait a long time on their own
  std::vector<FakeBackend*> raw;
  auto p = Make(o, FakeHooks(), &raw);
  raw[0]->CloseGate();
  Delivered d;
  auto push = [&](int stream, int i, int prio) {
    PushOptions po;
    po.priority = prio;
    po.on_done = d.Callback();
    ASSERT_TRUE(p->Push(MakeFrame(stream, i), po).ok());
  };
  push(1, 0, kPriorityRealtime);  // runs at once, held in Run by the gate
  raw[0]->WaitEntered(1);
  for (int i = 0; i < 4; ++i) push(0, i, kPriorityThroughput);
  push(1, 1, kPriorityRealtime);
  raw[0]->OpenGate();
  ASSERT_TRUE(p->Finish().ok());
  auto batches = raw[0]->batches();
  ASSERT_GE(batches.size(), 2u);
  EXPECT_EQ(batches[0], (std::vector<int>{1}));
  EXPECT_EQ(batches[1], (std::vector<int>{1, 0}));  // the VR frame leads, then the oldest other
  ExpectAllInOrder(d, {{0, 4}, {1, 2}});
}

TEST(Pipeline, LateFramesDroppedAndReported) {
  auto o = Options(4);
  o.batcher.late_policy = LatePolicy::kDrop;
  auto p = Make(o);
  Delivered d;
  for (int i = 0; i < 40; ++i) {
    PushOptions po;
    po.on_done = d.Callback();
    if (i % 3 == 0) po.deadline_ns = 1;  // long past
    ASSERT_TRUE(p->Push(MakeFrame(0, i), po).ok());
  }
  ASSERT_TRUE(p->Finish().ok());
  const auto& v = d.by_stream[0];
  ASSERT_EQ(v.size(), 40u);
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(v[i].index, i);
    if (i % 3 == 0) {
      EXPECT_EQ(v[i].code, StatusCode::kDeadlineExceeded);
      EXPECT_NE(v[i].message.find("stream 0, frame " + std::to_string(i)), std::string::npos);
    } else {
      EXPECT_TRUE(v[i].mask_ok) << i;
    }
  }
  PipelineStats s = p->Stats();
  EXPECT_EQ(s.frames_dropped, 14);
  EXPECT_EQ(s.frames_out, 26);
}

TEST(Pipeline, LateFramesRunAnywayAreCounted) {
  auto p = Make(Options(4));
  Delivered d;
  for (int i = 0; i < 10; ++i) {
    PushOptions po;
    po.on_done = d.Callback();
    po.deadline_ns = i < 5 ? 1 : 0;
    ASSERT_TRUE(p->Push(MakeFrame(0, i), po).ok());
  }
  ASSERT_TRUE(p->Finish().ok());
  ExpectAllInOrder(d, {{0, 10}});
  EXPECT_EQ(p->Stats().frames_late, 5);
}

TEST(Pipeline, RequestStopFinishesFramesInFlight) {
  auto p = Make(Options(4));
  Delivered d;
  std::atomic<int> accepted{0};
  std::atomic<int> done{0};
  Status last;
  std::thread producer([&] {
    for (int i = 0; i < 100000; ++i) {
      PushOptions po;
      auto cb = d.Callback();
      po.on_done = [&, cb](FrameResult& r) {
        cb(r);
        if (++done == 50) p->RequestStop();
      };
      Status s = p->Push(MakeFrame(0, i), po);
      if (!s.ok()) {
        last = s;
        return;
      }
      ++accepted;
    }
  });
  producer.join();
  EXPECT_EQ(last.code(), StatusCode::kCancelled);
  ASSERT_TRUE(p->Finish().ok());
  EXPECT_TRUE(p->stop_requested());
  EXPECT_GE(accepted.load(), 50);
  ExpectAllInOrder(d, {{0, accepted.load()}});  // every accepted frame finished normally
  EXPECT_EQ(p->Push(MakeFrame(0, 0)).code(), StatusCode::kCancelled);
}

// ---- an injected failure in every stage stops the pipeline with that error ----

enum class FailAt { kSource, kPreprocess, kInfer, kPostprocess, kSink };

struct FailCase {
  FailAt where;
  const char* expect_in_message;
  StatusCode code;
};

class PipelineFailure : public ::testing::TestWithParam<FailCase> {};

TEST_P(PipelineFailure, StopsWithTheErrorAndAccountsForEveryFrame) {
  const FailCase fc = GetParam();
  constexpr int kBad = 37;  // frame index of stream 1 that fails
  auto hooks = FakeHooks();
  hooks.stream_name = [](int id) { return id == 1 ? std::string("in1.mp4") : std::string(); };
  auto pre = hooks.preprocess;
  auto post = hooks.postprocess;
  if (fc.where == FailAt::kPreprocess) {
    hooks.preprocess = [pre](const Frame& in, const Tensor& t, int slot, int w) {
      if (in.stream_id == 1 && in.index == kBad) return Status::Unsupported("bad pixels");
      return pre(in, t, slot, w);
    };
  }
  if (fc.where == FailAt::kPostprocess) {
    hooks.postprocess = [post](const Tensor& t, int slot, int w, FrameResult* r) {
      if (r->stream_id == 1 && r->input.index == kBad) return Status::OutOfMemory("no mask");
      return post(t, slot, w, r);
    };
  }
  if (fc.where == FailAt::kSink) {
    hooks.sink = [](FrameResult& r) {
      if (r.status.ok() && r.stream_id == 1 && r.input.index == kBad) {
        return Status::IoError("out.mkv: disk full");
      }
      return Status::Ok();
    };
  }
  std::vector<FakeBackend*> raw;
  auto p = Make(Options(4), hooks, &raw);
  if (fc.where == FailAt::kInfer) {
    for (auto* b : raw) b->set_fail_on_call(6);
  }
  Delivered d;
  std::atomic<int> accepted{0};
  std::vector<std::thread> sources;
  for (int s = 0; s < 2; ++s) {
    sources.emplace_back([&, s] {
      for (int i = 0; i < 400; ++i) {
        if (fc.where == FailAt::kSource && s == 1 && i == kBad) {
          p->Abort(Status::DataLoss("in1.mp4: decode: stream 1, frame 37: corrupt packet"));
          return;
        }
        PushOptions po;
        po.on_done = d.Callback();
        if (!p->Push(MakeFrame(s, i), po).ok()) return;
        ++accepted;
      }
    });
  }
  for (auto& t : sources) t.join();
  Status st = p->Finish();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), fc.code);
  EXPECT_NE(st.message().find(fc.expect_in_message), std::string::npos) << st.ToString();
  // Never a silently dropped frame: every accepted frame was delivered exactly once, in order,
  // either with a correct mask or with an error.
  EXPECT_EQ(d.total, accepted.load());
  for (auto& [stream, v] : d.by_stream) {
    bool seen_error = false;
    for (size_t i = 0; i < v.size(); ++i) {
      ASSERT_EQ(v[i].sequence, static_cast<int64_t>(i));
      if (v[i].code == StatusCode::kOk) {
        EXPECT_TRUE(v[i].mask_ok);
      } else {
        seen_error = true;
      }
    }
    (void)seen_error;
  }
  PipelineStats s = p->Stats();
  EXPECT_EQ(s.frames_out + s.frames_failed, s.frames_in);
  EXPECT_EQ(p->Push(MakeFrame(0, 999)).code(), fc.code);  // later pushes see the error
}

INSTANTIATE_TEST_SUITE_P(
    EveryStage, PipelineFailure,
    ::testing::Values(
        FailCase{FailAt::kSource, "decode: stream 1, frame 37", StatusCode::kDataLoss},
        FailCase{FailAt::kPreprocess, "preprocess: stream 1 (in1.mp4), frame 37: bad pixels",
                 StatusCode::kUnsupported},
        FailCase{FailAt::kInfer, "infer: stream", StatusCode::kInternal},
        FailCase{FailAt::kPostprocess, "postprocess: stream 1 (in1.mp4), frame 37: no mask",
                 StatusCode::kOutOfMemory},
        FailCase{FailAt::kSink, "sink: stream 1 (in1.mp4), frame 37: out.mkv: disk full",
                 StatusCode::kIoError}),
    [](const auto& info) {
      switch (info.param.where) {
        case FailAt::kSource: return std::string("Source");
        case FailAt::kPreprocess: return std::string("Preprocess");
        case FailAt::kInfer: return std::string("Infer");
        case FailAt::kPostprocess: return std::string("Postprocess");
        case FailAt::kSink: return std::string("Sink");
      }
      return std::string("x");
    });

TEST(Pipeline, DestructorWithoutFinishDrainsAndCallsBack) {
  Delivered d;
  {
    auto p = Make(Options(4));
    for (int i = 0; i < 20; ++i) {
      PushOptions po;
      po.on_done = d.Callback();
      ASSERT_TRUE(p->Push(MakeFrame(0, i), po).ok());
    }
  }
  ExpectAllInOrder(d, {{0, 20}});
}

TEST(Pipeline, CreateAndPushRejectBadInput) {
  auto o = Options(4);
  EXPECT_EQ(Pipeline::Create(o, FakeBackends(1, 4), FakeHooks()).status().code(),
            StatusCode::kInvalidArgument);  // 1 backend for 2 sets
  EXPECT_NE(Pipeline::Create(o, FakeBackends(2, 2), FakeHooks()).status().message().find(
                "max_batch"),
            std::string::npos);  // backends too small for the batch
  PipelineHooks no_pre = FakeHooks();
  no_pre.preprocess = nullptr;
  EXPECT_FALSE(Pipeline::Create(o, FakeBackends(2, 4), no_pre).ok());
  auto bad = o;
  bad.infer_workers = 3;
  EXPECT_NE(Pipeline::Create(bad, FakeBackends(2, 4), FakeHooks()).status().message().find(
                "pipeline.infer_workers"),
            std::string::npos);
  bad = o;
  bad.sink_queue = 0;
  EXPECT_FALSE(ValidatePipelineOptions(bad).ok());
  bad = o;
  bad.batcher.max_batch = 0;
  EXPECT_NE(ValidatePipelineOptions(bad).message().find("batcher.max_batch"), std::string::npos);
  std::vector<std::unique_ptr<Backend>> with_null;
  with_null.push_back(nullptr);
  with_null.push_back(nullptr);
  EXPECT_FALSE(Pipeline::Create(o, std::move(with_null), FakeHooks()).ok());

  auto p = Make(o);
  EXPECT_EQ(p->Push(Frame()).code(), StatusCode::kInvalidArgument);
  PushOptions po;
  po.priority = 2;
  EXPECT_EQ(p->Push(MakeFrame(0, 0), po).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(p->Finish().ok());
  EXPECT_TRUE(p->Finish().ok());  // idempotent
}

TEST(Pipeline, ReportsStagesAndQueuesToTheProfiler) {
  ProfilerOptions po;
  po.enabled = true;
  po.memory_sample_interval_ms = 0;
  Profiler profiler(po);
  auto o = Options(4);
  auto p = Pipeline::Create(o, FakeBackends(o.buffer_sets, 4), FakeHooks(), nullptr, &profiler);
  ASSERT_TRUE(p.ok());
  Delivered d;
  for (int i = 0; i < 100; ++i) {
    PushOptions push;
    push.on_done = d.Callback();
    ASSERT_TRUE((*p)->Push(MakeFrame(0, i), push).ok());
  }
  ASSERT_TRUE((*p)->Finish().ok());
  ExpectAllInOrder(d, {{0, 100}});
  ProfileReport r = profiler.Report();
  ASSERT_EQ(r.stages.size(), 5u);
  const char* names[] = {"batch", "preprocess", "infer", "postprocess", "sink"};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(r.stages[i].name, names[i]);
    EXPECT_EQ(r.stages[i].items, 100) << names[i];  // every frame counted once per stage
  }
  EXPECT_EQ(r.stages[1].workers, o.preprocess_workers);
  ASSERT_EQ(r.queues.size(), 5u);
  EXPECT_EQ(r.queues[1].name, "batch->preprocess");
  EXPECT_EQ(r.queues[1].wait.count, 100);  // one pop per frame
  EXPECT_EQ(r.queues[2].wait.count, (*p)->Stats().batches);  // one pop per batch
  EXPECT_LE(r.queues[4].max_depth, o.sink_queue);
  PipelineStats ps = (*p)->Stats();
  EXPECT_GE(ps.stages[0].queue_high_water, 1);
  EXPECT_LE(ps.stages[0].queue_high_water, o.batcher.max_queue);
}

TEST(EnsureFrame, ReusesOnlyUnsharedPixels) {
  Frame f;
  ASSERT_TRUE(EnsureFrame(&f, PixelFormat::kGray8, 8, 2).ok());
  uint8_t* first = f.data[0];
  ASSERT_TRUE(EnsureFrame(&f, PixelFormat::kGray8, 8, 2).ok());
  EXPECT_EQ(f.data[0], first);  // reused
  Frame held = f;               // someone else holds the pixels now
  ASSERT_TRUE(EnsureFrame(&f, PixelFormat::kGray8, 8, 2).ok());
  EXPECT_NE(f.data[0], first);
  EXPECT_EQ(held.data[0], first);
  ASSERT_TRUE(EnsureFrame(&f, PixelFormat::kRGB24, 8, 2).ok());
  EXPECT_EQ(f.format, PixelFormat::kRGB24);
  EXPECT_FALSE(EnsureFrame(&f, PixelFormat::kGray8, 0, 2).ok());
}

}  // namespace
}  // namespace vrseg
