// Storage for the n-vectors a solver's workspace owns (Anderson's history rings and scratch).
//
// Two differences from std::vector<T>(count):
//  * No value-initialization. The solver writes every element before it reads it, so zero-filling
//    only touches every page once more. Measured (Poisson benchmark map, n = 10^6, m = 20: 2m + 5
//    vectors, 360 MB, 120 iterates, 2 threads): anderson() making its workspace took 2.4 s with
//    std::vector (1.4 s with a workspace made beforehand); with this buffer 1.3 s either way.
//  * Buffers of at least 2 MiB are 2 MiB-aligned, padded to whole 2 MiB, and marked
//    MADV_HUGEPAGE on Linux (transparent huge pages in "madvise" mode, the common default): the
//    first touch then faults once per 2 MiB instead of once per 4 KiB, and a pass streaming
//    2m + 3 vectors misses the TLB once per 2 MiB of each instead of once per 4 KiB. A hint
//    only: where the kernel declines, the buffer behaves as ordinary memory (same contents).
#pragma once

#include <cstddef>
#include <new>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace kestrel {
namespace fixed_point {
namespace detail {

template <class T>
class vector_buffer {
public:
    vector_buffer() noexcept = default;
    /// count elements, uninitialized (T is float or double). Throws std::bad_alloc.
    explicit vector_buffer(std::size_t count) { allocate(count); }
    vector_buffer(const vector_buffer&) = delete;
    vector_buffer& operator=(const vector_buffer&) = delete;
    vector_buffer(vector_buffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)), align_(o.align_) {}
    vector_buffer& operator=(vector_buffer&& o) noexcept {
        if (this != &o) {
            release();
            p_ = std::exchange(o.p_, nullptr);
            n_ = std::exchange(o.n_, 0);
            align_ = o.align_;
        }
        return *this;
    }
    ~vector_buffer() { release(); }

    T* data() noexcept { return p_; }
    const T* data() const noexcept { return p_; }
    std::size_t size() const noexcept { return n_; }

private:
    static constexpr std::size_t huge = std::size_t(2) << 20;

    void allocate(std::size_t count) {
        if (count == 0) return;
        std::size_t bytes = count * sizeof(T);  // the caller checked count against the address space
        align_ = bytes >= huge ? huge : 64;
        bytes = (bytes + align_ - 1) / align_ * align_;
        p_ = static_cast<T*>(::operator new(bytes, std::align_val_t(align_)));
        n_ = count;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        if (align_ == huge) (void)madvise(static_cast<void*>(p_), bytes, MADV_HUGEPAGE);
#endif
    }
    void release() noexcept {
        if (p_) ::operator delete(static_cast<void*>(p_), std::align_val_t(align_));
        p_ = nullptr;
        n_ = 0;
    }

    T* p_ = nullptr;
    std::size_t n_ = 0;
    std::size_t align_ = 64;
};

}  // namespace detail
}  // namespace fixed_point
}  // namespace kestrel
