// `vrseg segment` end to end: clips made with the ffmpeg CLI from the test photographs go through
// the command; its masks are compared with the TF.js-derived fixture masks, its outputs are probed
// with ffprobe, and bad inputs must give the documented exit codes and messages.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct CmdResult {
  int code = -1;
  std::string output;  // stdout and stderr together
};

CmdResult Sh(const std::string& cmd) {
  CmdResult r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string Q(const fs::path& p) { return "'" + p.string() + "'"; }

class SegmentCli : public ::testing::Test {
 protected:
  static fs::path dir_;
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("vrseg_e2e_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static fs::path Photo(const std::string& name) { return fs::path(VRSEG_TESTDATA_DIR) / name; }

  // A clip of `frames` copies of a photo. codec "ffv1" (lossless RGB) or "libx264".
  static fs::path MakeClip(const std::string& photo, const std::string& codec, int frames,
                           const std::string& rate, const std::string& ext,
                           const std::string& filters = "") {
    const fs::path out = dir_ / (fs::path(photo).stem().string() + "_" + codec +
                                 std::to_string(frames) + ext);
    const std::string pix = codec == "ffv1" ? "bgr0" : "yuv420p";
    std::string extra = codec == "libx264" ? " -crf 12 -preset veryfast" : "";
    if (!filters.empty()) extra += " -vf " + filters;
    CmdResult r = Sh(std::string(VRSEG_FFMPEG) + " -v error -y -loop 1 -framerate " + rate + " -i " +
               Q(Photo(photo)) + " -frames:v " + std::to_string(frames) + " -c:v " + codec +
               extra + " -pix_fmt " + pix + " " + Q(out));
    EXPECT_EQ(r.code, 0) << r.output;
    return out;
  }

  // Raw 8-bit gray frames of a media file, decoded by the ffmpeg CLI.
  static std::vector<uint8_t> GrayFrames(const fs::path& file) {
    const fs::path raw = dir_ / (file.filename().string() + ".gray");
    CmdResult r = Sh(std::string(VRSEG_FFMPEG) + " -v error -y -i " + Q(file) +
               " -f rawvideo -pix_fmt gray " + Q(raw));
    EXPECT_EQ(r.code, 0) << r.output;
    std::ifstream f(raw, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
  }

  static std::string Probe(const fs::path& file, const std::string& entries) {
    CmdResult r = Sh(std::string(VRSEG_FFPROBE) + " -v error -select_streams v:0 -count_frames " +
               "-show_entries stream=" + entries + " -of default=nw=1:nk=1 " + Q(file));
    return r.output;
  }
};
fs::path SegmentCli::dir_;

double IoU(const uint8_t* a, const uint8_t* b, size_t n) {
  size_t inter = 0, uni = 0;
  for (size_t i = 0; i < n; ++i) {
    const bool x = a[i] >= 128, y = b[i] >= 128;
    inter += x && y;
    uni += x || y;
  }
  return uni ? static_cast<double>(inter) / uni : 1.0;
}

TEST_F(SegmentCli, MasksMatchTheTfjsFixtures) {
  struct Case { std::string photo, codec; int w, h; };
  for (const Case& c : {Case{"astronaut.png", "ffv1", 512, 512},
                        Case{"grace_hopper.jpg", "ffv1", 512, 600},
                        Case{"camera.png", "ffv1", 512, 512},
                        Case{"astronaut.png", "libx264", 512, 512}}) {
    SCOPED_TRACE(c.photo + " " + c.codec);
    const fs::path clip = MakeClip(c.photo, c.codec, 3, "25", c.codec == "ffv1" ? ".mkv" : ".mp4");
    const fs::path out = dir_ / (clip.stem().string() + "_mask.mkv");
    CmdResult r = Sh(std::string(VRSEG_CLI) + " segment " + Q(clip) + " -o " + Q(out) +
               " --model selfie --output mask");
    ASSERT_EQ(r.code, 0) << r.output;
    const std::vector<uint8_t> mask = GrayFrames(out);
    const std::string stem = fs::path(c.photo).stem().string();
    const std::vector<uint8_t> want =
        GrayFrames(fs::path(VRSEG_TESTDATA_DIR) / "fixtures" / ("selfie_" + stem + "_mask.png"));
    const size_t n = static_cast<size_t>(c.w) * c.h;
    ASSERT_EQ(want.size(), n);
    ASSERT_EQ(mask.size(), 3 * n);
    for (int f = 0; f < 3; ++f) {
      const double iou = IoU(mask.data() + f * n, want.data(), n);
      std::printf("%s %s frame %d: IoU %.4f\n", c.photo.c_str(), c.codec.c_str(), f, iou);
      EXPECT_GE(iou, 0.98) << "frame " << f;
    }
  }
}

TEST_F(SegmentCli, KeepsFrameCountRateAndTimestamps) {
  const fs::path clip = MakeClip("astronaut.png", "libx264", 7, "24000/1001", ".mp4");
  for (const std::string& ext : {std::string(".mkv"), std::string(".mp4")}) {
    const fs::path out = dir_ / ("ntsc_mask" + ext);
    CmdResult r = Sh(std::string(VRSEG_CLI) + " segment " + Q(clip) + " -o " + Q(out));
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(Probe(out, "nb_read_frames"), "7\n") << ext;
    EXPECT_EQ(Probe(out, "r_frame_rate"), "24000/1001\n") << ext;
  }
  // The per-frame timestamps are the input's: exactly in MP4, to Matroska's millisecond.
  auto pts = [&](const fs::path& f) {
    std::vector<double> t;
    std::string out = Sh(std::string(VRSEG_FFPROBE) +
                         " -v error -select_streams v:0 -show_entries packet=pts_time -of csv=p=0 " +
                         Q(f)).output;
    for (size_t p = 0; p < out.size();) {
      size_t e = out.find('\n', p);
      if (e == std::string::npos) e = out.size();
      if (e > p) t.push_back(std::stod(out.substr(p, e - p)));
      p = e + 1;
    }
    std::sort(t.begin(), t.end());
    return t;
  };
  const std::vector<double> in_pts = pts(clip);
  ASSERT_EQ(in_pts.size(), 7u);
  EXPECT_EQ(pts(dir_ / "ntsc_mask.mp4"), in_pts);
  const std::vector<double> mkv_pts = pts(dir_ / "ntsc_mask.mkv");
  ASSERT_EQ(mkv_pts.size(), 7u);
  for (size_t i = 0; i < 7; ++i) EXPECT_NEAR(mkv_pts[i], in_pts[i], 0.0005) << i;
}

// A list file names inputs (comments and blank lines skipped); each gets its output in the
// folder. A missing or empty list is an error naming it.
TEST_F(SegmentCli, ListFileNamesTheInputs) {
  const fs::path a = MakeClip("astronaut.png", "libx264", 3, "25", ".mp4");
  const fs::path list = dir_ / "inputs.txt";
  {
    std::ofstream f(list);
    f << "# clips\n\n  " << a.string() << "  \n";
  }
  const fs::path out = dir_ / "from_list";
  CmdResult r = Sh(std::string(VRSEG_CLI) + " segment --device cpu --list " + Q(list) + " -o " +
                   Q(out) + " --no-progress");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(Probe(out / (a.stem().string() + ".mkv"), "nb_read_frames"), "3\n");
  CmdResult missing = Sh(std::string(VRSEG_CLI) + " segment --list " + Q(dir_ / "nope.txt") +
                         " -o " + Q(out));
  EXPECT_EQ(missing.code, 3) << missing.output;
  EXPECT_NE(missing.output.find("nope.txt"), std::string::npos) << missing.output;
  const fs::path empty = dir_ / "empty_list.txt";
  std::ofstream(empty) << "# nothing\n";
  CmdResult none = Sh(std::string(VRSEG_CLI) + " segment --list " + Q(empty) + " -o " + Q(out));
  EXPECT_EQ(none.code, 2) << none.output;
}

TEST_F(SegmentCli, MissingInputIsNotFound) {
  const fs::path out = dir_ / "x.mkv";
  CmdResult r = Sh(std::string(VRSEG_CLI) + " segment " + Q(dir_ / "no_such.mp4") + " -o " + Q(out));
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find("no_such.mp4"), std::string::npos) << r.output;
}

TEST_F(SegmentCli, EmptyAndTruncatedImagesAreDataLoss) {
  const fs::path empty = dir_ / "empty.png";
  std::ofstream(empty).close();
  CmdResult r = Sh(std::string(VRSEG_CLI) + " segment " + Q(empty) + " -o " + Q(dir_ / "e.png"));
  EXPECT_EQ(r.code, 5) << r.output;
  EXPECT_NE(r.output.find("empty.png"), std::string::npos) << r.output;

  // The first 40% of a JPEG.
  const fs::path truncated = dir_ / "truncated.jpg";
  {
    std::ifstream in(Photo("grace_hopper.jpg"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() * 2 / 5);
  }
  r = Sh(std::string(VRSEG_CLI) + " segment " + Q(truncated) + " -o " + Q(dir_ / "t.png"));
  EXPECT_EQ(r.code, 5) << r.output;
  EXPECT_NE(r.output.find("truncated.jpg"), std::string::npos) << r.output;
}

TEST_F(SegmentCli, VideoCutInHalfLeavesAPlayableOutput) {
  // Grain on every frame and a keyframe every 10, so that half the file holds about half the frames.
  const fs::path clip =
      MakeClip("astronaut.png", "libx264", 40, "25", ".mkv", "noise=alls=12:allf=t -g 10");
  const fs::path cut = dir_ / "cut.mkv";
  {
    std::ifstream in(clip, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  const fs::path out = dir_ / "cut_mask.mkv";
  CmdResult r = Sh(std::string(VRSEG_CLI) + " segment " + Q(cut) + " -o " + Q(out));
  EXPECT_EQ(r.code, 5) << r.output;
  EXPECT_NE(r.output.find("cut.mkv"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("frame"), std::string::npos) << r.output;
  // What was written is a finished, decodable file with the frames that decoded.
  const std::string frames = Probe(out, "nb_read_frames");
  ASSERT_FALSE(frames.empty());
  const int n = std::stoi(frames);
  EXPECT_GT(n, 5);
  EXPECT_LT(n, 40);
  EXPECT_EQ(Sh(std::string(VRSEG_FFMPEG) + " -v error -i " + Q(out) + " -f null -").output, "");
}

TEST_F(SegmentCli, BadModelsAreReported) {
  const fs::path clip = MakeClip("camera.png", "ffv1", 1, "25", ".mkv");
  const fs::path garbage = dir_ / "garbage.onnx";
  std::ofstream(garbage) << "not a model at all";
  CmdResult r = Sh(std::string(VRSEG_CLI) + " segment " + Q(clip) + " -o " + Q(dir_ / "m.mkv") +
             " --model " + Q(garbage));
  EXPECT_EQ(r.code, 6) << r.output;
  EXPECT_NE(r.output.find("garbage.onnx"), std::string::npos) << r.output;
  r = Sh(std::string(VRSEG_CLI) + " segment " + Q(clip) + " -o " + Q(dir_ / "m.mkv") +
         " --model no_such_model");
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find("no_such_model"), std::string::npos) << r.output;
}

TEST_F(SegmentCli, HelpListsExitCodes) {
  CmdResult r = Sh(std::string(VRSEG_CLI) + " --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("Exit codes"), std::string::npos);
  EXPECT_NE(r.output.find("segment"), std::string::npos);
  r = Sh(std::string(VRSEG_CLI) + " segment --no-such-flag");
  EXPECT_EQ(r.code, 2) << r.output;
}

}  // namespace
