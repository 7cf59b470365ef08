// Compiled as C++17 and C++20 with -Wall -Wextra -pedantic -Werror: both headers.
#include <offload/plugin.h>
#include <offload/plugin.hpp>

int offload_abi_cxx_check();
int offload_abi_cxx_check() { return OFFLOAD_ABI_MAJOR; }
