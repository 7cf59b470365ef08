#include <doctest/doctest.h>

#include <algorithm>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "history/history.hpp"
#include "history_test_util.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

using namespace offload;
using namespace offload::test;

namespace {

HistoryOptions options(const std::string& path, int reservoir = 20, double def = 1.0) {
  HistoryOptions o;
  o.path = path;
  o.config_key = "offload.toml";
  o.reservoir_size = reservoir;
  o.default_duration_secs = def;
  return o;
}

std::string slurp(const std::string& path) {
  return read_file(path).value_or("<missing>");
}

void spit(const std::string& path, const std::string& text) {
  REQUIRE(write_file_atomic(path, text) == "");
}

/// Record `count` separate runs of one passing/failing test, each with its own timestamp.
void record_runs(History& h, const std::string& id, AttemptStatus status, std::vector<double> secs,
                 int64_t first_ts = 1000) {
  for (size_t i = 0; i < secs.size(); ++i) {
    h.record({result(id, {{status, secs[i]}})}, first_ts + static_cast<int64_t>(i) * 1000,
             "r" + std::to_string(i));
  }
}

/// A file in the original's exact format (serde float formatting, two configs).
const char* kOriginalFile =
    "{\"k\":[\"offload.toml\",\"tests/a.py::test_a\"],\"v\":{\"n\":47,\"f\":3,\"last_run\":\"aKx7\","
    "\"ok\":[[\"aKx7\",1712000000000,2.1],[\"Z9pQ\",1711990000000,2.0]],\"fail\":[[\"Z9pQ\",1711998000000,2.3]]}}\n"
    "{\"k\":[\"offload.toml\",\"tests/b.py::test_b\"],\"v\":{\"n\":1,\"f\":0,\"last_run\":\"aKx7\","
    "\"ok\":[[\"aKx7\",1712000000000,0.001]],\"fail\":[]}}\n"
    "{\"k\":[\"other.toml\",\"x\"],\"v\":{\"n\":2,\"f\":0,\"last_run\":\"q\",\"ok\":[[\"q\",5,1e-07]],\"fail\":[]}}\n";

} // namespace

TEST_CASE("history: load + save with no changes is byte-stable") {
  TempDir dir;
  const std::string path = dir / "offload-history.jsonl";
  spit(path, kOriginalFile);
  History h = History::load(options(path));
  CHECK(h.warnings().empty());
  CHECK(h.size() == 2);
  CHECK_FALSE(h.empty());
  REQUIRE(h.save() == "");
  CHECK(slurp(path) == kOriginalFile);

  // Values really were parsed.
  const HistoryValues* a = h.find("tests/a.py::test_a");
  REQUIRE(a);
  CHECK(a->n == 47);
  CHECK(a->f == 3);
  CHECK(a->last_run == "aKx7");
  REQUIRE(a->ok.size() == 2);
  CHECK(a->ok[0] == HistorySample{"aKx7", 1712000000000ULL, 2.1});
  REQUIRE(a->fail.size() == 1);
  CHECK(a->fail[0].secs == doctest::Approx(2.3));
  CHECK(h.find("x") == nullptr);  // other config's key
}

TEST_CASE("history: written lines have the original's format, sorted by key, and are stable") {
  TempDir dir;
  const std::string path = dir / "h.jsonl";
  History h = History::load(options(path));
  CHECK(h.empty());
  h.record({passed("t::b", 1.5), result("t::a", {{AttemptStatus::Failed, 2.0}, {AttemptStatus::Passed, 0.25}})},
           1712000000000, "AbC1");
  REQUIRE(h.save() == "");
  const std::string first = slurp(path);
  CHECK(first ==
        "{\"k\":[\"offload.toml\",\"t::a\"],\"v\":{\"n\":2,\"f\":1,\"last_run\":\"AbC1\","
        "\"ok\":[[\"AbC1\",1712000000001,0.25]],\"fail\":[[\"AbC1\",1712000000000,2.0]]}}\n"
        "{\"k\":[\"offload.toml\",\"t::b\"],\"v\":{\"n\":1,\"f\":0,\"last_run\":\"AbC1\","
        "\"ok\":[[\"AbC1\",1712000000000,1.5]],\"fail\":[]}}\n");

  History again = History::load(options(path));
  REQUIRE(again.save() == "");
  CHECK(slurp(path) == first);

  // An unsorted file comes back sorted.
  auto lines = split_lines(first);
  spit(path, lines[1] + "\n" + lines[0] + "\n");
  History unsorted = History::load(options(path));
  REQUIRE(unsorted.save() == "");
  CHECK(slurp(path) == first);
}

TEST_CASE("history: ids that need escaping survive a round trip") {
  TempDir dir;
  const std::string path = dir / "h.jsonl";
  const std::string weird = "tests/t.py::test[\"quote\\back\nnew\tline ü]";
  History h = History::load(options(path));
  h.record({passed(weird, 1.0)}, 1, "AAAA");
  REQUIRE(h.save() == "");
  History back = History::load(options(path));
  CHECK(back.warnings().empty());
  REQUIRE(back.find(weird));
  CHECK(back.find(weird)->n == 1);
  CHECK(split_lines(slurp(path)).size() == 1);  // the newline is escaped, one record per line
}

TEST_CASE("history: corrupt lines are skipped with a warning, never fatal") {
  TempDir dir;
  const std::string path = dir / "h.jsonl";
  const std::string good1 = "{\"k\":[\"offload.toml\",\"a\"],\"v\":{\"n\":1,\"f\":0,\"last_run\":\"r\",\"ok\":[[\"r\",1,1.0]],\"fail\":[]}}";
  const std::string good2 = "{\"k\":[\"offload.toml\",\"b\"],\"v\":{\"n\":1,\"f\":1,\"last_run\":\"r\",\"ok\":[],\"fail\":[[\"r\",1,3.0]]}}";
  spit(path, good1 + "\n" +
                 "<<<<<<< HEAD\n"
                 "{\"k\":[\"offload.toml\",\"c\"],\"v\":{\"n\":1\n"                   // truncated
                 "{\"k\":[\"offload.toml\"],\"v\":{}}\n"                              // key of one element
                 "{\"k\":[\"offload.toml\",\"d\"],\"v\":{\"n\":-1,\"f\":0,\"last_run\":\"r\",\"ok\":[],\"fail\":[]}}\n"
                 "{\"k\":[\"offload.toml\",\"e\"],\"v\":{\"n\":1,\"f\":0,\"last_run\":\"r\",\"ok\":[[\"r\",1]],\"fail\":[]}}\n"
                 "\n" +
                 good2 + "\n");
  History h = History::load(options(path));
  CHECK(h.size() == 2);
  CHECK(h.find("a"));
  CHECK(h.find("b"));
  REQUIRE(h.warnings().size() == 5);
  CHECK(h.warnings()[0].find(path + ":2:") == 0);
  CHECK(h.warnings()[0].find("corrupt") != std::string::npos);
  CHECK(h.warnings()[4].find(path + ":6:") == 0);

  // Saving drops the corrupt lines and keeps the good ones verbatim.
  REQUIRE(h.save() == "");
  CHECK(slurp(path) == good1 + "\n" + good2 + "\n");
}

TEST_CASE("history: a duplicated key (e.g. a union merge) is merged with a warning") {
  TempDir dir;
  const std::string path = dir / "h.jsonl";
  spit(path,
       "{\"k\":[\"offload.toml\",\"a\"],\"v\":{\"n\":3,\"f\":1,\"last_run\":\"x\",\"ok\":[[\"x\",1,1.0]],\"fail\":[]}}\n"
       "{\"k\":[\"offload.toml\",\"a\"],\"v\":{\"n\":2,\"f\":0,\"last_run\":\"y\",\"ok\":[[\"y\",2,1.0]],\"fail\":[]}}\n");
  History h = History::load(options(path));
  CHECK(h.warnings().size() == 1);
  REQUIRE(h.find("a"));
  CHECK(h.find("a")->n == 5);  // disjoint samples: the counters add up
  CHECK(h.find("a")->ok.size() == 2);
  CHECK(h.find("a")->last_run == "y");
}

TEST_CASE("history: a missing file is an empty history") {
  TempDir dir;
  History h = History::load(options(dir / "nope/h.jsonl"));
  CHECK(h.empty());
  CHECK(h.warnings().empty());
  CHECK_FALSE(h.failure_rate("x").has_value());
  // Saving creates the directory.
  h.record({passed("x", 1)}, 1, "r");
  REQUIRE(h.save() == "");
  CHECK(History::load(options(dir / "nope/h.jsonl")).size() == 1);
}

TEST_CASE("history: estimate follows the original's rules") {
  TempDir dir;
  History h = History::load(options(dir / "h.jsonl", 20, 2.5));

  SUBCASE("default when nothing is known") {
    auto e = h.estimate("t");
    CHECK(e.secs == 2.5);
    CHECK_FALSE(e.known);
  }
  SUBCASE("p75 of ok with at least 5 samples") {
    record_runs(h, "t", AttemptStatus::Passed, {5, 1, 4, 2, 3});
    auto e = h.estimate("t");
    CHECK(e.known);
    CHECK(e.secs == doctest::Approx(4.0));  // sorted 1..5, index round(0.75*4) = 3
  }
  SUBCASE("4 samples are not enough: config mean, else default") {
    record_runs(h, "t", AttemptStatus::Passed, {9, 9, 9, 9});
    CHECK_FALSE(h.estimate("t").known);
    CHECK(h.estimate("t").secs == 2.5);
    record_runs(h, "u", AttemptStatus::Passed, {4, 4, 4, 4, 4}, 100000);
    record_runs(h, "v", AttemptStatus::Passed, {2, 2, 2, 2, 2, 2}, 200000);
    auto e = h.estimate("t");
    CHECK_FALSE(e.known);
    CHECK(e.secs == doctest::Approx(3.0));  // mean of u's 4 and v's 2
    CHECK(h.estimate("never-seen").secs == doctest::Approx(3.0));
  }
  SUBCASE("ok and fail p75 weighted by the failure rate") {
    record_runs(h, "t", AttemptStatus::Passed, {2, 2, 2, 2, 2, 2});
    record_runs(h, "t", AttemptStatus::Failed, {10, 10, 10, 10, 10, 10}, 50000);
    REQUIRE(h.failure_rate("t").has_value());
    CHECK(*h.failure_rate("t") == doctest::Approx(0.5));
    auto e = h.estimate("t");
    CHECK(e.known);
    CHECK(e.secs == doctest::Approx(6.0));
  }
  SUBCASE("failure weighting uses the counters, not the reservoir sizes") {
    HistoryOptions small = options(dir / "h2.jsonl", 5, 1.0);
    History s = History::load(small);
    record_runs(s, "t", AttemptStatus::Passed, std::vector<double>(15, 1.0));
    record_runs(s, "t", AttemptStatus::Failed, std::vector<double>(5, 9.0), 900000);
    CHECK(s.find("t")->ok.size() == 5);
    CHECK(*s.failure_rate("t") == doctest::Approx(0.25));
    CHECK(s.estimate("t").secs == doctest::Approx(0.75 * 1.0 + 0.25 * 9.0));
  }
  SUBCASE("only the fail reservoir has enough samples") {
    record_runs(h, "t", AttemptStatus::Error, {7, 7, 7, 7, 7});
    auto e = h.estimate("t");
    CHECK(e.known);
    CHECK(e.secs == doctest::Approx(7.0));
    CHECK(*h.failure_rate("t") == doctest::Approx(1.0));
  }
  SUBCASE("other configs do not feed the config mean") {
    TempDir d2;
    const std::string path = d2 / "h.jsonl";
    HistoryOptions other = options(path);
    other.config_key = "other.toml";
    History o = History::load(other);
    record_runs(o, "big", AttemptStatus::Passed, {100, 100, 100, 100, 100});
    REQUIRE(o.save() == "");
    History mine = History::load(options(path, 20, 2.5));
    CHECK(mine.empty());
    CHECK(mine.estimate("big").secs == 2.5);
    CHECK_FALSE(mine.estimate("big").known);
  }
}

TEST_CASE("history: record counts attempts, skips Skipped and NotRun") {
  TempDir dir;
  History h = History::load(options(dir / "h.jsonl"));
  h.record({result("t", {{AttemptStatus::Failed, 1.0},
                         {AttemptStatus::Error, 2.0},
                         {AttemptStatus::NotRun, 0.0},
                         {AttemptStatus::Passed, 3.0}}),
            result("skipped", {{AttemptStatus::Skipped, 0.0}}),
            result("notrun", {{AttemptStatus::NotRun, 0.0}})},
           5000, "Run1");
  const HistoryValues* v = h.find("t");
  REQUIRE(v);
  CHECK(v->n == 3);
  CHECK(v->f == 2);
  CHECK(v->last_run == "Run1");
  CHECK(v->ok == std::vector<HistorySample>{{"Run1", 5002, 3.0}});
  CHECK(v->fail == std::vector<HistorySample>{{"Run1", 5000, 1.0}, {"Run1", 5001, 2.0}});
  CHECK(h.find("skipped") == nullptr);
  CHECK(h.find("notrun") == nullptr);
  CHECK(h.size() == 1);

  h.record({passed("t", 1.0)}, 9000, "Run2");
  CHECK(h.find("t")->last_run == "Run2");
  CHECK(h.find("t")->n == 4);
}

TEST_CASE("history: reservoirs are capped, deterministic and biased to recent samples") {
  TempDir dir;
  auto run = [&](const std::string& name) {
    History h = History::load(options(dir / name, 5));
    for (int i = 0; i < 100; ++i) {
      h.record({passed("t", i), failed("t", 1000 + i)}, 1700000000000LL + i * 60000, "r" + std::to_string(i));
    }
    REQUIRE(h.save() == "");
    return h;
  };
  History a = run("a.jsonl");
  History b = run("b.jsonl");
  const HistoryValues* v = a.find("t");
  REQUIRE(v);
  CHECK(v->n == 200);
  CHECK(v->f == 100);
  CHECK(v->ok.size() == 5);
  CHECK(v->fail.size() == 5);
  CHECK(slurp(dir / "a.jsonl") == slurp(dir / "b.jsonl"));  // same inputs, same reservoir

  double mean_secs = 0;
  double max_secs = 0;
  for (const auto& s : v->ok) {
    mean_secs += s.secs / 5;
    max_secs = std::max(max_secs, s.secs);
  }
  CHECK(mean_secs > 50);   // uniform sampling would average ~49.5
  CHECK(max_secs >= 90);   // something from the latest tenth survives

  // Keys: deterministic, in [0, 1), and decaying weight lowers them.
  CHECK(reservoir_key(42, 0) == reservoir_key(42, 0));
  CHECK(reservoir_key(42, 0) != reservoir_key(43, 0));
  for (uint64_t ts : {0ULL, 1ULL, 1712000000000ULL}) {
    CHECK(reservoir_key(ts, 0) >= 0.0);
    CHECK(reservoir_key(ts, 0) < 1.0);
    CHECK(reservoir_key(ts, 10) <= reservoir_key(ts, 0));
  }
}

TEST_CASE("history: reservoir_insert replaces the minimum key only when the new key is larger") {
  std::vector<HistorySample> r;
  for (uint64_t ts = 1; ts <= 3; ++ts) {
    reservoir_insert(r, {"x", ts, 1.0}, 3);
  }
  CHECK(r.size() == 3);
  // Find, by brute force, one timestamp that must win and one that must lose.
  auto min_existing_key = [&](std::vector<HistorySample> rs) {
    std::sort(rs.begin(), rs.end(), [](auto& a, auto& b) { return a.ts_ms > b.ts_ms; });
    double m = 2;
    for (size_t i = 0; i < rs.size(); ++i) {
      m = std::min(m, reservoir_key(rs[i].ts_ms, i + 1));
    }
    return m;
  };
  const double threshold = min_existing_key(r);
  uint64_t winner = 0;
  uint64_t loser = 0;
  for (uint64_t ts = 100; ts < 10000 && (!winner || !loser); ++ts) {
    if (reservoir_key(ts, 0) > threshold) {
      winner = winner ? winner : ts;
    } else {
      loser = loser ? loser : ts;
    }
  }
  REQUIRE(winner);
  REQUIRE(loser);
  auto lost = r;
  reservoir_insert(lost, {"y", loser, 9.0}, 3);
  CHECK(std::none_of(lost.begin(), lost.end(), [](auto& s) { return s.run == "y"; }));
  auto won = r;
  reservoir_insert(won, {"y", winner, 9.0}, 3);
  CHECK(won.size() == 3);
  CHECK(std::count_if(won.begin(), won.end(), [](auto& s) { return s.run == "y"; }) == 1);
}

TEST_CASE("history: two History objects saving the same file keep both runs") {
  TempDir dir;
  const std::string path = dir / "h.jsonl";
  const std::string other_line =
      "{\"k\":[\"zzz.toml\",\"kept\"],\"v\":{\"n\":1,\"f\":0,\"last_run\":\"q\",\"ok\":[[\"q\",1,1e-07]],\"fail\":[]}}";
  {
    History seed = History::load(options(path));
    seed.record({passed("shared", 1.0), failed("shared", 1.0)}, 1000, "seed");
    REQUIRE(seed.save() == "");
    spit(path, slurp(path) + other_line + "\n");
  }
  History one = History::load(options(path));
  History two = History::load(options(path));
  one.record({passed("only-one", 1.0), passed("shared", 2.0)}, 2000, "one1");
  two.record({passed("only-two", 1.0), failed("shared", 3.0)}, 3000, "two2");
  REQUIRE(one.save() == "");
  REQUIRE(two.save() == "");

  History after = History::load(options(path));
  CHECK(after.find("only-one"));
  CHECK(after.find("only-two"));
  REQUIRE(after.find("shared"));
  CHECK(after.find("shared")->n == 4);  // 2 seeded + 1 + 1
  CHECK(after.find("shared")->f == 2);
  CHECK(after.find("shared")->ok.size() == 2);
  CHECK(after.find("shared")->fail.size() == 2);
  CHECK(after.find("shared")->last_run == "two2");
  CHECK(slurp(path).find(other_line + "\n") != std::string::npos);  // other config untouched

  // The second object now holds the merged state; saving again changes nothing.
  CHECK(two.find("only-one"));
  const std::string before = slurp(path);
  REQUIRE(two.save() == "");
  CHECK(slurp(path) == before);
  // And the first one, saving again, does not count its run twice.
  REQUIRE(one.save() == "");
  CHECK(History::load(options(path)).find("shared")->n == 4);
}

TEST_CASE("history: concurrent saves from real processes lose nothing (flock)") {
  TempDir dir;
  const std::string path = dir / "h.jsonl";
  constexpr int kRounds = 25;
  int go[2];
  REQUIRE(::pipe(go) == 0);
  std::vector<pid_t> kids;
  for (int child = 0; child < 2; ++child) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(go[1]);
      char c;
      if (::read(go[0], &c, 1) < 0) {
        ::_exit(3);
      }
      for (int i = 0; i < kRounds; ++i) {
        History h = History::load(options(path));
        std::this_thread::yield();
        h.record({passed("child-" + std::to_string(child), 1.0), passed("shared", 1.0)},
                 (child + 1) * 1000000 + i, "c" + std::to_string(child) + std::to_string(i));
        if (!h.save().empty()) {
          ::_exit(2);
        }
      }
      ::_exit(0);
    }
    kids.push_back(pid);
  }
  ::close(go[0]);
  ::close(go[1]);  // EOF releases both children at once
  for (pid_t pid : kids) {
    int st = 0;
    REQUIRE(::waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
  }
  History h = History::load(options(path));
  CHECK(h.warnings().empty());
  REQUIRE(h.find("child-0"));
  REQUIRE(h.find("child-1"));
  REQUIRE(h.find("shared"));
  CHECK(h.find("child-0")->n == kRounds);
  CHECK(h.find("child-1")->n == kRounds);
  CHECK(h.find("shared")->n == 2 * kRounds);
}

TEST_CASE("history: save waits for the lock held by another process") {
  TempDir dir;
  const std::string path = dir / "h.jsonl";
  int fd = ::open((path + ".lock").c_str(), O_RDWR | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    History h = History::load(options(path));
    h.record({passed("from-child", 1.0)}, 1, "kid1");
    ::_exit(h.save().empty() ? 0 : 2);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int st = 0;
  CHECK(::waitpid(pid, &st, WNOHANG) == 0);  // still blocked on the lock
  CHECK(slurp(path) == "<missing>");
  ::flock(fd, LOCK_UN);
  ::close(fd);
  REQUIRE(::waitpid(pid, &st, 0) == pid);
  CHECK(WEXITSTATUS(st) == 0);
  CHECK(History::load(options(path)).find("from-child"));
}

TEST_CASE("history: reservoir_merge de-duplicates, respects evictions, caps") {
  using S = HistorySample;
  std::vector<S> base{{"a", 1, 1}, {"b", 2, 1}, {"c", 3, 1}};
  std::vector<S> ours{{"b", 2, 1}, {"c", 3, 1}, {"d", 4, 1}};    // evicted a, added d
  std::vector<S> theirs{{"a", 1, 1}, {"c", 3, 1}, {"e", 5, 1}};  // evicted b, added e
  auto merged = reservoir_merge(&base, ours, theirs, 3);
  CHECK(merged == std::vector<S>{{"c", 3, 1}, {"d", 4, 1}, {"e", 5, 1}});

  // Without a base: a plain de-duplicated union, capped.
  auto u = reservoir_merge(nullptr, ours, theirs, 10);
  CHECK(u.size() == 5);
  auto capped = reservoir_merge(nullptr, ours, theirs, 2);
  CHECK(capped.size() == 2);
  CHECK(capped == reservoir_merge(nullptr, theirs, ours, 2));  // symmetric
}

TEST_CASE("history: merge_history_values counters") {
  HistoryValues base{10, 2, "r0", {}, {}};
  HistoryValues ours{15, 3, "r1", {{"r1", 100, 1.0}}, {}};
  HistoryValues theirs{12, 4, "r2", {{"r2", 200, 1.0}}, {}};
  auto m = merge_history_values(&base, ours, theirs, 20);
  CHECK(m.n == 17);
  CHECK(m.f == 5);
  CHECK(m.last_run == "r2");  // newest sample
  CHECK(m.ok.size() == 2);

  // No base, disjoint samples: the counters add.
  auto d = merge_history_values(nullptr, ours, theirs, 20);
  CHECK(d.n == 27);
  CHECK(d.f == 7);
  // No base, identical sides: nothing is counted twice.
  auto same = merge_history_values(nullptr, ours, ours, 20);
  CHECK(same.n == 15);
  CHECK(same.f == 3);
  // No base, half the samples shared.
  HistoryValues x{10, 0, "x", {{"s", 1, 1.0}, {"x", 2, 1.0}}, {}};
  HistoryValues y{10, 0, "y", {{"s", 1, 1.0}, {"y", 3, 1.0}}, {}};
  auto half = merge_history_values(nullptr, x, y, 20);
  CHECK(half.n == 15);  // 10 + 10 - 0.5 * 10
  CHECK(half.ok.size() == 3);
}

TEST_CASE("history: history_merge_files three-way") {
  TempDir dir;
  auto line = [](const std::string& cfg, const std::string& id, int n, int f, const std::string& last,
                 const std::string& ok) {
    return "{\"k\":[\"" + cfg + "\",\"" + id + "\"],\"v\":{\"n\":" + std::to_string(n) + ",\"f\":" +
           std::to_string(f) + ",\"last_run\":\"" + last + "\",\"ok\":[" + ok + "],\"fail\":[]}}\n";
  };
  const std::string untouched = line("b.toml", "z", 1, 0, "q", "[\"q\",7,1e-07]");
  spit(dir / "base", line("a.toml", "t", 10, 2, "r0", "[\"r0\",1,1.0]") + untouched);
  spit(dir / "ours", line("a.toml", "only-ours", 1, 0, "r1", "[\"r1\",2,1.0]") +
                         line("a.toml", "t", 15, 3, "r1", "[\"r0\",1,1.0],[\"r1\",2,1.0]") + untouched);
  spit(dir / "theirs", line("a.toml", "only-theirs", 1, 1, "r2", "") +
                           line("a.toml", "t", 12, 4, "r2", "[\"r0\",1,1.0],[\"r2\",3,1.0]") + untouched);
  std::string err = "x";
  REQUIRE(history_merge_files(dir / "base", dir / "ours", dir / "theirs", 20, &err) == 0);
  CHECK(err == "");
  std::vector<std::string> warnings;
  HistoryMap merged = parse_history(slurp(dir / "ours"), "merged", 20, &warnings);
  CHECK(warnings.empty());
  CHECK(merged.size() == 4);
  const auto& t = merged.at({"a.toml", "t"}).v;
  CHECK(t.n == 17);
  CHECK(t.f == 5);
  CHECK(t.ok.size() == 3);
  CHECK(t.last_run == "r2");
  CHECK(merged.count({"a.toml", "only-ours"}));
  CHECK(merged.count({"a.toml", "only-theirs"}));
  CHECK(slurp(dir / "ours").find(untouched) != std::string::npos);
  CHECK(slurp(dir / "theirs").find("only-ours") == std::string::npos);  // only %A is written

  // Merging a file with itself is a byte-for-byte no-op; a missing base is empty.
  const std::string merged_text = slurp(dir / "ours");
  spit(dir / "copy", merged_text);
  REQUIRE(history_merge_files(dir / "absent", dir / "ours", dir / "copy", 20, &err) == 0);
  CHECK(slurp(dir / "ours") == merged_text);

  // A corrupt line in an input is reported, the rest merged.
  spit(dir / "bad", "garbage\n" + line("a.toml", "new", 1, 0, "r9", ""));
  REQUIRE(history_merge_files(dir / "absent", dir / "ours", dir / "bad", 20, &err) == 0);
  CHECK(err.find("bad:1:") != std::string::npos);
  CHECK(slurp(dir / "ours").find("\"new\"") != std::string::npos);

  // An unwritable result is an error, not a crash.
  spit(dir / "plain-file", "x");
  err.clear();
  CHECK(history_merge_files(dir / "base", dir / "plain-file/ours", dir / "theirs", 20, &err) == 1);
  CHECK(err.find("plain-file/ours") != std::string::npos);
}

TEST_CASE("history: new_run_id is 4 base62 characters") {
  std::string a = new_run_id();
  CHECK(a.size() == 4);
  CHECK(std::all_of(a.begin(), a.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }));
  int distinct = 0;
  for (int i = 0; i < 20; ++i) {
    distinct += new_run_id() != a ? 1 : 0;
  }
  CHECK(distinct >= 19);
}
