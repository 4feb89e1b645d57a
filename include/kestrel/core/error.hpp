// Argument checks at API boundaries.
//
// Every public entry point validates its arguments before it writes anything and reports
// a failure as kestrel::invalid_argument, whose message names the function, the argument
// and the offending value: "kestrel::lincomb: argument 'x[1]': size 7 does not match 'y' (size 8)".
// Built without exceptions, the same message goes to stderr and the program aborts.
// Inner loops never check.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>

#include "config.hpp"

namespace kestrel {

/// The one exception type Kestrel throws for bad input.
class invalid_argument : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

namespace detail {

[[noreturn]] inline void raise_invalid_argument(const std::string& message) {
#if KESTREL_HAS_EXCEPTIONS
    throw ::kestrel::invalid_argument(message);
#else
    std::fprintf(stderr, "%s\n", message.c_str());
    std::fflush(stderr);
    std::abort();
#endif
}

template <class... Parts>
std::string concat(const Parts&... parts) {
    std::ostringstream os;
    os.precision(17);
    (os << ... << parts);
    return os.str();
}

}  // namespace detail

/// Fails with "kestrel::<function>: argument '<argument>': <what>".
template <class... Parts>
[[noreturn]] void fail_argument(const char* function, const char* argument, const Parts&... what) {
    detail::raise_invalid_argument(
        detail::concat("kestrel::", function, ": argument '", argument, "': ", what...));
}

/// Generic check; the message parts are only formatted on failure.
template <class... Parts>
inline void require(bool ok, const char* function, const char* argument, const Parts&... what) {
    if (!ok) fail_argument(function, argument, what...);
}

inline void require_size(std::size_t actual, std::size_t expected, const char* function,
                         const char* argument, const char* expected_from) {
    if (actual != expected)
        fail_argument(function, argument, "size ", actual, " does not match ", expected_from,
                      " (", expected, ")");
}

inline void require_not_null(const void* p, std::size_t size, const char* function,
                             const char* argument) {
    if (p == nullptr && size != 0)
        fail_argument(function, argument, "null pointer with size ", size);
}

template <class T>
inline void require_finite(T value, const char* function, const char* argument) {
    if (!std::isfinite(value)) fail_argument(function, argument, "must be finite, got ", value);
}

template <class T>
inline void require_positive(T value, const char* function, const char* argument) {
    if (!(value > T(0))) fail_argument(function, argument, "must be > 0, got ", value);
}

template <class T>
inline void require_nonnegative(T value, const char* function, const char* argument) {
    if (!(value >= T(0))) fail_argument(function, argument, "must be >= 0, got ", value);
}

/// True if the double `v` is finite and stays finite when rounded to T (float or double):
/// the value a kernel actually uses. Decided in double, without an out-of-range conversion.
template <class T>
constexpr bool finite_as(double v) noexcept {
    if constexpr (sizeof(T) < sizeof(double)) {
        // float rounds to inf from (2 - 2^-24) 2^127 up (ties to even: FLT_MAX is odd).
        return v == v && v < 0x1.ffffffp127 && v > -0x1.ffffffp127;
    } else {
        return v == v && v - v == 0.0;
    }
}

/// A coefficient that must be finite in double and after rounding to T.
template <class T>
inline void require_finite_as(double value, const char* function, const char* argument) {
    if (!finite_as<T>(value))
        fail_argument(function, argument, "must be finite", sizeof(T) < sizeof(double) ? " as float" : "",
                      ", got ", value);
}

/// a * b, or fails with "<argument>: <a> * <b> overflows" when the product wraps.
inline std::size_t checked_product(std::size_t a, std::size_t b, const char* function, const char* argument) {
    if (a != 0 && b > SIZE_MAX / a) fail_argument(function, argument, "size product ", a, " * ", b, " overflows");
    return a * b;
}

/// a + b, or fails when the sum wraps.
inline std::size_t checked_sum(std::size_t a, std::size_t b, const char* function, const char* argument) {
    if (b > SIZE_MAX - a) fail_argument(function, argument, "size sum ", a, " + ", b, " overflows");
    return a + b;
}

/// lo <= value <= hi (NaN fails).
template <class T>
inline void require_in_range(T value, T lo, T hi, const char* function, const char* argument) {
    if (!(value >= lo && value <= hi))
        fail_argument(function, argument, "must lie in [", lo, ", ", hi, "], got ", value);
}

}  // namespace kestrel
