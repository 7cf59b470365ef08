// Unit test of the TAP parser (plain asserts: no test framework needed).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "mini_json.hpp"
#include "tap_parse.hpp"

#define CHECK(c)                                                   \
  do {                                                             \
    if (!(c)) {                                                    \
      std::fprintf(stderr, "%s:%d: CHECK(%s)\n", __FILE__, __LINE__, #c); \
      std::exit(1);                                                \
    }                                                              \
  } while (0)

int main() {
  auto r = tap::parse("TAP version 13\n"
                      "1..6\n"
                      "ok 1 - test_add\n"
                      "not ok 2 - test_div\n"
                      "# expected 2, got 3\n"
                      "# at line 7\n"
                      "ok 3 - test_net # SKIP no network\n"
                      "not ok 4 - test_later # TODO not written yet\n"
                      "ok - with \\# hash\n"
                      "not ok 6 test_yaml\n"
                      "  ---\n"
                      "  message: 'boom'\n"
                      "  duration_ms: 250\n"
                      "  ...\n"
                      "okay not a test\n");
  CHECK(r.results.size() == 6);
  CHECK(r.results[0].id == "test_add" && r.results[0].status == OFFLOAD_TEST_PASSED);
  CHECK(r.results[1].id == "test_div" && r.results[1].status == OFFLOAD_TEST_FAILED);
  CHECK(r.results[1].message == "expected 2, got 3");
  CHECK(r.results[1].text == "expected 2, got 3\nat line 7\n");
  CHECK(r.results[2].status == OFFLOAD_TEST_SKIPPED && r.results[2].message == "no network");
  CHECK(r.results[3].status == OFFLOAD_TEST_SKIPPED && r.results[3].message == "TODO: not written yet");
  CHECK(r.results[4].id == "with # hash" && r.results[4].status == OFFLOAD_TEST_PASSED);
  CHECK(r.results[5].id == "test_yaml" && r.results[5].message == "boom");
  CHECK(r.results[5].text == "---\nmessage: 'boom'\nduration_ms: 250\n...\n");
  CHECK(r.results[5].duration_secs > 0.249 && r.results[5].duration_secs < 0.251);
  CHECK(!r.bailed_out);

  // YAML first, diagnostics after (both orders occur in the wild).
  auto y = tap::parse("not ok 1 - t\n  ---\n  duration_ms: 7\n  ...\n# expected 4, got 3\n");
  CHECK(y.results.size() == 1 && y.results[0].message == "expected 4, got 3");
  CHECK(y.results[0].text == "expected 4, got 3\n---\nduration_ms: 7\n...\n");

  auto b = tap::parse("ok 1 - a\nBail out! database down\nok 2 - b\n");
  CHECK(b.results.size() == 1 && b.bailed_out && b.bail_reason == "database down");

  auto cfg = tap::json_string_members(R"({"type":"tap","command":"./run \"x\"","n":3,"l":[1,{"a":"b"}],"e":{}})");
  CHECK(cfg["type"] == "tap" && cfg["command"] == "./run \"x\"" && !cfg.count("n") && !cfg.count("l"));
  std::puts("tap_parse_test: ok");
  return 0;
}
