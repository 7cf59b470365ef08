/// Unit tests of the nextest framework's translation logic, driven by
/// fixtures in nextest's documented formats (tests/data/README.md).
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "nextest_logic.hpp"
#include "report/junit.hpp"

using namespace offload::nextest;

namespace {

std::string read(const std::string& name) {
  std::ifstream in(std::string(NEXTEST_TEST_DATA) + "/" + name, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing fixture " << name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The host's JUnit parser, mapped to the plugin's view exactly as the host's
/// offload_host_junit extension does (core/plugin/host.cpp).
std::vector<offload::plugin::JunitCase> host_parse(const std::string& xml) {
  auto parsed = offload::parse_junit(xml);
  REQUIRE_MESSAGE(parsed.ok(), parsed.error);
  std::vector<offload::plugin::JunitCase> out;
  for (auto& c : parsed.cases) {
    offload::plugin::JunitCase j;
    j.name = c.name;
    j.classname = c.classname;
    j.time_secs = c.time;
    switch (c.status) {
    case offload::AttemptStatus::Passed: j.status = OFFLOAD_TEST_PASSED; break;
    case offload::AttemptStatus::Failed: j.status = OFFLOAD_TEST_FAILED; break;
    case offload::AttemptStatus::Skipped: j.status = OFFLOAD_TEST_SKIPPED; break;
    case offload::AttemptStatus::NotRun: j.status = OFFLOAD_TEST_NOT_RUN; break;
    default: j.status = OFFLOAD_TEST_ERROR; break;
    }
    j.message = c.message;
    j.type = c.type;
    j.text = c.text;
    j.system_out = c.system_out;
    j.system_err = c.system_err;
    out.push_back(std::move(j));
  }
  return out;
}

std::vector<std::string> ids_of(const ListParse& p, const std::string& format = "{classname} {name}") {
  std::vector<std::string> ids;
  for (auto& t : p.tests) ids.push_back(format_id(format, t.binary_id, t.name));
  return ids;
}

} // namespace

TEST_CASE("settings: defaults, every field, and type errors") {
  auto d = parse_settings("{}");
  CHECK_FALSE(d.package);
  CHECK(d.features.empty());
  CHECK_FALSE(d.bin);
  CHECK_FALSE(d.include_ignored);
  CHECK(d.test_id_format == "{classname} {name}");

  auto s = parse_settings(R"({"type":"nextest","package":"core","features":["net","tls"],"bin":"cli",)"
                          R"("include_ignored":true,"test_id_format":"{classname}::{name}"})");
  CHECK(*s.package == "core");
  CHECK(s.features == std::vector<std::string>{"net", "tls"});
  CHECK(*s.bin == "cli");
  CHECK(s.include_ignored);
  CHECK(s.test_id_format == "{classname}::{name}");

  CHECK_THROWS_WITH_AS(parse_settings(R"({"features":"net"})"), doctest::Contains("framework.features"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_settings(R"({"include_ignored":"yes"})"), doctest::Contains("include_ignored"),
                       std::invalid_argument);
  CHECK_THROWS_AS(parse_settings("not json"), std::invalid_argument);
}

TEST_CASE("discovery command: selection flags, include_ignored means --run-ignored all, filters split like sh") {
  Settings s;
  CHECK(list_argv(s, "") == std::vector<std::string>{"cargo", "nextest", "list", "--message-format", "json"});

  s.package = "core";
  s.features = {"net", "tls"};
  s.bin = "cli";
  s.include_ignored = true;
  auto argv = list_argv(s, "-E 'test(/^net::/) & not test(slow)' --lib");
  CHECK(argv == std::vector<std::string>{"cargo", "nextest", "list", "--message-format", "json", "-p", "core",
                                         "--features", "net,tls", "--bin", "cli", "--run-ignored", "all", "-E",
                                         "test(/^net::/) & not test(slow)", "--lib"});
  CHECK_THROWS_AS(list_argv(s, "-E 'unterminated"), std::invalid_argument);
}

TEST_CASE("shell_split and shell_quote round-trip awkward words") {
  auto w = shell_split(R"(a "b c" 'd "e"' f\ g "h\"i" '')");
  REQUIRE(w);
  CHECK(*w == std::vector<std::string>{"a", "b c", "d \"e\"", "f g", "h\"i", ""});
  std::vector<std::string> words{"plain", "with space", "it's", "$(rm -rf /)", "`x`", "a\nb", ""};
  std::string line;
  for (auto& x : words) line += shell_quote(x) + " ";
  auto back = shell_split(line);
  REQUIRE(back);
  CHECK(*back == words);
}

TEST_CASE("listing: keeps filter-match 'matches' (or absent), IDs are '{binary-id} {test}'") {
  auto p = parse_list_json(read("list-default.json"));
  REQUIRE_MESSAGE(p.ok(), p.error);
  CHECK(ids_of(p) == std::vector<std::string>{"mycrate tests::adds", "mycrate tests::always_fails",
                                              "mycrate tests::weird[*?]\\name,(x)", "mycrate::bin/cli parses_args",
                                              "mycrate::integration end_to_end"});

  auto all = parse_list_json(read("list-run-ignored-all.json"));
  REQUIRE(all.ok());
  auto ids = ids_of(all);
  CHECK(std::find(ids.begin(), ids.end(), "mycrate tests::slow_network") != ids.end());
  for (auto& t : all.tests) {
    if (t.name == "tests::slow_network") CHECK(t.ignored);
  }

  // Absent filter-match (older listings) counts as a match; binary-id falls back to the key.
  auto old = parse_list_json(R"({"rust-suites":{"k":{"testcases":{"t1":{"ignored":false},"t2":{}}}}})");
  REQUIRE(old.ok());
  CHECK(ids_of(old) == std::vector<std::string>{"k t1", "k t2"});
}

TEST_CASE("listing errors are explained") {
  CHECK(parse_list_json("").error == "stdout is empty");
  CHECK(parse_list_json("error: no such command: `nextest`").error == "stdout holds no JSON object");
  CHECK(parse_list_json("{\"rust-suites\": {").error == "stdout is not valid JSON");
  CHECK(parse_list_json("{\"tests\": []}").error.find("rust-suites") != std::string::npos);
  CHECK(parse_list_json(R"({"rust-suites":{"b":{"testcases":[]}}})").error.find("testcases") != std::string::npos);
  // A warning line before the document is tolerated.
  auto p = parse_list_json("warning: something\n{\"rust-suites\":{\"b\":{\"binary-id\":\"b\",\"testcases\":{\"t\":{}}}}}\n");
  REQUIRE_MESSAGE(p.ok(), p.error);
  CHECK(p.tests.size() == 1);

  auto m = discovery_error("all", 101, 0, "", "error: no such command: `nextest`\n", "");
  CHECK(m.find("exit code 101") != std::string::npos);
  CHECK(m.find("cargo install cargo-nextest") != std::string::npos);
  CHECK(m.find("stderr: error: no such command") != std::string::npos);
  auto m2 = discovery_error("g", 0, 0, "garbage", "", "stdout holds no JSON object");
  CHECK(m2.find("stdout begins: garbage") != std::string::npos);
}

TEST_CASE("format_id and split_id are inverse for the default and custom formats") {
  CHECK(format_id("{classname} {name}", "mycrate::bin/cli", "parses_args") == "mycrate::bin/cli parses_args");
  CHECK(format_id("{name}", "b", "{classname}") == "{classname}"); // one pass: no re-substitution
  using P = std::pair<std::string, std::string>;
  CHECK(split_id("{classname} {name}", "mycrate::bin/cli a b") == P{"mycrate::bin/cli", "a b"});
  CHECK(split_id("[{classname}] {name}!", "[mycrate] tests::x!") == P{"mycrate", "tests::x"});
  CHECK(split_id("{name} @ {classname}", "tests::a @ b @ mycrate") == P{"mycrate", "tests::a @ b"});
  CHECK(split_id("{name}", "tests::x") == P{"", "tests::x"});
  CHECK_FALSE(split_id("{classname} {name}", "nospace"));
  CHECK_FALSE(split_id("{classname}", "x"));
}

TEST_CASE("filterset: exact matchers, DSL escapes, grouped by binary") {
  CHECK(filterset_escape(R"(a\b)c,d/e*f?[g])") == R"(a\\b\)c\,d/e*f?[g])");
  CHECK(filterset_escape("x\ny\tz\x01") == "x\\ny\\tz\\u{1}");
  CHECK(filterset_for({{"mycrate", "tests::adds"}}) == "binary_id(=mycrate) & test(=tests::adds)");
  CHECK(filterset_for({{"mycrate", "a"}, {"mycrate::bin/cli", "b"}, {"mycrate", "c"}}) ==
        "(binary_id(=mycrate) & (test(=a) | test(=c))) | (binary_id(=mycrate::bin/cli) & test(=b))");
  CHECK(filterset_for({{"", "only_name"}}) == "test(=only_name)");
  CHECK(filterset_for({}) == "none()");
}

TEST_CASE("run plan: tool config with a dedicated profile, flags, filterset, exit code kept") {
  Settings s;
  s.package = "core";
  s.features = {"net"};
  s.include_ignored = true;
  auto plan = run_plan(s, {"mycrate tests::adds", "mycrate::bin/cli parses_args"}, "/tmp/r-1.result", false, "/w", {});
  CHECK(plan.config_path == "/tmp/r-1.result.nextest.toml");
  CHECK(plan.run_args == std::vector<std::string>{"cargo", "nextest", "run", "--tool-config-file",
                                                  "offload:/tmp/r-1.result.nextest.toml", "--profile", "offload",
                                                  "--no-fail-fast", "-p", "core", "--features", "net",
                                                  "--run-ignored", "all"});
  CHECK(plan.filterset ==
        "(binary_id(=mycrate) & test(=tests::adds)) | (binary_id(=mycrate::bin/cli) & test(=parses_args))");
  CHECK(plan.script.find("-E '" + plan.filterset + "'") != std::string::npos);
  CHECK(plan.script.find("exit $__offload_rc") != std::string::npos);

  auto ff = run_plan(s, {"mycrate tests::adds"}, "/tmp/r.result", true, "/w", {});
  CHECK(std::find(ff.run_args.begin(), ff.run_args.end(), "--fail-fast") != ff.run_args.end());

  // A relative result path is made absolute (nextest wants absolute tool config paths).
  CHECK(run_plan(s, {"a b"}, "rel/r.xml", false, "/proj", {}).config_path == "/proj/rel/r.xml.nextest.toml");
  // IDs known from discovery win over re-splitting.
  auto known = run_plan(s, {"weird id"}, "/tmp/r", false, "/w", {{"weird id", {"bin", "weird id"}}});
  CHECK(known.filterset == "binary_id(=bin) & test(=weird id)");
  Settings custom;
  custom.test_id_format = "{classname}::{name}";
  CHECK_THROWS_AS(run_plan(custom, {"no-separator"}, "/tmp/r", false, "/w", {}), std::invalid_argument);
}

TEST_CASE("tool config text is valid TOML with an escaped absolute JUnit path") {
  auto t = tool_config_text("/tmp/a \"b\"\\c.result");
  CHECK(t.find("[profile.offload]\n") != std::string::npos);
  CHECK(t.find("retries = 0\n") != std::string::npos);
  CHECK(t.find("[profile.offload.junit]\n") != std::string::npos);
  CHECK(t.find(R"(path = "/tmp/a \"b\"\\c.result")") != std::string::npos);
  CHECK(toml_string("a\nb\x01") == "\"a\\nb\\u0001\"");
}

TEST_CASE("run script executes under sh: writes the tool config, calls cargo, keeps its exit code") {
  // A throwaway `cargo` that records its argv and the config it was given, then exits 100 like nextest on failures.
  std::string dir = "/tmp/offload-nextest-unit-" + std::to_string(::getpid());
  std::string setup = "rm -rf " + shell_quote(dir) + " && mkdir -p " + shell_quote(dir) + "/bin && cat > " +
                      shell_quote(dir) + "/bin/cargo <<'EOF'\n#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"" +
                      dir + "/argv\"\ncp \"" + dir + "/batch.result.nextest.toml\" \"" + dir + "/cfg-seen\"\nexit 100\nEOF\nchmod +x " + shell_quote(dir) + "/bin/cargo";
  REQUIRE(std::system(setup.c_str()) == 0);
  Settings s;
  auto plan = run_plan(s, {"mycrate tests::it's $(x)"}, dir + "/batch.result", false, dir, {});
  std::ofstream(dir + "/script.sh") << plan.script;
  std::string cmd = "PATH=" + shell_quote(dir + "/bin") + ":$PATH sh " + shell_quote(dir + "/script.sh") + " 2>" +
                    shell_quote(dir + "/err");
  int rc = std::system(cmd.c_str());
  CHECK(WEXITSTATUS(rc) == 100);
  std::ifstream argv_in(dir + "/argv");
  std::vector<std::string> argv;
  for (std::string line; std::getline(argv_in, line);) argv.push_back(line);
  REQUIRE(argv.size() == plan.run_args.size() + 1);
  CHECK(argv.back() == "binary_id(=mycrate) & test(=tests::it's $(x\\))"); // ')' escaped for the DSL
  // The throwaway cargo saw the tool config; the script removes it afterwards.
  std::ifstream cfg(dir + "/cfg-seen");
  std::stringstream ss;
  ss << cfg.rdbuf();
  CHECK(ss.str() == tool_config_text(dir + "/batch.result"));
  CHECK_FALSE(std::ifstream(dir + "/batch.result.nextest.toml").good());
  std::ifstream err(dir + "/err");
  std::stringstream es;
  es << err.rdbuf();
  CHECK(es.str().find("wrote no JUnit report") != std::string::npos);
  std::system(("rm -rf " + shell_quote(dir)).c_str());
}

TEST_CASE("results: nextest JUnit through the host parser, final status kept, IDs by test_id_format") {
  auto cases = host_parse(read("junit-batch.xml"));
  auto results = results_from_cases(cases, "{classname} {name}");
  std::map<std::string, offload_test_status> by_id;
  for (auto& r : results) by_id[r.id] = r.status;
  CHECK(by_id.size() == 5);
  CHECK(by_id["mycrate tests::adds"] == OFFLOAD_TEST_PASSED);
  CHECK(by_id["mycrate tests::always_fails"] == OFFLOAD_TEST_FAILED); // rerunFailure does not change it
  CHECK(by_id["mycrate tests::weird[*?]\\name,(x)"] == OFFLOAD_TEST_PASSED); // flakyFailure then pass
  CHECK(by_id["mycrate::bin/cli parses_args"] == OFFLOAD_TEST_PASSED);
  CHECK(by_id["mycrate::bin/cli hangs_forever"] == OFFLOAD_TEST_ERROR);
  for (auto& r : results) {
    if (r.id == "mycrate tests::always_fails") {
      CHECK(r.message == "test failure with exit code 101");
      CHECK(r.text.find("assertion `left == right` failed") != std::string::npos);
      CHECK(r.classname == "mycrate");
      CHECK(r.name == "tests::always_fails");
      CHECK(r.duration_secs == doctest::Approx(0.012));
    }
  }
  // The IDs match discovery's for the same tests.
  auto listed = ids_of(parse_list_json(read("list-default.json")));
  for (auto& id : {"mycrate tests::adds", "mycrate tests::always_fails", "mycrate::bin/cli parses_args"}) {
    CHECK(std::find(listed.begin(), listed.end(), id) != listed.end());
  }
  auto custom = results_from_cases(cases, "{classname}::{name}");
  CHECK(custom[0].id == "mycrate::tests::adds");
}

TEST_CASE("run plan: --retries N only when the host grants in-process retries") {
  Settings s;
  auto none = run_plan(s, {"mycrate tests::adds"}, "/tmp/r.result", false, "/w", {});
  CHECK(std::find(none.run_args.begin(), none.run_args.end(), "--retries") == none.run_args.end());
  CHECK(none.retries == 0);
  CHECK(none.script.find("--no-fail-fast -E ") != std::string::npos);

  s.package = "core";
  auto two = run_plan(s, {"mycrate tests::adds"}, "/tmp/r.result", false, "/w", {}, 2);
  CHECK(two.run_args == std::vector<std::string>{"cargo", "nextest", "run", "--tool-config-file",
                                                 "offload:/tmp/r.result.nextest.toml", "--profile", "offload",
                                                 "--no-fail-fast", "--retries", "2", "-p", "core"});
  CHECK(two.retries == 2);
  CHECK(two.script.find("--no-fail-fast --retries 2 -p core -E ") != std::string::npos);
  // The tool config keeps retries = 0: the command line beats it where a grant applies.
  CHECK(tool_config_text("/tmp/r.result").find("retries = 0\n") != std::string::npos);
}

namespace {

struct Runs {
  std::vector<offload::plugin::Result> all;
  /// The results of one ID, in the order reported.
  std::vector<offload::plugin::Result> of(const std::string& id) const {
    std::vector<offload::plugin::Result> out;
    for (auto& r : all)
      if (r.id == id) out.push_back(r);
    return out;
  }
};

Runs results_with_retries(const std::string& xml, unsigned retries) {
  return {results_from_cases(host_parse(xml), "{classname} {name}", parse_recorded_runs(xml), retries)};
}

std::vector<unsigned> attempts(const std::vector<offload::plugin::Result>& rs) {
  std::vector<unsigned> out;
  for (auto& r : rs) out.push_back(r.attempt);
  return out;
}

std::vector<offload_test_status> statuses(const std::vector<offload::plugin::Result>& rs) {
  std::vector<offload_test_status> out;
  for (auto& r : rs) out.push_back(r.status);
  return out;
}

} // namespace

TEST_CASE("recorded runs: every flaky*/rerun* element of each testcase, in document order") {
  auto cases = parse_recorded_runs(read("junit-retries.xml"));
  REQUIRE(cases.size() == 5);
  CHECK(cases[0].name == "tests::adds");
  CHECK(cases[0].runs.empty());
  REQUIRE(cases[2].runs.size() == 2);
  CHECK(cases[2].runs[0].flaky);
  CHECK(cases[2].runs[0].status == OFFLOAD_TEST_FAILED);
  CHECK(cases[2].runs[1].status == OFFLOAD_TEST_ERROR); // flakyError
  CHECK(cases[2].runs[1].message.empty());
  auto& rerun = cases[3].runs.at(0);
  CHECK_FALSE(rerun.flaky);
  CHECK(rerun.time_secs == doctest::Approx(0.011));
  CHECK(rerun.message == "thread 'tests::always_fails' panicked at src/lib.rs:31:9");
  CHECK(rerun.type == "test failure with exit code 101");
  // The description is the element's own text, without the indentation before <system-out>.
  CHECK(rerun.text == "thread 'tests::always_fails' panicked at src/lib.rs:31:9:\nassertion `left == right` failed "
                      "(run 2)\n  left: 1\n right: 2");
  CHECK(rerun.system_out.find("FAILED (run 2)") != std::string::npos);
  CHECK(rerun.system_err.find("(run 2)") != std::string::npos);
  CHECK(cases[4].classname == "mycrate::bin/cli");

  // Older reports with the text in <stackTrace> (junit-batch.xml) are read too.
  auto old = parse_recorded_runs(read("junit-batch.xml"));
  REQUIRE(old.size() == 5);
  REQUIRE(old[1].runs.size() == 1);
  CHECK(old[1].runs[0].text.find("assertion `left == right` failed") != std::string::npos);
  CHECK_THROWS_AS(parse_recorded_runs("<testsuites><testsuite>"), std::invalid_argument);
}

TEST_CASE("results with --retries: a flaky test is its failed runs, then the passing testcase") {
  auto r = results_with_retries(read("junit-retries.xml"), 2);
  auto once = r.of("mycrate tests::flaky_once");
  REQUIRE(once.size() == 2);
  CHECK(attempts(once) == std::vector<unsigned>{1, 2});
  CHECK(statuses(once) == std::vector<offload_test_status>{OFFLOAD_TEST_FAILED, OFFLOAD_TEST_PASSED});
  CHECK(once[0].message == "thread 'tests::flaky_once' panicked at src/lib.rs:40:9");
  CHECK(once[0].text.find("connection refused (first run)") != std::string::npos);
  CHECK(once[0].duration_secs == doctest::Approx(0.017));
  CHECK(once[0].system_err.find("RUST_BACKTRACE") != std::string::npos);
  CHECK(once[1].duration_secs == doctest::Approx(0.006));
  CHECK(once[1].message.empty());
  for (auto& x : once) {
    CHECK(x.name == "tests::flaky_once");
    CHECK(x.classname == "mycrate");
  }

  auto twice = r.of("mycrate tests::flaky_twice");
  CHECK(attempts(twice) == std::vector<unsigned>{1, 2, 3});
  CHECK(statuses(twice) ==
        std::vector<offload_test_status>{OFFLOAD_TEST_FAILED, OFFLOAD_TEST_ERROR, OFFLOAD_TEST_PASSED});
  CHECK(twice[1].type == "test exited with code 0, but leaked handles so was marked failed");

  // A test that ran once keeps attempt 0.
  auto adds = r.of("mycrate tests::adds");
  REQUIRE(adds.size() == 1);
  CHECK(adds[0].attempt == 0);
  CHECK(adds[0].status == OFFLOAD_TEST_PASSED);
}

TEST_CASE("results with --retries: a test failing every run is the testcase's failure first, then the reruns") {
  auto r = results_with_retries(read("junit-retries.xml"), 2);
  auto f = r.of("mycrate tests::always_fails");
  REQUIRE(f.size() == 3);
  CHECK(attempts(f) == std::vector<unsigned>{1, 2, 3});
  CHECK(statuses(f) ==
        std::vector<offload_test_status>{OFFLOAD_TEST_FAILED, OFFLOAD_TEST_FAILED, OFFLOAD_TEST_FAILED});
  for (int i = 0; i < 3; ++i) {
    auto run = "(run " + std::to_string(i + 1) + ")";
    CHECK_MESSAGE(f[i].text.find(run) != std::string::npos, f[i].text);
    CHECK_MESSAGE(f[i].system_out.find(run) != std::string::npos, f[i].system_out);
    CHECK(f[i].type == "test failure with exit code 101");
  }
  CHECK(f[0].duration_secs == doctest::Approx(0.012));
  CHECK(f[2].duration_secs == doctest::Approx(0.013));

  // Error, then failure: each run keeps its own kind.
  auto e = r.of("mycrate::bin/cli spawns_helper");
  CHECK(attempts(e) == std::vector<unsigned>{1, 2});
  CHECK(statuses(e) == std::vector<offload_test_status>{OFFLOAD_TEST_ERROR, OFFLOAD_TEST_FAILED});
  CHECK(e[0].type == "execution failure");
  CHECK(e[0].system_out == "(process failed to start)");
  CHECK(e[1].message == "thread 'spawns_helper' panicked at src/main.rs:88:5");
  CHECK(e[1].duration_secs == doctest::Approx(0.3));
}

TEST_CASE("results with --retries: never more runs than granted, the last ones kept") {
  auto r = results_with_retries(read("junit-retries.xml"), 1);
  auto f = r.of("mycrate tests::always_fails");
  REQUIRE(f.size() == 2);
  CHECK(attempts(f) == std::vector<unsigned>{1, 2});
  CHECK(f[0].text.find("(run 2)") != std::string::npos);
  CHECK(f[1].text.find("(run 3)") != std::string::npos);
  auto twice = r.of("mycrate tests::flaky_twice");
  CHECK(statuses(twice) == std::vector<offload_test_status>{OFFLOAD_TEST_ERROR, OFFLOAD_TEST_PASSED});
}

TEST_CASE("results without a grant: one result per test, its final outcome, whatever nextest recorded") {
  auto xml = read("junit-retries.xml");
  auto r = results_with_retries(xml, 0);
  CHECK(r.all.size() == 5);
  for (auto& x : r.all) CHECK(x.attempt == 0);
  CHECK(r.of("mycrate tests::flaky_twice").at(0).status == OFFLOAD_TEST_PASSED);
  auto f = r.of("mycrate tests::always_fails").at(0);
  CHECK(f.status == OFFLOAD_TEST_FAILED);
  CHECK(f.text.find("(run 1)") != std::string::npos); // nextest's testcase is the first run
  // The same as without recorded runs at all (the plugin does not parse them then).
  auto plain = results_from_cases(host_parse(xml), "{classname} {name}");
  REQUIRE(plain.size() == r.all.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    CHECK(plain[i].id == r.all[i].id);
    CHECK(plain[i].status == r.all[i].status);
  }
}

TEST_CASE("results with --retries: flaky-result = fail, odd shapes, names repeated across testsuites") {
  // flaky-result = "fail": the passing last run is reported as a failure of
  // type "flaky failure", the earlier runs stay flakyFailure. Every run failed.
  const std::string flaky_fail = R"xml(<testsuites><testsuite name="b">
    <testcase name="t" classname="b" time="0.002">
        <failure message="(nextest's flaky-result message)" type="flaky failure"/>
        <flakyFailure time="0.004" message="first" type="test failure with exit code 101">first run</flakyFailure>
    </testcase></testsuite></testsuites>)xml";
  auto ff = results_with_retries(flaky_fail, 1).all;
  REQUIRE(ff.size() == 2);
  CHECK(ff[0].message == "first");
  CHECK(ff[1].type == "flaky failure");
  CHECK(statuses(ff) == std::vector<offload_test_status>{OFFLOAD_TEST_FAILED, OFFLOAD_TEST_FAILED});
  CHECK(attempts(ff) == std::vector<unsigned>{1, 2});

  // A rerunFailure under a passing testcase is not a shape nextest writes
  // (a run before the last would have passed): the final outcome, once.
  const std::string odd = R"(<testsuites><testsuite name="b"><testcase name="t" classname="b">
      <rerunFailure message="x" type="y">z</rerunFailure></testcase></testsuite></testsuites>)";
  auto o = results_with_retries(odd, 2).all;
  REQUIRE(o.size() == 1);
  CHECK(o[0].attempt == 0);
  CHECK(o[0].status == OFFLOAD_TEST_PASSED);

  // Stress runs repeat a test in one testsuite per sub-run: matched in order.
  const std::string stress = R"(<testsuites>
    <testsuite name="b@stress-0"><testcase name="t" classname="b" time="0.1"/></testsuite>
    <testsuite name="b@stress-1"><testcase name="t" classname="b" time="0.2">
      <flakyFailure time="0.3" message="m" type="test failure with exit code 101">boom</flakyFailure>
    </testcase></testsuite></testsuites>)";
  auto st = results_with_retries(stress, 1).all;
  CHECK(attempts(st) == std::vector<unsigned>{0, 1, 2});
  CHECK(st[1].duration_secs == doctest::Approx(0.3));
}
