/// raw_json for built-in and third-party types, describe_config, and the
/// files `offload init` writes.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "config_test_helpers.hpp"

using namespace offload;
using offload::test::all_errors;
using offload::test::all_warnings;

TEST_CASE("raw_json: built-in types get the spec defaults filled in") {
  SUBCASE("local + pytest") {
    ConfigResult r = parse_config(offload::test::kMinimal, "offload.toml");
    REQUIRE(r.ok());
    auto p = nlohmann::json::parse(r.config->provider.raw_json);
    CHECK(p["type"] == "local");
    CHECK(p["shell"] == "/bin/sh");
    CHECK(p["env"] == nlohmann::json::object());
    auto f = nlohmann::json::parse(r.config->framework.raw_json);
    CHECK(f["type"] == "pytest");
    CHECK(f["command"] == "python -m pytest");
    CHECK(f["test_id_format"] == "{name}");
  }
  SUBCASE("modal + vitest") {
    ConfigResult r = parse_config(R"([offload]
sandbox_repo_root = "/app"
[provider]
type = "modal"
memory_gb = 2
[provider.experimental_options]
enable_docker = true
[framework]
type = "vitest"
[groups.all]
)",
                                  "offload.toml");
    REQUIRE_MESSAGE(r.ok(), all_errors(r));
    auto p = nlohmann::json::parse(r.config->provider.raw_json);
    CHECK(p["cpu_cores"].get<double>() == doctest::Approx(0.125));
    CHECK(p["include_cwd"] == false);
    CHECK(p["memory_gb"].get<double>() == doctest::Approx(2.0));
    CHECK(p["experimental_options"]["enable_docker"] == true);
    CHECK(p["copy_dirs"] == nlohmann::json::array());
    CHECK(nlohmann::json::parse(r.config->provider.experimental_options_json)["enable_docker"] == true);
    auto f = nlohmann::json::parse(r.config->framework.raw_json);
    CHECK(f["command"] == "npx vitest");
    CHECK(f["test_id_format"] == "{classname} > {name}");
  }
  SUBCASE("default provider + nextest") {
    ConfigResult r = parse_config(R"([offload]
sandbox_repo_root = "/app"
[provider]
type = "default"
create_command = "c"
exec_command = "e {command}"
destroy_command = "d"
cpu_cores = 2
[framework]
type = "nextest"
[groups.all]
)",
                                  "offload.toml");
    REQUIRE_MESSAGE(r.ok(), all_errors(r));
    auto p = nlohmann::json::parse(r.config->provider.raw_json);
    CHECK(p["timeout_secs"] == 3600);
    CHECK(p["cpu_cores"].is_number_float()); // normalised from the integer 2
    CHECK(p["cpu_cores"].get<double>() == doctest::Approx(2.0));
    CHECK(p["create_command"] == "c");
    auto f = nlohmann::json::parse(r.config->framework.raw_json);
    CHECK(f["test_id_format"] == "{classname} {name}");
    CHECK(f["include_ignored"] == false);
    CHECK(f["features"] == nlohmann::json::array());
  }
  SUBCASE("user values win over defaults") {
    ConfigResult r = parse_config(
        "[provider]\ntype = \"local\"\nshell = \"/bin/bash\"\n[framework]\ntype = \"pytest\"\ncommand = \"uv run "
        "pytest\"\n[groups.all]\n",
        "offload.toml");
    REQUIRE(r.ok());
    CHECK(nlohmann::json::parse(r.config->provider.raw_json)["shell"] == "/bin/bash");
    CHECK(nlohmann::json::parse(r.config->framework.raw_json)["command"] == "uv run pytest");
  }
}

TEST_CASE("raw_json: third-party types pass through unchecked") {
  ConfigResult r = parse_config(R"([provider]
type = "acme-cloud"
region = "eu-west-1"
instances = 4
spot = true
ratio = 0.5
zones = ["a", "b"]
dockerfile = 7
[provider.tags]
team = "qa"
[framework]
type = "acme-test"
command = ["not", "a", "string"]
[groups.all]
)",
                                "offload.toml");
  REQUIRE_MESSAGE(r.ok(), all_errors(r));
  CHECK_MESSAGE(r.config->warnings.empty(), all_warnings(r));
  CHECK(r.config->provider.type == "acme-cloud");
  CHECK(r.config->framework.type == "acme-test");
  auto p = nlohmann::json::parse(r.config->provider.raw_json);
  CHECK(p == nlohmann::json::parse(R"({"type":"acme-cloud","region":"eu-west-1","instances":4,"spot":true,
      "ratio":0.5,"zones":["a","b"],"dockerfile":7,"tags":{"team":"qa"}})"));
  auto f = nlohmann::json::parse(r.config->framework.raw_json);
  CHECK(f == nlohmann::json::parse(R"({"type":"acme-test","command":["not","a","string"]})"));
  // A third-party provider does not need sandbox roots.
  CHECK_FALSE(r.config->offload.sandbox_repo_root.has_value());
}

TEST_CASE("describe_config: names the settings, groups and warnings") {
  ConfigResult r = load_config(std::string(OFFLOAD_TEST_FIXTURES) + "/configs/spec-default-pytest.toml");
  REQUIRE(r.ok());
  r.config->warnings.push_back("offload.toml:99: unknown key 'x' (ignored)");
  const std::string text = describe_config(*r.config);
  for (const char* needle :
       {"spec-default-pytest.toml", "Provider: default", "create_command: uv run @modal_sandbox.py create {image_id}",
        "timeout_secs: 600", "Framework: pytest", "command: uv run pytest", "paths: examples/tests",
        "max_parallel: 4", "test_timeout_secs: 600", "sandbox_repo_root: /app",
        "unit: retry_count=2, in_process_retries=1, filters=\"-m 'not slow' -k 'not test_flaky'\", schedule_individual=false",
        "slow: retry_count=3, in_process_retries=1, filters=\"-m 'slow'\", schedule_individual=true", "flaky: retry_count=5",
        "output_dir: test-results", "junit: test-results/junit.xml", "History: off",
        "Warnings (1):", "offload.toml:99: unknown key 'x' (ignored)"}) {
    CHECK_MESSAGE(text.find(needle) != std::string::npos, needle, "\n---\n", text);
  }
  // Groups in file order.
  CHECK(text.find("unit:") < text.find("slow:"));
  CHECK(text.find("slow:") < text.find("flaky:"));
}

TEST_CASE("describe_config: history and plugin types") {
  ConfigResult r = parse_config(
      "[provider]\ntype = \"acme\"\nregion = \"x\"\n[framework]\ntype = \"pytest\"\n[groups.all]\n[history]\n"
      "record_history = \"always\"\n",
      "offload.toml");
  REQUIRE(r.ok());
  const std::string text = describe_config(*r.config);
  CHECK(text.find("Provider: acme (plugin)") != std::string::npos);
  CHECK(text.find("\"region\":\"x\"") != std::string::npos);
  CHECK(text.find("record_history: always") != std::string::npos);
  CHECK(text.find("path: offload-history.jsonl") != std::string::npos);
  CHECK(text.find("Warnings") == std::string::npos);
}

TEST_CASE("init_config_text: every combination is valid, with no warnings") {
  for (const char* provider : {"local", "default"}) {
    for (const char* framework : {"pytest", "nextest", "vitest", "default"}) {
      const std::string combo = std::string(provider) + "+" + framework;
      CAPTURE(combo);
      auto text = init_config_text(provider, framework);
      REQUIRE(text.has_value());
      ConfigResult r = parse_config(*text, "offload.toml");
      CHECK_MESSAGE(r.ok(), all_errors(r), "\n", *text);
      REQUIRE(r.config.has_value());
      CHECK_MESSAGE(r.config->warnings.empty(), all_warnings(r));
      CHECK(r.config->provider.type == provider);
      CHECK(r.config->framework.type == framework);
      CHECK(r.config->groups.size() == 1);
      CHECK(r.config->report.output_dir == "test-results");
      CHECK(r.config->report.junit);
      CHECK(r.config->report.junit_file == "junit.xml");
      // Commented, for the user to read.
      CHECK(text->find("\n# ") != std::string::npos);
    }
  }
}

TEST_CASE("init_config_text: specific choices") {
  auto pytest = init_config_text("local", "pytest");
  REQUIRE(pytest);
  ConfigResult r = parse_config(*pytest, "offload.toml");
  REQUIRE(r.ok());
  CHECK(r.config->framework.command == "python3 -m pytest");
  CHECK(r.config->provider.shell == "/bin/sh");

  auto remote = init_config_text("default", "pytest");
  REQUIRE(remote);
  ConfigResult rr = parse_config(*remote, "offload.toml");
  REQUIRE(rr.ok());
  CHECK(rr.config->offload.sandbox_repo_root.has_value());
  CHECK(rr.config->provider.exec_command.find("{command}") != std::string::npos);
}

TEST_CASE("init_config_text: unknown names") {
  CHECK_FALSE(init_config_text("modal", "pytest").has_value());
  CHECK_FALSE(init_config_text("local", "jest").has_value());
  CHECK_FALSE(init_config_text("", "").has_value());
}
