/// expand_env() and its application to every string value of a config.
#include <doctest/doctest.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "config_test_helpers.hpp"

using namespace offload;
using offload::test::all_errors;
using offload::test::find_error;

namespace {

/// Sets (or unsets, for nullptr) a variable for the scope of one test.
class ScopedEnv {
public:
  ScopedEnv(const char* name, const char* value) : m_name(name) {
    if (const char* old = std::getenv(name)) {
      m_old = old;
    }
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (m_old) {
      ::setenv(m_name.c_str(), m_old->c_str(), 1);
    } else {
      ::unsetenv(m_name.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
  std::string m_name;
  std::optional<std::string> m_old;
};

std::string expand_ok(const std::string& in) {
  std::string err;
  auto out = expand_env(in, &err);
  REQUIRE_MESSAGE(out.has_value(), err);
  return *out;
}

std::string expand_err(const std::string& in) {
  std::string err;
  auto out = expand_env(in, &err);
  CHECK_FALSE(out.has_value());
  return err;
}

} // namespace

TEST_CASE("expand_env: ${VAR}") {
  ScopedEnv a("OFFLOAD_CFG_TEST_A", "alpha");
  ScopedEnv empty("OFFLOAD_CFG_TEST_EMPTY", "");
  CHECK(expand_ok("${OFFLOAD_CFG_TEST_A}") == "alpha");
  CHECK(expand_ok("x-${OFFLOAD_CFG_TEST_A}-${OFFLOAD_CFG_TEST_A}-y") == "x-alpha-alpha-y");
  CHECK(expand_ok("[${OFFLOAD_CFG_TEST_EMPTY}]") == "[]"); // set but empty is still set
  CHECK(expand_ok("no references") == "no references");
  CHECK(expand_ok("") == "");
}

TEST_CASE("expand_env: ${VAR:-default}") {
  ScopedEnv a("OFFLOAD_CFG_TEST_A", "alpha");
  ScopedEnv unset("OFFLOAD_CFG_TEST_UNSET", nullptr);
  ScopedEnv empty("OFFLOAD_CFG_TEST_EMPTY", "");
  CHECK(expand_ok("${OFFLOAD_CFG_TEST_A:-fallback}") == "alpha");
  CHECK(expand_ok("${OFFLOAD_CFG_TEST_UNSET:-fallback}") == "fallback");
  CHECK(expand_ok("${OFFLOAD_CFG_TEST_UNSET:-}") == "");
  CHECK(expand_ok("${OFFLOAD_CFG_TEST_UNSET:-a b:-c}") == "a b:-c");
  CHECK(expand_ok("${OFFLOAD_CFG_TEST_EMPTY:-fallback}") == ""); // only "not set" takes the default
  // A default may itself refer to a variable; it is expanded only when used.
  CHECK(expand_ok("${OFFLOAD_CFG_TEST_UNSET:-${OFFLOAD_CFG_TEST_A}}") == "alpha");
  CHECK(expand_ok("${OFFLOAD_CFG_TEST_A:-${OFFLOAD_CFG_TEST_UNSET}}") == "alpha");
}

TEST_CASE("expand_env: $$ and lone $") {
  ScopedEnv a("OFFLOAD_CFG_TEST_A", "alpha");
  CHECK(expand_ok("$$") == "$");
  CHECK(expand_ok("cost: $$5") == "cost: $5");
  CHECK(expand_ok("$${OFFLOAD_CFG_TEST_A}") == "${OFFLOAD_CFG_TEST_A}");
  CHECK(expand_ok("$$$${OFFLOAD_CFG_TEST_A}") == "$${OFFLOAD_CFG_TEST_A}");
  CHECK(expand_ok("echo $HOME") == "echo $HOME");
  CHECK(expand_ok("a$") == "a$");
  CHECK(expand_ok("$") == "$");
  CHECK(expand_ok("$(pwd) $1") == "$(pwd) $1");
}

TEST_CASE("expand_env: errors") {
  ScopedEnv unset("OFFLOAD_CFG_TEST_UNSET", nullptr);
  CHECK(expand_err("${OFFLOAD_CFG_TEST_UNSET}") == "required variable OFFLOAD_CFG_TEST_UNSET is not set");
  CHECK(expand_err("abc ${OFFLOAD_CFG_TEST_A").find("unclosed ${") == 0);
  CHECK(expand_err("${").find("unclosed ${") == 0);
  CHECK(expand_err("${}").find("empty variable name") == 0);
  CHECK(expand_err("${:-x}").find("empty variable name") == 0);
  CHECK(expand_err("${A B}").find("invalid variable name 'A B'") == 0);
  CHECK(expand_err("${1A}").find("invalid variable name") == 0);
  // A failing default fails the whole value.
  CHECK(expand_err("${OFFLOAD_CFG_TEST_UNSET:-${OFFLOAD_CFG_TEST_UNSET}}") ==
        "required variable OFFLOAD_CFG_TEST_UNSET is not set");
  // A null error pointer is allowed.
  CHECK_FALSE(expand_env("${", nullptr).has_value());
}

TEST_CASE("config env: every string value is expanded, wherever it is") {
  ScopedEnv a("OFFLOAD_CFG_TEST_A", "alpha");
  ScopedEnv unset("OFFLOAD_CFG_TEST_UNSET", nullptr);
  ConfigResult r = parse_config(R"([offload]
sandbox_repo_root = "/code/${OFFLOAD_CFG_TEST_A}"
sandbox_init_cmd = "echo $$HOME"
[provider]
type = "default"
create_command = "create ${OFFLOAD_CFG_TEST_UNSET:-img}"
exec_command = "exec {sandbox_id} {command}"
destroy_command = "destroy {sandbox_id}"
copy_dirs = ["${OFFLOAD_CFG_TEST_A}:/remote"]
[provider.env]
KEY = "${OFFLOAD_CFG_TEST_A}"
[framework]
type = "${OFFLOAD_CFG_TEST_UNSET:-pytest}"
paths = ["tests/${OFFLOAD_CFG_TEST_A}"]
[groups.all]
filters = "-k ${OFFLOAD_CFG_TEST_A}"
[report]
output_dir = "out-${OFFLOAD_CFG_TEST_A}"
)",
                                "offload.toml");
  REQUIRE_MESSAGE(r.ok(), all_errors(r));
  const Config& c = *r.config;
  CHECK(c.offload.sandbox_repo_root == "/code/alpha");
  CHECK(c.offload.sandbox_init_cmd == "echo $HOME");
  CHECK(c.provider.create_command == "create img");
  REQUIRE(c.provider.copy_dirs.size() == 1);
  CHECK(c.provider.copy_dirs[0].local == "alpha");
  CHECK(c.provider.env.at("KEY") == "alpha");
  CHECK(c.framework.type == "pytest");
  CHECK(c.framework.paths == std::vector<std::string>{"tests/alpha"});
  CHECK(c.groups[0].filters == "-k alpha");
  CHECK(c.report.output_dir == "out-alpha");
  // raw_json carries the expanded values too.
  auto raw = nlohmann::json::parse(c.provider.raw_json);
  CHECK(raw["create_command"] == "create img");
  CHECK(raw["env"]["KEY"] == "alpha");
}

TEST_CASE("config env: expansion errors name the field and line") {
  ScopedEnv unset("OFFLOAD_CFG_TEST_UNSET", nullptr);
  ConfigResult r = parse_config(R"([provider]
type = "local"
[provider.env]
TOKEN = "${OFFLOAD_CFG_TEST_UNSET}"
[framework]
type = "pytest"
paths = ["a", "${oops"]
[groups.all]
filters = "${}"
)",
                                "offload.toml");
  CHECK_FALSE(r.ok());
  const std::string errs = all_errors(r);
  CHECK_MESSAGE(find_error(r, "offload.toml:4: provider.env.TOKEN: required variable OFFLOAD_CFG_TEST_UNSET is not set"),
                errs);
  CHECK_MESSAGE(find_error(r, "offload.toml:7: framework.paths[1]: unclosed ${"), errs);
  CHECK_MESSAGE(find_error(r, "offload.toml:9: groups.all.filters: empty variable name"), errs);
  CHECK(r.errors.size() == 3);
}
