/// Type errors with line numbers, validation rules, unknown-key warnings,
/// malformed TOML and missing files.
#include <doctest/doctest.h>

#include "config/config.hpp"
#include "config_test_helpers.hpp"

using namespace offload;
using offload::test::all_errors;
using offload::test::all_warnings;
using offload::test::find_error;
using offload::test::has_warning;
using offload::test::kMinimal;

namespace {

/// kMinimal occupies lines 1-5; extra text starts at line 6.
ConfigResult with_extra(const std::string& extra) {
  return parse_config(std::string(kMinimal) + extra, "offload.toml");
}

} // namespace

TEST_CASE("config errors: the message format of the brief") {
  ConfigResult r = parse_config(R"([provider]
type = "local"
[framework]
type = "pytest"
[groups.all]
[offload]
max_parallel = "ten"
)",
                                "offload.toml");
  CHECK_FALSE(r.ok());
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].str() == "offload.toml:7: offload.max_parallel: expected an integer, got string");
  CHECK(r.errors[0].line == 7);
  CHECK(r.errors[0].field == "offload.max_parallel");
}

TEST_CASE("config errors: each field's type is checked, with its line") {
  struct Case {
    const char* extra;
    const char* expected;
  };
  const Case cases[] = {
      {"[offload]\ntest_timeout_secs = 1.5\n", "offload.toml:7: offload.test_timeout_secs: expected an integer, got float"},
      {"[offload]\nworking_dir = 3\n", "offload.toml:7: offload.working_dir: expected a string, got integer"},
      {"[offload]\nsandbox_repo_root = true\n", "offload.toml:7: offload.sandbox_repo_root: expected a string, got boolean"},
      {"[offload]\nsandbox_init_cmd = []\n", "offload.toml:7: offload.sandbox_init_cmd: expected a string, got array"},
      {"[offload]\nmax_parallel_collection = \"x\"\n", "offload.toml:7: offload.max_parallel_collection: expected an integer, got string"},
      {"[offload]\nimpatiently_requeue_batches = 1\n", "offload.toml:7: offload.impatiently_requeue_batches: expected a boolean, got integer"},
      {"[groups.b]\nretry_count = \"2\"\n", "offload.toml:7: groups.b.retry_count: expected an integer, got string"},
      {"[groups.b]\nfilters = 1\n", "offload.toml:7: groups.b.filters: expected a string, got integer"},
      {"[groups.b]\nschedule_individual = \"yes\"\n", "offload.toml:7: groups.b.schedule_individual: expected a boolean, got string"},
      {"[report]\noutput_dir = 1\n", "offload.toml:7: report.output_dir: expected a string, got integer"},
      {"[report]\njunit = \"true\"\n", "offload.toml:7: report.junit: expected a boolean, got string"},
      {"[report]\ndownload_globs = \"*.log\"\n", "offload.toml:7: report.download_globs: expected an array of strings, got string"},
      {"[report]\ndownload_globs = [\"a\",\n 2]\n", "offload.toml:8: report.download_globs[1]: expected a string, got integer"},
      {"[history]\nreservoir_size = 1.0\n", "offload.toml:7: history.reservoir_size: expected an integer, got float"},
      {"[history]\ndefault_duration_secs = \"1\"\n", "offload.toml:7: history.default_duration_secs: expected a number, got string"},
      {"[history]\nrecord_history = \"sometimes\"\n", "offload.toml:7: history.record_history: expected \"always\" or \"flag\", got \"sometimes\""},
      {"[checkpoint]\nbuild_inputs = \"src\"\n", "offload.toml:7: checkpoint.build_inputs: expected an array of strings, got string"},
      {"[groups.b]\nretry_count = [1]\n", "offload.toml:7: groups.b.retry_count: expected an integer, got array"},
      {"[groups.b]\nfilters = {a = 1}\n", "offload.toml:7: groups.b.filters: expected a string, got table"},
      {"[offload]\nmax_parallel = 1979-05-27\n", "offload.toml:7: offload.max_parallel: expected an integer, got date"},
  };
  for (const Case& c : cases) {
    const std::string extra = c.extra;
    CAPTURE(extra);
    ConfigResult r = with_extra(c.extra);
    CHECK_FALSE(r.ok());
    CHECK_MESSAGE(find_error(r, c.expected) != nullptr, all_errors(r));
    CHECK(r.errors.size() == 1);
  }
}

TEST_CASE("config errors: a section that is not a table") {
  ConfigResult r = parse_config("report = 3\nhistory = \"on\"\n" + std::string(kMinimal), "offload.toml");
  CHECK(find_error(r, "offload.toml:1: report: expected a table, got integer"));
  CHECK(find_error(r, "offload.toml:2: history: expected a table, got string"));
  CHECK(r.errors.size() == 2);
}

TEST_CASE("config errors: provider and framework field types") {
  ConfigResult r = parse_config(R"([offload]
sandbox_repo_root = "/app"
[provider]
type = "modal"
include_cwd = "yes"
cpu_cores = "1"
memory_gb = 0
copy_dirs = ["nocolon", ":/x", "a:"]
experimental_options = 1
[provider.env]
N = 1
[framework]
type = "nextest"
features = "a"
include_ignored = 0
[groups.all]
)",
                                "offload.toml");
  CHECK_FALSE(r.ok());
  const std::string errs = all_errors(r);
  CHECK_MESSAGE(find_error(r, "offload.toml:5: provider.include_cwd: expected a boolean, got string"), errs);
  CHECK_MESSAGE(find_error(r, "offload.toml:6: provider.cpu_cores: expected a number, got string"), errs);
  CHECK_MESSAGE(find_error(r, "offload.toml:7: provider.memory_gb: expected a number > 0, got 0"), errs);
  CHECK_MESSAGE(find_error(r, "offload.toml:8: provider.copy_dirs[0]: expected \"local:remote\", got \"nocolon\""), errs);
  CHECK_MESSAGE(find_error(r, "provider.copy_dirs[1]: expected \"local:remote\""), errs);
  CHECK_MESSAGE(find_error(r, "provider.copy_dirs[2]: expected \"local:remote\""), errs);
  CHECK_MESSAGE(find_error(r, "offload.toml:9: provider.experimental_options: expected a table, got integer"), errs);
  CHECK_MESSAGE(find_error(r, "offload.toml:11: provider.env.N: expected a string, got integer"), errs);
  CHECK_MESSAGE(find_error(r, "offload.toml:14: framework.features: expected an array of strings, got string"), errs);
  CHECK_MESSAGE(find_error(r, "offload.toml:15: framework.include_ignored: expected a boolean, got integer"), errs);
  CHECK(r.errors.size() == 10);
  // Errors come in file order.
  for (size_t i = 1; i < r.errors.size(); ++i) {
    CHECK(r.errors[i - 1].line <= r.errors[i].line);
  }
}

TEST_CASE("config errors: range checks") {
  CHECK(find_error(with_extra("[offload]\nmax_parallel = 0\n"), "offload.toml:7: offload.max_parallel: expected an integer >= 1, got 0"));
  CHECK(find_error(with_extra("[offload]\ntest_timeout_secs = 0\n"), "offload.test_timeout_secs: expected an integer >= 1, got 0"));
  CHECK(find_error(with_extra("[offload]\nmax_parallel = 9999999999\n"), "offload.max_parallel: expected an integer <= 2147483647"));
  CHECK(find_error(with_extra("[groups.b]\nretry_count = -1\n"), "offload.toml:7: groups.b.retry_count: expected an integer >= 0, got -1"));
  CHECK(find_error(with_extra("[groups.b]\nretry_count = 1\nin_process_retries = -1\n"),
                   "offload.toml:8: groups.b.in_process_retries: expected an integer >= 0, got -1"));
  CHECK(find_error(with_extra("[groups.b]\nretry_count = 1\nin_process_retries = 2\n"),
                   "offload.toml:8: groups.b.in_process_retries: 2 is more than retry_count (1); in-process retries "
                   "are part of retry_count"));
  CHECK(find_error(with_extra("[history]\nreservoir_size = 0\n"), "history.reservoir_size: expected an integer >= 1, got 0"));
  CHECK(find_error(with_extra("[history]\ndefault_duration_secs = -1.0\n"), "history.default_duration_secs: expected a number > 0"));
  CHECK(find_error(with_extra("[offload]\nmax_parallel_collection = -1\n"), "offload.max_parallel_collection: expected an integer >= 0"));
  CHECK(find_error(with_extra("[report]\noutput_dir = \"\"\n"), "report.output_dir: must not be empty"));
  // Zero retries and a single sandbox are fine.
  CHECK(with_extra("[offload]\nmax_parallel = 1\ntest_timeout_secs = 1\n[groups.b]\nretry_count = 0\n").ok());
}

TEST_CASE("config errors: provider timeout must be >= 1") {
  ConfigResult r = parse_config(R"([offload]
sandbox_repo_root = "/app"
[provider]
type = "default"
create_command = "c"
exec_command = "e {command}"
destroy_command = "d"
timeout_secs = 0
[framework]
type = "pytest"
[groups.all]
)",
                                "offload.toml");
  CHECK(find_error(r, "offload.toml:8: provider.timeout_secs: expected an integer >= 1, got 0"));
}

TEST_CASE("config errors: all problems are reported, not only the first") {
  ConfigResult r = parse_config(R"([offload]
max_parallel = 0
test_timeout_secs = "x"
[provider]
type = "default"
[framework]
type = "default"
discover_command = "ls"
)",
                                "offload.toml");
  CHECK_FALSE(r.ok());
  const std::string errs = all_errors(r);
  CHECK_MESSAGE(find_error(r, "offload.toml:2: offload.max_parallel"), errs);
  CHECK_MESSAGE(find_error(r, "offload.toml:3: offload.test_timeout_secs"), errs);
  CHECK_MESSAGE(find_error(r, "offload.toml:4: provider.create_command: missing required key"), errs);
  CHECK_MESSAGE(find_error(r, "provider.exec_command: missing required key"), errs);
  CHECK_MESSAGE(find_error(r, "provider.destroy_command: missing required key"), errs);
  CHECK_MESSAGE(find_error(r, "offload.toml:8: framework.discover_command: must contain the {filters} placeholder"), errs);
  CHECK_MESSAGE(find_error(r, "framework.run_command: missing required key"), errs);
  CHECK_MESSAGE(find_error(r, "framework.test_id_format: missing required key"), errs);
  CHECK_MESSAGE(find_error(r, "groups: at least one group is required"), errs);
  CHECK_MESSAGE(find_error(r, "offload.sandbox_repo_root"), errs);
  CHECK(r.errors.size() == 10);
  // The partially read config is still returned for diagnostics.
  CHECK(r.config.has_value());
}

TEST_CASE("config errors: required sections and types") {
  SUBCASE("no provider") {
    ConfigResult r = parse_config("[framework]\ntype = \"pytest\"\n[groups.all]\n", "offload.toml");
    CHECK(find_error(r, "offload.toml: provider: missing required section [provider]"));
  }
  SUBCASE("no framework") {
    ConfigResult r = parse_config("[provider]\ntype = \"local\"\n[groups.all]\n", "offload.toml");
    CHECK(find_error(r, "framework: missing required section [framework]"));
  }
  SUBCASE("no type") {
    ConfigResult r = parse_config("[provider]\nshell = \"sh\"\n[framework]\ntype = \"pytest\"\n[groups.all]\n", "offload.toml");
    CHECK(find_error(r, "offload.toml:1: provider.type: missing required key"));
  }
  SUBCASE("type not a string") {
    ConfigResult r = parse_config("[provider]\ntype = 1\n[framework]\ntype = \"pytest\"\n[groups.all]\n", "offload.toml");
    CHECK(find_error(r, "offload.toml:2: provider.type: expected a string, got integer"));
  }
  SUBCASE("empty groups table") {
    ConfigResult r = parse_config("[provider]\ntype = \"local\"\n[framework]\ntype = \"pytest\"\n[groups]\n", "offload.toml");
    CHECK(find_error(r, "groups: at least one group is required"));
  }
  SUBCASE("group that is not a table") {
    ConfigResult r = parse_config("[provider]\ntype = \"local\"\n[framework]\ntype = \"pytest\"\n[groups]\nall = 1\n", "offload.toml");
    CHECK(find_error(r, "offload.toml:6: groups.all: expected a table, got integer"));
  }
  SUBCASE("empty required command") {
    ConfigResult r = parse_config(R"([offload]
sandbox_repo_root = "/app"
[provider]
type = "default"
create_command = ""
exec_command = "e {command}"
destroy_command = "d"
[framework]
type = "pytest"
[groups.all]
)",
                                  "offload.toml");
    CHECK(find_error(r, "offload.toml:5: provider.create_command: must not be empty"));
  }
  SUBCASE("test_id_format without a placeholder") {
    ConfigResult r = parse_config(
        "[provider]\ntype = \"local\"\n[framework]\ntype = \"pytest\"\ntest_id_format = \"id\"\n[groups.all]\n",
        "offload.toml");
    CHECK(find_error(r, "offload.toml:5: framework.test_id_format: must contain {name} and/or {classname}"));
  }
}

TEST_CASE("config warnings: unknown keys anywhere are warned and ignored") {
  ConfigResult r = parse_config(R"([offload]
max_paralel = 3
[provider]
type = "local"
dockerfile = "Dockerfile"
[framework]
type = "pytest"
features = ["x"]
[groups.all]
retries = 2
[report]
outdir = "x"
[history]
size = 3
[checkpoint]
build_inputs = ["src"]
nope = 1
[extras]
a = 1
)",
                                "offload.toml");
  REQUIRE_MESSAGE(r.ok(), all_errors(r));
  const auto& w = r.config->warnings;
  CHECK_MESSAGE(w.size() == 8, all_warnings(r));
  CHECK(has_warning(r, "offload.toml:2: unknown key 'offload.max_paralel' (ignored)"));
  CHECK(has_warning(r, "offload.toml:5: unknown key 'provider.dockerfile' for provider type 'local' (ignored)"));
  CHECK(has_warning(r, "offload.toml:8: unknown key 'framework.features' for framework type 'pytest' (ignored)"));
  CHECK(has_warning(r, "offload.toml:10: unknown key 'groups.all.retries' (ignored)"));
  CHECK(has_warning(r, "offload.toml:12: unknown key 'report.outdir' (ignored)"));
  CHECK(has_warning(r, "offload.toml:14: unknown key 'history.size' (ignored)"));
  CHECK(has_warning(r, "offload.toml:17: unknown key 'checkpoint.nope' (ignored)"));
  CHECK(has_warning(r, "offload.toml:18: unknown key 'extras' (ignored)"));
  // Ignored means ignored: the typed values keep their defaults.
  CHECK(r.config->offload.max_parallel == 10);
  CHECK(r.config->groups[0].retry_count == 0);
  // In file order.
  CHECK(w.front().find("offload.toml:2:") == 0);
  CHECK(w.back().find("offload.toml:18:") == 0);
}

TEST_CASE("config warnings: a provider key of another type is named with the type") {
  ConfigResult r = parse_config(R"([offload]
sandbox_repo_root = "/app"
[provider]
type = "modal"
shell = "/bin/bash"
create_command = "x"
[framework]
type = "vitest"
paths = ["t"]
[groups.all]
)",
                                "offload.toml");
  REQUIRE_MESSAGE(r.ok(), all_errors(r));
  CHECK(has_warning(r, "offload.toml:5: unknown key 'provider.shell' for provider type 'modal' (ignored)"));
  CHECK(has_warning(r, "offload.toml:6: unknown key 'provider.create_command' for provider type 'modal' (ignored)"));
  CHECK(has_warning(r, "offload.toml:9: unknown key 'framework.paths' for framework type 'vitest' (ignored)"));
}

TEST_CASE("config warnings: placeholders a command is expected to use") {
  ConfigResult r = parse_config(R"([offload]
sandbox_repo_root = "/app"
[provider]
type = "default"
create_command = "c"
exec_command = "e"
destroy_command = "d"
[framework]
type = "default"
discover_command = "ls {filters}"
run_command = "run"
test_id_format = "{name}"
[groups.all]
)",
                                "offload.toml");
  REQUIRE_MESSAGE(r.ok(), all_errors(r));
  CHECK(has_warning(r, "offload.toml:6: provider.exec_command has no {command} placeholder"));
  CHECK(has_warning(r, "offload.toml:11: framework.run_command has no {tests} placeholder"));
}

TEST_CASE("config: impatiently_requeue_batches and [checkpoint] are accepted silently") {
  ConfigResult r = with_extra("[offload]\nimpatiently_requeue_batches = false\n[checkpoint]\nbuild_inputs = [\"a\"]\n");
  REQUIRE_MESSAGE(r.ok(), all_errors(r));
  CHECK(r.config->warnings.empty());
}

TEST_CASE("config errors: malformed TOML reports file, line and column") {
  ConfigResult r = parse_config("[offload]\nmax_parallel = 4\nthis is not toml\n", "bad.toml");
  CHECK_FALSE(r.ok());
  CHECK_FALSE(r.config.has_value());
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].line == 3);
  CHECK(r.errors[0].column > 0);
  CHECK(r.errors[0].file == "bad.toml");
  CHECK(r.errors[0].str().find("bad.toml:3:") == 0);
  CHECK_FALSE(r.errors[0].message.empty());
}

TEST_CASE("config errors: a duplicate key is a syntax error on its line") {
  ConfigResult r = parse_config("[offload]\nmax_parallel = 4\nmax_parallel = 5\n", "dup.toml");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].line == 3);
}

TEST_CASE("config errors: a missing file") {
  ConfigResult r = load_config("/nonexistent/dir/offload.toml");
  CHECK_FALSE(r.ok());
  CHECK_FALSE(r.config.has_value());
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].file == "/nonexistent/dir/offload.toml");
  CHECK(r.errors[0].str().find("/nonexistent/dir/offload.toml: config file not found") == 0);
}

TEST_CASE("config errors: ConfigError::str without a line or field") {
  CHECK(ConfigError{"f.toml", 0, "", "boom"}.str() == "f.toml: boom");
  CHECK(ConfigError{"f.toml", 3, "", "boom"}.str() == "f.toml:3: boom");
  CHECK(ConfigError{"f.toml", 3, "a.b", "boom"}.str() == "f.toml:3: a.b: boom");
  ConfigError syntax{"f.toml", 3, "", "boom"};
  syntax.column = 9;
  CHECK(syntax.str() == "f.toml:3:9: boom");
}
