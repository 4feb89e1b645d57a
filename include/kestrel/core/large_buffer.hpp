// Scratch arrays of megabytes that a kernel keeps across calls in a workspace, or allocates
// for one call: uninitialized, 64-byte aligned, and on Linux backed by transparent huge pages
// where the system allows them (madvise, the setting Debian ships).
//
// Why: a fresh page costs a fault on first touch. On a virtual machine that returns freed
// memory to its host (as the cloud VMs these benchmarks run on do) a 4 KiB fault was measured
// at about 12 us: 24 MiB of fresh scratch took 72-77 ms to first-touch against 2.5 ms with
// 2 MiB pages (one fault each), and glibc hands such memory back to the system after a call
// (munmap, or a heap trim), so every one-shot call paid it again. Below 2 MiB, or where
// mmap/madvise are not available, the array comes from the aligned operator new.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace kestrel {
namespace detail {

/// Bytes from which a large_buffer asks for huge pages (one 2 MiB page).
inline constexpr std::size_t huge_page_bytes = std::size_t(1) << 21;

/// An uninitialized array of trivial U that grows on demand: get(n) returns room for at least
/// n elements (contents unspecified; the old contents are not kept when it grows). Move-only.
template <class U>
class large_buffer {
    static_assert(std::is_trivial<U>::value, "large_buffer holds trivial types only");

public:
    large_buffer() noexcept = default;
    large_buffer(const large_buffer&) = delete;
    large_buffer& operator=(const large_buffer&) = delete;
    large_buffer(large_buffer&& o) noexcept { swap(o); }
    large_buffer& operator=(large_buffer&& o) noexcept {
        if (this != &o) {
            release();
            swap(o);
        }
        return *this;
    }
    ~large_buffer() { release(); }

    U* get(std::size_t n) {
        if (n > size_) {
            release();  // never hold both arrays
            if (n > max_elements()) throw std::bad_alloc();
            allocate(n * sizeof(U));
            size_ = n;
        }
        return data_;
    }
    U* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    /// True when the array is a huge-page mapping (Linux, at least huge_page_bytes).
    bool mapped() const noexcept { return map_ != nullptr; }

private:
    static constexpr std::size_t max_elements() noexcept { return (~std::size_t(0) - 2 * huge_page_bytes) / sizeof(U); }

    void allocate(std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        if (bytes >= huge_page_bytes) {
            // Map 2 MiB more than needed and start at a 2 MiB boundary, so every page of the
            // array can be a huge one.
            const std::size_t len = (bytes + 2 * huge_page_bytes - 1) & ~(huge_page_bytes - 1);
            void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) throw std::bad_alloc();
            const auto base = reinterpret_cast<std::size_t>(p);
            const std::size_t start = (base + huge_page_bytes - 1) & ~(huge_page_bytes - 1);
            (void)::madvise(reinterpret_cast<void*>(start), len - (start - base), MADV_HUGEPAGE);  // a hint
            map_ = p;
            map_len_ = len;
            data_ = reinterpret_cast<U*>(start);
            return;
        }
#endif
        data_ = static_cast<U*>(::operator new(bytes, std::align_val_t(64)));
    }

    void release() noexcept {
        if (!data_) return;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        if (map_) {
            ::munmap(map_, map_len_);
            map_ = nullptr;
            map_len_ = 0;
            data_ = nullptr;
            size_ = 0;
            return;
        }
#endif
        ::operator delete(static_cast<void*>(data_), std::align_val_t(64));
        data_ = nullptr;
        size_ = 0;
    }

    void swap(large_buffer& o) noexcept {
        std::swap(data_, o.data_);
        std::swap(size_, o.size_);
        std::swap(map_, o.map_);
        std::swap(map_len_, o.map_len_);
    }

    U* data_ = nullptr;
    std::size_t size_ = 0;
    void* map_ = nullptr;
    std::size_t map_len_ = 0;
};

}  // namespace detail
}  // namespace kestrel
