#include "vrseg/cuda/vram_monitor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "cuda/gpu_test_util.h"

namespace vrseg::cuda {
namespace {

struct FakeSource {
  size_t total = 1000;
  std::atomic<size_t> free{1000};
  VramSource fn() {
    return [this](int device) -> Result<VramSample> {
      if (device != 0) return Status::Unavailable("no device " + std::to_string(device));
      VramSample s;
      s.device = 0;
      s.total_bytes = total;
      s.free_bytes = free.load();
      return s;
    };
  }
};

TEST(VramMonitorTest, AlertsOnLevelChangesWithHysteresis) {
  FakeSource src;
  VramMonitorOptions o;
  o.warning_fraction = 0.80;
  o.critical_fraction = 0.90;
  o.hysteresis = 0.05;
  auto m = std::move(VramMonitor::Create(o, src.fn())).value();
  EXPECT_FALSE(m->nvml_available());
  std::vector<VramAlert> alerts;
  m->SetAlertCallback([&](const VramAlert& a) { alerts.push_back(a); });
  auto at = [&](size_t used) {
    src.free = 1000 - used;
    auto r = m->Sample(0);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->free_bytes, 1000 - used);
  };
  at(500);  // ok, no alert
  EXPECT_TRUE(alerts.empty());
  at(800);  // warning
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].level, VramLevel::kWarning);
  EXPECT_EQ(alerts[0].previous, VramLevel::kOk);
  EXPECT_NE(alerts[0].message.find("device 0"), std::string::npos);
  at(780);  // inside the hysteresis band: stays warning
  at(801);
  EXPECT_EQ(alerts.size(), 1u);
  at(950);  // critical
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[1].level, VramLevel::kCritical);
  EXPECT_EQ(m->level(0), VramLevel::kCritical);
  at(860);  // 0.86 >= 0.90 - 0.05: still critical
  EXPECT_EQ(alerts.size(), 2u);
  at(700);  // under 0.75: back to ok in one step
  ASSERT_EQ(alerts.size(), 3u);
  EXPECT_EQ(alerts[2].level, VramLevel::kOk);
  EXPECT_EQ(alerts[2].previous, VramLevel::kCritical);
  auto bad = m->Sample(3);
  EXPECT_EQ(bad.status().code(), StatusCode::kUnavailable);
}

TEST(VramMonitorTest, RejectsBadOptions) {
  VramMonitorOptions o;
  o.warning_fraction = 0.9;
  o.critical_fraction = 0.8;
  EXPECT_EQ(VramMonitor::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = {};
  o.critical_fraction = 1.5;
  EXPECT_EQ(VramMonitor::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = {};
  o.warning_fraction = 0;
  EXPECT_EQ(VramMonitor::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = {};
  o.hysteresis = -0.1;
  EXPECT_EQ(VramMonitor::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = {};
  o.poll_interval_ms = 0;
  EXPECT_EQ(VramMonitor::Create(o).status().code(), StatusCode::kInvalidArgument);
}

TEST(VramMonitorTest, BackgroundThreadSamplesUntilStopped) {
  FakeSource src;
  VramMonitorOptions o;
  o.poll_interval_ms = 1;
  auto m = std::move(VramMonitor::Create(o, src.fn())).value();
  std::atomic<int> n{0};
  m->SetAlertCallback([&](const VramAlert&) { n++; });
  src.free = 10;  // 99% used: critical at the first sample
  ASSERT_TRUE(m->Start(1).ok());
  EXPECT_EQ(m->Start(1).code(), StatusCode::kInvalidArgument);
  for (int i = 0; i < 5000 && n.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  m->Stop();
  EXPECT_EQ(n.load(), 1);
  EXPECT_EQ(m->level(0), VramLevel::kCritical);
  EXPECT_EQ(m->Start(0).code(), StatusCode::kInvalidArgument);
}

TEST(VramMonitorTest, RealDevice) {
  auto m = VramMonitor::Create();
  ASSERT_TRUE(m.ok());
  if (DeviceCount() == 0) {
    // Without a device the monitor still builds and answers kUnavailable, naming the device.
    auto r = (*m)->Sample(0);
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(r.status().message().find("device 0"), std::string::npos);
    GTEST_SKIP() << "no CUDA device on this machine; checked the kUnavailable answer only";
  }
  auto r = (*m)->Sample(0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  size_t f = 0, t = 0;
  ASSERT_CUDA(cudaMemGetInfo(&f, &t));
  EXPECT_EQ(r->total_bytes, t);
  EXPECT_GT(r->free_bytes, 0u);
  EXPECT_LE(r->free_bytes, r->total_bytes);
  std::printf("device 0: %s; NVML %s, util %d%% / %d%%\n", DeviceDescription(0).c_str(),
              (*m)->nvml_available() ? "loaded" : "absent", r->gpu_utilization,
              r->memory_utilization);
  EXPECT_EQ((*m)->Sample(DeviceCount()).status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace vrseg::cuda
