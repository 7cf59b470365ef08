/// Shell quoting: for any bytes, shell_quote() yields text that POSIX sh
/// reads back as exactly one word equal to the input, with nothing expanded
/// or executed (checked against sh_model.hpp, a model of sh's word reading;
/// the sh_property ctest checks the same against the real /bin/sh).
/// shell_join() of several words gives them back one for one, through the
/// model and through offload's own shell_split(). The quoting helpers of the
/// pytest and nextest plugins are held to the same property.
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "nextest_logic.hpp"
#include "pytest_logic.hpp"
#include "sh_model.hpp"
#include "util/shell.hpp"

namespace {

void check_one_word(const char* who, const std::string& in, const std::string& quoted) {
  auto w = offload::fuzz::sh_words(quoted);
  FUZZ_CHECK(w.ok(), std::string(who) + ": [" + quoted + "] " + w.refusal);
  FUZZ_CHECK(w.words.size() == 1 && w.words[0] == in,
             std::string(who) + ": [" + quoted + "] is " + std::to_string(w.words.size()) + " word(s), not [" + in + "]");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  check_one_word("shell_quote", in, offload::shell_quote(in));
  check_one_word("pytest::sh_quote", in, offload::pytest::sh_quote(in));
  check_one_word("nextest::shell_quote", in, offload::nextest::shell_quote(in));

  // Several words: split the input at '\x1f' bytes.
  std::vector<std::string> argv;
  std::string cur;
  for (char c : in) {
    if (c == '\x1f') {
      argv.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  argv.push_back(cur);
  std::string joined = offload::shell_join(argv);
  auto w = offload::fuzz::sh_words(joined);
  FUZZ_CHECK(w.ok(), "shell_join: [" + joined + "] " + w.refusal);
  FUZZ_CHECK(w.words == argv, "shell_join: [" + joined + "] does not read back as its words");
  auto split = offload::shell_split(joined);
  FUZZ_CHECK(split.has_value() && *split == argv, "shell_split(shell_join(argv)) != argv for [" + joined + "]");
  return 0;
}
