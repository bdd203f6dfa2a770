#include "base/assert.h"

#include <cstdio>
#include <cstdlib>

namespace warbler::internal {

void AssertFail(const char* expr, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "level=fatal event=assert_failed expr=\"%s\" file=%s line=%d msg=\"%s\"\n",
               expr, file, line, msg ? msg : "");
  std::fflush(stderr);
  std::abort();
}

}  // namespace warbler::internal
