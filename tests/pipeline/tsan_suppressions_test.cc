// ThreadSanitizer suppressions built into pipeline_tests (used only in -DVRSEG_TSAN=ON builds).
//
// FFmpeg's slice threads (FFV1 encode/decode) synchronise through code TSan does not see (the
// system libavcodec is not instrumented), so TSan reports races on memsets inside libavcodec
// between its own worker threads (memsets from libavcodec on both sides). The suppression drops
// reports with libavcodec on a stack; vrseg's own accesses to its frames and queues are reported
// as before (a race in vrseg code shows vrseg frames, not libavcodec ones, on both stacks).
// (`called_from_lib` was tried: it hides libavcodec's pthread calls too and so causes more false
// reports, not fewer.)
extern "C" const char* __tsan_default_suppressions() {
  return "race:libavcodec.so\n";
}
