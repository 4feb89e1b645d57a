// Weighted sampling without replacement by exponential keys (P. S. Efraimidis and P. G.
// Spirakis, "Weighted random sampling with a reservoir", IPL 97(5), 2006, algorithm A-Res, in
// the exponential form): item i gets the key k_i = E_i / w_i with E_i a standard exponential,
// and the m smallest keys win. Since k_i ~ Exp(rate w_i) independently, the item with the
// smallest key is i with probability w_i / W, and by memorylessness the order of the keys is
// successive sampling: P(i_1, ..., i_m in this order) = prod_j w_{i_j} / (W - w_{i_1} - ... -
// w_{i_{j-1}}). (k_i = E_i / w_i is -log of the paper's u_i^(1/w_i), so "largest u^(1/w)" and
// "smallest E / w" select the same items.)
//
// Randomness: E_i = counter_rng::exponential(i) (draw i of the stream decides item i), so the
// sample is a pure function of (seed, stream, weights). Zero weights have key +infinity and are
// never chosen; m must not exceed the number of positive weights.
//
// Selection without sorting all n: the weights are cut into fixed blocks of B = max(2^15, ~8m)
// items (a function of n and m only); each block keeps its min(m, B) smallest (key, index) pairs
// in a bounded max-heap (O(B) with O(m log(B/m) log m) expected heap updates; a key is computed
// only if 1 - u passes the heap's threshold, see below), blocks run in parallel; the candidates are
// then reduced by nth_element to the m smallest and only those m are sorted. Blocks also share
// the smallest largest-key of any full heap (at least m keys lie below it, so no key above it
// can be selected), and, when a block ends, the m-th smallest key of the finished blocks'
// candidates merged (kept under a lock; a block's own heap rarely fills after the first blocks):
// later blocks reject almost every item with one comparison, done 32 items at a time in SIMD
// lanes (detail::key_candidates on detail::open_uniforms), and since only
// provably unselectable items are rejected, the result does not depend on the timing. Keys tie
// only with probability ~2^-53; ties are broken by the smaller index, so the order is total and
// the result is the same at any thread count.
//
// Output order: increasing key, which is the order of selection of successive sampling
// (out[0] is the first item drawn).
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/view.hpp"
#include "../core/simd.hpp"
#include "detail/alias_draws.hpp"
#include "sampling_weights.hpp"

namespace kestrel::sensitivity {

/// One selected item: its exponential key E_i / w_i and its index.
struct keyed_item {
    double key;
    std::size_t index;
    friend bool operator<(const keyed_item& a, const keyed_item& b) noexcept {
        return a.key < b.key || (a.key == b.key && a.index < b.index);
    }
    friend bool operator==(const keyed_item& a, const keyed_item& b) noexcept {
        return a.key == b.key && a.index == b.index;
    }
};

/// The exponential key of item i (weight w > 0) under `rng`: exponential(i) / w, in double.
inline double exponential_key(const counter_rng& rng, std::uint64_t i, double w) noexcept {
    return rng.exponential(i) / w;
}

namespace detail {

static_assert(random_batch % draw_chunk == 0, "chunks tile a batch");

/// Bit k (k < draw_chunk) is set unless (1 - u[k]) > t * w[k] * (1 + 1e-12): the items of a
/// chunk that may pass sample_without_replacement's exact early rejection at threshold t. The
/// same double operations as the scalar test, lane by lane (a weight converts to double
/// exactly; inf * 0 is NaN and passes, as in the scalar test, to be refused as a zero weight).
template <class T>
KESTREL_ALWAYS_INLINE std::uint32_t key_candidates(const double* u, const T* w, double t) noexcept {
    static_assert(draw_chunk == 32, "one bit per lane of a 32-bit mask");
#if defined(KESTREL_ALIAS_DRAWS_AVX512)
    const __m512d one = _mm512_set1_pd(1.0), tt = _mm512_set1_pd(t), margin = _mm512_set1_pd(1.0 + 1e-12);
    std::uint32_t pass = 0;
    for (int v = 0; v < 4; ++v) {
        __m512d wv;
        if constexpr (std::is_same_v<T, float>) wv = _mm512_cvtps_pd(_mm256_loadu_ps(w + 8 * v));
        else wv = _mm512_loadu_pd(w + 8 * v);
        const __mmask8 reject = _mm512_cmp_pd_mask(_mm512_sub_pd(one, _mm512_load_pd(u + 8 * v)),
                                                   _mm512_mul_pd(_mm512_mul_pd(tt, wv), margin), _CMP_GT_OQ);
        pass |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(~reject)) << (8 * v);
    }
    return pass;
#elif defined(KESTREL_ALIAS_DRAWS_AVX2)
    const __m256d one = _mm256_set1_pd(1.0), tt = _mm256_set1_pd(t), margin = _mm256_set1_pd(1.0 + 1e-12);
    std::uint32_t reject = 0;
    for (int v = 0; v < 8; ++v) {
        __m256d wv;
        if constexpr (std::is_same_v<T, float>) wv = _mm256_cvtps_pd(_mm_loadu_ps(w + 4 * v));
        else wv = _mm256_loadu_pd(w + 4 * v);
        const __m256d r = _mm256_cmp_pd(_mm256_sub_pd(one, _mm256_load_pd(u + 4 * v)),
                                        _mm256_mul_pd(_mm256_mul_pd(tt, wv), margin), _CMP_GT_OQ);
        reject |= static_cast<std::uint32_t>(_mm256_movemask_pd(r)) << (4 * v);
    }
    return ~reject;
#else
    std::uint32_t pass = 0;
    for (std::size_t k = 0; k < draw_chunk; ++k)
        pass |= static_cast<std::uint32_t>(!((1.0 - u[k]) > t * static_cast<double>(w[k]) * (1.0 + 1e-12))) << k;
    return pass;
#endif
}

}  // namespace detail

/// Scratch kept across calls (candidate buffer); optional.
struct without_replacement_workspace {
    std::vector<keyed_item> candidates;
    std::vector<std::size_t> block_count;
    std::vector<keyed_item> best, merged;  // the m smallest keys of the finished blocks, merge scratch
};

/// Draws m distinct indices from `weights` (probabilities of successive sampling, see above)
/// into out_indices (size m), in order of selection; out_keys, if non-empty (size m), receives
/// their keys. Refuses m < 1, m greater than the number of positive weights, wrong output sizes
/// and bad weights, before writing anything.
template <class T>
void sample_without_replacement(vector_view<const T> weights, std::size_t m, const counter_rng& rng,
                                vector_view<std::size_t> out_indices, exec_policy policy,
                                without_replacement_workspace& ws, vector_view<double> out_keys = {}) {
    const char* f = "sample_without_replacement";
    const sampling_weight_summary s = summarize_sampling_weights(weights, f, policy);
    require(m >= 1, f, "m", "must be >= 1, got ", m);
    require(m <= s.positive, f, "m", m, " exceeds the number of positive weights (", s.positive,
            "): a sample without replacement cannot be that large");
    require_size(out_indices.size(), m, f, "out_indices", "m");
    require(out_keys.empty() || out_keys.size() == m, f, "out_keys", "size ", out_keys.size(),
            " must be 0 (not wanted) or m (", m, ")");

    // Blocks of at least 8m items (a multiple of sampling_block; a function of n and m only), so
    // a block's heap takes about m (1 + ln 8) insertions instead of churning when m is large.
    const std::size_t n = weights.size();
    const std::size_t blk = std::max<std::size_t>(
        sampling_block, (std::min(m, n / 8 + 1) * 8 + sampling_block - 1) / sampling_block * sampling_block);
    const std::size_t nb = (n + blk - 1) / blk;
    const std::size_t cap = std::min(m, blk);
    ws.candidates.resize(nb * cap);
    ws.block_count.assign(nb, 0);
    ws.best.clear();
    ws.best.reserve(m);
    ws.merged.resize(m);
    std::mutex best_mutex;
    std::atomic<double> tau{std::numeric_limits<double>::infinity()};  // an upper bound on the m-th key
    parallel_for(nb, detail::small_serial(n, policy), [&](std::size_t b) {
        const std::size_t i0 = b * blk, i1 = std::min(n, i0 + blk);
        keyed_item* heap = ws.candidates.data() + b * cap;  // max-heap of the cap smallest so far
        std::size_t size = 0;
        alignas(64) double u[detail::draw_chunk];
        double bound = tau.load(std::memory_order_relaxed);
        for (std::size_t ib = i0; ib < i1; ib += detail::random_batch) {
            const std::size_t ie = std::min(i1, ib + detail::random_batch);
            for (std::size_t ic = ib; ic < ie; ic += detail::draw_chunk) {
                const std::size_t cnt = std::min(detail::draw_chunk, ie - ic);
                detail::open_uniforms(rng, ic, u);  // u[k]: exponential(ic + k) = -log(u[k])
                // The chunk's lanes that may pass the exact test below at the chunk's threshold
                // (t only decreases inside a block, so every item the test keeps is among them).
                const double t0 = size == cap ? std::min(bound, heap[0].key) : bound;
                std::uint32_t pass = cnt == detail::draw_chunk ? detail::key_candidates(u, weights.data() + ic, t0)
                                                               : (std::uint32_t(1) << cnt) - 1;
                while (pass != 0) {
                    const unsigned k = simd::detail::lowest_bit(pass);
                    pass &= pass - 1;
                    const std::size_t i = ic + k;
                    const double w = static_cast<double>(weights[i]);
                    if (!(w > 0.0)) continue;
                    // Exact early rejection without the log: E = -log(u) >= 1 - u, so 1 - u above
                    // t * w (1e-12 margin for the rounding of log and the division) means key = E / w > t.
                    const double t = size == cap ? std::min(bound, heap[0].key) : bound;
                    if ((1.0 - u[k]) > t * w * (1.0 + 1e-12)) continue;
                    const keyed_item it{-std::log(u[k]) / w, i};
                    if (it.key > bound) continue;  // m keys are <= bound: cannot be among the m smallest
                    if (size < cap) {
                        heap[size++] = it;
                        std::push_heap(heap, heap + size);
                    } else if (it < heap[0]) {
                        std::pop_heap(heap, heap + size);
                        heap[size - 1] = it;
                        std::push_heap(heap, heap + size);
                    }
                }
            }
            // Share this block's bound: a full heap holds m keys <= its largest, so no key above it
            // can be selected. Only rejections depend on when blocks see it, never the result.
            if (size == m) {
                double cur = tau.load(std::memory_order_relaxed);
                while (heap[0].key < cur && !tau.compare_exchange_weak(cur, heap[0].key, std::memory_order_relaxed)) {
                }
            }
            bound = std::min(bound, tau.load(std::memory_order_relaxed));
        }
        ws.block_count[b] = size;
        // Merge this block's keys into the m smallest of the finished blocks: once there are m,
        // the largest is a bound for every block (a block's own heap rarely fills again after
        // the first blocks, so without this the bound would stay the first full heap's).
        if (size > 0) {
            std::sort_heap(heap, heap + size);  // ascending; the final reduction ignores the order
            std::lock_guard<std::mutex> lock(best_mutex);
            std::vector<keyed_item>& best = ws.best;
            if (best.size() < m || heap[0] < best.back()) {
                const std::size_t nbest = best.size();
                std::size_t a = 0, c = 0, o = 0;
                while (o < m && (a < nbest || c < size)) {
                    if (c == size || (a < nbest && best[a] < heap[c])) ws.merged[o++] = best[a++];
                    else ws.merged[o++] = heap[c++];
                }
                best.assign(ws.merged.begin(), ws.merged.begin() + static_cast<std::ptrdiff_t>(o));
                if (o == m) {
                    double cur = tau.load(std::memory_order_relaxed);
                    while (best[m - 1].key < cur && !tau.compare_exchange_weak(cur, best[m - 1].key, std::memory_order_relaxed)) {
                    }
                }
            }
        }
    });
    // Compact the blocks' candidates (in block order), keep the m smallest, sort those.
    std::size_t total = 0;
    for (std::size_t b = 0; b < nb; ++b) {
        const keyed_item* src = ws.candidates.data() + b * cap;
        if (total != b * cap) std::copy(src, src + ws.block_count[b], ws.candidates.data() + total);
        total += ws.block_count[b];
    }
    auto first = ws.candidates.begin(), last = first + static_cast<std::ptrdiff_t>(total);
    auto mth = first + static_cast<std::ptrdiff_t>(m);
    if (total > m) std::nth_element(first, mth, last);
    std::sort(first, mth);
    for (std::size_t j = 0; j < m; ++j) {
        out_indices[j] = ws.candidates[j].index;
        if (!out_keys.empty()) out_keys[j] = ws.candidates[j].key;
    }
}

/// The same with a temporary workspace.
template <class T>
void sample_without_replacement(vector_view<const T> weights, std::size_t m, const counter_rng& rng,
                                vector_view<std::size_t> out_indices, exec_policy policy = {},
                                vector_view<double> out_keys = {}) {
    without_replacement_workspace ws;
    sample_without_replacement(weights, m, rng, out_indices, policy, ws, out_keys);
}

}  // namespace kestrel::sensitivity
