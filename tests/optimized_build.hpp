// Whether the tests run in an optimized build without sanitizers (full problem sizes) or in
// a Debug or sanitized build, tens of times slower (the families' tests use smaller sizes).
#pragma once

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KESTREL_TEST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define KESTREL_TEST_SANITIZED 1
#endif

namespace kestrel_test {
#if defined(NDEBUG) && !defined(KESTREL_TEST_SANITIZED)
inline constexpr bool optimized_build = true;
#else
inline constexpr bool optimized_build = false;
#endif
}  // namespace kestrel_test
