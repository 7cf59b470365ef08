/// The default provider's command building, checked by running what it
/// builds through the real /bin/sh: hostile test IDs must arrive as data.
#include "../default_provider.cpp"

#include <array>
#include <cstdio>
#include <sys/wait.h>

#include <doctest/doctest.h>

namespace dp = offload::default_plugin;
namespace fs = std::filesystem;

namespace {

/// Run argv-less `sh -c script`, returning (exit code, stdout).
std::pair<int, std::string> run_sh(const std::string& script) {
  auto path = fs::temp_directory_path() / ("offload-dp-test-" + std::to_string(::getpid()) + ".sh");
  {
    std::ofstream f(path);
    f << script;
  }
  std::string cmd = "/bin/sh " + path.string();
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int st = ::pclose(p);
  fs::remove(path);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

std::unique_ptr<dp::DefaultProvider> provider(const std::string& root, const std::string& exec_cmd = "sh -c {command}") {
  nlohmann::json j = {{"create_command", "true"}, {"exec_command", exec_cmd}, {"destroy_command", "true"}};
  nlohmann::json o = {{"sandbox_repo_root", root}};
  offload::plugin::ProviderConfig cfg{"default", j.dump(), o.dump(), fs::temp_directory_path().string(), "/tmp"};
  return std::make_unique<dp::DefaultProvider>(offload::plugin::Host{}, cfg);
}

const std::vector<std::string> kHostile = {
    "plain", "it's", "$(touch /tmp/pwned-offload)", "`id`", "a\nb", "sp ace", "\"dq\"", "'", "", "\\", "*", "; exit 3", "$HOME"};

} // namespace

TEST_CASE("shell_quote round-trips hostile strings through sh") {
  for (auto& s : kHostile) {
    auto [rc, out] = run_sh("printf '%s' " + dp::shell_quote(s));
    CHECK(rc == 0);
    CHECK(out == s);
  }
}

TEST_CASE("substitute is one pass and leaves unknown placeholders") {
  CHECK(dp::substitute("x {a} {b} {c}", {{"a", "{b}"}, {"b", "B"}}) == "x {b} B {c}");
  CHECK(dp::substitute("{a", {{"a", "A"}}) == "{a");
  CHECK(dp::last_line("one\ntwo\n\n  \n") == "two");
  CHECK(dp::last_line("id-1\r\n") == "id-1");
  CHECK(dp::quote_if_needed("sb-12ab") == "sb-12ab");
  CHECK(dp::quote_if_needed("a b") == "'a b'");
  CHECK(dp::format_cores(1.0) == "1");
  CHECK(dp::format_cores(0.125) == "0.125");
}

TEST_CASE("the exec string carries cwd, env and argv as data, nested in {command}") {
  auto tmp = fs::temp_directory_path() / ("offload-dp-root-" + std::to_string(::getpid()));
  fs::create_directories(tmp / "sub dir");
  auto p = provider(tmp.string());
  dp::Sandbox sb;
  sb.id = "sb-1";
  sb.env = {{"OFFLOAD_ROOT", tmp.string()}, {"WEIRD", std::string("it's $(x)")}};
  offload::plugin::Command c;
  c.argv = {"sh", "-c", "pwd; printf '<%s>' \"$WEIRD\" \"$OFFLOAD_ROOT\" \"$@\"", "argv0"};
  for (auto& s : kHostile) c.argv.push_back(s);
  c.env = {{"EXTRA", "1"}};
  c.cwd = "sub dir";
  auto inner = p->build_inner(sb, c);
  // Exactly as exec() nests it: the outer sh -c sees one quoted word.
  auto full = dp::substitute("sh -c {command}", std::map<std::string, std::string>{{"command", dp::shell_quote(inner)}});
  auto [rc, out] = run_sh(full);
  CHECK(rc == 0);
  std::string want = (tmp / "sub dir").string() + "\n<it's $(x)><" + tmp.string() + ">";
  for (auto& s : kHostile) want += "<" + s + ">";
  CHECK(out == want);
  CHECK(!fs::exists("/tmp/pwned-offload"));
  fs::remove_all(tmp);
}

TEST_CASE("exit codes 125 and 255 of the test command are reported as 1; a missing root is 125") {
  auto p = provider("/");
  dp::Sandbox sb;
  offload::plugin::Command c;
  for (int code : {0, 3, 125, 255}) {
    c.argv = {"sh", "-c", "exit " + std::to_string(code)};
    auto [rc, out] = run_sh(p->build_inner(sb, c) + " 2>/dev/null");
    CHECK(rc == (code == 125 || code == 255 ? 1 : code));
  }
  auto gone = provider("/nonexistent/offload-root");
  c.argv = {"true"};
  auto [rc, out] = run_sh(gone->build_inner(sb, c) + " 2>/dev/null");
  CHECK(rc == 125);
}

TEST_CASE("configuration errors are reported") {
  nlohmann::json j = {{"create_command", "true"}, {"exec_command", "x {command}"}};
  offload::plugin::ProviderConfig cfg{"default", j.dump(), "{}", "/tmp", "/tmp"};
  CHECK_THROWS_WITH(dp::DefaultProvider(offload::plugin::Host{}, cfg), doctest::Contains("destroy_command"));
}
