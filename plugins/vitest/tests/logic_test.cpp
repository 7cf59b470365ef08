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
