#include "vrseg/pipeline.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include "pipeline/bounded_queue.h"
#include "vrseg/profiler.h"

namespace vrseg {

LatencySummary SummarizeLatency(const LatencyHistogram& h) {
  LatencySummary s;
  s.count = h.count();
  s.mean_us = h.mean() / 1e3;
  s.min_us = static_cast<double>(h.min()) / 1e3;
  s.p50_us = static_cast<double>(h.Percentile(50)) / 1e3;
  s.p90_us = static_cast<double>(h.Percentile(90)) / 1e3;
  s.p99_us = static_cast<double>(h.Percentile(99)) / 1e3;
  s.max_us = static_cast<double>(h.max()) / 1e3;
  return s;
}

Status ValidatePipelineOptions(const PipelineOptions& o) {
  VRSEG_RETURN_IF_ERROR(ValidateBatcherOptions(o.batcher));
  auto range = [](const char* key, int v, int lo, int hi) -> Status {
    if (v < lo || v > hi) {
      return Status::InvalidArgument(std::string("pipeline.") + key + ": " + std::to_string(v) +
                                     " outside " + std::to_string(lo) + ".." + std::to_string(hi));
    }
    return Status::Ok();
  };
  VRSEG_RETURN_IF_ERROR(range("preprocess_workers", o.preprocess_workers, 1, 64));
  VRSEG_RETURN_IF_ERROR(range("postprocess_workers", o.postprocess_workers, 1, 64));
  VRSEG_RETURN_IF_ERROR(range("buffer_sets", o.buffer_sets, 1, 8));
  VRSEG_RETURN_IF_ERROR(range("infer_workers", o.infer_workers, 1, o.buffer_sets));
  VRSEG_RETURN_IF_ERROR(range("sink_queue", o.sink_queue, 1, 4096));
  return Status::Ok();
}

Status EnsureFrame(Frame* frame, PixelFormat format, int width, int height) {
  if (frame->format == format && frame->width == width && frame->height == height &&
      frame->memory == MemoryKind::kHost && frame->storage && frame->storage.use_count() == 1 &&
      !frame->empty()) {
    return Status::Ok();
  }
  auto fresh = Frame::Allocate(format, width, height);
  if (!fresh.ok()) return fresh.status();
  fresh->CopyMetadataFrom(*frame);
  *frame = std::move(*fresh);
  return Status::Ok();
}

namespace {

struct BufferSet;

// One frame's record; pooled (max_in_flight of them, made at Create).
struct Job {
  FrameResult r;
  FrameCallback on_done;
  int64_t deadline_ns = 0;
  BufferSet* set = nullptr;
  int slot = -1;
  int64_t queued_ns = 0;  // when it entered its current queue (queue wait times)
  bool in_use = false;    // guarded by Impl::mu_
};

struct BufferSet {
  std::unique_ptr<Backend> backend;
  Tensor in;   // backend->input(0), fetched once
  Tensor out;  // backend->output(0)
  std::vector<Job*> jobs;  // the batch, slot order
  int count = 0;
  std::atomic<int> pending_pre{0};
  std::atomic<int> pending_post{0};
  int64_t queued_ns = 0;
};

// Stage and queue indices for the profiler (a stage's queue is its input queue).
enum StageIndex { kBatch = 0, kPre, kInfer, kPost, kSink, kStageCount };

// Per-stage busy-time counters (atomics: several workers add, Stats reads).
struct StageCounter {
  std::atomic<int64_t> items{0};
  std::atomic<int64_t> busy_ns{0};
  void Add(int64_t items_n, int64_t ns) {
    items.fetch_add(items_n, std::memory_order_relaxed);
    busy_ns.fetch_add(ns, std::memory_order_relaxed);
  }
};

std::string FrameContext(std::string_view stage, const FrameResult& r,
                         const std::function<std::string(int)>& stream_name) {
  std::string s = std::string(stage) + ": stream " + std::to_string(r.stream_id);
  if (stream_name) {
    const std::string name = stream_name(r.stream_id);
    if (!name.empty()) s += " (" + name + ")";
  }
  return s + ", frame " + std::to_string(r.input.index);
}

}  // namespace

struct Pipeline::Impl {
  Impl(const PipelineOptions& o, PipelineHooks h, const Clock* c, Profiler* p)
      : options(o),
        hooks(std::move(h)),
        clock(c ? c : &Clock::Steady()),
        profiler(p),
        batcher(o.batcher),
        pool_size(o.batcher.max_queue + o.buffer_sets * o.batcher.max_batch + o.sink_queue +
                  o.postprocess_workers + 1),
        pre_q(o.buffer_sets * o.batcher.max_batch),
        infer_q(o.buffer_sets),
        post_q(o.buffer_sets * o.batcher.max_batch),
        sink_q(o.sink_queue) {}

  // ---- configuration ----
  PipelineOptions options;
  PipelineHooks hooks;
  const Clock* clock;
  Profiler* profiler;  // may be null
  StageId sid[kStageCount] = {kNoStage, kNoStage, kNoStage, kNoStage, kNoStage};
  QueueId qid[kStageCount] = {kNoQueue, kNoQueue, kNoQueue, kNoQueue, kNoQueue};
  bool Profiling() const { return profiler != nullptr && profiler->enabled(); }

  // ---- guarded by mu ----
  mutable std::mutex mu;
  std::condition_variable intake_cv;  // Push waits for a free record / batcher room
  std::condition_variable batch_cv;   // the batching thread waits for frames, sets, time
  Batcher<Job*> batcher;
  Batcher<Job*>::Decision decision;
  std::vector<Job*> free_jobs;
  std::vector<BufferSet*> free_sets;
  std::unordered_map<int, int64_t> next_sequence;
  bool input_closed = false;
  bool stop_requested = false;
  int64_t batches = 0;
  std::vector<int64_t> batch_size_counts;
  int64_t frames_in = 0;
  int64_t frames_dropped = 0;
  int64_t frames_late = 0;
  int64_t first_push_ns = 0;
  int intake_high_water = 0;  // most frames ever waiting in the batcher

  // ---- error state ----
  std::atomic<bool> failed{false};
  mutable std::mutex error_mu;
  Status error_status;

  // ---- records, sets, queues ----
  const int pool_size;
  std::vector<Job> jobs;
  std::vector<std::unique_ptr<BufferSet>> sets;
  pipeline::BoundedQueue<Job*> pre_q;
  pipeline::BoundedQueue<BufferSet*> infer_q;
  pipeline::BoundedQueue<Job*> post_q;
  pipeline::BoundedQueue<Job*> sink_q;

  // ---- sink thread state ----
  struct StreamOrder {
    int64_t next = 0;
    std::vector<Job*> ring;  // pool_size entries, indexed by sequence % pool_size
  };
  std::unordered_map<int, StreamOrder> order;  // sink thread only (and Finish after joins)

  // ---- statistics ----
  mutable std::mutex stats_mu;
  LatencyHistogram latency;  // guarded by stats_mu (vrseg/profiler.h)
  int64_t frames_out = 0;              // guarded by stats_mu
  int64_t frames_failed = 0;           // guarded by stats_mu
  int64_t last_done_ns = 0;            // guarded by stats_mu
  StageCounter st_batch, st_pre, st_infer, st_post, st_sink;

  // ---- threads ----
  std::vector<std::thread> threads;
  std::atomic<int> pre_alive{0};
  std::atomic<int> infer_alive{0};
  std::atomic<int> post_alive{0};
  std::mutex finish_mu;
  bool finished = false;
  Status finish_status;

  void Start();
  void Fail(Status s);
  void BatchLoop();
  void PreLoop(int worker);
  void InferLoop(int worker);
  void PostLoop(int worker);
  void SinkLoop();
  void Deliver(Job* job);
  void ReleaseJob(Job* job);
  void ReleaseSet(BufferSet* set);
  void SweepUndelivered();
  Status Error() const {
    std::lock_guard<std::mutex> lock(error_mu);
    return error_status;
  }
};

void Pipeline::Impl::Start() {
  jobs.resize(pool_size);
  free_jobs.reserve(pool_size);
  for (Job& j : jobs) free_jobs.push_back(&j);
  for (auto& s : sets) {
    s->jobs.assign(options.batcher.max_batch, nullptr);
    free_sets.push_back(s.get());
  }
  if (profiler) {
    sid[kBatch] = profiler->RegisterStage("batch");
    sid[kPre] = profiler->RegisterStage("preprocess");
    sid[kInfer] = profiler->RegisterStage("infer");
    sid[kPost] = profiler->RegisterStage("postprocess");
    sid[kSink] = profiler->RegisterStage("sink");
    qid[kBatch] = profiler->RegisterQueue("intake->batch", options.batcher.max_queue);
    qid[kPre] = profiler->RegisterQueue("batch->preprocess", pre_q.capacity());
    qid[kInfer] = profiler->RegisterQueue("preprocess->infer", infer_q.capacity());
    qid[kPost] = profiler->RegisterQueue("infer->postprocess", post_q.capacity());
    qid[kSink] = profiler->RegisterQueue("postprocess->sink", sink_q.capacity());
  }
  decision.batch.reserve(options.batcher.max_queue);
  decision.late.reserve(options.batcher.max_queue);
  batch_size_counts.assign(options.batcher.max_batch + 1, 0);
  pre_alive = options.preprocess_workers;
  infer_alive = options.infer_workers;
  post_alive = options.postprocess_workers;
  threads.emplace_back([this] { BatchLoop(); });
  for (int i = 0; i < options.preprocess_workers; ++i) {
    threads.emplace_back([this, i] { PreLoop(i); });
  }
  for (int i = 0; i < options.infer_workers; ++i) {
    threads.emplace_back([this, i] { InferLoop(i); });
  }
  for (int i = 0; i < options.postprocess_workers; ++i) {
    threads.emplace_back([this, i] { PostLoop(i); });
  }
  threads.emplace_back([this] { SinkLoop(); });
}

void Pipeline::Impl::Fail(Status s) {
  {
    std::lock_guard<std::mutex> lock(error_mu);
    if (failed.load()) return;
    error_status = std::move(s);
    failed.store(true);
  }
  pre_q.Cancel();
  infer_q.Cancel();
  post_q.Cancel();
  sink_q.Cancel();
  {
    std::lock_guard<std::mutex> lock(mu);
    input_closed = true;
  }
  intake_cv.notify_all();
  batch_cv.notify_all();
}

// The batching stage: one thread. Waits for frames, a free buffer set and the batcher's timing,
// then hands each frame of a batch to the preprocess workers with its slot.
void Pipeline::Impl::BatchLoop() {
  if (profiler) profiler->SetThreadName("batch");
  std::unique_lock<std::mutex> lock(mu);
  while (!failed.load()) {
    if (free_sets.empty()) {
      batch_cv.wait(lock);
      continue;
    }
    const int64_t t0 = NowNs();
    batcher.Poll(clock->NowNs(), input_closed, &decision);
    if (!decision.batch.empty() || !decision.late.empty()) {
      BufferSet* set = nullptr;
      const int n = static_cast<int>(decision.batch.size());
      if (n > 0) {
        set = free_sets.back();
        free_sets.pop_back();
        set->count = n;
        set->pending_pre.store(n);
        for (int i = 0; i < n; ++i) {
          Job* job = decision.batch[i].value;
          job->set = set;
          job->slot = i;
          set->jobs[i] = job;
        }
        ++batches;
        ++batch_size_counts[n];
        frames_late += decision.late_run;
      }
      frames_dropped += static_cast<int64_t>(decision.late.size());
      for (auto& item : decision.late) {
        Job* job = item.value;
        job->r.status = Status::DeadlineExceeded(
            FrameContext("batch", job->r, hooks.stream_name) + ": missed its deadline by " +
            std::to_string((clock->NowNs() - job->deadline_ns) / 1000) + " us; dropped");
      }
      const int waiting = batcher.size();
      lock.unlock();
      intake_cv.notify_all();  // room in the batcher
      const int64_t t1 = NowNs();
      st_batch.Add(n + static_cast<int64_t>(decision.late.size()), t1 - t0);
      if (Profiling()) {
        profiler->RecordSpan(sid[kBatch], Activity::kBusy, t0, t1, n,
                             n ? set->jobs[0]->r.input.index : -1);
        for (int i = 0; i < n; ++i) {
          profiler->RecordQueuePop(qid[kBatch], waiting,
                                   clock->NowNs() - decision.batch[i].enqueue_ns);
        }
      }
      bool ok = true;
      ScopedTimer blocked(profiler, sid[kBatch], Activity::kBlocked);
      for (auto& item : decision.late) {
        item.value->queued_ns = NowNs();
        ok = ok && sink_q.Push(item.value);
      }
      if (set) {
        for (int i = 0; i < n && ok; ++i) {
          set->jobs[i]->queued_ns = NowNs();
          ok = pre_q.Push(set->jobs[i]);
          if (ok && Profiling()) profiler->RecordQueuePush(qid[kPre], pre_q.size());
        }
      }
      blocked.Stop();
      lock.lock();
      if (!ok) break;  // cancelled by a failure
      continue;
    }
    if (batcher.empty() && input_closed) break;  // drained: no frame will come any more
    if (decision.wait_ns < 0) {
      batch_cv.wait(lock);
    } else {
      batch_cv.wait_for(lock, std::chrono::nanoseconds(decision.wait_ns));
    }
  }
  lock.unlock();
  if (!failed.load()) pre_q.Close();
}

void Pipeline::Impl::PreLoop(int worker) {
  if (profiler) profiler->SetThreadName("preprocess/" + std::to_string(worker));
  Job* job = nullptr;
  while (true) {
    {
      ScopedTimer wait(profiler, sid[kPre], Activity::kStarved);
      if (!pre_q.Pop(&job)) break;
    }
    if (Profiling()) profiler->RecordQueuePop(qid[kPre], pre_q.size(), NowNs() - job->queued_ns);
    const int64_t t0 = NowNs();
    BufferSet* set = job->set;
    Status s;
    {
      ScopedTimer busy(profiler, sid[kPre], Activity::kBusy, 1, job->r.input.index);
      s = hooks.preprocess(job->r.input, set->in, job->slot, worker);
    }
    st_pre.Add(1, NowNs() - t0);
    if (!s.ok()) {
      Fail(s.WithContext(FrameContext("preprocess", job->r, hooks.stream_name)));
      break;
    }
    if (set->pending_pre.fetch_sub(1) == 1) {
      set->queued_ns = NowNs();
      ScopedTimer blocked(profiler, sid[kPre], Activity::kBlocked);
      if (!infer_q.Push(set)) break;
      if (Profiling()) profiler->RecordQueuePush(qid[kInfer], infer_q.size());
    }
  }
  if (pre_alive.fetch_sub(1) == 1 && !failed.load()) infer_q.Close();
}

void Pipeline::Impl::InferLoop(int worker) {
  if (profiler) profiler->SetThreadName("infer/" + std::to_string(worker));
  BufferSet* set = nullptr;
  while (true) {
    {
      ScopedTimer wait(profiler, sid[kInfer], Activity::kStarved);
      if (!infer_q.Pop(&set)) break;
    }
    if (Profiling()) {
      profiler->RecordQueuePop(qid[kInfer], infer_q.size(), NowNs() - set->queued_ns);
    }
    const int64_t t0 = NowNs();
    Status s;
    {
      ScopedTimer busy(profiler, sid[kInfer], Activity::kBusy, set->count,
                       set->jobs[0]->r.input.index);
      s = set->backend->Run(set->count);
    }
    st_infer.Add(set->count, NowNs() - t0);
    if (!s.ok()) {
      Job* first = set->jobs[0];
      Fail(s.WithContext(FrameContext("infer", first->r, hooks.stream_name) + " (batch of " +
                         std::to_string(set->count) + ")"));
      break;
    }
    // Copy the batch out first: once the last job is pushed, a postprocess worker may free the
    // set and the batcher may refill it.
    const int n = set->count;
    Job* batch[1024];
    std::copy(set->jobs.begin(), set->jobs.begin() + n, batch);
    set->pending_post.store(n);
    bool ok = true;
    ScopedTimer blocked(profiler, sid[kInfer], Activity::kBlocked);
    for (int i = 0; i < n && ok; ++i) {
      batch[i]->queued_ns = NowNs();
      ok = post_q.Push(batch[i]);
      if (ok && Profiling()) profiler->RecordQueuePush(qid[kPost], post_q.size());
    }
    if (!ok) break;
  }
  if (infer_alive.fetch_sub(1) == 1 && !failed.load()) post_q.Close();
}

void Pipeline::Impl::PostLoop(int worker) {
  if (profiler) profiler->SetThreadName("postprocess/" + std::to_string(worker));
  Job* job = nullptr;
  while (true) {
    {
      ScopedTimer wait(profiler, sid[kPost], Activity::kStarved);
      if (!post_q.Pop(&job)) break;
    }
    if (Profiling()) profiler->RecordQueuePop(qid[kPost], post_q.size(), NowNs() - job->queued_ns);
    const int64_t t0 = NowNs();
    BufferSet* set = job->set;
    Status s;
    {
      ScopedTimer busy(profiler, sid[kPost], Activity::kBusy, 1, job->r.input.index);
      s = hooks.postprocess(set->out, job->slot, worker, &job->r);
    }
    st_post.Add(1, NowNs() - t0);
    if (!s.ok()) {
      Fail(s.WithContext(FrameContext("postprocess", job->r, hooks.stream_name)));
      break;
    }
    job->set = nullptr;
    job->slot = -1;
    if (set->pending_post.fetch_sub(1) == 1) ReleaseSet(set);
    job->queued_ns = NowNs();
    ScopedTimer blocked(profiler, sid[kPost], Activity::kBlocked);
    if (!sink_q.Push(job)) break;
    if (Profiling()) profiler->RecordQueuePush(qid[kSink], sink_q.size());
  }
  if (post_alive.fetch_sub(1) == 1 && !failed.load()) sink_q.Close();
}

void Pipeline::Impl::ReleaseSet(BufferSet* set) {
  {
    std::lock_guard<std::mutex> lock(mu);
    for (int i = 0; i < set->count; ++i) set->jobs[i] = nullptr;
    set->count = 0;
    free_sets.push_back(set);
  }
  batch_cv.notify_one();
}

void Pipeline::Impl::SinkLoop() {
  if (profiler) profiler->SetThreadName("sink");
  Job* job = nullptr;
  while (true) {
    {
      ScopedTimer wait(profiler, sid[kSink], Activity::kStarved);
      if (!sink_q.Pop(&job)) break;
    }
    if (Profiling()) profiler->RecordQueuePop(qid[kSink], sink_q.size(), NowNs() - job->queued_ns);
    StreamOrder& so = order[job->r.stream_id];
    if (so.ring.empty()) so.ring.assign(pool_size, nullptr);
    so.ring[job->r.sequence % pool_size] = job;
    while (!failed.load()) {
      Job*& next = so.ring[so.next % pool_size];
      if (next == nullptr) break;
      Job* j = next;
      next = nullptr;
      ++so.next;
      ScopedTimer busy(profiler, sid[kSink], Activity::kBusy, 1, j->r.input.index);
      Deliver(j);
    }
  }
}

void Pipeline::Impl::Deliver(Job* job) {
  const int64_t t0 = NowNs();
  FrameResult& r = job->r;
  r.done_ns = clock->NowNs();
  Status sink_status;
  if (hooks.sink) sink_status = hooks.sink(r);
  if (!sink_status.ok() && r.status.ok()) {
    sink_status = sink_status.WithContext(FrameContext("sink", r, hooks.stream_name));
    r.status = sink_status;
  }
  {
    std::lock_guard<std::mutex> lock(stats_mu);
    if (r.status.ok()) {
      ++frames_out;
      latency.Add(r.done_ns - r.push_ns);
    } else {
      ++frames_failed;
    }
    last_done_ns = r.done_ns;
  }
  if (job->on_done) job->on_done(r);
  st_sink.Add(1, NowNs() - t0);
  ReleaseJob(job);
  if (!sink_status.ok()) Fail(sink_status);
}

void Pipeline::Impl::ReleaseJob(Job* job) {
  job->r.input = Frame();
  job->r.status = Status::Ok();
  job->on_done = nullptr;
  job->set = nullptr;
  job->slot = -1;
  {
    std::lock_guard<std::mutex> lock(mu);
    job->in_use = false;
    free_jobs.push_back(job);
  }
  intake_cv.notify_one();
}

// After a failure, once every thread has stopped: delivers each record still in flight with the
// pipeline's error, in order per stream.
void Pipeline::Impl::SweepUndelivered() {
  std::vector<Job*> left;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (Job& j : jobs) {
      if (j.in_use) left.push_back(&j);
    }
  }
  std::sort(left.begin(), left.end(), [](const Job* a, const Job* b) {
    if (a->r.stream_id != b->r.stream_id) return a->r.stream_id < b->r.stream_id;
    return a->r.sequence < b->r.sequence;
  });
  const Status err = Error();
  for (Job* j : left) {
    if (j->r.status.ok()) j->r.status = err;
    j->r.done_ns = clock->NowNs();
    if (hooks.sink) (void)hooks.sink(j->r);  // a writer skips errored results
    {
      std::lock_guard<std::mutex> lock(stats_mu);
      ++frames_failed;
    }
    if (j->on_done) j->on_done(j->r);
    ReleaseJob(j);
  }
}

// ---- Pipeline ----

Pipeline::Pipeline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Pipeline::~Pipeline() {
  if (impl_) {
    RequestStop();
    (void)Finish();
  }
}

Result<std::unique_ptr<Pipeline>> Pipeline::Create(const PipelineOptions& options,
                                                   std::vector<std::unique_ptr<Backend>> backends,
                                                   PipelineHooks hooks, const Clock* clock,
                                                   Profiler* profiler) {
  VRSEG_RETURN_IF_ERROR(ValidatePipelineOptions(options));
  if (!hooks.preprocess || !hooks.postprocess) {
    return Status::InvalidArgument("pipeline: the preprocess and postprocess hooks are required");
  }
  if (static_cast<int>(backends.size()) != options.buffer_sets) {
    return Status::InvalidArgument("pipeline: " + std::to_string(backends.size()) +
                                   " backends given for pipeline.buffer_sets = " +
                                   std::to_string(options.buffer_sets));
  }
  auto impl = std::make_unique<Impl>(options, std::move(hooks), clock, profiler);
  for (size_t i = 0; i < backends.size(); ++i) {
    auto& b = backends[i];
    if (!b) return Status::InvalidArgument("pipeline: backend " + std::to_string(i) + " is null");
    if (b->max_batch() < options.batcher.max_batch) {
      return Status::InvalidArgument(
          "pipeline: backend '" + std::string(b->name()) + "' holds batches of " +
          std::to_string(b->max_batch()) + " < batcher.max_batch " +
          std::to_string(options.batcher.max_batch));
    }
    if (b->inputs().empty() || b->outputs().empty()) {
      return Status::InvalidArgument("pipeline: backend '" + std::string(b->name()) +
                                     "' has no input or no output");
    }
    auto set = std::make_unique<BufferSet>();
    set->in = b->input(0);
    set->out = b->output(0);
    set->backend = std::move(b);
    impl->sets.push_back(std::move(set));
  }
  impl->Start();
  return std::unique_ptr<Pipeline>(new Pipeline(std::move(impl)));
}

Status Pipeline::Push(Frame frame, PushOptions options) {
  Impl& m = *impl_;
  if (frame.empty()) {
    return Status::InvalidArgument("pipeline push: stream " + std::to_string(frame.stream_id) +
                                   ", frame " + std::to_string(frame.index) + ": empty frame");
  }
  if (options.priority < 0 || options.priority >= m.options.batcher.priority_levels) {
    return Status::InvalidArgument("pipeline push: stream " + std::to_string(frame.stream_id) +
                                   ", frame " + std::to_string(frame.index) + ": priority " +
                                   std::to_string(options.priority) + " outside 0.." +
                                   std::to_string(m.options.batcher.priority_levels - 1));
  }
  std::unique_lock<std::mutex> lock(m.mu);
  m.intake_cv.wait(lock, [&] {
    return m.input_closed || (!m.free_jobs.empty() && !m.batcher.full());
  });
  if (m.failed.load()) {
    lock.unlock();
    return m.Error();
  }
  if (m.input_closed) {
    return Status::Cancelled("pipeline push: stream " + std::to_string(frame.stream_id) +
                             ", frame " + std::to_string(frame.index) +
                             ": intake closed (stop requested or finished)");
  }
  Job* job = m.free_jobs.back();
  m.free_jobs.pop_back();
  job->in_use = true;
  const int64_t now = m.clock->NowNs();
  FrameResult& r = job->r;
  r.status = Status::Ok();
  r.stream_id = frame.stream_id;
  r.sequence = m.next_sequence[frame.stream_id]++;
  r.priority = options.priority;
  r.push_ns = now;
  r.done_ns = 0;
  r.input = std::move(frame);
  job->on_done = std::move(options.on_done);
  job->deadline_ns = options.deadline_ns;
  (void)m.batcher.Add(job, options.priority, now, options.deadline_ns);  // room checked above
  if (m.frames_in++ == 0) m.first_push_ns = now;
  const int waiting = m.batcher.size();
  m.intake_high_water = std::max(m.intake_high_water, waiting);
  lock.unlock();
  if (m.Profiling()) m.profiler->RecordQueuePush(m.qid[kBatch], waiting);
  m.batch_cv.notify_one();
  return Status::Ok();
}

Status Pipeline::Finish() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> finish_lock(m.finish_mu);
  if (m.finished) return m.finish_status;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    m.input_closed = true;
  }
  m.batch_cv.notify_all();
  m.intake_cv.notify_all();
  for (auto& t : m.threads) t.join();
  m.threads.clear();
  if (m.failed.load()) {
    // Records still held by the batcher are in_use too: empty it so the sweep sees each once.
    std::vector<Batcher<Job*>::Item> waiting;
    {
      std::lock_guard<std::mutex> lock(m.mu);
      m.batcher.TakeAll(&waiting);
    }
    m.SweepUndelivered();
  }
  m.finished = true;
  m.finish_status = m.Error();
  return m.finish_status;
}

void Pipeline::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop_requested = true;
    impl_->input_closed = true;
  }
  impl_->intake_cv.notify_all();
  impl_->batch_cv.notify_all();
}

void Pipeline::Abort(Status error) {
  if (error.ok()) error = Status::Internal("pipeline: Abort called with an OK status");
  impl_->Fail(std::move(error));
}

bool Pipeline::stop_requested() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stop_requested;
}

Status Pipeline::error() const { return impl_->Error(); }
int Pipeline::max_in_flight() const { return impl_->pool_size; }
const Clock& Pipeline::clock() const { return *impl_->clock; }

void Pipeline::ResetStats() {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    m.frames_in = 0;
    m.frames_dropped = 0;
    m.frames_late = 0;
    m.batches = 0;
    std::fill(m.batch_size_counts.begin(), m.batch_size_counts.end(), 0);
    m.first_push_ns = 0;
    m.intake_high_water = 0;
  }
  {
    std::lock_guard<std::mutex> lock(m.stats_mu);
    m.latency.Clear();
    m.frames_out = 0;
    m.frames_failed = 0;
    m.last_done_ns = 0;
  }
  for (StageCounter* c : {&m.st_batch, &m.st_pre, &m.st_infer, &m.st_post, &m.st_sink}) {
    c->items.store(0);
    c->busy_ns.store(0);
  }
}

PipelineStats Pipeline::Stats() const {
  const Impl& m = *impl_;
  PipelineStats s;
  int64_t first_push = 0;
  int intake_high_water = 0;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    intake_high_water = m.intake_high_water;
    s.frames_in = m.frames_in;
    s.frames_dropped = m.frames_dropped;
    s.frames_late = m.frames_late;
    s.batches = m.batches;
    s.batch_size_counts = m.batch_size_counts;
    first_push = m.first_push_ns;
  }
  int64_t last_done = 0;
  {
    std::lock_guard<std::mutex> lock(m.stats_mu);
    s.frames_out = m.frames_out;
    s.frames_failed = m.frames_failed;
    last_done = m.last_done_ns;
    s.latency = SummarizeLatency(m.latency);
  }
  int64_t batched = 0;
  for (size_t b = 0; b < s.batch_size_counts.size(); ++b) {
    batched += static_cast<int64_t>(b) * s.batch_size_counts[b];
  }
  s.mean_batch = s.batches ? static_cast<double>(batched) / s.batches : 0.0;
  if (last_done > first_push) s.elapsed_s = static_cast<double>(last_done - first_push) / 1e9;
  s.fps = s.elapsed_s > 0 ? s.frames_out / s.elapsed_s : 0.0;
  auto stage = [](const char* name, int workers, const StageCounter& c, int cap, int hw) {
    StageStats st;
    st.name = name;
    st.workers = workers;
    st.items = c.items.load();
    st.busy_ms = static_cast<double>(c.busy_ns.load()) / 1e6;
    st.mean_us = st.items ? static_cast<double>(c.busy_ns.load()) / 1e3 / st.items : 0.0;
    st.queue_capacity = cap;
    st.queue_high_water = hw;
    return st;
  };
  const auto& o = m.options;
  s.stages.push_back(stage("batch", 1, m.st_batch, o.batcher.max_queue, intake_high_water));
  s.stages.push_back(stage("preprocess", o.preprocess_workers, m.st_pre, m.pre_q.capacity(),
                           m.pre_q.high_water()));
  s.stages.push_back(stage("infer", o.infer_workers, m.st_infer, m.infer_q.capacity(),
                           m.infer_q.high_water()));
  s.stages.push_back(stage("postprocess", o.postprocess_workers, m.st_post, m.post_q.capacity(),
                           m.post_q.high_water()));
  s.stages.push_back(stage("sink", 1, m.st_sink, m.sink_q.capacity(), m.sink_q.high_water()));
  return s;
}

}  // namespace vrseg
