// WB_ASSERT: checks for bugs (broken invariants), on in every build type.
//
// Bugs assert; the world returns Status. A corrupt file, a full disk or a bad
// frame must never reach a WB_ASSERT: those are errors returned to the caller.
#pragma once

namespace warbler::internal {
[[noreturn]] void AssertFail(const char* expr, const char* file, int line, const char* msg);
}  // namespace warbler::internal

#define WB_ASSERT(cond)                                                       \
  do {                                                                        \
    if (__builtin_expect(!(cond), 0))                                         \
      ::warbler::internal::AssertFail(#cond, __FILE__, __LINE__, nullptr);    \
  } while (0)

#define WB_ASSERT_MSG(cond, msg)                                              \
  do {                                                                        \
    if (__builtin_expect(!(cond), 0))                                         \
      ::warbler::internal::AssertFail(#cond, __FILE__, __LINE__, (msg));      \
  } while (0)

#define WB_UNREACHABLE() ::warbler::internal::AssertFail("unreachable", __FILE__, __LINE__, nullptr)
