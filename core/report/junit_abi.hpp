#pragma once
/// parse_junit() in the shape of the plugin ABI's "offload.host.junit/1"
/// service: each testcase handed to on_case as an offload_junit_case whose
/// strings are borrowed for that call. The host's extension table and the
/// fuzz target that drives the default framework both serve this one function.
#include <offload/plugin.h>

namespace offload {

offload_status parse_junit_abi(offload_bytes xml, void* ctx, void (*on_case)(void* ctx, const offload_junit_case* c),
                               const offload_error_sink* err);

} // namespace offload
