/* Compiled as strict C99 with -Wall -Wextra -pedantic -Werror: the ABI header must stay plain C. */
#include <offload/plugin.h>

int offload_abi_c99_check(void);
int offload_abi_c99_check(void) {
  offload_test_result r;
  r.struct_size = sizeof r;
  return OFFLOAD_HAS_FIELD(&r, offload_test_result, classname) ? OFFLOAD_ABI_MAJOR : 0;
}
