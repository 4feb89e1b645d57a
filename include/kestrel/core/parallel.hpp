// Parallel loops and deterministic reductions (serial without threading support).
//
// Rules every Kestrel kernel follows:
//  * The caller chooses the thread count per call with an exec_policy; 0 means OpenMP's
//    default (omp_get_max_threads(), so OMP_NUM_THREADS applies), 1 serial; negative is an
//    error.
//  * Called from inside the caller's own OpenMP parallel region, from inside the body of
//    another Kestrel loop, or while another thread of the program is inside a Kestrel loop,
//    a kernel runs on the calling thread: teams are never nested or oversubscribed.
//  * Work is split into blocks whose boundaries depend only on the problem size, never on
//    the thread count, and partial results are combined in block order. Hence the same
//    inputs give bit-identical results at any thread count.
//  * An exception thrown by a loop body (user code: a metric, a model, a source) is
//    captured, the remaining iterations are not started, and the first exception is rethrown
//    on the calling thread once the iterations already running have finished. Which
//    iterations ran is then unspecified: outputs the loop writes hold partial results.
//
// Why not `#pragma omp parallel`: an OpenMP region ends with a barrier that waits for every
// thread of the team, including one the OS has not yet scheduled because another process
// keeps its core busy; with a region per call (or per swap), a shared machine made two
// threads 10-60x slower than one. Here the work of a call is a sequence of iterations that
// threads claim one at a time. The calling thread claims too and never waits for a helper to
// start: it waits only for iterations a helper has already claimed. parallel_for cuts the
// iterations into one contiguous range per thread; a thread claims from its own range first
// and then from the others', so on an idle machine each thread gets the same part of the data
// call after call (a multi-pass kernel finds it in that core's cache: the two vCPUs of the
// machines measured here share none, and plain iteration on 2 threads was slower than on 1
// while blocks went to whichever thread claimed first), and a thread slowed by another
// process still has its iterations taken. parallel_for_until claims in increasing order.
// Helpers spin for a few microseconds after a call, then sleep, so an idle helper does not
// take a core another process needs. Threads come from one lazily started pool of
// std::threads that lives until the process exits.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "config.hpp"
#include "error.hpp"

#if KESTREL_HAS_OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace kestrel {

/// How a kernel may use threads.
struct exec_policy {
    /// Number of threads; 0 = OpenMP's default, 1 = serial; negative is an error.
    int threads = 0;

    static constexpr exec_policy serial() noexcept { return exec_policy{1}; }
    static constexpr exec_policy with_threads(int n) noexcept { return exec_policy{n}; }
};

/// Rejects a negative thread count, naming the public function that received it.
inline void require_valid_policy(exec_policy policy, const char* function) {
    require(policy.threads >= 0, function, "policy.threads", "must be >= 0 (0 = default), got ", policy.threads);
}

namespace detail {

/// True on the pool's helper threads, and on a calling thread while it runs a Kestrel loop.
inline bool& inside_parallel_loop() noexcept {
    static thread_local bool inside = false;
    return inside;
}

/// The slot of this thread in the loop it is running: 0 on the calling thread, 1 + helper
/// index on a pool thread.
inline int& loop_slot() noexcept {
    static thread_local int slot = 0;
    return slot;
}

/// Slot 0 while a loop runs serially on this thread: a kernel called from the body of an
/// outer loop on a pool thread (slot >= 1) sizes its scratch by effective_threads() = 1, so
/// current_loop_slot() must say 0 inside it. The outer slot is restored afterwards (also when
/// the body throws).
struct serial_slot_scope {
    int saved;
    serial_slot_scope() noexcept : saved(loop_slot()) { loop_slot() = 0; }
    ~serial_slot_scope() { loop_slot() = saved; }
    serial_slot_scope(const serial_slot_scope&) = delete;
    serial_slot_scope& operator=(const serial_slot_scope&) = delete;
};

KESTREL_ALWAYS_INLINE void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

}  // namespace detail

/// The number of threads a parallel loop with this policy would use here (1 inside an
/// active parallel region or Kestrel loop, or without threading support).
inline int effective_threads(exec_policy policy = {}) noexcept {
#if KESTREL_HAS_OPENMP
    if (policy.threads < 0 || detail::inside_parallel_loop() || omp_in_parallel()) return 1;
    const int n = policy.threads > 0 ? policy.threads : omp_get_max_threads();
    return std::max(1, n);
#else
    (void)policy;
    return 1;
#endif
}

/// Inside a loop body: which thread runs it, as an index in [0, effective_threads(policy))
/// of the loop's policy (0 on the calling thread and in serial loops). For per-thread scratch.
inline int current_loop_slot() noexcept { return detail::loop_slot(); }

/// Splits [0, n) into `nblocks` nearly equal contiguous blocks and returns block b's range.
struct block_range {
    std::size_t begin, end;
};
/// nblocks = 0 gives the empty range.
inline block_range block_bounds(std::size_t n, std::size_t nblocks, std::size_t b) noexcept {
    if (nblocks == 0) return {0, 0};
    const std::size_t q = n / nblocks, r = n % nblocks;
    const std::size_t begin = b * q + std::min(b, r);
    return {begin, begin + q + (b < r ? 1 : 0)};
}

#if KESTREL_HAS_OPENMP
namespace detail {

/// The pool behind every parallel loop. One call runs at a time; a second thread that calls
/// while the pool is busy runs its loop alone (see try_run).
class thread_pool {
public:
    /// Unit of work: run(ctx, i) executes iteration i and returns false to stop the loop
    /// (no iteration not yet claimed will start).
    using iteration_fn = bool (*)(void* ctx, std::size_t i);

    static thread_pool& instance() {
        // Never destroyed: helper threads may still be asleep in it at exit.
        static thread_pool* pool = new thread_pool();
        return *pool;
    }

    /// Runs iterations [0, count) on the caller and up to `helpers` pool threads. Ordered: one
    /// range, claimed in increasing order. Otherwise [0, count) is cut into one contiguous range
    /// per participant (caller first, then helpers in id order, at most max_ranges): each claims
    /// from its own range first, in increasing order, then from the others' (so a thread slowed
    /// by another process still has its iterations taken), and a call after call gives each
    /// thread the same part of the data while nobody is slowed (the two vCPUs of this machine
    /// share no cache). Returns false, without running anything, if the pool is busy with
    /// another caller. Rethrows the first exception an iteration threw.
    bool try_run(std::size_t count, int helpers, iteration_fn fn, void* ctx, bool ordered = true) {
        std::unique_lock<std::mutex> call(call_mutex_, std::try_to_lock);
        if (!call.owns_lock()) return false;
        helpers = start_helpers(helpers);
        if (helpers == 0) return false;

        // Publish: close the claim word under the new job id first, so that a helper still
        // looking at the previous job can never claim with this job's fields (see claim()).
        const std::uint32_t job = ++job_id_;
        for (auto& w : claims_) w.word.exchange(pack(job, stop_bit), std::memory_order_acq_rel);
        const int ranges = ordered ? 1 : std::min(helpers + 1, max_ranges);
        for (int r = 0; r < ranges; ++r) {
            const block_range b = block_bounds(count, static_cast<std::size_t>(ranges), static_cast<std::size_t>(r));
            claims_[r].begin = b.begin;
            claims_[r].end.store(b.end, std::memory_order_release);
        }
        ranges_.store(ranges, std::memory_order_release);
        count_.store(count, std::memory_order_release);
        fn_.store(fn, std::memory_order_release);
        ctx_.store(ctx, std::memory_order_release);
        helpers_allowed_.store(helpers, std::memory_order_release);
        done_.store(0, std::memory_order_relaxed);
        failed_.store(false, std::memory_order_relaxed);
        for (int r = 0; r < ranges; ++r) claims_[r].word.store(pack(job, claims_[r].begin), std::memory_order_release);
        {
            std::lock_guard<std::mutex> lk(wake_mutex_);
            published_.store(job, std::memory_order_release);
            if (sleepers_ > 0) wake_.notify_all();
        }

        // The caller works like any helper, then waits only for iterations already claimed.
        bool& inside = inside_parallel_loop();
        inside = true;
        work(job, 0);
        inside = false;
        // Every range is now used up or stopped: no further claim can succeed.
        std::size_t claimed = 0;
        for (int r = 0; r < ranges; ++r)
            claimed += std::min<std::size_t>(index_of(claims_[r].word.load(std::memory_order_acquire)),
                                             claims_[r].end.load(std::memory_order_relaxed)) -
                       claims_[r].begin;
        wait_for(claimed);

        if (failed_.load(std::memory_order_acquire)) {
            std::exception_ptr e;
            {
                std::lock_guard<std::mutex> lk(error_mutex_);
                std::swap(e, error_);
            }
            call.unlock();
            std::rethrow_exception(e);
        }
        return true;
    }

private:
    // A claim word per range: job id in the high 32 bits, the range's next unclaimed iteration
    // in the low 31, and a stop bit that closes the range to further claims.
    static constexpr std::uint64_t stop_bit = std::uint64_t(1) << 31;
    static constexpr std::uint64_t index_mask = stop_bit - 1;
    // Ranges of a job; each on its own cache line (threads claim from their own).
    static constexpr int max_ranges = 8;
    struct alignas(64) claim_range {
        std::atomic<std::uint64_t> word{0};
        std::atomic<std::size_t> end{0};
        std::size_t begin = 0;  // written by the caller only, before the word opens
    };

public:
    /// The most iterations one job can hold (loops with more are run in grains).
    static constexpr std::size_t max_iterations = static_cast<std::size_t>(index_mask);

private:
    static constexpr std::uint64_t pack(std::uint32_t job, std::uint64_t index) noexcept {
        return (std::uint64_t(job) << 32) | index;
    }
    static constexpr std::uint32_t job_of(std::uint64_t c) noexcept { return static_cast<std::uint32_t>(c >> 32); }
    static constexpr std::size_t index_of(std::uint64_t c) noexcept { return static_cast<std::size_t>(c & index_mask); }

    thread_pool() = default;

    // Starts helper threads up to `wanted` (fewer if the system refuses); returns how many run.
    int start_helpers(int wanted) {
        while (static_cast<int>(helpers_.size()) < wanted) {
            const int id = static_cast<int>(helpers_.size());
#if KESTREL_HAS_EXCEPTIONS
            try {
                helpers_.emplace_back([this, id] { helper_main(id); });
            } catch (...) {
                break;
            }
#else
            helpers_.emplace_back([this, id] { helper_main(id); });
#endif
            helpers_.back().detach();
        }
        return std::min(wanted, static_cast<int>(helpers_.size()));
    }

    // Claims and runs iterations of `job` until none is left or the job is stopped: from range
    // `home` (modulo the job's ranges) first, then from the next ones in turn.
    void work(std::uint32_t job, int home) {
        const int ranges = ranges_.load(std::memory_order_acquire);
        if (ranges < 1 || ranges > max_ranges) return;  // a later job's value: its words reject us
        for (int k = 0; k < ranges; ++k) {
            claim_range& cr = claims_[(home + k) % ranges];
            if (!work_range(job, cr)) return;
        }
    }

    // Claims and runs iterations from one range; false when the job is over for this thread
    // (another job published, or stopped).
    bool work_range(std::uint32_t job, claim_range& cr) {
        for (;;) {
            std::uint64_t c = cr.word.load(std::memory_order_acquire);
            if (job_of(c) != job || (c & stop_bit)) return false;
            const std::size_t i = index_of(c);
            // Acquire loads: if any of these saw a later job's value, that job's publication
            // (which first moved every claim word to its own id) happens before the CAS below,
            // so the CAS fails. A successful CAS therefore ran with this job's fields.
            const std::size_t end = cr.end.load(std::memory_order_acquire);
            const iteration_fn fn = fn_.load(std::memory_order_acquire);
            void* const ctx = ctx_.load(std::memory_order_acquire);
            if (i >= end) return true;
            if (!cr.word.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_relaxed)) continue;
            bool go_on = false;
            if (!failed_.load(std::memory_order_relaxed)) {
#if KESTREL_HAS_EXCEPTIONS
                try {
                    go_on = fn(ctx, i);
                } catch (...) {
                    record_failure(std::current_exception(), job);
                }
#else
                go_on = fn(ctx, i);
#endif
            }
            if (!go_on) stop(job);
            done_.fetch_add(1, std::memory_order_acq_rel);
        }
    }

    void record_failure(std::exception_ptr e, std::uint32_t job) {
        {
            std::lock_guard<std::mutex> lk(error_mutex_);
            if (!error_) error_ = std::move(e);
        }
        failed_.store(true, std::memory_order_release);
        stop(job);
    }

    // Closes `job` to further claims (iterations already claimed still complete).
    void stop(std::uint32_t job) noexcept {
        for (auto& cr : claims_) {
            std::uint64_t c = cr.word.load(std::memory_order_acquire);
            while (job_of(c) == job && !(c & stop_bit) &&
                   !cr.word.compare_exchange_weak(c, c | stop_bit, std::memory_order_acq_rel, std::memory_order_acquire)) {
            }
        }
    }

    void wait_for(std::size_t claimed) const noexcept {
        using clock = std::chrono::steady_clock;
        const auto start = clock::now();
        for (unsigned spins = 0; done_.load(std::memory_order_acquire) < claimed; ++spins) {
            // A helper that holds an iteration may have been descheduled: after a short spin,
            // give the core away instead of burning it.
            if (spins < 64 || clock::now() - start < std::chrono::microseconds(50))
                cpu_relax();
            else
                std::this_thread::yield();
        }
    }

    void helper_main(int id) {
        inside_parallel_loop() = true;  // a kernel called from a loop body runs serially
        loop_slot() = id + 1;
        std::uint32_t seen = 0;
        using clock = std::chrono::steady_clock;
        for (;;) {
            // Spin briefly (back-to-back calls are common), then sleep.
            std::uint32_t job = published_.load(std::memory_order_acquire);
            if (job == seen) {
                const auto start = clock::now();
                for (unsigned spins = 1; job == seen; ++spins) {
                    cpu_relax();
                    if (spins % 64 == 0 && clock::now() - start > std::chrono::microseconds(spin_us)) break;
                    job = published_.load(std::memory_order_acquire);
                }
            }
            if (job == seen) {
                std::unique_lock<std::mutex> lk(wake_mutex_);
                ++sleepers_;
                wake_.wait(lk, [&] { return published_.load(std::memory_order_acquire) != seen; });
                --sleepers_;
                job = published_.load(std::memory_order_acquire);
            }
            seen = job;
            if (id < helpers_allowed_.load(std::memory_order_acquire)) work(job, id + 1);
        }
    }

    static constexpr int spin_us = 20;

    std::mutex call_mutex_;
    std::vector<std::thread> helpers_;  // detached; kept for the count
    std::uint32_t job_id_ = 0;

    claim_range claims_[max_ranges];
    std::atomic<int> ranges_{1};
    std::atomic<std::size_t> count_{0};
    std::atomic<iteration_fn> fn_{nullptr};
    std::atomic<void*> ctx_{nullptr};
    std::atomic<int> helpers_allowed_{0};
    std::atomic<std::size_t> done_{0};
    std::atomic<bool> failed_{false};

    std::mutex error_mutex_;
    std::exception_ptr error_;

    std::mutex wake_mutex_;
    std::condition_variable wake_;
    std::atomic<std::uint32_t> published_{0};
    int sleepers_ = 0;
};

}  // namespace detail
#endif  // KESTREL_HAS_OPENMP

namespace detail {

// Runs body(i) for i in [0, count) on up to `threads` threads; body returns void, or bool
// where false stops the loop. Ordered: iterations are claimed in increasing order; otherwise
// each thread claims from its own contiguous range first (thread_pool::try_run). Serial when
// threads <= 1 or the pool is busy.
template <bool Ordered = false, class Body>
void run_loop(std::size_t count, int threads, Body& body) {
    using result = decltype(body(std::size_t(0)));
    constexpr bool can_stop = std::is_same_v<result, bool>;
    auto call = [&body](std::size_t i) -> bool {
        if constexpr (can_stop)
            return body(i);
        else
            return body(i), true;
    };
#if KESTREL_HAS_OPENMP
    if (threads > 1 && count > 1) {
        const int helpers = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(threads - 1), count - 1));
        // Grains of consecutive iterations when a loop has more than one job can count.
        const std::size_t max_iter = thread_pool::max_iterations;
        const std::size_t grain = count <= max_iter ? 1 : (count + max_iter - 1) / max_iter;
        struct context {
            decltype(call)* f;
            std::size_t count, grain;
        } ctx{&call, count, grain};
        const thread_pool::iteration_fn fn = [](void* p, std::size_t g) -> bool {
            auto& c = *static_cast<context*>(p);
            const std::size_t end = std::min(c.count, (g + 1) * c.grain);
            for (std::size_t i = g * c.grain; i < end; ++i)
                if (!(*c.f)(i)) return false;
            return true;
        };
        if (thread_pool::instance().try_run((count + grain - 1) / grain, helpers, fn, &ctx, Ordered)) return;
    }
#endif
    (void)threads;
    const serial_slot_scope slot0;
    for (std::size_t i = 0; i < count; ++i)
        if (!call(i)) break;
}

}  // namespace detail

/// Calls body(i) for every i in [0, count), spread over threads that claim iterations one at
/// a time, each from its own contiguous range first (so a thread slowed down by another process
/// takes fewer, and on an idle machine each thread sees the same range call after call). The body must not depend
/// on which thread runs it. Exceptions: see the header comment.
template <class Body>
void parallel_for(std::size_t count, exec_policy policy, Body&& body) {
    require_valid_policy(policy, "parallel_for");
    detail::run_loop(count, effective_threads(policy), body);
}

/// The same as parallel_for (every loop claims iterations dynamically); kept for callers
/// that want to say that iterations differ in cost.
template <class Body>
void parallel_for_dynamic(std::size_t count, exec_policy policy, Body&& body) {
    require_valid_policy(policy, "parallel_for_dynamic");
    detail::run_loop(count, effective_threads(policy), body);
}

/// Calls body(i) -> bool for i in [0, count). Iterations are handed out in increasing order;
/// once a body returns false no further iteration starts (those already running finish), so
/// every iteration below the first that returned false has run. Serially it is the loop
/// `for (i...) if (!body(i)) break;`.
template <class Body>
void parallel_for_until(std::size_t count, exec_policy policy, Body&& body) {
    require_valid_policy(policy, "parallel_for_until");
    detail::run_loop<true>(count, effective_threads(policy), body);
}

/// Calls body(begin, end) on contiguous chunks covering [0, n), each a multiple of `align`
/// elements except the last, claimed dynamically. For elementwise work where the chunking
/// does not affect the result. Chunks hold at least `min_chunk` elements (rounded up to
/// `align`), so a small n runs on the calling thread alone.
template <class Body>
void parallel_chunks(std::size_t n, std::size_t align, exec_policy policy, Body&& body,
                     std::size_t min_chunk = std::size_t(1) << 14) {
    require_valid_policy(policy, "parallel_chunks");
    if (n == 0) return;
    if (align == 0) align = 1;
    const int nt = effective_threads(policy);
    // About 8 chunks per thread (a slowed thread holds up at most a small share), never
    // smaller than min_chunk.
    std::size_t chunk = std::max<std::size_t>(min_chunk, n / (8 * static_cast<std::size_t>(nt)));
    chunk = (chunk + align - 1) / align * align;
    if (nt <= 1 || n <= chunk) {
        const detail::serial_slot_scope slot0;
        body(std::size_t(0), n);
        return;
    }
    const std::size_t count = (n + chunk - 1) / chunk;
    auto each = [&](std::size_t c) { body(c * chunk, std::min(n, (c + 1) * chunk)); };
    detail::run_loop(count, nt, each);
}

/// Deterministic reduction: result = combine(...combine(combine(init, f(0)), f(1))..., f(count-1)).
/// The f(b) are evaluated in parallel and combined serially in index order, so the result
/// is the same at any thread count. Allocates `count` partials (not for hot inner loops).
template <class R, class BlockFn, class Combine>
R deterministic_reduce(std::size_t count, exec_policy policy, R init, BlockFn&& f, Combine&& combine) {
    require_valid_policy(policy, "deterministic_reduce");
    std::vector<R> partial(count);
    parallel_for(count, policy, [&](std::size_t b) { partial[b] = f(b); });
    R acc = init;
    for (std::size_t b = 0; b < count; ++b) acc = combine(acc, partial[b]);
    return acc;
}

}  // namespace kestrel
