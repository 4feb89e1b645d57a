// Streaming weighted reservoir sampling of size m (P. S. Efraimidis and P. G. Spirakis,
// "Weighted random sampling with a reservoir", IPL 97(5), 2006), in the exponential-key form:
// item i has key k_i = E_i / w_i with E_i ~ Exp(1) and the reservoir holds the m items with the
// smallest keys seen so far (= the largest u^(1/w) of the paper), so its content is a sample
// without replacement with the successive-sampling law (see without_replacement.hpp).
//
// Two classes, because A-ExpJ's jumps and bit-exact mergeability cannot both hold:
//
// weighted_reservoir (A-Res, item-keyed): E_i = counter_rng::exponential(id_i), a pure function
//   of (seed, stream, item id). The key of an item does not depend on the stream order or on
//   which part of a split stream it arrived in, so merge(a, b) is EXACTLY (bit for bit) the
//   reservoir of the concatenated stream: the m smallest (key, id) pairs of the union. Cost:
//   one Philox block and one log per pushed item.
//
// weighted_reservoir_expj (A-ExpJ, exponential jumps): once the reservoir is full with
//   threshold T (its largest key), the next item to enter is the one where the running weight
//   crosses X = E / T (the event "w_i T > E_i" happens along the weight axis as a Poisson
//   process of rate T); its key is drawn from Exp(w) truncated to (0, T) by inversion:
//   k = -log(1 - v (1 - exp(-w T))) / w (the paper's r2 ~ U(T_w^w, 1), key r2^(1/w)). Random
//   numbers are drawn only per insertion (O(m log(n / m)) expected), from the reservoir's own
//   counter stream in the order they are needed, so they cannot be keyed by item id: which items
//   a jump skips depends on everything before. Its state has the same law as A-Res's, so
//   merge(a, b) of two reservoirs on independent streams is the reservoir of the concatenated
//   stream IN LAW (not bit for bit); merging two that share a stream is refused.
//
// Item ids must be distinct over all streams that are ever merged (an id pushed twice gets the
// same key twice in the item-keyed class and would be held twice). Weights: finite and >= 0;
// zero weights are never held; a bad weight is refused before the state changes (a batch is
// validated whole first).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../core/view.hpp"

namespace kestrel::sensitivity {

/// One reservoir entry: the exponential key and the item's id. Ordered by (key, id).
struct reservoir_entry {
    double key;
    std::uint64_t id;
    friend bool operator<(const reservoir_entry& a, const reservoir_entry& b) noexcept {
        return a.key < b.key || (a.key == b.key && a.id < b.id);
    }
    friend bool operator==(const reservoir_entry& a, const reservoir_entry& b) noexcept {
        return a.key == b.key && a.id == b.id;
    }
};

namespace detail {

template <class T>
void require_stream_weight(T w, const char* f, const char* argument, std::size_t index) {
    if (!(w >= T(0) && w <= std::numeric_limits<T>::max()))
        fail_argument(f, argument, "entry ", index, " is ", w, " (weights must be finite and >= 0)");
}

/// State shared by both reservoirs: a max-heap (by (key, id)) of at most m entries.
class reservoir_heap {
public:
    explicit reservoir_heap(std::size_t m, const char* f) : m_(m) {
        require(m >= 1, f, "m", "must be >= 1, got ", m);
        heap_.reserve(m);
    }
    std::size_t capacity() const noexcept { return m_; }
    std::size_t size() const noexcept { return heap_.size(); }
    bool full() const noexcept { return heap_.size() == m_; }
    /// Largest key held when full; +infinity while not full (every item would enter).
    double threshold() const noexcept { return full() ? heap_.front().key : std::numeric_limits<double>::infinity(); }

    /// Offers an entry; returns true if it entered.
    bool offer(const reservoir_entry& e) {
        if (heap_.size() < m_) {
            heap_.push_back(e);
            std::push_heap(heap_.begin(), heap_.end());
            return true;
        }
        if (!(e < heap_.front())) return false;
        std::pop_heap(heap_.begin(), heap_.end());
        heap_.back() = e;
        std::push_heap(heap_.begin(), heap_.end());
        return true;
    }

    /// The held entries sorted by (key, id): the order of selection.
    std::vector<reservoir_entry> sorted() const {
        std::vector<reservoir_entry> s(heap_);
        std::sort(s.begin(), s.end());
        return s;
    }
    const std::vector<reservoir_entry>& raw() const noexcept { return heap_; }

private:
    std::size_t m_;
    std::vector<reservoir_entry> heap_;
};

}  // namespace detail

/// A-Res with item-keyed exponential keys: mergeable bit for bit (see the header comment).
class weighted_reservoir {
public:
    weighted_reservoir(std::size_t m, const counter_rng& rng) : heap_(m, "weighted_reservoir"), rng_(rng) {}

    std::size_t capacity() const noexcept { return heap_.capacity(); }
    std::size_t size() const noexcept { return heap_.size(); }
    double threshold() const noexcept { return heap_.threshold(); }
    const counter_rng& rng() const noexcept { return rng_; }
    std::uint64_t items_seen() const noexcept { return seen_; }

    /// The key item `id` of weight w > 0 has under this reservoir's stream.
    double key_of(std::uint64_t id, double w) const noexcept { return rng_.exponential(id) / w; }

    /// Pushes one item (weight 0 is counted and never held).
    template <class T>
    void push(std::uint64_t id, T weight) {
        detail::require_stream_weight(weight, "weighted_reservoir::push", "weight", 0);
        push_unchecked(id, weight);
    }

    /// Pushes items ids[k] with weights[k]; all weights are validated before any is pushed.
    template <class T>
    void push(vector_view<const std::uint64_t> ids, vector_view<const T> weights) {
        const char* f = "weighted_reservoir::push";
        require_size(ids.size(), weights.size(), f, "ids", "weights");
        for (std::size_t k = 0; k < weights.size(); ++k) detail::require_stream_weight(weights[k], f, "weights", k);
        for (std::size_t k = 0; k < weights.size(); ++k) push_unchecked(ids[k], weights[k]);
    }

    /// Pushes items with ids first_id, first_id + 1, ... and the given weights.
    template <class T>
    void push_range(std::uint64_t first_id, vector_view<const T> weights) {
        const char* f = "weighted_reservoir::push_range";
        require(weights.size() == 0 || weights.size() - 1 <= UINT64_MAX - first_id, f, "first_id",
                "ids wrap around 2^64");
        for (std::size_t k = 0; k < weights.size(); ++k) detail::require_stream_weight(weights[k], f, "weights", k);
        // Random blocks in batches (vectorized Philox), then the same offer as push.
        counter_rng::block_type r[batch];
        for (std::size_t kb = 0; kb < weights.size(); kb += batch) {
            const std::size_t cnt = std::min(batch, weights.size() - kb);
            ::kestrel::detail::for_each_in_fixed_groups(
                0, cnt, [&](std::size_t k) KESTREL_LAMBDA_INLINE { r[k] = rng_.block(first_id + kb + k); });
            for (std::size_t k = 0; k < cnt; ++k) offer_block(first_id + kb + k, static_cast<double>(weights[kb + k]), r[k]);
        }
        seen_ += weights.size();
    }

    /// The held (key, id) pairs, sorted by key: the order of selection.
    std::vector<reservoir_entry> items() const { return heap_.sorted(); }

    /// The reservoir of the concatenation of a's and b's streams (same m and the same
    /// counter_rng, so that an item's key is the same whichever part it arrived in).
    static weighted_reservoir merge(const weighted_reservoir& a, const weighted_reservoir& b) {
        const char* f = "weighted_reservoir::merge";
        require(a.capacity() == b.capacity(), f, "b", "capacity ", b.capacity(), " differs from a's (", a.capacity(), ")");
        require(a.rng_.seed() == b.rng_.seed() && a.rng_.stream() == b.rng_.stream(), f, "b",
                "uses another random stream than a (item-keyed reservoirs merge exactly only on the same stream)");
        weighted_reservoir out(a);
        for (const reservoir_entry& e : b.heap_.raw()) out.heap_.offer(e);
        out.seen_ = a.seen_ + b.seen_;
        return out;
    }

private:
    static constexpr std::size_t batch = 128;

    template <class T>
    void push_unchecked(std::uint64_t id, T weight) {
        ++seen_;
        if (weight > T(0)) offer_block(id, static_cast<double>(weight), rng_.block(id));
    }

    // Offers item id with its Philox block (key = exponential(id) / w = -log(u) / w). Exact early
    // rejection without the log when full: -log(u) >= 1 - u, so 1 - u above the threshold times
    // w (1e-12 margin for rounding) means the key exceeds every key held.
    void offer_block(std::uint64_t id, double w, const counter_rng::block_type& b) {
        if (!(w > 0.0)) return;
        const double u = random_conversion::u64_to_double_open(counter_rng::join(b[0], b[1]));
        if (heap_.full() && (1.0 - u) > heap_.threshold() * w * (1.0 + 1e-12)) return;
        heap_.offer({-std::log(u) / w, id});
    }

    detail::reservoir_heap heap_;
    counter_rng rng_;
    std::uint64_t seen_ = 0;
};

/// A-ExpJ: random numbers only at insertions, from the reservoir's own stream (see the header
/// comment); mergeable in law with a reservoir on an independent stream.
class weighted_reservoir_expj {
public:
    weighted_reservoir_expj(std::size_t m, const counter_rng& rng) : heap_(m, "weighted_reservoir_expj"), rng_(rng) {}

    std::size_t capacity() const noexcept { return heap_.capacity(); }
    std::size_t size() const noexcept { return heap_.size(); }
    double threshold() const noexcept { return heap_.threshold(); }
    const counter_rng& rng() const noexcept { return rng_; }
    std::uint64_t items_seen() const noexcept { return seen_; }
    /// Random draws consumed so far (the stream's counter).
    std::uint64_t draws_used() const noexcept { return draw_; }

    template <class T>
    void push(std::uint64_t id, T weight) {
        detail::require_stream_weight(weight, "weighted_reservoir_expj::push", "weight", 0);
        push_unchecked(id, static_cast<double>(weight));
    }

    template <class T>
    void push(vector_view<const std::uint64_t> ids, vector_view<const T> weights) {
        const char* f = "weighted_reservoir_expj::push";
        require_size(ids.size(), weights.size(), f, "ids", "weights");
        for (std::size_t k = 0; k < weights.size(); ++k) detail::require_stream_weight(weights[k], f, "weights", k);
        for (std::size_t k = 0; k < weights.size(); ++k) push_unchecked(ids[k], static_cast<double>(weights[k]));
    }

    template <class T>
    void push_range(std::uint64_t first_id, vector_view<const T> weights) {
        const char* f = "weighted_reservoir_expj::push_range";
        require(weights.size() == 0 || weights.size() - 1 <= UINT64_MAX - first_id, f, "first_id",
                "ids wrap around 2^64");
        for (std::size_t k = 0; k < weights.size(); ++k) detail::require_stream_weight(weights[k], f, "weights", k);
        std::size_t k = 0;
        const std::size_t n = weights.size();
        while (k < n) {
            if (!heap_.full()) {
                push_unchecked(first_id + k, static_cast<double>(weights[k]));
                ++k;
                continue;
            }
            // Skip: subtract weights until the jump X is crossed (the hot loop: no randomness).
            double x = skip_;
            std::size_t j = k;
            for (; j < n; ++j) {
                x -= static_cast<double>(weights[j]);
                if (x <= 0.0 && weights[j] > T(0)) break;
            }
            seen_ += j - k;
            if (j == n) {
                skip_ = x;
                return;
            }
            skip_ = x;  // <= 0: item j crosses
            insert_crossing(first_id + j, static_cast<double>(weights[j]));
            ++seen_;
            k = j + 1;
        }
    }

    std::vector<reservoir_entry> items() const { return heap_.sorted(); }

    /// A reservoir with the law of the concatenated streams' reservoir; continues on a's stream
    /// (after a's draws). Refuses different capacities and a shared stream.
    static weighted_reservoir_expj merge(const weighted_reservoir_expj& a, const weighted_reservoir_expj& b) {
        const char* f = "weighted_reservoir_expj::merge";
        require(a.capacity() == b.capacity(), f, "b", "capacity ", b.capacity(), " differs from a's (", a.capacity(), ")");
        require(!(a.rng_.seed() == b.rng_.seed() && a.rng_.stream() == b.rng_.stream()), f, "b",
                "uses the same random stream as a (their keys would not be independent)");
        weighted_reservoir_expj out(a);
        for (const reservoir_entry& e : b.heap_.raw()) out.heap_.offer(e);
        out.seen_ = a.seen_ + b.seen_;
        if (out.heap_.full()) out.new_jump();  // memoryless: a fresh jump from the merged threshold
        return out;
    }

private:
    void push_unchecked(std::uint64_t id, double w) {
        ++seen_;
        if (!(w > 0.0)) return;
        if (!heap_.full()) {
            heap_.offer({rng_.exponential(draw_++) / w, id});
            if (heap_.full()) new_jump();
            return;
        }
        skip_ -= w;
        if (skip_ <= 0.0) insert_crossing(id, w);
    }

    // Item (id, w) is the first whose key beats T: its key is Exp(w) truncated to (0, T).
    void insert_crossing(std::uint64_t id, double w) {
        const double t = heap_.threshold();
        const double v = rng_.uniform_double_open(draw_++);
        // -log(1 - v (1 - e^{-wT})) / w, with expm1 / log1p for small wT.
        double key = -std::log1p(v * std::expm1(-w * t)) / w;
        if (!(key < t)) key = std::nextafter(t, 0.0);  // rounding at the edge
        heap_.offer({key, id});
        new_jump();
    }

    void new_jump() { skip_ = rng_.exponential(draw_++) / heap_.threshold(); }

    detail::reservoir_heap heap_;
    counter_rng rng_;
    std::uint64_t seen_ = 0, draw_ = 0;
    double skip_ = 0.0;
};

}  // namespace kestrel::sensitivity
