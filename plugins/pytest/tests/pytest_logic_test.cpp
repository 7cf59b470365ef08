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

/// Every result of each ID, in the order parse_results gave them.
std::map<std::string, std::vector<Result>> attempts_by_id(const std::vector<Result>& rs) {
  std::map<std::string, std::vector<Result>> m;
  for (auto& r : rs) m[r.id].push_back(r);
  return m;
}

using Attempt = std::pair<unsigned, offload_test_status>;
std::vector<Attempt> attempts(const std::map<std::string, std::vector<Result>>& m, const std::string& id) {
  std::vector<Attempt> out;
  if (auto it = m.find(id); it != m.end())
    for (auto& r : it->second) out.emplace_back(r.attempt, r.status);
  return out;
}

/// The ABI's rule: attempt 0 alone, or 1..n in order with all but the last failed/errored.
void check_attempt_rule(const std::vector<Result>& rs) {
  for (auto& [id, list] : attempts_by_id(rs)) {
    if (list.size() == 1 && list[0].attempt == 0) continue;
    for (size_t i = 0; i < list.size(); ++i) {
      CHECK_MESSAGE(list[i].attempt == i + 1, id);
      if (i + 1 < list.size()) {
        CHECK_MESSAGE((list[i].status == OFFLOAD_TEST_FAILED || list[i].status == OFFLOAD_TEST_ERROR), id);
      }
    }
  }
}

std::vector<Result> recorded(const std::string& name, py::BatchEnd end, std::vector<std::string>* warnings) {
  auto rs = py::parse_results(ids_of(name), read(name + ".results.jsonl"), end, warnings);
  check_attempt_rule(rs);
  return rs;
}

constexpr auto F = OFFLOAD_TEST_FAILED;
constexpr auto E = OFFLOAD_TEST_ERROR;
constexpr auto P = OFFLOAD_TEST_PASSED;
constexpr auto S = OFFLOAD_TEST_SKIPPED;

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
  auto rc = py::run_command(s, ids, "/tmp/r 1.result", false, 0);
  REQUIRE(rc.argv.size() == 4 + ids.size());
  CHECK(std::vector<std::string>(rc.argv.begin() + 4, rc.argv.end()) == ids);
  auto& rs = rc.argv[2];
  CHECK(rs.find("-p no:cacheprovider -p offload_pytest_plugin --offload-results='/tmp/r 1.result' \"$@\"") !=
        std::string::npos);
  CHECK(rs.find("pwned") == std::string::npos);
  CHECK(rs.find(" -x \"$@\"") == std::string::npos);
  CHECK(py::run_command(s, ids, "/r", true, 0).argv[2].find(" -x \"$@\"") != std::string::npos);
  CHECK_THROWS_AS(py::run_command(s, {}, "/r", false, 0), Error);
}

TEST_CASE("commands: --offload-reruns only when in-process retries are asked for") {
  py::Settings s;
  std::vector<std::string> ids = {"t.py::x[a b]"};
  // (The embedded plugin's own text mentions the option: look at the pytest line.)
  CHECK(py::run_command(s, ids, "/r", false, 0).argv[2].find("--offload-results='/r' \"$@\"") != std::string::npos);
  CHECK(py::run_command(s, ids, "/r", true, 0).argv[2].find("--offload-results='/r' -x \"$@\"") != std::string::npos);
  auto rc = py::run_command(s, ids, "/r", false, 2);
  CHECK(rc.argv[2].find("--offload-results='/r' --offload-reruns=2 \"$@\"") != std::string::npos);
  CHECK(std::vector<std::string>(rc.argv.begin() + 4, rc.argv.end()) == ids);
  CHECK(py::run_command(s, ids, "/r", true, 2).argv[2].find(" --offload-reruns=2 -x \"$@\"") != std::string::npos);
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

TEST_CASE("results: in-process reruns report every attempt, in order") {
  std::vector<std::string> warnings;
  auto rs = recorded("results_reruns", {exit_code("results_reruns"), 0, false}, &warnings);
  CHECK(warnings.empty());
  auto m = attempts_by_id(rs);
  CHECK(m.size() == ids_of("results_reruns").size());
  auto a = [&](const std::string& name) { return attempts(m, "tests/test_rerun.py::" + name); };
  CHECK(a("test_flaky") == std::vector<Attempt>{{1, F}, {2, P}});
  CHECK(a("test_always_fails") == std::vector<Attempt>{{1, F}, {2, F}, {3, F}});
  CHECK(a("test_setup_error_once") == std::vector<Attempt>{{1, E}, {2, P}});
  CHECK(a("test_teardown_error_once") == std::vector<Attempt>{{1, E}, {2, P}});
  CHECK(a("test_xpass_strict") == std::vector<Attempt>{{1, F}, {2, F}, {3, F}}); // a failure: rerun
  // Never rerun: skips, xfails, passes; and a flaky marker is pytest-rerunfailures' to rerun.
  CHECK(a("test_skip") == std::vector<Attempt>{{0, S}});
  CHECK(a("test_xfail") == std::vector<Attempt>{{0, S}});
  CHECK(a("test_pass") == std::vector<Attempt>{{0, P}});
  CHECK(a("test_users_flaky_marker") == std::vector<Attempt>{{0, P}});

  // Each attempt carries its own failure and output.
  auto& flaky = m.at("tests/test_rerun.py::test_flaky");
  CHECK(flaky[0].message.find("fails the first time only") != std::string::npos);
  CHECK(flaky[0].type == "AssertionError");
  CHECK(flaky[0].text.find("first_time(\"flaky\")") != std::string::npos);
  CHECK(flaky[0].system_out == "first run\n");
  CHECK(flaky[1].system_out == "second run\n");
  CHECK(flaky[1].message.empty());
  CHECK(flaky[0].classname == "tests.test_rerun");
  CHECK(flaky[1].name == "test_flaky");
  auto& setup = m.at("tests/test_rerun.py::test_setup_error_once")[0];
  CHECK(setup.message.find("failed on setup") != std::string::npos);
  CHECK(setup.type == "RuntimeError");
  CHECK(setup.text.find("setup fails the first time only") != std::string::npos);
  auto& teardown = m.at("tests/test_rerun.py::test_teardown_error_once")[0];
  CHECK(teardown.message.find("failed on teardown") != std::string::npos);
  CHECK(teardown.type == "RuntimeError");
  for (auto& r : m.at("tests/test_rerun.py::test_always_fails")) {
    CHECK(r.message == "assert 1 == 2");
    CHECK(r.system_out == "fails every time\n"); // not the earlier attempts' output too
  }
}

TEST_CASE("results: with -x, a test that passes on its rerun does not stop the session") {
  std::vector<std::string> warnings;
  auto rs = recorded("results_rerun_fail_fast", {exit_code("results_rerun_fail_fast"), 0, false}, &warnings);
  CHECK(warnings.empty()); // stopped by -x: the unreported test is no news
  auto m = attempts_by_id(rs);
  auto a = [&](const std::string& name) { return attempts(m, "tests/test_rerun.py::" + name); };
  CHECK(a("test_flaky") == std::vector<Attempt>{{1, F}, {2, P}});
  CHECK(a("test_pass") == std::vector<Attempt>{{0, P}});
  CHECK(a("test_always_fails") == std::vector<Attempt>{{1, F}, {2, F}, {3, F}}); // the last one stops it
  CHECK(m.count("tests/test_rerun.py::test_skip") == 0);
}

TEST_CASE("results: an interpreter killed during a rerun names that test, as its next attempt") {
  auto ids = ids_of("results_rerun_killed");
  CHECK(exit_code("results_rerun_killed") == -9);
  auto data = read("results_rerun_killed.results.jsonl");
  const std::string dies = "tests/test_dies.py::test_dies_on_rerun";
  for (std::string torn : {"", "{\"event\": \"result\", \"nodeid\": \"tests/test_dies.py::test_di"}) {
    std::vector<std::string> warnings;
    auto rs = py::parse_results(ids, data + torn, {0, 9, false}, &warnings);
    check_attempt_rule(rs);
    CHECK(warnings.empty());
    auto m = attempts_by_id(rs);
    CHECK(attempts(m, "tests/test_dies.py::test_before") == std::vector<Attempt>{{0, P}});
    REQUIRE(attempts(m, dies) == std::vector<Attempt>{{1, F}, {2, F}});
    CHECK(m.at(dies)[0].message.find("fails, then kills its interpreter") != std::string::npos);
    CHECK(m.at(dies)[1].type == "offload.Crash");
    CHECK(m.at(dies)[1].message.find("signal 9") != std::string::npos);
    CHECK(m.count("tests/test_dies.py::test_after") == 0); // the host reruns it
  }
  auto t = attempts_by_id(py::parse_results(ids, data, {0, 0, true}, nullptr));
  REQUIRE(t.at(dies).size() == 2);
  CHECK(t.at(dies)[1].type == "offload.Timeout");
  CHECK(t.at(dies)[1].attempt == 2);
}

TEST_CASE("results: reruns under pytest-xdist (-n 2), a worker crash included") {
  std::vector<std::string> warnings;
  auto rs = recorded("results_rerun_xdist", {exit_code("results_rerun_xdist"), 0, false}, &warnings);
  CHECK(warnings.empty());
  auto m = attempts_by_id(rs);
  CHECK(m.size() == ids_of("results_rerun_xdist").size());
  auto a = [&](const std::string& id) { return attempts(m, "tests/" + id); };
  CHECK(a("test_rerun.py::test_flaky") == std::vector<Attempt>{{1, F}, {2, P}});
  CHECK(a("test_rerun.py::test_always_fails") == std::vector<Attempt>{{1, F}, {2, F}, {3, F}});
  CHECK(a("test_rerun.py::test_setup_error_once") == std::vector<Attempt>{{1, E}, {2, P}});
  CHECK(a("test_rerun.py::test_teardown_error_once") == std::vector<Attempt>{{1, E}, {2, P}});
  CHECK(a("test_rerun.py::test_users_flaky_marker") == std::vector<Attempt>{{0, P}});
  CHECK(a("test_rerun.py::test_skip") == std::vector<Attempt>{{0, S}});
  CHECK(a("test_dies.py::test_after") == std::vector<Attempt>{{0, P}});
  // The worker died on the rerun; xdist's crash report is the next attempt.
  REQUIRE(a("test_dies.py::test_dies_on_rerun") == std::vector<Attempt>{{1, F}, {2, F}});
  auto& crash = m.at("tests/test_dies.py::test_dies_on_rerun")[1];
  CHECK(crash.type == "offload.Crash");
  CHECK(crash.message.find("crashed while running") != std::string::npos);
  // Attributes set in the worker survived xdist's serialisation.
  CHECK(m.at("tests/test_rerun.py::test_flaky")[0].type == "AssertionError");
  CHECK(m.at("tests/test_rerun.py::test_flaky")[1].system_out == "second run\n");
}

TEST_CASE("results: the user's own --reruns wins; its reruns stay invisible") {
  std::vector<std::string> warnings;
  auto rs = recorded("results_rerun_users_reruns", {exit_code("results_rerun_users_reruns"), 0, false}, &warnings);
  CHECK(warnings.empty());
  auto ids = ids_of("results_rerun_users_reruns");
  CHECK(rs.size() == ids.size());
  for (auto& r : rs) CHECK_MESSAGE(r.attempt == 0, r.id);
  auto m = by_id(rs);
  CHECK(m.at("tests/test_rerun.py::test_flaky").status == P);
  CHECK(m.at("tests/test_rerun.py::test_always_fails").status == F);
}

TEST_CASE("results: attempts are ordered and consecutive, whatever the file says") {
  auto line = [](const std::string& id, const std::string& outcome, const std::string& extra) {
    return "{\"event\": \"result\", \"nodeid\": \"" + id + "\", \"outcome\": \"" + outcome + "\"" + extra + "}\n";
  };
  std::vector<std::string> ids = {"t.py::a", "t.py::b", "t.py::c"};
  std::string data = line("t.py::a", "failed", ", \"attempt\": 2, \"rerun\": true, \"message\": \"second\"") +
                     line("t.py::a", "failed", ", \"attempt\": 1, \"rerun\": true, \"message\": \"first\"") +
                     line("t.py::a", "passed", ", \"attempt\": 7") +
                     line("t.py::b", "passed", ", \"attempt\": 1, \"rerun\": true") + // a rerun attempt failed
                     line("t.py::b", "passed", ", \"attempt\": \"x\"") +
                     line("t.py::b", "failed", "") +                                   // a second final: dropped
                     line("t.py::elsewhere", "passed", "") +                           // not in the batch
                     line("t.py::c", "passed", ", \"attempt\": 3") +                   // no failed attempt seen
                     "{\"event\": \"finish\", \"exitstatus\": \"1\", \"stopped\": \"yes\"}\n";
  std::vector<std::string> warnings;
  auto rs = py::parse_results(ids, data, {1, 0, false}, &warnings);
  check_attempt_rule(rs);
  auto m = attempts_by_id(rs);
  CHECK(attempts(m, "t.py::a") == std::vector<Attempt>{{1, F}, {2, F}, {3, P}});
  CHECK(m.at("t.py::a")[0].message == "first");
  CHECK(attempts(m, "t.py::b") == std::vector<Attempt>{{1, F}, {2, P}});
  CHECK(attempts(m, "t.py::c") == std::vector<Attempt>{{0, P}});
  CHECK(m.count("t.py::elsewhere") == 0);
  CHECK(warnings.size() == 2); // the foreign result and the repeated one
}

TEST_CASE("junit_names mirrors pytest's junitxml") {
  using P = std::pair<std::string, std::string>;
  CHECK(py::junit_names("tests/test_x.py::TestA::TestB::test_c[1]") == P{"tests.test_x.TestA.TestB", "test_c[1]"});
  CHECK(py::junit_names("test_x.py::test_p[a::b]") == P{"test_x", "test_p[a::b]"});
  CHECK(py::junit_names("weird") == P{"", "weird"});
}
