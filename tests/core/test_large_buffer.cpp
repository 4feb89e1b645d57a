// core/large_buffer.hpp: the scratch arrays of workspaces. What must hold: room for the n
// elements asked for, 64-byte aligned, at a 2 MiB boundary when it is a huge-page mapping
// (Linux, >= 2 MiB), growing only when asked for more, the contents kept when not grown,
// ownership moved (never freed twice), and an impossible size refused with bad_alloc.
#include <catch2/catch.hpp>

#include <kestrel/core/large_buffer.hpp>

#include <cstdint>
#include <new>
#include <utility>

namespace {

using kestrel::detail::huge_page_bytes;
using kestrel::detail::large_buffer;

std::uintptr_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

/// Writes a pattern over n elements and reads it back (a short or unmapped array faults or
/// fails under the sanitizers).
bool fill_and_check(std::uint64_t* p, std::size_t n, std::uint64_t salt) {
    for (std::size_t i = 0; i < n; ++i) p[i] = i * 2654435761u + salt;
    for (std::size_t i = 0; i < n; ++i)
        if (p[i] != i * 2654435761u + salt) return false;
    return true;
}

}  // namespace

TEST_CASE("large buffer: small and huge arrays are aligned, writable and grow only on demand", "[core][large_buffer]") {
    large_buffer<std::uint64_t> b;
    CHECK(b.size() == 0);
    CHECK(b.data() == nullptr);
    // Below one huge page: the aligned operator new.
    std::uint64_t* small = b.get(1000);
    REQUIRE(small != nullptr);
    CHECK(address(small) % 64 == 0);
    CHECK_FALSE(b.mapped());
    CHECK(fill_and_check(small, 1000, 1));
    // Asking for less keeps the array and its contents.
    CHECK(b.get(10) == small);
    CHECK(small[999] == std::uint64_t(999) * 2654435761u + 1);
    // Three huge pages and a bit: a mapping at a 2 MiB boundary on Linux.
    const std::size_t n = (3 * huge_page_bytes + 4096) / sizeof(std::uint64_t);
    std::uint64_t* big = b.get(n);
    REQUIRE(big != nullptr);
    CHECK(b.size() == n);
    CHECK(address(big) % 64 == 0);
#if defined(__linux__)
    CHECK(b.mapped());
    CHECK(address(big) % huge_page_bytes == 0);
#endif
    CHECK(fill_and_check(big, n, 2));
    CHECK(b.get(n) == big);
    CHECK(b.get(n / 2) == big);
}

TEST_CASE("large buffer: a move hands the array over and an impossible size throws bad_alloc", "[core][large_buffer]") {
    large_buffer<std::uint64_t> a;
    const std::size_t n = huge_page_bytes / sizeof(std::uint64_t) + 1;
    std::uint64_t* p = a.get(n);
    REQUIRE(fill_and_check(p, n, 3));
    large_buffer<std::uint64_t> b(std::move(a));
    CHECK(b.data() == p);
    CHECK(b.size() == n);
    CHECK(a.data() == nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
    CHECK(a.size() == 0);
    large_buffer<std::uint64_t> c;
    c.get(10);
    c = std::move(b);  // c's small array is freed, b's mapping moves
    CHECK(c.data() == p);
    CHECK(c.size() == n);
    CHECK(p[n - 1] == (n - 1) * 2654435761u + 3);
    CHECK_THROWS_AS(c.get(~std::size_t(0) / 4), std::bad_alloc);
    CHECK(c.size() == 0);  // the old array was released before the refused request
    CHECK(fill_and_check(c.get(100), 100, 4));
}
