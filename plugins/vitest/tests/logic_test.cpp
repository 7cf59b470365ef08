/// Unit tests of the vitest plugin's translation logic, fed with real vitest
/// 4.1.12 output recorded from tests/fixtures/vitest (see data/README.md).
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "vitest_logic.hpp"

using namespace offload::vitest;

namespace {

const std::string kFixtureRoot = "/work/main/tests/fixtures/vitest"; ///< where list.json / results-*.json were recorded
const std::string kSandboxRoot = "/tmp/offload-sandbox-3/app";       ///< where results-batch-sandbox.json was recorded

std::string read(const std::string& name) {
  std::ifstream in(std::string(OFFLOAD_VITEST_TEST_DATA) + "/" + name, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing test data " << name);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines(const std::string& name) {
  std::vector<std::string> out;
  std::istringstream in(read(name));
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

const IdFormat kDefault{"{classname} > {name}"};

std::map<std::string, TestResult> by_id(const std::vector<TestResult>& v) {
  std::map<std::string, TestResult> m;
  for (auto& r : v) {
    CHECK_MESSAGE(m.count(r.id) == 0, "reported twice: " << r.id);
    m[r.id] = r;
  }
  return m;
}

std::vector<std::string> ids_of(const std::vector<ListedTest>& tests) {
  std::vector<std::string> ids;
  for (auto& t : tests) ids.push_back(t.id);
  return ids;
}

} // namespace

TEST_CASE("shell_split splits like sh") {
  CHECK(*shell_split("npx vitest") == std::vector<std::string>{"npx", "vitest"});
  CHECK(*shell_split("  node_modules/.bin/vitest  ") == std::vector<std::string>{"node_modules/.bin/vitest"});
  CHECK(*shell_split("--project 'a b' \"c \\\"d\\\"\" e\\ f") ==
        std::vector<std::string>{"--project", "a b", "c \"d\"", "e f"});
  CHECK(*shell_split("x '' y") == std::vector<std::string>{"x", "", "y"});
  CHECK(shell_split("")->empty());
  CHECK_FALSE(shell_split("'unterminated").has_value());
  CHECK_FALSE(shell_split("\"unterminated").has_value());
}

TEST_CASE("settings: defaults, command splitting, run_args, bad values") {
  auto s = parse_settings(R"({"type":"vitest","command":"npx vitest","test_id_format":"{classname} > {name}"})");
  CHECK(s.command == std::vector<std::string>{"npx", "vitest"});
  CHECK(s.run_args.empty());
  CHECK(command_env(s) == std::vector<std::pair<std::string, std::string>>{{"NPM_CONFIG_LOGLEVEL", "error"}});
  s = parse_settings(R"({"command":"node_modules/.bin/vitest","run_args":"--pool=threads --project 'web app'"})");
  CHECK(s.command == std::vector<std::string>{"node_modules/.bin/vitest"});
  CHECK(s.run_args == std::vector<std::string>{"--pool=threads", "--project", "web app"});
  CHECK(command_env(s).empty());
  CHECK_THROWS_AS(parse_settings(R"({"command":""})"), Failure);
  CHECK_THROWS_AS(parse_settings(R"({"command":"npx 'vitest"})"), Failure);
  CHECK_THROWS_AS(parse_settings(R"({"run_args":3})"), Failure);
  CHECK_THROWS_AS(parse_settings("not json"), Failure);
}

TEST_CASE("IdFormat builds IDs and takes them apart") {
  CHECK(kDefault.format("src/a.test.ts", "outer > t") == "src/a.test.ts > outer > t");
  auto p = kDefault.parse("src/a.test.ts > outer > a > b");
  REQUIRE(p);
  CHECK(p->file == "src/a.test.ts");
  CHECK(p->name == "outer > a > b");
  CHECK_FALSE(kDefault.parse("no separator here"));

  IdFormat swapped("{name} @ {classname}");
  CHECK(swapped.format("f.ts", "d @ t") == "d @ t @ f.ts");
  auto q = swapped.parse("d @ t @ f.ts");
  REQUIRE(q);
  CHECK(q->file == "f.ts");
  CHECK(q->name == "d @ t");

  IdFormat name_only("[{name}]");
  CHECK_FALSE(name_only.has_file());
  CHECK(name_only.format("ignored.ts", "t") == "[t]");
  CHECK(name_only.parse("[t]")->name == "t");

  CHECK_THROWS_AS(IdFormat("{classname}"), Failure);
  CHECK_THROWS_AS(IdFormat("{classname}{name}"), Failure);
  CHECK_THROWS_AS(IdFormat("{name} {name}"), Failure);
}

TEST_CASE("discovery command puts --json last so it cannot swallow a filter") {
  Settings s;
  auto argv = discover_argv(s, "src/math 'with space'");
  CHECK(argv == std::vector<std::string>{"npx", "vitest", "list", "src/math", "with space", "--includeTaskLocation",
                                         "--json"});
  CHECK(discover_argv(s, "").size() == 5);
  CHECK_THROWS_AS(discover_argv(s, "'open"), Failure);
}

TEST_CASE("relative_to: under the root, through the known files, else unchanged") {
  CHECK(relative_to("/app/src/a.test.ts", "/app") == "src/a.test.ts");
  CHECK(relative_to("/app/src/a.test.ts", "/app/") == "src/a.test.ts");
  CHECK(relative_to("/application/a.test.ts", "/app") == "/application/a.test.ts");
  CHECK(relative_to("/elsewhere/root/src/a.test.ts", "/nonexistent-root", {"a.test.ts", "src/a.test.ts"}) ==
        "src/a.test.ts");
  CHECK(relative_to("/x/b.test.ts", "/nonexistent-root", {"src/a.test.ts"}) == "/x/b.test.ts");
}

TEST_CASE("parse_list: recorded `vitest list --json` of the fixture") {
  auto tests = parse_list(read("list.json"), "", 0, 0, kFixtureRoot, kDefault);
  CHECK(tests.size() == 25);
  auto ids = ids_of(tests);
  for (auto* id : {"src/math.test.ts > math > adds", "src/math.test.ts > math > nested > inc 1 -> 2",
                   "src/math.test.ts > math > nested > deeper > logs to the console", "src/math.test.ts > shared name",
                   "src/strings.test.ts > shared name", "src/strings.test.ts > regex names > a > b",
                   "src/strings.test.ts > regex names > a+b (c)?", "src/strings.test.ts > regex names > back\\slash {2,3} *",
                   "src/strings.test.ts > regex names > it's \"quoted\"", "src/math.test.ts > each b",
                   "src/lifecycle.test.ts > lifecycle > skips itself at run time"}) {
    CHECK_MESSAGE(std::count(ids.begin(), ids.end(), id) == 1, id);
  }
  // Statically skipped and todo tests are not listed by vitest.
  CHECK(std::count(ids.begin(), ids.end(), "src/math.test.ts > math > skipped case") == 0);
  CHECK(std::count(ids.begin(), ids.end(), "src/math.test.ts > math > todo case") == 0);
  for (auto& t : tests) {
    CHECK_MESSAGE(t.file.rfind("src/", 0) == 0, t.file); // relative, not /work/...
    CHECK(t.line > 0);
  }
  auto adds = std::find_if(tests.begin(), tests.end(), [](auto& t) { return t.id == "src/math.test.ts > math > adds"; });
  CHECK(adds->line == 6);
  CHECK(adds->name == "math > adds");
}

TEST_CASE("parse_list: a project root given with a trailing slash still yields relative files") {
  auto tests = parse_list(read("list.json"), "", 0, 0, kFixtureRoot + "/", kDefault);
  CHECK(tests.front().file.rfind("src/", 0) == 0);
}

TEST_CASE("parse_list: duplicate IDs fail discovery, naming both tests") {
  try {
    parse_list(read("list-duplicates.json"), "", 0, 0, "/tmp/offload-dup", kDefault);
    FAIL("duplicates were accepted");
  } catch (const Failure& e) {
    std::string m = e.what();
    CHECK(e.kind() == Failure::Kind::Discovery);
    CHECK(m.find("2 duplicate vitest test ID(s)") != std::string::npos);
    CHECK(m.find("'src/dup.test.ts > cart > same'") != std::string::npos);
    CHECK(m.find("first at src/dup.test.ts:4, again at src/dup.test.ts:5") != std::string::npos);
    CHECK(m.find("'src/dup.test.ts > cart > adds 1'") != std::string::npos);
    CHECK(m.find("Rename") != std::string::npos);
    // The same names in another file are not duplicates.
    CHECK(m.find("other.test.ts") == std::string::npos);
  }
}

TEST_CASE("parse_list: vitest's own failure is reported with its stderr, colours stripped") {
  try {
    parse_list(read("list-syntax-error.stdout"), read("list-syntax-error.stderr"), 1, 0, "/tmp/offload-dup", kDefault);
    FAIL("a failed listing was accepted");
  } catch (const Failure& e) {
    std::string m = e.what();
    CHECK(m.find("exited with code 1 without printing a JSON test list") != std::string::npos);
    CHECK(m.find("PARSE_ERROR") != std::string::npos);
    CHECK(m.find("broken.test.ts") != std::string::npos);
    CHECK(m.find('\x1b') == std::string::npos);
  }
  CHECK_THROWS_AS(parse_list("", "", 0, 0, "/p", kDefault), Failure);          // nothing printed
  CHECK_THROWS_AS(parse_list("[]", "", 0, 9, "/p", kDefault), Failure);        // killed
  CHECK(parse_list("[]\n", "", 0, 0, "/p", kDefault).empty());                 // nothing to run is not an error
  auto noisy = parse_list("setup says hi\n[{\"name\":\"t\",\"file\":\"/p/a.test.ts\"}]\n", "", 0, 0, "/p", kDefault);
  REQUIRE(noisy.size() == 1);
  CHECK(noisy[0].id == "a.test.ts > t");
}

TEST_CASE("regex_escape escapes every metacharacter") {
  CHECK(regex_escape("a+b (c)?") == "a\\+b \\(c\\)\\?");
  CHECK(regex_escape("[x] $ ^ | . * {1} \\ /") == "\\[x\\] \\$ \\^ \\| \\. \\* \\{1\\} \\\\ \\/");
  CHECK(regex_escape("plain-name_1 'q' \"d\"") == "plain-name_1 'q' \"d\"");
}

TEST_CASE("name_pattern: anchored alternatives, ' > ' matching either form, duplicates once") {
  CHECK(name_pattern({"adds"}) == "^(?:adds)$");
  CHECK(name_pattern({"math > adds", "shared name", "shared name"}) == "^(?:math(?: > | )adds|shared name)$");
}

TEST_CASE("run_argv reproduces the recorded batch command") {
  Settings s;
  s.command = {"node_modules/.bin/vitest"};
  auto ids = lines("batch-ids.txt");
  auto cmd = run_argv(s, kDefault, ids, "/tmp/offload-sandbox-3/result-7.json", false);
  CHECK_FALSE(cmd.pattern_dropped);
  CHECK(cmd.argv == lines("batch-argv.txt"));
}

TEST_CASE("run_argv: fail-fast, run_args last, a test name is never a file, the pattern size cap") {
  Settings s;
  s.run_args = {"--pool=threads"};
  auto cmd = run_argv(s, kDefault, {"a.test.ts > t", "-odd.test.ts > u"}, "/r.json", true);
  CHECK(cmd.argv == std::vector<std::string>{"npx", "vitest", "run", "a.test.ts", "./-odd.test.ts",
                                             "--testNamePattern=^(?:t|u)$", "--reporter=verbose", "--hideSkippedTests",
                                             "--reporter=json", "--outputFile.json=/r.json", "--bail", "1",
                                             "--pool=threads"});
  CHECK_THROWS_AS(run_argv(s, kDefault, {"no separator"}, "/r.json", false), Failure);

  std::vector<std::string> many;
  for (int i = 0; i < 5000; ++i) many.push_back("a.test.ts > a rather long test name number " + std::to_string(i));
  auto big = run_argv(s, kDefault, many, "/r.json", false);
  CHECK(big.pattern_dropped);
  CHECK(std::none_of(big.argv.begin(), big.argv.end(), [](auto& a) { return a.rfind("--testNamePattern", 0) == 0; }));
  CHECK(std::count(big.argv.begin(), big.argv.end(), "a.test.ts") == 1);
}

TEST_CASE("parse_results: the full recorded run maps every discovered test") {
  auto ids = ids_of(parse_list(read("list.json"), "", 0, 0, kFixtureRoot, kDefault));
  auto r = by_id(parse_results(read("results-full.json"), ids, kFixtureRoot, kDefault));
  CHECK(r.size() == ids.size());
  auto& fail = r.at("src/math.test.ts > math > multiplies wrongly");
  CHECK(fail.status == Status::Failed);
  CHECK(fail.message == "AssertionError: expected 4 to be 5 // Object.is equality");
  CHECK(fail.type == "AssertionError");
  CHECK(fail.text.find("src/math.test.ts:11") != std::string::npos);
  CHECK(fail.classname == "src/math.test.ts");
  CHECK(fail.name == "math > multiplies wrongly");
  auto& thrown = r.at("src/lifecycle.test.ts > lifecycle > throws an error");
  CHECK(thrown.status == Status::Failed);
  CHECK(thrown.type == "TypeError");
  CHECK(thrown.message == "TypeError: boom from the test");
  auto& pass = r.at("src/math.test.ts > math > nested > inc 1 -> 2");
  CHECK(pass.status == Status::Passed);
  CHECK(pass.duration_secs > 0);
  CHECK(pass.duration_secs < 1); // ms became seconds
  auto& self_skip = r.at("src/lifecycle.test.ts > lifecycle > skips itself at run time");
  CHECK(self_skip.status == Status::Skipped);
  CHECK(r.at("src/strings.test.ts > regex names > a > b").status == Status::Passed);
  CHECK(r.at("src/strings.test.ts > shared name").status == Status::Passed);
  CHECK(r.at("src/math.test.ts > shared name").status == Status::Passed);
  int failed = 0;
  for (auto& [id, x] : r) failed += x.status == Status::Failed;
  CHECK(failed == 3);
}

TEST_CASE("parse_results: statically skipped and todo tests map to skipped when they are in the batch") {
  std::vector<std::string> ids = {"src/math.test.ts > math > skipped case", "src/math.test.ts > math > todo case",
                                  "src/lifecycle.test.ts > lifecycle > skipped suite > inside a skipped suite"};
  auto r = by_id(parse_results(read("results-full.json"), ids, kFixtureRoot, kDefault));
  REQUIRE(r.size() == 3);
  CHECK(r.at(ids[0]).status == Status::Skipped);
  CHECK(r.at(ids[1]).status == Status::Skipped);
  CHECK(r.at(ids[1]).message == "todo");
  CHECK(r.at(ids[2]).status == Status::Skipped);
}

TEST_CASE("parse_results: a batch run in a sandbox root reports exactly the batch, relative to that root") {
  auto ids = lines("batch-ids.txt");
  auto r = by_id(parse_results(read("results-batch-sandbox.json"), ids, kSandboxRoot, kDefault));
  CHECK(r.size() == ids.size());
  for (auto& id : ids) CHECK_MESSAGE(r.count(id) == 1, id);
  // Tests that also matched the pattern (same full name in another batch
  // file; "regex" > "names x" vs "regex names" > "x") ran but are not reported.
  CHECK(r.count("src/strings.test.ts > shared name") == 0);
  CHECK(r.count("src/strings.test.ts > regex > names x") == 0);
  CHECK(r.at("src/math.test.ts > math > multiplies wrongly").status == Status::Failed);
  CHECK(r.at("src/strings.test.ts > regex names > x").status == Status::Passed);
  CHECK(r.at("src/lifecycle.test.ts > lifecycle > skips itself at run time").status == Status::Skipped);
  for (auto& kv : r) {
    const auto& id = kv.first;
    const auto& x = kv.second;
    if (id.find("multiplies wrongly") == std::string::npos && id.find("skips itself") == std::string::npos)
      CHECK_MESSAGE(x.status == Status::Passed, id);
  }
}

TEST_CASE("parse_results: the sandbox root, not the local one, decides the relative paths") {
  auto ids = lines("batch-ids.txt");
  // Stripping the local root (the original's bug) would leave /tmp/... paths;
  // with an unrelated root, the batch's own files still identify them.
  auto r = by_id(parse_results(read("results-batch-sandbox.json"), ids, "/somewhere/else", kDefault));
  CHECK(r.size() == ids.size());
  for (auto& kv : r) {
    const auto& x = kv.second;
    CHECK_MESSAGE(x.classname.rfind("src/", 0) == 0, x.classname);
  }
}

TEST_CASE("parse_results: a file that fails at import makes its batch tests errors with the file's message") {
  std::vector<std::string> ids = {"src/lifecycle.test.ts > lifecycle > passes",
                                  "src/lifecycle.test.ts > lifecycle > throws an error", "src/math.test.ts > math > adds"};
  auto r = by_id(parse_results(read("results-broken.json"), ids, kFixtureRoot, kDefault));
  REQUIRE(r.size() == 3);
  for (auto* id : {"src/lifecycle.test.ts > lifecycle > passes", "src/lifecycle.test.ts > lifecycle > throws an error"}) {
    CHECK(r.at(id).status == Status::Error);
    CHECK(r.at(id).message == "lifecycle.test.ts is broken on purpose (mode=broken)");
    CHECK(r.at(id).text.find("src/lifecycle.test.ts failed before this test could run") != std::string::npos);
    CHECK(r.at(id).classname == "src/lifecycle.test.ts");
  }
  CHECK(r.at("src/lifecycle.test.ts > lifecycle > passes").name == "lifecycle > passes");
  CHECK(r.at("src/math.test.ts > math > adds").status == Status::Passed);
}

TEST_CASE("parse_results: after --bail, tests vitest never started are left for the host to report") {
  auto ids = ids_of(parse_list(read("list.json"), "", 0, 0, kFixtureRoot, kDefault));
  auto r = by_id(parse_results(read("results-bail.json"), ids, kFixtureRoot, kDefault));
  CHECK(r.at("src/strings.test.ts > regex names > fails with a message").status == Status::Failed);
  CHECK(r.count("src/strings.test.ts > regex > names x") == 0);     // "pending", never started
  CHECK(r.count("src/strings.test.ts > shared name") == 0);         // "pending", never started
  CHECK(r.count("src/math.test.ts > math > adds") == 0);            // its file never ran
  CHECK(r.count("src/lifecycle.test.ts > lifecycle > passes") == 0);
  for (auto& kv : r) {
    const auto& id = kv.first;
    const auto& x = kv.second;
    CHECK_MESSAGE(x.status != Status::Skipped, id);
  }
}

TEST_CASE("parse_results: unusable result files are parse failures") {
  CHECK_THROWS_AS(parse_results("", {"a > b"}, "/p", kDefault), Failure);
  CHECK_THROWS_AS(parse_results("{\"truncated\": ", {"a > b"}, "/p", kDefault), Failure);
  CHECK_THROWS_AS(parse_results("[]", {"a > b"}, "/p", kDefault), Failure);
  try {
    parse_results("{}", {"a > b"}, "/p", kDefault);
  } catch (const Failure& e) {
    CHECK(e.kind() == Failure::Kind::Parse);
  }
}

// --- in-process retries (--retry=N) ------------------------------------------

namespace {

const std::string kRetryRoot = "/tmp/offload-retry"; ///< where results-retry-*.json were recorded (record_retry.sh)

std::string retry_id(const std::string& name) { return "src/retry.test.ts > " + name; }

const std::vector<std::string> kRetryIds = {
    retry_id("retry > passes"),           retry_id("retry > flaky once"),       retry_id("retry > flaky twice"),
    retry_id("retry > always fails"),     retry_id("retry > soft then passes"), retry_id("retry > soft always"),
    retry_id("retry > own retry 0"),      retry_id("hook > after a flaky beforeEach")};

/// Each test's results in order (runs 1, 2, ... or one attempt-0 result).
std::map<std::string, std::vector<TestResult>> runs_by_id(const std::vector<TestResult>& v) {
  std::map<std::string, std::vector<TestResult>> m;
  for (auto& r : v) m[r.id].push_back(r);
  for (auto& [id, runs] : m) {
    if (runs.size() == 1) {
      CHECK_MESSAGE(runs[0].attempt == 0, id);
      continue;
    }
    for (size_t i = 0; i < runs.size(); ++i) {
      CHECK_MESSAGE(runs[i].attempt == i + 1, id);
      if (i + 1 < runs.size()) CHECK_MESSAGE(runs[i].status == Status::Failed, id); // the ABI's rule
    }
  }
  return m;
}

/// The recorded duration of one test (milliseconds, as vitest writes it).
double recorded_ms(const std::string& file, const std::string& title) {
  auto text = read(file);
  auto key = "\"title\":\"" + title + "\",\"duration\":";
  auto pos = text.find(key);
  REQUIRE_MESSAGE(pos != std::string::npos, title);
  return std::stod(text.substr(pos + key.size()));
}

std::vector<Status> statuses(const std::vector<TestResult>& runs) {
  std::vector<Status> s;
  for (auto& r : runs) s.push_back(r.status);
  return s;
}

} // namespace

TEST_CASE("has_own_retry: every spelling of vitest's retry option, nothing else") {
  CHECK(has_own_retry({"--retry", "2"}));
  CHECK(has_own_retry({"--pool=threads", "--retry=3"}));
  CHECK(has_own_retry({"--retry.count=2"}));
  CHECK(has_own_retry({"--retry.delay", "100"}));
  CHECK_FALSE(has_own_retry({}));
  CHECK_FALSE(has_own_retry({"--retryX", "--project", "retry", "--no-retry-hints"}));
}

TEST_CASE("run_argv: --retry=N only with a grant, before run_args") {
  Settings s;
  s.run_args = {"--pool=threads"};
  auto none = run_argv(s, kDefault, {"a.test.ts > t"}, "/r.json", false, 0);
  CHECK(none.retries == 0);
  CHECK_FALSE(none.own_retry);
  CHECK(none.argv == run_argv(s, kDefault, {"a.test.ts > t"}, "/r.json", false).argv); // as before retries existed
  CHECK(std::none_of(none.argv.begin(), none.argv.end(), [](auto& a) { return a.rfind("--retry", 0) == 0; }));

  auto two = run_argv(s, kDefault, {"a.test.ts > t", "a.test.ts > u"}, "/r.json", true, 2);
  CHECK(two.retries == 2);
  CHECK(two.argv == std::vector<std::string>{"npx", "vitest", "run", "a.test.ts", "--testNamePattern=^(?:t|u)$",
                                             "--reporter=verbose", "--hideSkippedTests", "--reporter=json",
                                             "--outputFile.json=/r.json", "--bail", "1", "--retry=2",
                                             "--pool=threads"});
  // The pattern is built exactly as without retries.
  Settings rec;
  rec.command = {"node_modules/.bin/vitest"};
  auto ids = lines("batch-ids.txt");
  auto with = run_argv(rec, kDefault, ids, "/tmp/offload-sandbox-3/result-7.json", false, 1).argv;
  auto expected = lines("batch-argv.txt");
  expected.push_back("--retry=1");
  CHECK(with == expected);
}

TEST_CASE("run_argv: the user's own --retry in run_args is kept alone, and the grant goes unused") {
  for (auto own : {std::vector<std::string>{"--retry", "3"}, {"--retry=3"}, {"--retry.count=3", "--retry.delay=10"}}) {
    Settings s;
    s.run_args = own;
    auto cmd = run_argv(s, kDefault, {"a.test.ts > t"}, "/r.json", false, 1);
    CHECK(cmd.own_retry);
    CHECK(cmd.retries == 0); // results are parsed as without retries: attempt 0
    CHECK(std::count_if(cmd.argv.begin(), cmd.argv.end(), [](auto& a) { return a.rfind("--retry", 0) == 0; }) ==
          std::count_if(own.begin(), own.end(), [](auto& a) { return a.rfind("--retry", 0) == 0; }));
    CHECK(std::equal(own.rbegin(), own.rend(), cmd.argv.rbegin()));
  }
  Settings s;
  s.run_args = {"--retry=3"};
  // Nothing granted, nothing unused.
  CHECK_FALSE(run_argv(s, kDefault, {"a.test.ts > t"}, "/r.json", false, 0).own_retry);
}

TEST_CASE("parse_results: without a grant every test is one result, as before retries existed") {
  auto plain = parse_results(read("results-retry-0.json"), kRetryIds, kRetryRoot, kDefault);
  auto r = by_id(plain);
  CHECK(r.size() == kRetryIds.size());
  for (auto& x : plain) CHECK(x.attempt == 0);
  CHECK(r.at(retry_id("retry > passes")).status == Status::Passed);
  CHECK(r.at(retry_id("retry > flaky once")).status == Status::Failed);
  CHECK(r.at(retry_id("retry > flaky once")).message == "AssertionError: expected 1 to be greater than 1");
  CHECK(r.at(retry_id("hook > after a flaky beforeEach")).message == "Error: beforeEach fails once");
  // A run with the user's own --retry is parsed the same way: one result, its last outcome.
  auto user = by_id(parse_results(read("results-retry-1.json"), kRetryIds, kRetryRoot, kDefault, 0));
  CHECK(user.at(retry_id("retry > flaky once")).status == Status::Passed);
  CHECK(user.at(retry_id("retry > flaky once")).attempt == 0);
  CHECK(user.at(retry_id("retry > always fails")).status == Status::Failed);
  CHECK(user.at(retry_id("retry > always fails")).text.find("expected 2 to be -2") != std::string::npos);
}

TEST_CASE("parse_results: --retry=1 turns each retried test into its runs") {
  const std::string file = "results-retry-1.json";
  auto runs = runs_by_id(parse_results(read(file), kRetryIds, kRetryRoot, kDefault, 1));
  CHECK(runs.size() == kRetryIds.size());

  CHECK(statuses(runs.at(retry_id("retry > passes"))) == std::vector<Status>{Status::Passed});

  auto& flaky = runs.at(retry_id("retry > flaky once"));
  REQUIRE(statuses(flaky) == std::vector<Status>{Status::Failed, Status::Passed});
  CHECK(flaky[0].message == "AssertionError: expected 1 to be greater than 1");
  CHECK(flaky[0].type == "AssertionError");
  CHECK(flaky[0].text.find("src/retry.test.ts:") != std::string::npos);
  CHECK(flaky[1].message.empty());
  CHECK(flaky[1].text.empty());
  CHECK(flaky[0].name == "retry > flaky once");
  CHECK(flaky[1].classname == "src/retry.test.ts");
  // vitest's duration covers both runs (each sleeps 50 ms): split evenly.
  double total = recorded_ms(file, "flaky once") / 1000;
  CHECK(total > 0.1);
  CHECK(flaky[0].duration_secs == doctest::Approx(total / 2));
  CHECK(flaky[1].duration_secs == doctest::Approx(total / 2));

  // Failed on both runs: one error each, in order.
  auto& always = runs.at(retry_id("retry > always fails"));
  REQUIRE(statuses(always) == std::vector<Status>{Status::Failed, Status::Failed});
  CHECK(always[0].message == "AssertionError: expected 1 to be -1 // Object.is equality");
  CHECK(always[1].message == "AssertionError: expected 2 to be -2 // Object.is equality");
  CHECK(always[0].text.find("expected 2") == std::string::npos);
  CHECK(runs.at(retry_id("retry > flaky twice")).size() == 2);

  // expect.soft: two errors from the one failed run; the count is capped at
  // the retries, and the run gets both.
  auto& soft = runs.at(retry_id("retry > soft then passes"));
  REQUIRE(statuses(soft) == std::vector<Status>{Status::Failed, Status::Passed});
  CHECK(soft[0].message == "AssertionError: expected 1 to be 10 // Object.is equality");
  CHECK(soft[0].text.find("expected 1 to be 20") != std::string::npos);
  // Four errors over two failed runs cannot be told apart: each run gets all.
  auto& soft_always = runs.at(retry_id("retry > soft always"));
  REQUIRE(statuses(soft_always) == std::vector<Status>{Status::Failed, Status::Failed});
  for (auto& x : soft_always) {
    CHECK(x.message == "AssertionError: expected 1 to be 10 // Object.is equality");
    CHECK(x.text.find("expected 2 to be 40") != std::string::npos);
  }

  // A beforeEach that fails once is a failed run like any other.
  auto& hook = runs.at(retry_id("hook > after a flaky beforeEach"));
  REQUIRE(statuses(hook) == std::vector<Status>{Status::Failed, Status::Passed});
  CHECK(hook[0].message == "Error: beforeEach fails once");
  CHECK(hook[0].type == "Error");

  // The test's own { retry: 0 } beats --retry: one error, so it ran once.
  CHECK(statuses(runs.at(retry_id("retry > own retry 0"))) == std::vector<Status>{Status::Failed});
}

TEST_CASE("parse_results: --retry=2 counts up to three runs, stopping at the first pass") {
  auto runs = runs_by_id(parse_results(read("results-retry-2.json"), kRetryIds, kRetryRoot, kDefault, 2));
  CHECK(statuses(runs.at(retry_id("retry > flaky once"))) == std::vector<Status>{Status::Failed, Status::Passed});
  auto& twice = runs.at(retry_id("retry > flaky twice"));
  REQUIRE(statuses(twice) == std::vector<Status>{Status::Failed, Status::Failed, Status::Passed});
  CHECK(twice[0].message == "AssertionError: expected 1 to be greater than 2");
  CHECK(twice[1].message == "AssertionError: expected 2 to be greater than 2");
  double total = recorded_ms("results-retry-2.json", "flaky twice") / 1000;
  for (auto& x : twice) CHECK(x.duration_secs == doctest::Approx(total / 3));
  auto& always = runs.at(retry_id("retry > always fails"));
  REQUIRE(always.size() == 3);
  CHECK(always[2].message == "AssertionError: expected 3 to be -3 // Object.is equality");
  // The rule's known limit: two soft errors in one failed run look like two
  // failed runs with one error each, so with --retry=2 the test that ran
  // twice is counted min(2, 2) + 1 = 3 times (with --retry=1 the cap made it
  // exact). Each counted run gets one of the errors.
  auto& soft = runs.at(retry_id("retry > soft then passes"));
  REQUIRE(statuses(soft) == std::vector<Status>{Status::Failed, Status::Failed, Status::Passed});
  CHECK(soft[0].message == "AssertionError: expected 1 to be 10 // Object.is equality");
  CHECK(soft[1].message == "AssertionError: expected 1 to be 20 // Object.is equality");
  CHECK(runs.at(retry_id("retry > soft always")).size() == 3);
  CHECK(statuses(runs.at(retry_id("hook > after a flaky beforeEach"))) ==
        std::vector<Status>{Status::Failed, Status::Passed});
  CHECK(runs.at(retry_id("retry > passes")).size() == 1);
  CHECK(runs.at(retry_id("retry > own retry 0")).size() == 1);
}

TEST_CASE("parse_results: file-level errors and skips stay single results under a grant") {
  std::vector<std::string> ids = {"src/lifecycle.test.ts > lifecycle > passes", "src/math.test.ts > math > adds"};
  auto broken = parse_results(read("results-broken.json"), ids, kFixtureRoot, kDefault, 2);
  REQUIRE(broken.size() == 2);
  for (auto& x : broken) CHECK(x.attempt == 0);
  auto full = parse_results(read("results-full.json"), {"src/lifecycle.test.ts > lifecycle > skips itself at run time"},
                            kFixtureRoot, kDefault, 2);
  REQUIRE(full.size() == 1);
  CHECK(full[0].status == Status::Skipped);
  CHECK(full[0].attempt == 0);
}
