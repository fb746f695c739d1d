#include "vrseg/status.h"

#include <gtest/gtest.h>

#include "vrseg/frame.h"
#include "vrseg/tensor.h"

namespace vrseg {
namespace {

Result<int> Half(int v) {
  if (v % 2) return Status::InvalidArgument("odd: " + std::to_string(v));
  return v / 2;
}

Status Chain(int v, int* out) {
  VRSEG_ASSIGN_OR_RETURN(int h, Half(v));
  VRSEG_ASSIGN_OR_RETURN(*out, Half(h));
  return Status::Ok();
}

TEST(Status, OkAndErrors) {
  EXPECT_TRUE(Status().ok());
  Status s = Status::DataLoss("x.mp4 frame 12: truncated");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.ToString(), "DATA_LOSS: x.mp4 frame 12: truncated");
  EXPECT_EQ(s.WithContext("decode").message(), "decode: x.mp4 frame 12: truncated");
  EXPECT_TRUE(Status::Ok().WithContext("nothing").ok());
}

TEST(Status, ResultAndMacros) {
  int out = 0;
  EXPECT_TRUE(Chain(8, &out).ok());
  EXPECT_EQ(out, 2);
  Status s = Chain(6, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "odd: 3");
  Result<int> bad(Status::Ok());
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInternal);
}

TEST(Status, ExitCodesAreDistinct) {
  EXPECT_EQ(ExitCodeFor(StatusCode::kOk), 0);
  EXPECT_NE(ExitCodeFor(StatusCode::kNotFound), ExitCodeFor(StatusCode::kDataLoss));
  EXPECT_EQ(ExitCodeFor(StatusCode::kCancelled), 130);
}

TEST(Frame, AllocatePlanesAndClone) {
  auto f = Frame::Allocate(PixelFormat::kI420, 33, 17);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->pitch[0] % 64, 0);
  EXPECT_GE(f->pitch[1], 17);
  EXPECT_NE(f->data[2], nullptr);
  for (int y = 0; y < 17; ++y) f->data[0][y * f->pitch[0]] = static_cast<uint8_t>(y);
  f->index = 7;
  f->time_base = {1001, 24000};
  auto c = f->Clone();
  ASSERT_TRUE(c.ok());
  EXPECT_NE(c->data[0], f->data[0]);
  EXPECT_EQ(c->data[0][5 * c->pitch[0]], 5);
  EXPECT_EQ(c->index, 7);
  EXPECT_EQ(c->time_base, (Rational{1001, 24000}));
  EXPECT_FALSE(Frame::Allocate(PixelFormat::kRGB24, 0, 4).ok());
}

TEST(Tensor, SlotsAndShapes) {
  std::vector<float> buf(2 * 4 * 4 * 3);
  Tensor t;
  t.data = buf.data();
  t.shape = {2, 4, 4, 3};
  EXPECT_EQ(t.slot_bytes(), 4 * 4 * 3 * 4);
  EXPECT_EQ(t.slot(1), buf.data() + 48);
  EXPECT_EQ(ShapeToString({-1, 256, 256, 3}), "[-1,256,256,3]");
}

}  // namespace
}  // namespace vrseg
