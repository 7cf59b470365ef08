#include <cstdio>
int main() { std::puts("offload " OFFLOAD_VERSION); return 0; }
