// Parallel loops and deterministic reductions over OpenMP (serial without it).
//
// Rules every Kestrel kernel follows:
//  * The caller chooses the thread count per call with an exec_policy; 0 means OpenMP's
//    default (omp_get_max_threads()).
//  * Called from inside the caller's own parallel region, a kernel never opens a nested
//    team: it runs on the calling thread.
//  * Work is split into blocks whose boundaries depend only on the problem size, never on
//    the thread count, and partial results are combined in block order. Hence the same
//    inputs give bit-identical results at any thread count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "config.hpp"
#include "error.hpp"

#if KESTREL_HAS_OPENMP
#include <omp.h>
#endif

namespace kestrel {

/// How a kernel may use threads.
struct exec_policy {
    /// Number of threads; 0 = OpenMP's default, 1 = serial.
    int threads = 0;

    static constexpr exec_policy serial() noexcept { return exec_policy{1}; }
    static constexpr exec_policy with_threads(int n) noexcept { return exec_policy{n}; }
};

/// The number of threads a parallel loop with this policy would use here (1 inside an
/// active parallel region or without OpenMP).
inline int effective_threads(exec_policy policy = {}) noexcept {
#if KESTREL_HAS_OPENMP
    if (omp_in_parallel()) return 1;
    const int n = policy.threads > 0 ? policy.threads : omp_get_max_threads();
    return std::max(1, n);
#else
    (void)policy;
    return 1;
#endif
}

/// Splits [0, n) into `nblocks` nearly equal contiguous blocks and returns block b's range.
struct block_range {
    std::size_t begin, end;
};
inline block_range block_bounds(std::size_t n, std::size_t nblocks, std::size_t b) noexcept {
    const std::size_t q = n / nblocks, r = n % nblocks;
    const std::size_t begin = b * q + std::min(b, r);
    return {begin, begin + q + (b < r ? 1 : 0)};
}

/// Calls body(b) for every b in [0, count), spread over threads with static scheduling.
/// The body must not depend on which thread runs it.
template <class Body>
void parallel_for(std::size_t count, exec_policy policy, Body&& body) {
    const int nt = effective_threads(policy);
#if KESTREL_HAS_OPENMP
    if (nt > 1 && count > 1) {
        const long long n = static_cast<long long>(count);
#pragma omp parallel for schedule(static) num_threads(nt)
        for (long long i = 0; i < n; ++i) body(static_cast<std::size_t>(i));
        return;
    }
#endif
    (void)nt;
    for (std::size_t i = 0; i < count; ++i) body(i);
}

/// Like parallel_for, with dynamic scheduling for iterations of uneven cost (results must
/// still not depend on which thread runs an iteration).
template <class Body>
void parallel_for_dynamic(std::size_t count, exec_policy policy, Body&& body) {
    const int nt = effective_threads(policy);
#if KESTREL_HAS_OPENMP
    if (nt > 1 && count > 1) {
        const long long n = static_cast<long long>(count);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
        for (long long i = 0; i < n; ++i) body(static_cast<std::size_t>(i));
        return;
    }
#endif
    (void)nt;
    for (std::size_t i = 0; i < count; ++i) body(i);
}

/// Calls body(begin, end) on contiguous chunks covering [0, n): one chunk per thread, each a
/// multiple of `align` elements except the last. For elementwise work where the chunking
/// does not affect the result.
template <class Body>
void parallel_chunks(std::size_t n, std::size_t align, exec_policy policy, Body&& body) {
    const int nt = effective_threads(policy);
    if (nt <= 1 || n <= align) {
        if (n) body(std::size_t(0), n);
        return;
    }
#if KESTREL_HAS_OPENMP
    const std::size_t units = (n + align - 1) / align;
    const std::size_t chunks = std::min<std::size_t>(static_cast<std::size_t>(nt), units);
#pragma omp parallel num_threads(static_cast<int>(chunks))
    {
        const std::size_t t = static_cast<std::size_t>(omp_get_thread_num());
        const std::size_t nthr = static_cast<std::size_t>(omp_get_num_threads());
        const block_range u = block_bounds(units, nthr, t);
        const std::size_t b = u.begin * align, e = std::min(n, u.end * align);
        if (b < e) body(b, e);
    }
#endif
}

/// Deterministic reduction: result = combine(...combine(combine(init, f(0)), f(1))..., f(count-1)).
/// The f(b) are evaluated in parallel and combined serially in index order, so the result
/// is the same at any thread count. Allocates `count` partials (not for hot inner loops).
template <class R, class BlockFn, class Combine>
R deterministic_reduce(std::size_t count, exec_policy policy, R init, BlockFn&& f, Combine&& combine) {
    std::vector<R> partial(count);
    parallel_for(count, policy, [&](std::size_t b) { partial[b] = f(b); });
    R acc = init;
    for (std::size_t b = 0; b < count; ++b) acc = combine(acc, partial[b]);
    return acc;
}

}  // namespace kestrel
