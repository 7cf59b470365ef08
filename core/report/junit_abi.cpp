#include "report/junit_abi.hpp"

#include <string_view>

#include "report/junit.hpp"

namespace offload {

namespace {
offload_test_status to_c(AttemptStatus s) {
  switch (s) {
  case AttemptStatus::Passed: return OFFLOAD_TEST_PASSED;
  case AttemptStatus::Failed: return OFFLOAD_TEST_FAILED;
  case AttemptStatus::Error: return OFFLOAD_TEST_ERROR;
  case AttemptStatus::Skipped: return OFFLOAD_TEST_SKIPPED;
  case AttemptStatus::NotRun: return OFFLOAD_TEST_NOT_RUN;
  }
  return OFFLOAD_TEST_ERROR;
}
} // namespace

offload_status parse_junit_abi(offload_bytes xml, void* ctx, void (*on_case)(void*, const offload_junit_case*),
                               const offload_error_sink* err) {
  auto parsed = parse_junit(std::string_view(xml.data ? xml.data : "", xml.size));
  if (!parsed.ok()) {
    if (err && err->set) err->set(err, OFFLOAD_E_PARSE, parsed.error.c_str());
    return OFFLOAD_E_PARSE;
  }
  for (auto& c : parsed.cases) {
    offload_junit_case jc{};
    jc.struct_size = sizeof jc;
    jc.name = c.name.c_str();
    jc.classname = c.classname.c_str();
    jc.file = c.file.c_str();
    jc.time_secs = c.time;
    jc.status = to_c(c.status);
    jc.message = c.message.c_str();
    jc.type = c.type.c_str();
    jc.text = c.text.c_str();
    jc.system_out = c.system_out.c_str();
    jc.system_err = c.system_err.c_str();
    on_case(ctx, &jc);
  }
  return OFFLOAD_OK;
}

} // namespace offload
