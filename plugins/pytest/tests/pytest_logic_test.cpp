// Unit tests of the pytest framework's translation logic, driven by outputs
// recorded from real pytest runs (tests/data/, re-recorded by record_data.py).
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "pytest_logic.hpp"

namespace py = offload::pytest;
using offload::plugin::Error;
using offload::plugin::Result;

namespace {

std::string read(const std::string& name) {
  std::ifstream in(std::string(OFFLOAD_PYTEST_TEST_DATA) + "/" + name, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing test data " << name);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int exit_code(const std::string& name) { return std::stoi(read(name + ".exit")); }

std::vector<std::string> ids_of(const std::string& name) {
  return nlohmann::json::parse(read(name + ".ids.json")).get<std::vector<std::string>>();
}

py::Discovery discover(const std::string& name, const std::string& group = "g") {
  return py::parse_discovery(group, exit_code(name), 0, read(name + ".stdout"), read(name + ".stderr"));
}

std::string error_of(const std::string& name) {
  try {
    discover(name);
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

std::map<std::string, Result> by_id(const std::vector<Result>& rs) {
  std::map<std::string, Result> m;
  for (auto& r : rs) m[r.id] = r;
  return m;
}

} // namespace

TEST_CASE("settings: defaults, values and bad shapes") {
  auto s = py::parse_settings(R"({"type":"pytest","command":"uv run pytest","paths":["a b","t"],"run_args":"-p no:x"})");
  CHECK(s.command == "uv run pytest");
  CHECK(s.paths == std::vector<std::string>{"a b", "t"});
  CHECK(s.run_args == "-p no:x");
  CHECK(py::parse_settings("{}").command == "python -m pytest");
  CHECK_THROWS_AS(py::parse_settings(R"({"paths":"tests"})"), Error);
  CHECK_THROWS_AS(py::parse_settings(R"({"command":"  "})"), Error);
  CHECK_THROWS_AS(py::parse_settings("not json"), Error);
}

TEST_CASE("discovery: the recorded fixture listing keeps every node ID exactly") {
  auto d = discover("discover_fixture");
  CHECK(d.warnings.empty());
  CHECK(d.rootdir == ".");
  REQUIRE(d.tests.size() == 85);
  std::map<std::string, offload::plugin::Test> m;
  for (auto& t : d.tests) m[t.id] = t;
  for (const char* id : {"tests/test_params.py::test_text_values[with space]",
                         "tests/test_params.py::test_text_values[two  spaces]",
                         "tests/test_params.py::test_text_values[ leading]",
                         "tests/test_params.py::test_text_values[a::b]",
                         "tests/test_params.py::test_text_values[$(touch pwned)]",
                         "tests/test_params.py::test_text_values[quote'single]",
                         "tests/test_params.py::test_text_values[back\\\\slash]",
                         "tests/test_params.py::test_text_values[]",
                         "tests/test_params.py::test_explicit_ids[ends with ]]",
                         "tests/test_classes.py::TestOuter::TestInner::TestDeepest::test_deep_param[2]",
                         "tests/test_basic.py::test_unicode_name_\xc3\xbcn\xc3\xaf\x63\xc3\xb8\x64\xc3\xa9"}) {
    CHECK_MESSAGE(m.count(id), id);
  }
  auto& t = m.at("tests/test_basic.py::test_pass");
  CHECK(t.file == "tests/test_basic.py");
  CHECK(t.line == 4);
  // Same set as pytest's own -q listing (recorded separately).
  auto listing = read("quiet_listing.stdout");
  for (auto& x : d.tests) CHECK_MESSAGE(listing.find(x.id + "\n") != std::string::npos, x.id);
}

TEST_CASE("discovery: exit 5 (filters matched nothing) is zero tests, not an error") {
  CHECK(exit_code("discover_none") == 5);
  auto d = discover("discover_none");
  CHECK(d.tests.empty());
}

TEST_CASE("discovery: a collection error carries pytest's own message") {
  CHECK(exit_code("discover_collect_error") == 2);
  auto e = error_of("discover_collect_error");
  CHECK(e.find("exited with code 2") != std::string::npos);
  CHECK(e.find("tests/test_bad.py") != std::string::npos);
  CHECK(e.find("ModuleNotFoundError: No module named 'no_such_module_for_offload'") != std::string::npos);
}

TEST_CASE("discovery: a usage error shows pytest's stderr") {
  CHECK(exit_code("discover_usage_error") == 4);
  auto e = error_of("discover_usage_error");
  CHECK(e.find("file or directory not found: no_such_dir") != std::string::npos);
}

TEST_CASE("discovery: a signal or a missing plugin block") {
  CHECK_THROWS_WITH_AS(py::parse_discovery("g", 0, 9, "", "boom"), doctest::Contains("signal 9"), Error);
  // pytest ran but the plugin did not report: fall back to the -q listing, spaces kept.
  auto d = py::parse_discovery("g", 0, 0, read("quiet_listing.stdout"), "");
  CHECK(d.tests.size() == 85);
  CHECK(d.warnings.size() == 1);
  CHECK(std::any_of(d.tests.begin(), d.tests.end(),
                    [](auto& t) { return t.id == "tests/test_params.py::test_pairs[x-y z]"; }));
  // A test module printing the marker cannot fool it: the last block wins.
  std::string fake = std::string(py::kCollectBegin) + "\n{\"event\":\"item\",\"nodeid\":\"fake\"}\n";
  auto real = read("discover_fixture.stdout");
  auto d2 = py::parse_discovery("g", 0, 0, "noise\n" + fake + real, "");
  CHECK(d2.tests.size() == 85);
}

TEST_CASE("discovery: rootdir below the project") {
  std::string out = "x\n\n" + std::string(py::kCollectBegin) +
                    "\n{\"event\": \"collect\", \"rootdir\": \"tests\"}\n"
                    "{\"event\": \"item\", \"nodeid\": \"test_a.py::t\", \"file\": \"tests/test_a.py\", \"line\": 3}\n" +
                    std::string(py::kCollectEnd) + "\n";
  auto d = py::parse_discovery("g", 0, 0, out, "");
  CHECK(d.rootdir == "tests");
  REQUIRE(d.tests.size() == 1);
  CHECK(py::node_arg(d.rootdir, d.tests[0].id) == "tests/test_a.py::t");
}

TEST_CASE("node_arg") {
  CHECK(py::node_arg(".", "t.py::x[a b]") == "t.py::x[a b]");
  CHECK(py::node_arg("", "t.py::x") == "t.py::x");
  CHECK(py::node_arg("..", "sub/t.py::x") == "../sub/t.py::x");
  CHECK(py::node_arg(".", "-odd.py::x") == "./-odd.py::x");
}

TEST_CASE("commands: IDs travel as argv words, never through the shell") {
  py::Settings s;
  s.command = "FOO=1 /usr/bin/python3 -m pytest";
  s.paths = {"tests", "it's here"};
  s.run_args = "-p no:cacheprovider";
  auto dc = py::discover_command(s, "-m 'not slow'");
  REQUIRE(dc.argv.size() == 4);
  CHECK(dc.argv[0] == "sh");
  CHECK(dc.argv[1] == "-c");
  auto& ds = dc.argv[2];
  CHECK(ds.find("FOO=1 /usr/bin/python3 -m pytest --collect-only -q -p offload_pytest_plugin") != std::string::npos);
  CHECK(ds.find(" -m 'not slow' 'tests' 'it'\\''s here'\n") != std::string::npos);
  CHECK(ds.find(std::string(py::plugin_source())) != std::string::npos);
  CHECK(ds.find("-p no:cacheprovider") == std::string::npos); // run_args are for execution only

  std::vector<std::string> ids = {"t.py::x[$(touch pwned)]", "t.py::y[a b]", "t.py::z['\"]"};
  auto rc = py::run_command(s, ids, "/tmp/r 1.result", false);
  REQUIRE(rc.argv.size() == 4 + ids.size());
  CHECK(std::vector<std::string>(rc.argv.begin() + 4, rc.argv.end()) == ids);
  auto& rs = rc.argv[2];
  CHECK(rs.find("-p no:cacheprovider -p offload_pytest_plugin --offload-results='/tmp/r 1.result' \"$@\"") !=
        std::string::npos);
  CHECK(rs.find("pwned") == std::string::npos);
  CHECK(rs.find(" -x \"$@\"") == std::string::npos);
  CHECK(py::run_command(s, ids, "/r", true).argv[2].find(" -x \"$@\"") != std::string::npos);
  CHECK_THROWS_AS(py::run_command(s, {}, "/r", false), Error);
}

TEST_CASE("results: every outcome shape of the recorded fixture run") {
  auto ids = ids_of("results_fixture");
  std::vector<std::string> warnings;
  auto rs = by_id(py::parse_results(ids, read("results_fixture.results.jsonl"), {exit_code("results_fixture"), 0, false},
                                    &warnings));
  CHECK(warnings.empty());
  CHECK(rs.size() == ids.size());
  for (auto& id : ids) CHECK_MESSAGE(rs.count(id), id);
  auto st = [&](const std::string& id) { return rs.at("tests/" + id).status; };
  CHECK(st("test_basic.py::test_pass") == OFFLOAD_TEST_PASSED);
  CHECK(st("test_basic.py::test_fail") == OFFLOAD_TEST_FAILED);
  CHECK(st("test_outcomes.py::test_skip_marker") == OFFLOAD_TEST_SKIPPED);
  CHECK(st("test_outcomes.py::test_skipif_true") == OFFLOAD_TEST_SKIPPED);
  CHECK(st("test_outcomes.py::test_skipif_false") == OFFLOAD_TEST_PASSED);
  CHECK(st("test_outcomes.py::test_xfail") == OFFLOAD_TEST_SKIPPED);
  CHECK(st("test_outcomes.py::test_xpass") == OFFLOAD_TEST_PASSED);
  CHECK(st("test_outcomes.py::test_xpass_strict") == OFFLOAD_TEST_FAILED);
  CHECK(st("test_outcomes.py::test_xfail_strict") == OFFLOAD_TEST_SKIPPED);
  CHECK(st("test_outcomes.py::test_setup_error") == OFFLOAD_TEST_ERROR);
  CHECK(st("test_outcomes.py::test_teardown_error") == OFFLOAD_TEST_ERROR);
  CHECK(st("test_outcomes.py::test_fail_and_teardown_error") == OFFLOAD_TEST_FAILED);
  CHECK(st("test_params.py::test_explicit_ids[colon::inside]") == OFFLOAD_TEST_PASSED);
  CHECK(st("test_params.py::test_matrix[even check-4]") == OFFLOAD_TEST_FAILED);

  auto& xf = rs.at("tests/test_outcomes.py::test_xfail");
  CHECK(xf.message.rfind("xfail", 0) == 0);
  CHECK(rs.at("tests/test_outcomes.py::test_skip_marker").message == "always skipped");
  auto& se = rs.at("tests/test_outcomes.py::test_setup_error");
  CHECK(se.message.find("failed on setup") != std::string::npos);
  CHECK(se.type == "RuntimeError");
  CHECK(se.text.find("fixture setup exploded") != std::string::npos);
  auto& ft = rs.at("tests/test_outcomes.py::test_fail_and_teardown_error");
  CHECK(ft.text.find("error in teardown") != std::string::npos);
  CHECK(ft.text.find("fixture teardown exploded") != std::string::npos);
  auto& out = rs.at("tests/test_basic.py::test_prints_stderr_and_fails");
  CHECK(out.system_out == "to stdout before failing\n");
  CHECK(out.system_err == "to stderr before failing\n");
  CHECK(out.type == "AssertionError");
  CHECK(out.classname == "tests.test_basic");
  CHECK(out.name == "test_prints_stderr_and_fails");
}

TEST_CASE("results: a killed interpreter keeps finished results and names the culprit") {
  auto ids = ids_of("results_killed");
  auto data = read("results_killed.results.jsonl");
  for (std::string torn : {"", "{\"event\": \"result\", \"nodeid\": \"tests/test_kill.py::test_ki"}) {
    std::vector<std::string> warnings;
    auto rs = by_id(py::parse_results(ids, data + torn, {0, 9, false}, &warnings));
    CHECK(warnings.empty());
    REQUIRE(rs.size() == 2);
    CHECK(rs.at("tests/test_kill.py::test_before").status == OFFLOAD_TEST_PASSED);
    CHECK(rs.at("tests/test_kill.py::test_before").system_out == "ran before\n");
    auto& k = rs.at("tests/test_kill.py::test_kills");
    CHECK(k.status == OFFLOAD_TEST_FAILED);
    CHECK(k.type == "offload.Crash");
    CHECK(k.message.find("signal 9") != std::string::npos);
    CHECK(rs.count("tests/test_kill.py::test_after") == 0); // the host reruns it
  }
  auto t = by_id(py::parse_results(ids, data, {0, 0, true}, nullptr));
  CHECK(t.at("tests/test_kill.py::test_kills").type == "offload.Timeout");
  auto x = by_id(py::parse_results(ids, data, {3, 0, false}, nullptr));
  CHECK(x.at("tests/test_kill.py::test_kills").message.find("exit code 3") != std::string::npos);
}

TEST_CASE("results: a collection error in the sandbox fails that module's tests with pytest's text") {
  auto ids = ids_of("results_collect_error");
  std::vector<std::string> warnings;
  auto rs = by_id(py::parse_results(ids, read("results_collect_error.results.jsonl"), {4, 0, false}, &warnings));
  auto& bad = rs.at("tests/test_bad.py::test_never");
  CHECK(bad.status == OFFLOAD_TEST_ERROR);
  CHECK(bad.type == "CollectionError");
  CHECK(bad.text.find("no_such_module_for_offload") != std::string::npos);
  // pytest refuses the whole batch then; the other test is unreported and flagged.
  CHECK(rs.count("tests/test_ok.py::test_ok") == 0);
  CHECK(warnings.size() == 1);
}

TEST_CASE("results: -x stops early without a mismatch warning") {
  auto ids = ids_of("results_fail_fast");
  std::vector<std::string> warnings;
  auto rs = by_id(py::parse_results(ids, read("results_fail_fast.results.jsonl"), {1, 0, false}, &warnings));
  CHECK(rs.size() == 2);
  CHECK(rs.at("tests/test_basic.py::test_fail").status == OFFLOAD_TEST_FAILED);
  CHECK(warnings.empty());
  // Without the stop flag, the missing test is news.
  std::string data = read("results_fail_fast.results.jsonl");
  auto pos = data.find("\"stopped\": true");
  REQUIRE(pos != std::string::npos);
  data.replace(pos, 15, "\"stopped\": false");
  py::parse_results(ids, data, {1, 0, false}, &warnings);
  CHECK(warnings.size() == 1);
}

TEST_CASE("junit_names mirrors pytest's junitxml") {
  using P = std::pair<std::string, std::string>;
  CHECK(py::junit_names("tests/test_x.py::TestA::TestB::test_c[1]") == P{"tests.test_x.TestA.TestB", "test_c[1]"});
  CHECK(py::junit_names("test_x.py::test_p[a::b]") == P{"test_x", "test_p[a::b]"});
  CHECK(py::junit_names("weird") == P{"", "weird"});
}
