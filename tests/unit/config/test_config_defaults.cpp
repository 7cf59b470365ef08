/// Defaults of every section, the spec's example configs, group order and
/// the sandbox-root rules.
#include <doctest/doctest.h>

#include <filesystem>

#include "config/config.hpp"
#include "config_test_helpers.hpp"

using namespace offload;
using offload::test::all_errors;
using offload::test::all_warnings;
using offload::test::kMinimal;

TEST_CASE("config: a minimal file gets every spec default") {
  ConfigResult r = parse_config(kMinimal, "offload.toml");
  REQUIRE_MESSAGE(r.ok(), all_errors(r));
  const Config& c = *r.config;
  CHECK(c.path == "offload.toml");
  CHECK(std::filesystem::path(c.dir).is_absolute());
  CHECK(c.warnings.empty());

  CHECK(c.offload.max_parallel == 10);
  CHECK(c.offload.test_timeout_secs == 900);
  CHECK(c.offload.working_dir.empty());
  CHECK_FALSE(c.offload.sandbox_repo_root.has_value());
  CHECK_FALSE(c.offload.sandbox_project_root.has_value());
  CHECK_FALSE(c.offload.sandbox_init_cmd.has_value());
  CHECK_FALSE(c.offload.post_patch_cmd.has_value());
  CHECK(c.offload.max_parallel_collection == 0);
  CHECK(c.offload.impatiently_requeue_batches);

  CHECK(c.provider.type == "local");
  CHECK(c.provider.shell == "/bin/sh");
  CHECK(c.provider.env.empty());
  CHECK(c.provider.working_dir.empty());

  CHECK(c.framework.type == "pytest");
  CHECK(c.framework.command == "python -m pytest");
  CHECK(c.framework.test_id_format == "{name}");
  CHECK(c.framework.paths.empty());
  CHECK_FALSE(c.framework.run_args.has_value());

  REQUIRE(c.groups.size() == 1);
  CHECK(c.groups[0].name == "all");
  CHECK(c.groups[0].retry_count == 0);
  CHECK(c.groups[0].in_process_retries == 1); // capped by retry_count where it is used
  CHECK(c.groups[0].filters.empty());
  CHECK_FALSE(c.groups[0].schedule_individual);

  // Missing [report] means the spec's defaults (the original left them empty).
  CHECK(c.report.output_dir == "test-results");
  CHECK(c.report.junit);
  CHECK(c.report.junit_file == "junit.xml");
  CHECK(c.report.download_globs.empty());
  CHECK_FALSE(c.report.download_globs_failure_only);

  CHECK_FALSE(c.history.has_value());
}

TEST_CASE("config: an empty [history] gets the spec defaults") {
  ConfigResult r = parse_config(std::string(kMinimal) + "[history]\n", "offload.toml");
  REQUIRE_MESSAGE(r.ok(), all_errors(r));
  REQUIRE(r.config->history.has_value());
  CHECK(r.config->history->record_history == "flag");
  CHECK(r.config->history->path == "offload-history.jsonl");
  CHECK(r.config->history->reservoir_size == 20);
  CHECK(r.config->history->default_duration_secs == doctest::Approx(1.0));
}

TEST_CASE("config: default provider defaults") {
  ConfigResult r = parse_config(R"(
[offload]
sandbox_repo_root = "/app"
[provider]
type = "default"
create_command = "c"
exec_command = "e {command}"
destroy_command = "d"
[framework]
type = "pytest"
[groups.all]
)",
                                "offload.toml");
  REQUIRE_MESSAGE(r.ok(), all_errors(r));
  const ProviderSection& p = r.config->provider;
  CHECK(p.timeout_secs == 3600);
  CHECK(p.cpu_cores == doctest::Approx(1.0));
  CHECK(p.copy_dirs.empty());
  CHECK_FALSE(p.prepare_command.has_value());
  CHECK_FALSE(p.download_command.has_value());
  CHECK(p.create_command == "c");
  CHECK(p.exec_command == "e {command}");
  CHECK(p.destroy_command == "d");
}

TEST_CASE("config: modal provider defaults") {
  ConfigResult r = parse_config(R"(
[offload]
sandbox_repo_root = "/app"
[provider]
type = "modal"
[framework]
type = "pytest"
[groups.all]
)",
                                "offload.toml");
  REQUIRE_MESSAGE(r.ok(), all_errors(r));
  const ProviderSection& p = r.config->provider;
  CHECK(p.cpu_cores == doctest::Approx(0.125));
  CHECK_FALSE(p.include_cwd);
  CHECK_FALSE(p.memory_gb.has_value());
  CHECK_FALSE(p.dockerfile.has_value());
  CHECK(p.experimental_options_json == "{}");
}

TEST_CASE("config: framework defaults per type") {
  auto with_framework = [](const std::string& body) {
    return parse_config("[provider]\ntype = \"local\"\n[framework]\n" + body + "\n[groups.all]\n", "offload.toml");
  };
  SUBCASE("nextest") {
    ConfigResult r = with_framework("type = \"nextest\"");
    REQUIRE_MESSAGE(r.ok(), all_errors(r));
    CHECK(r.config->framework.test_id_format == "{classname} {name}");
    CHECK(r.config->framework.features.empty());
    CHECK_FALSE(r.config->framework.include_ignored);
    CHECK_FALSE(r.config->framework.package.has_value());
    CHECK_FALSE(r.config->framework.bin.has_value());
  }
  SUBCASE("vitest") {
    ConfigResult r = with_framework("type = \"vitest\"");
    REQUIRE_MESSAGE(r.ok(), all_errors(r));
    CHECK(r.config->framework.command == "npx vitest");
    CHECK(r.config->framework.test_id_format == "{classname} > {name}");
  }
  SUBCASE("default") {
    ConfigResult r = with_framework(
        "type = \"default\"\ndiscover_command = \"ls {filters}\"\nrun_command = \"run {tests}\"\ntest_id_format = "
        "\"{name}\"");
    REQUIRE_MESSAGE(r.ok(), all_errors(r));
    CHECK(r.config->framework.discover_command == "ls {filters}");
    CHECK(r.config->framework.run_command == "run {tests}");
    CHECK_FALSE(r.config->framework.result_file.has_value());
    CHECK(r.config->framework.working_dir.empty());
  }
}

TEST_CASE("config: every field of every section is read") {
  ConfigResult r = parse_config(R"(
[offload]
max_parallel = 3
test_timeout_secs = 42
working_dir = "w"
sandbox_repo_root = "/r"
sandbox_project_root = "/r/p"
sandbox_init_cmd = "init"
post_patch_cmd = "post"
max_parallel_collection = 2
impatiently_requeue_batches = false

[provider]
type = "default"
prepare_command = "prep"
create_command = "create {image_id}"
exec_command = "exec {sandbox_id} {command}"
destroy_command = "destroy {sandbox_id}"
download_command = "dl {sandbox_id} {paths}"
working_dir = "pw"
timeout_secs = 7
copy_dirs = ["a:/x", "b:/y:z"]
cpu_cores = 2
[provider.env]
K = "V"

[framework]
type = "pytest"
paths = ["t1", "t2"]
command = "python3 -m pytest"
run_args = "-x"
test_id_format = "{classname}::{name}"

[groups.g]
retry_count = 4
filters = "-m fast"
schedule_individual = true

[report]
output_dir = "out"
junit = false
junit_file = "j.xml"
download_globs = ["*.log"]
download_globs_failure_only = true

[history]
record_history = "always"
path = "h.jsonl"
reservoir_size = 5
default_duration_secs = 2

[checkpoint]
build_inputs = ["src"]
)",
                                "offload.toml");
  REQUIRE_MESSAGE(r.ok(), all_errors(r));
  CHECK_MESSAGE(r.config->warnings.empty(), all_warnings(r));
  const Config& c = *r.config;
  CHECK(c.offload.max_parallel == 3);
  CHECK(c.offload.test_timeout_secs == 42);
  CHECK(c.offload.working_dir == "w");
  CHECK(c.offload.sandbox_repo_root == "/r");
  CHECK(c.offload.sandbox_project_root == "/r/p");
  CHECK(c.offload.sandbox_init_cmd == "init");
  CHECK(c.offload.post_patch_cmd == "post");
  CHECK(c.offload.max_parallel_collection == 2);
  CHECK_FALSE(c.offload.impatiently_requeue_batches);

  CHECK(c.provider.prepare_command == "prep");
  CHECK(c.provider.download_command == "dl {sandbox_id} {paths}");
  CHECK(c.provider.working_dir == "pw");
  CHECK(c.provider.timeout_secs == 7);
  REQUIRE(c.provider.copy_dirs.size() == 2);
  CHECK(c.provider.copy_dirs[0].local == "a");
  CHECK(c.provider.copy_dirs[0].remote == "/x");
  CHECK(c.provider.copy_dirs[1].local == "b"); // split at the first ':'
  CHECK(c.provider.copy_dirs[1].remote == "/y:z");
  CHECK(c.provider.cpu_cores == doctest::Approx(2.0));
  CHECK(c.provider.env.at("K") == "V");

  CHECK(c.framework.paths == std::vector<std::string>{"t1", "t2"});
  CHECK(c.framework.command == "python3 -m pytest");
  CHECK(c.framework.run_args == "-x");
  CHECK(c.framework.test_id_format == "{classname}::{name}");

  REQUIRE(c.groups.size() == 1);
  CHECK(c.groups[0].retry_count == 4);
  CHECK(c.groups[0].filters == "-m fast");
  CHECK(c.groups[0].schedule_individual);

  CHECK(c.report.output_dir == "out");
  CHECK_FALSE(c.report.junit);
  CHECK(c.report.junit_file == "j.xml");
  CHECK(c.report.download_globs == std::vector<std::string>{"*.log"});
  CHECK(c.report.download_globs_failure_only);

  REQUIRE(c.history);
  CHECK(c.history->record_history == "always");
  CHECK(c.history->path == "h.jsonl");
  CHECK(c.history->reservoir_size == 5);
  CHECK(c.history->default_duration_secs == doctest::Approx(2.0));
  CHECK(c.checkpoint_build_inputs == std::vector<std::string>{"src"});
}

TEST_CASE("config: groups keep file order, not key order") {
  ConfigResult r = parse_config(
      "[provider]\ntype = \"local\"\n[framework]\ntype = \"pytest\"\n[groups.zeta]\n[groups.alpha]\nretry_count = "
      "1\n[groups.mid]\n",
      "offload.toml");
  REQUIRE_MESSAGE(r.ok(), all_errors(r));
  REQUIRE(r.config->groups.size() == 3);
  CHECK(r.config->groups[0].name == "zeta");
  CHECK(r.config->groups[1].name == "alpha");
  CHECK(r.config->groups[1].retry_count == 1);
  CHECK(r.config->groups[2].name == "mid");
}

TEST_CASE("config: one sandbox root copies the other") {
  auto load = [](const std::string& offload) {
    return parse_config("[offload]\n" + offload +
                            "\n[provider]\ntype = \"modal\"\n[framework]\ntype = \"nextest\"\n[groups.all]\n",
                        "offload.toml");
  };
  SUBCASE("repo root only") {
    ConfigResult r = load("sandbox_repo_root = \"/app\"");
    REQUIRE_MESSAGE(r.ok(), all_errors(r));
    CHECK(r.config->offload.sandbox_project_root == "/app");
  }
  SUBCASE("project root only") {
    ConfigResult r = load("sandbox_project_root = \"/app/pkg\"");
    REQUIRE_MESSAGE(r.ok(), all_errors(r));
    CHECK(r.config->offload.sandbox_repo_root == "/app/pkg");
  }
  SUBCASE("neither, for a remote provider, is an error naming both fields") {
    ConfigResult r = load("max_parallel = 2");
    CHECK_FALSE(r.ok());
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].field == "offload.sandbox_repo_root");
    CHECK(r.errors[0].line == 1);
    CHECK(r.errors[0].message.find("sandbox_project_root") != std::string::npos);
  }
}

TEST_CASE("config: the local provider needs no sandbox root") {
  ConfigResult r = parse_config(kMinimal, "offload.toml");
  REQUIRE(r.ok());
  CHECK_FALSE(r.config->offload.sandbox_repo_root.has_value());
}

TEST_CASE("config: the spec's example configs load cleanly") {
  const std::string dir = std::string(OFFLOAD_TEST_FIXTURES) + "/configs/";
  for (const char* name : {"spec-local-nextest.toml", "spec-default-pytest.toml", "spec-modal-nextest.toml",
                           "spec-mng-sandbox-init.toml", "spec-post-patch.toml", "spec-history.toml"}) {
    const std::string fixture = name;
    CAPTURE(fixture);
    ConfigResult r = load_config(dir + name);
    CHECK_MESSAGE(r.ok(), all_errors(r));
    if (r.config) {
      CHECK_MESSAGE(r.config->warnings.empty(), all_warnings(r));
    }
  }
}

TEST_CASE("config: spec default-provider pytest example reads as written") {
  ConfigResult r = load_config(std::string(OFFLOAD_TEST_FIXTURES) + "/configs/spec-default-pytest.toml");
  REQUIRE_MESSAGE(r.ok(), all_errors(r));
  const Config& c = *r.config;
  CHECK(c.provider.type == "default");
  CHECK(c.provider.timeout_secs == 600);
  CHECK(c.provider.create_command == "uv run @modal_sandbox.py create {image_id}");
  CHECK(c.framework.command == "uv run pytest");
  CHECK(c.framework.paths == std::vector<std::string>{"examples/tests"});
  REQUIRE(c.groups.size() == 3);
  CHECK(c.groups[0].name == "unit");
  CHECK(c.groups[0].retry_count == 2);
  CHECK(c.groups[0].filters == "-m 'not slow' -k 'not test_flaky'");
  CHECK(c.groups[1].name == "slow");
  CHECK(c.groups[1].schedule_individual);
  CHECK(c.groups[2].name == "flaky");
  CHECK(c.groups[2].retry_count == 5);
  CHECK(c.offload.sandbox_project_root == "/app");
  CHECK(c.dir == std::filesystem::path(std::string(OFFLOAD_TEST_FIXTURES) + "/configs").lexically_normal().string());
}

TEST_CASE("config: the mng example keeps sandbox_init_cmd") {
  ConfigResult r = load_config(std::string(OFFLOAD_TEST_FIXTURES) + "/configs/spec-mng-sandbox-init.toml");
  REQUIRE_MESSAGE(r.ok(), all_errors(r));
  CHECK(r.config->offload.sandbox_init_cmd == "git apply /offload-upload/patch --allow-empty && uv sync --all-packages");
  CHECK(r.config->offload.max_parallel == 40);
}

TEST_CASE("config: the post_patch_cmd example keeps post_patch_cmd") {
  ConfigResult r = load_config(std::string(OFFLOAD_TEST_FIXTURES) + "/configs/spec-post-patch.toml");
  REQUIRE_MESSAGE(r.ok(), all_errors(r));
  CHECK(r.config->offload.post_patch_cmd == "make generate-client");
}
