// Tree-embedding D^z seeding for large k: k-means++ (z = 2) or its k-median analogue (z = 1)
// with the draws made in the metric of a randomly shifted quadtree, as in Cohen-Addad,
// Lattanzi, Norouzi-Fard, Sohler and Svensson, "Fast and Accurate k-means++ via Rejection
// Sampling" (NeurIPS 2020: tree-metric proposals, corrected by rejection to the k-means++ law)
// and the Fast-Coresets seeding of Draganov, Saulpic and Schwiegelshohn, "Settling Time vs.
// Accuracy Tradeoffs for Clustering Big Data" (KDD 2024).
//
// The tree. The points (optionally first projected by a Johnson-Lindenstrauss Gaussian map to
// projection_dims = p coordinates, entries N(0, 1/p); else p = d) lie in a box of largest side
// L. A cube of side 2L shifted by s, s_t uniform in [0, L), covers it; level l cuts it into
// cells of side 2L / 2^l, l = 0 (the root) to 32 (the leaves). The tree distance is
//     D_T(x, y) = sqrt(p) 2L / 2^l,  l the deepest level whose cell holds both,
// the diameter of their smallest common cell, and 0 when they share a leaf (cell side
// 2^-31 L: points that close count as one). D_T >= the (projected) Euclidean distance for every
// shift, and E_s[D_T(x, y)] <= 2 p (levels) ||x - y|| (a pair is cut at a level of cell side
// a with probability at most sqrt(p) ||x - y|| / a): O(d log Delta) without projection.
//
// The law. Center 1 is drawn with probability w_i / W, each next one is proposed with
// probability w_i D_T(x_i, C)^z / sum_l w_l D_T(x_l, C)^z. D_T(x, C) is the diameter of the
// deepest cell of x that holds a center, so the points group by that cell: the "occupied" cells
// form a subtree, and an occupied cell's group is the cell minus its occupied children, all at
// one distance. A proposal picks a group with probability proportional to (group weight) x
// diameter^z through a sum tree over the groups (O(log(k levels))), then a point of the group
// by weight (binary search in the weight prefix sums of the points sorted in Morton (Z-) order,
// where every cell is a contiguous range; a group is its cell's range minus its children's).
// A new center creates one group per level below its group's (ranges by binary search): O(levels
// p log n) per center, independent of n. With `rejection` (default) the proposal x is accepted
// with probability (D(x, C) / D_T(x, C))^z, D the exact distance to the centers so far
// (O(|C| d)): the accepted draw has exactly the k-means++ law w_x D(x, C)^z / sum, as long as
// one of max_proposals proposals is accepted (otherwise the last proposal is taken). With a
// projection, D <= D_T is not guaranteed in the original space: the ratio is clamped at 1 and
// the law is approximate. Without rejection the law is the tree law above, which in the
// tests' 8-dimensional clusters costs 150x k-means++ (the tree metric is too distorted there).
//
// The result. The centers are the points drawn, in distinct leaf cells (so distinct points
// when the points lie in >= k distinct leaf cells); if every point shares a leaf with a center
// before k are drawn, fewer centers come back (all points identical: one center, cost 0). Each
// point is assigned to the nearest (exact distance) of the candidates of its deepest occupied
// cell in each of `trees` independently shifted trees (the first `candidates` centers that
// entered that cell; candidates = 1 and trees = 1 is the papers' assignment through the tree).
// One tree is not enough: a cluster cut by a coarse cell boundary has its far half assigned
// through an unrelated center (measured 175x k-means++'s cost in the tests; 3 trees: 1.02x).
// nearest / point_cost / cost are exact Euclidean values in the original space (d(x_i, c)^z,
// unweighted), so the result is a valid input for sensitivity_coreset_from.
//
// Guarantee. With rejection (and no cap hit) the centers have the k-means++ law, an O(log k)
// approximation in expectation (Arthur and Vassilvitskii 2007) for the nearest-center
// assignment; the returned assignment may be costlier (only the trees' candidates are compared),
// and is measured. Without rejection: O(log k) in the tree metric, times the tree's
// distortion above in the Euclidean one. A sensitivity coreset built on any of them stays
// unbiased for every center set: only its size bound degrades with the approximation factor
// (the tests and the benchmark measure the distortion).
//
// Cost. Per tree: O(n d p) for the grid coordinates, O(n p log n) for the Morton sort (128-bit
// keys, fixed chunks sorted in parallel then merged; tied runs re-keyed), O(n) for the prefix
// sums; O(k levels p log n) for the proposals; rejection O(|C| d) per proposal (at most
// O(max_proposals k^2 d) in all; the number of proposals grows with the tree's distortion);
// O(n trees candidates d) for the assignment: no O(n k d) term, against O(n k d) for the
// D^z seedings. Measured (n = 10^6, d = 16, float, benchmarks/sensitivity_tree_seeding.cpp,
// under load): at 2 threads it is slower than bicriteria_seeding's GEMM-speed passes at k = 100
// and 1000 (default 9x and 5x, projection to 6 dimensions 6.7x and 2.2x; its sort, draws and
// rejection are serial); single-threaded CPU time at k = 1000 with the projection, 1.3x faster.
// A crossover is expected at larger k, where the O(n k d) term dominates (not measured).
//
// Randomness: tree r's shift is draw r p + t of counter_rng(seed, 0x7ee5) (tree 0's may be
// given: detail::tree_seeding_with_shift), the projection entry (t, r) is normal draw t p + r of
// counter_rng(seed, 0x7ee6), and proposal t of center j uses uniform draws 3 (j M + t) + {0, 1,
// 2} of counter_rng(seed, 0x7ee7), M = max_proposals (1 without rejection). Every reduction is
// exact (min, max) or serial and the sort is a total order: the same result at any thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/view.hpp"
#include "dz_seeding.hpp"
#include "kmeans_distances.hpp"

namespace kestrel {
namespace sensitivity {

struct tree_seeding_options {
    int z = 2;                         ///< 2: k-means++ law, 1: k-median law (in the tree metric)
    std::uint64_t seed = 0;            ///< stream key of the shift, the projection and the draws
    exec_policy policy = {};           ///< threads (the result does not depend on them)
    std::size_t projection_dims = 0;   ///< 0: the tree on the original coordinates; else a JL
                                       ///< projection to this many (1 <= p <= d) first
    std::size_t candidates = 1;        ///< centers compared (exactly) per point in the assignment
                                       ///< (1 to 64; see the header comment)
    bool rejection = true;             ///< accept a tree draw x with probability (D(x, C) / D_T(x, C))^z
                                       ///< (Cohen-Addad et al.): the exact k-means++ law
    std::size_t trees = 3;             ///< independently shifted trees whose candidates the assignment
                                       ///< compares (1 to 16; the draws use the first)
    std::size_t max_proposals = 1000;  ///< with rejection: tree draws per center at most (1 to 2^20);
                                       ///< the last one is taken when all are rejected
};

namespace detail {
namespace tree {

inline constexpr int leaf_level = 32;  ///< levels 0 (root) .. 32 (leaves): 32-bit grid coordinates

/// True if the most significant set bit of a is below that of b.
inline bool msb_less(std::uint32_t a, std::uint32_t b) noexcept { return a < b && a < (a ^ b); }

/// Morton (Z-order) comparison of two grid points of p coordinates, each shifted right by
/// `shift` bits (shift = 32 - l compares the level-l cells); coordinate 0 is the most
/// significant within a level.
inline bool morton_less(const std::uint32_t* a, const std::uint32_t* b, std::size_t p, int shift) noexcept {
    std::size_t best = 0;
    std::uint32_t bx = 0;
    for (std::size_t t = 0; t < p; ++t) {
        const std::uint32_t x = (a[t] >> shift) ^ (b[t] >> shift);
        if (msb_less(bx, x)) {
            best = t;
            bx = x;
        }
    }
    return (a[best] >> shift) < (b[best] >> shift);
}

/// Sum tree over up to `cap` leaves (group masses): set() recomputes the path, so a sum never
/// carries the rounding of earlier updates.
class sum_tree {
public:
    explicit sum_tree(std::size_t cap) {
        size_ = 1;
        while (size_ < cap) size_ *= 2;
        t_.assign(2 * size_, 0.0);
    }
    void set(std::size_t i, double v) {
        std::size_t j = size_ + i;
        t_[j] = v;
        for (j /= 2; j >= 1; j /= 2) t_[j] = t_[2 * j] + t_[2 * j + 1];
    }
    double total() const noexcept { return t_[1]; }
    /// Leaf drawn with probability proportional to its value (total() > 0); never a leaf of
    /// value 0.
    std::size_t sample(double u) const noexcept {
        double target = u * t_[1];
        std::size_t j = 1;
        while (j < size_) {
            const double l = t_[2 * j];
            if (target < l || !(t_[2 * j + 1] > 0.0)) {
                j = 2 * j;
            } else {
                target -= l;
                j = 2 * j + 1;
            }
        }
        return j - size_;
    }

private:
    std::size_t size_;
    std::vector<double> t_;
};

struct range {
    std::size_t begin, end;
};

/// An occupied cell: its range in the sorted order, its level, its occupied children's ranges
/// (sorted, disjoint), the first centers that entered it (indices into centers) and the
/// weight of its group (the cell minus its occupied children).
struct group {
    range cell;
    int level;
    std::vector<range> children;
    std::vector<std::uint32_t> cand;
    double weight;
};

/// The quadtree of a point set: the Morton order of the grid points and the weight prefix sums
/// in that order.
struct quadtree {
    std::size_t n = 0, p = 0;
    std::vector<std::size_t> order;     ///< sorted position -> point index
    std::vector<double> prefix;         ///< prefix[q] = sum of the weights of positions < q
    /// row_of(i, out): the p grid coordinates of point i (computed on demand: no n x p copy).
    std::function<void(std::size_t, std::uint32_t*)> row_of;
    mutable std::vector<std::uint32_t> ra, rb;  ///< scratch of cell_of (serial use)

    /// Range of the level-l cell of position pos inside the range `in` (which holds pos and
    /// lies in one level-(l-1) cell).
    range cell_of(std::size_t pos, range in, int l) const {
        const int shift = leaf_level - l;
        ra.resize(p);
        rb.resize(p);
        const std::uint32_t* c = ra.data();
        row_of(order[pos], ra.data());
        const auto at = [&](std::size_t q) {
            row_of(order[q], rb.data());
            return rb.data();
        };
        std::size_t lo = in.begin, hi = pos;  // first q in [in.begin, pos] not before pos's cell
        while (lo < hi) {
            const std::size_t mid = lo + (hi - lo) / 2;
            if (morton_less(at(mid), c, p, shift)) lo = mid + 1;
            else hi = mid;
        }
        const std::size_t b = lo;
        lo = pos + 1;
        hi = in.end;  // first q in (pos, in.end) after pos's cell
        while (lo < hi) {
            const std::size_t mid = lo + (hi - lo) / 2;
            if (morton_less(c, at(mid), p, shift)) hi = mid;
            else lo = mid + 1;
        }
        return {b, lo};
    }

    double weight(range r) const noexcept { return prefix[r.end] - prefix[r.begin]; }

    /// Position in [r.begin, r.end) at weight offset `off` in [0, weight(r)) (weight(r) > 0);
    /// always a position of positive weight increment.
    std::size_t locate(range r, double off) const noexcept {
        const double target = prefix[r.begin] + off;
        const auto first = prefix.begin() + static_cast<std::ptrdiff_t>(r.begin) + 1;
        const auto last = prefix.begin() + static_cast<std::ptrdiff_t>(r.end) + 1;
        const auto q = std::upper_bound(first, last, target);
        if (q != last) return static_cast<std::size_t>(q - prefix.begin()) - 1;
        std::size_t pos = r.end - 1;  // rounding put the target past the end: last positive one
        while (pos > r.begin && !(prefix[pos + 1] > prefix[pos])) --pos;
        return pos;
    }
};

/// Calls f(range) for the group's segments (its cell minus its occupied children), in order.
template <class F>
void for_each_segment(const group& g, F&& f) {
    std::size_t at = g.cell.begin;
    for (const range& c : g.children) {
        if (c.begin > at) f(range{at, c.begin});
        at = c.end;
    }
    if (g.cell.end > at) f(range{at, g.cell.end});
}

/// The map from a point to its grid coordinates: y = x (proj empty) or x G (G: d x p,
/// row-major), then g_t = floor((y_t - min_t + shift_t L) 2^32 / (2L)), clamped to [0, 2^32).
template <class T>
struct grid_map {
    const_matrix_view<T> points;
    const double* proj;  ///< null: no projection
    std::size_t p;
    std::vector<double> off;  ///< shift_t L - min_t
    double scale;             ///< 2^32 / (2L)

    void project(std::size_t i, double* y) const noexcept {
        const std::size_t d = points.cols();
        const T* x = points.row_data(i);
        if (!proj) {
            for (std::size_t t = 0; t < d; ++t) y[t] = static_cast<double>(x[t]);
            return;
        }
        for (std::size_t r = 0; r < p; ++r) y[r] = 0.0;
        for (std::size_t t = 0; t < d; ++t) {
            const double xt = static_cast<double>(x[t]);
            const double* gt = proj + t * p;
            for (std::size_t r = 0; r < p; ++r) y[r] += xt * gt[r];
        }
    }
    void row(std::size_t i, std::uint32_t* out) const noexcept {
        double y[64];
        double* yy = y;
        std::vector<double> big;
        if (p > 64) {
            big.resize(p);
            yy = big.data();
        }
        project(i, yy);
        for (std::size_t r = 0; r < p; ++r) {
            double v = std::floor((yy[r] + off[r]) * scale);
            if (!(v >= 0.0)) v = 0.0;  // also NaN (overflowed ranges)
            if (v > 4294967295.0) v = 4294967295.0;
            out[r] = static_cast<std::uint32_t>(v);
        }
    }
};

/// Bounding box of the (projected) points: per-coordinate minimum into mn and the largest
/// side L (1 if all points coincide; DBL_MAX / 4 if the range overflows). Per-block min / max,
/// exact in any order.
template <class T>
double bounding_box(const grid_map<T>& gm, exec_policy policy, std::vector<double>& mn) {
    const std::size_t n = gm.points.rows(), p = gm.p;
    const std::size_t blocks = (n + reduce_block - 1) / reduce_block;
    std::vector<double> lo(blocks * p), hi(blocks * p);
    parallel_for(blocks, policy, [&](std::size_t b) {
        std::vector<double> y(std::max(p, gm.points.cols()));
        double* l = lo.data() + b * p;
        double* h = hi.data() + b * p;
        std::fill(l, l + p, std::numeric_limits<double>::infinity());
        std::fill(h, h + p, -std::numeric_limits<double>::infinity());
        for (std::size_t i = b * reduce_block; i < std::min(n, (b + 1) * reduce_block); ++i) {
            gm.project(i, y.data());
            for (std::size_t r = 0; r < p; ++r) {
                l[r] = std::min(l[r], y[r]);
                h[r] = std::max(h[r], y[r]);
            }
        }
    });
    mn.assign(p, std::numeric_limits<double>::infinity());
    double L = 0.0;
    for (std::size_t r = 0; r < p; ++r) {
        double mx = -std::numeric_limits<double>::infinity();
        for (std::size_t b = 0; b < blocks; ++b) {
            mn[r] = std::min(mn[r], lo[b * p + r]);
            mx = std::max(mx, hi[b * p + r]);
        }
        L = std::max(L, mx - mn[r]);
    }
    if (!(L > 0.0)) L = 1.0;
    if (!std::isfinite(L)) L = std::numeric_limits<double>::max() / 4;
    return L;
}

/// Bits [128 c, 128 c + 128) of the Morton (Z-order) bit stream of grid point x, as (hi, lo),
/// zero-padded: stream bit s is bit 31 - s / p of coordinate s % p (level by level, coordinate
/// 0 first), so comparing the chunks in order compares morton_less(., ., p, 0).
inline void morton_chunk_bits(const std::uint32_t* x, std::size_t p, std::size_t c, std::uint64_t& hi,
                              std::uint64_t& lo) noexcept {
    hi = lo = 0;
    std::size_t l = (128 * c) / p, t = (128 * c) % p;
    for (int q = 0; q < 128; ++q) {
        const std::uint64_t bit = l < 32 ? (x[t] >> (31 - l)) & 1u : 0u;
        if (q < 64) hi = (hi << 1) | bit;
        else lo = (lo << 1) | bit;
        if (++t == p) {
            t = 0;
            ++l;
        }
    }
}
/// The same, a level (p bits, p <= 64) at a time (3x faster than bit by bit at p = 16).
inline void morton_chunk(const std::uint32_t* x, std::size_t p, std::size_t c, std::uint64_t& hi,
                         std::uint64_t& lo) noexcept {
    if (p > 64) {
        morton_chunk_bits(x, p, c, hi, lo);
        return;
    }
    hi = lo = 0;
    const auto append = [&](std::uint64_t bits, std::size_t cnt) {  // 1 <= cnt <= 64
        if (cnt == 64) {
            hi = lo;
            lo = bits;
        } else {
            hi = (hi << cnt) | (lo >> (64 - cnt));
            lo = (lo << cnt) | bits;
        }
    };
    std::size_t filled = 0, l = (128 * c) / p, skip = (128 * c) % p;  // skip: bits of level l in chunk c - 1
    while (filled < 128) {
        if (l >= 32) {  // past the leaves: zero padding
            const std::size_t rest = 128 - filled;
            if (rest > 64) append(0, rest - 64);
            append(0, std::min<std::size_t>(rest, 64));
            break;
        }
        std::uint64_t code = 0;
        const int sh = 31 - static_cast<int>(l);
        for (std::size_t t = 0; t < p; ++t) code |= static_cast<std::uint64_t>((x[t] >> sh) & 1u) << (p - 1 - t);
        const std::size_t avail = p - skip, take = std::min(avail, 128 - filled);
        const std::uint64_t part = code >> (avail - take);
        append(take == 64 ? part : part & ((std::uint64_t(1) << take) - 1), take);
        filled += take;
        skip = 0;
        ++l;
    }
}

struct morton_entry {
    std::uint64_t hi, lo;
    std::size_t index;  ///< point
};
inline bool entry_less(const morton_entry& a, const morton_entry& b) noexcept {
    if (a.hi != b.hi) return a.hi < b.hi;
    if (a.lo != b.lo) return a.lo < b.lo;
    return a.index < b.index;
}

/// Sorts the points into Morton order (ties by index: a total order, so the same order at any
/// thread count). The first 128 bits of every point's Morton code are sorted (fixed chunks in
/// parallel, then merged pairwise); runs that tie on them are re-keyed with the next 128 bits
/// and sorted again, and so on (32 p bits in all). a, b: scratch.
template <class RowOf>
std::vector<std::size_t> morton_order(const RowOf& row_of, std::size_t n, std::size_t p, exec_policy policy,
                                      std::vector<morton_entry>& a, std::vector<morton_entry>& b) {
    a.resize(n);
    b.resize(n);
    parallel_chunks(n, 1, policy, [&](std::size_t s, std::size_t e) {
        std::vector<std::uint32_t> row(p);
        for (std::size_t i = s; i < e; ++i) {
            a[i].index = i;
            row_of(i, row.data());
            morton_chunk(row.data(), p, 0, a[i].hi, a[i].lo);
        }
    });
    std::size_t chunks = 1;
    while (chunks < 16 && n / (2 * chunks) >= 8192) chunks *= 2;  // depends on n only
    const auto bound = [&](std::size_t c) { return static_cast<std::ptrdiff_t>(n * c / chunks); };
    parallel_for(chunks, policy, [&](std::size_t c) { std::sort(a.begin() + bound(c), a.begin() + bound(c + 1), entry_less); });
    for (std::size_t width = 1; width < chunks; width *= 2) {
        parallel_for(chunks / (2 * width), policy, [&](std::size_t m) {
            const auto s = bound(2 * m * width), mid = bound((2 * m + 1) * width), e = bound((2 * m + 2) * width);
            std::merge(a.begin() + s, a.begin() + mid, a.begin() + mid, a.begin() + e, b.begin() + s, entry_less);
        });
        a.swap(b);
    }
    // Refinement of tied runs (serial; runs are disjoint, each sorted by (next chunk, index)).
    std::vector<std::uint32_t> row(p);
    const std::size_t nchunks = (32 * p + 127) / 128;
    struct run {
        std::size_t begin, end, chunk;
    };
    std::vector<run> stack;
    const auto push_ties = [&](std::size_t s, std::size_t e, std::size_t c) {
        if (c >= nchunks) return;
        for (std::size_t i = s; i < e;) {
            std::size_t j = i + 1;
            while (j < e && a[j].hi == a[i].hi && a[j].lo == a[i].lo) ++j;
            if (j - i > 1) stack.push_back({i, j, c});
            i = j;
        }
    };
    push_ties(0, n, 1);
    while (!stack.empty()) {
        const run r = stack.back();
        stack.pop_back();
        for (std::size_t i = r.begin; i < r.end; ++i) {
            row_of(a[i].index, row.data());
            morton_chunk(row.data(), p, r.chunk, a[i].hi, a[i].lo);
        }
        std::sort(a.begin() + static_cast<std::ptrdiff_t>(r.begin), a.begin() + static_cast<std::ptrdiff_t>(r.end),
                  entry_less);
        push_ties(r.begin, r.end, r.chunk + 1);
    }
    std::vector<std::size_t> order(n);
    for (std::size_t q = 0; q < n; ++q) order[q] = a[q].index;
    return order;
}

/// One shifted quadtree with its occupied cells (groups) and, for the drawing tree, the sum
/// tree of the group masses.
struct tree_state {
    quadtree qt;
    double root_side = 1.0;
    std::vector<group> groups;
    sum_tree masses{1};
    bool with_masses = false;
    int z = 2;
    std::size_t cap_cand = 1;

    void refresh(std::size_t gi) {
        group& g = groups[gi];
        double w = 0.0;
        for_each_segment(g, [&](range r) { w += qt.weight(r); });
        g.weight = w;
        // diameter^z up to the common factor (sqrt(p) 2L)^z; leaves are at distance 0
        if (with_masses) masses.set(gi, g.level == leaf_level ? 0.0 : std::ldexp(w, -g.level * z));
    }

    /// The group of the deepest occupied cell holding sorted position pos (a center exists).
    std::size_t deepest(std::size_t pos) const {
        std::size_t gi = 0;  // the root group is the first one created
        for (;;) {
            const group& g = groups[gi];
            const auto it = std::upper_bound(g.children.begin(), g.children.end(), pos,
                                             [](std::size_t v, const range& c) { return v < c.begin; });
            if (it == g.children.begin() || pos >= (it - 1)->end) return gi;
            // the occupied child holding pos: the group created with that cell (next level)
            gi = child_group[gi][static_cast<std::size_t>(it - 1 - g.children.begin())];
        }
    }

    /// A new center j at sorted position pos whose deepest occupied cell is group `parent`
    /// (none for the first center): one new group per level below.
    void add_center(std::size_t pos, std::uint32_t j, std::size_t parent, bool has_parent) {
        range path[leaf_level + 1];
        const std::size_t n = qt.n;
        const int l0 = has_parent ? groups[parent].level + 1 : 0;
        range in = has_parent ? groups[parent].cell : range{0, n};
        for (int l = l0; l <= leaf_level; ++l) {
            path[l] = l == 0 ? range{0, n} : qt.cell_of(pos, in, l);
            in = path[l];
        }
        const std::size_t first = groups.size();
        if (has_parent) {
            group& g = groups[parent];
            const auto at = std::lower_bound(g.children.begin(), g.children.end(), path[l0],
                                             [](const range& a, const range& b) { return a.begin < b.begin; });
            const auto slot = at - g.children.begin();
            g.children.insert(at, path[l0]);
            child_group[parent].insert(child_group[parent].begin() + slot, first);
            if (g.cand.size() < cap_cand) g.cand.push_back(j);
            refresh(parent);
        }
        for (int l = l0; l <= leaf_level; ++l) {
            group g{path[l], l, {}, {j}, 0.0};
            if (l < leaf_level) g.children.push_back(path[l + 1]);
            groups.push_back(std::move(g));
            child_group.push_back(l < leaf_level ? std::vector<std::size_t>{groups.size()} : std::vector<std::size_t>{});
            refresh(groups.size() - 1);
        }
    }

    /// owner[i] = the group of point i's deepest occupied cell (the group segments tile [0, n)).
    void owners(std::vector<std::uint32_t>& owner, exec_policy policy) const {
        struct seg {
            std::size_t begin, end, g;
        };
        std::vector<seg> segs;
        for (std::size_t gi = 0; gi < groups.size(); ++gi)
            for_each_segment(groups[gi], [&](range s) { segs.push_back({s.begin, s.end, gi}); });
        std::sort(segs.begin(), segs.end(), [](const seg& a, const seg& b) { return a.begin < b.begin; });
        owner.resize(qt.n);
        parallel_for(segs.size(), policy, [&](std::size_t s) {
            for (std::size_t q = segs[s].begin; q < segs[s].end; ++q)
                owner[qt.order[q]] = static_cast<std::uint32_t>(segs[s].g);
        });
    }

    std::vector<std::vector<std::size_t>> child_group;  ///< per group: the groups of its children
};

/// Builds the quadtree of the points under the shift fractions `shift` (box: mn, L).
template <class T>
void build_tree(tree_state& ts, const_matrix_view<T> points, vector_view<const T> weights, const double* proj,
                std::size_t p, const std::vector<double>& mn, double L, const std::vector<double>& shift,
                exec_policy policy, std::vector<morton_entry>& a, std::vector<morton_entry>& b) {
    const std::size_t n = points.rows();
    grid_map<T> gm{points, proj, p, std::vector<double>(p), 4294967296.0 / (2.0 * L)};
    for (std::size_t r = 0; r < p; ++r) gm.off[r] = shift[r] * L - mn[r];
    ts.root_side = 2.0 * L;
    quadtree& qt = ts.qt;
    qt.n = n;
    qt.p = p;
    qt.row_of = [gm](std::size_t i, std::uint32_t* out) { gm.row(i, out); };
    qt.order = morton_order([&gm](std::size_t i, std::uint32_t* out) { gm.row(i, out); }, n, p, policy, a, b);
    qt.prefix.resize(n + 1);
    qt.prefix[0] = 0.0;
    for (std::size_t q = 0; q < n; ++q) qt.prefix[q + 1] = qt.prefix[q] + weight_of(weights, qt.order[q]);
}

/// The whole seeding with the first tree's shift fractions given (p values in [0, 1); the
/// tests fix them; the other trees' shifts come from the seed). Inputs validated by the caller.
template <class T>
seeding_result seed_with_shift(const_matrix_view<T> points, vector_view<const T> weights, std::size_t k,
                               const tree_seeding_options& o, const std::vector<double>& shift) {
    const std::size_t n = points.rows(), d = points.cols();
    const exec_policy policy = o.policy;
    const std::size_t p = o.projection_dims == 0 ? d : o.projection_dims;
    const int z = o.z;
    std::vector<double> proj;
    if (o.projection_dims != 0) {
        const counter_rng prng(o.seed, 0x7ee6);
        const double s = 1.0 / std::sqrt(static_cast<double>(p));
        proj.resize(d * p);
        for (std::size_t q = 0; q < d * p; ++q) proj[q] = s * prng.normal(q);
    }
    const std::size_t kk = std::min(k, n);
    std::vector<double> mn;
    const double L =
        bounding_box(grid_map<T>{points, proj.empty() ? nullptr : proj.data(), p, {}, 1.0}, policy, mn);
    std::vector<morton_entry> ea, eb;
    std::vector<tree_state> trees(o.trees);
    const counter_rng srng(o.seed, 0x7ee5);
    for (std::size_t r = 0; r < o.trees; ++r) {
        tree_state& ts = trees[r];
        ts.z = z;
        ts.cap_cand = o.candidates;
        ts.with_masses = r == 0;
        if (r == 0) ts.masses = sum_tree(kk * (leaf_level + 1));
        ts.groups.reserve(kk * (leaf_level + 1));
        ts.child_group.reserve(kk * (leaf_level + 1));
        std::vector<double> sh = shift;
        if (r > 0)
            for (std::size_t t = 0; t < p; ++t) sh[t] = srng.uniform_double(r * p + t);
        build_tree(ts, points, weights, proj.empty() ? nullptr : proj.data(), p, mn, L, sh, policy, ea, eb);
    }
    tree_state& T0 = trees[0];
    const quadtree& qt = T0.qt;

    seeding_result r;
    r.centers.reserve(k);
    // Every tree learns the new center (its deepest occupied cell found from the root).
    std::vector<std::vector<std::size_t>> pos_in(o.trees);  // per tree: point -> sorted position
    for (std::size_t t = 1; t < o.trees; ++t) {
        pos_in[t].resize(n);
        const auto& ord = trees[t].qt.order;
        parallel_chunks(n, 1, policy, [&](std::size_t a, std::size_t b) {
            for (std::size_t q = a; q < b; ++q) pos_in[t][ord[q]] = q;
        });
    }
    const auto add = [&](std::size_t pos, std::size_t parent, bool has_parent) {
        const auto j = static_cast<std::uint32_t>(r.centers.size());
        const std::size_t i = qt.order[pos];
        r.centers.push_back(i);
        T0.add_center(pos, j, parent, has_parent);
        for (std::size_t t = 1; t < o.trees; ++t) {
            tree_state& ts = trees[t];
            const std::size_t q = pos_in[t][i];
            if (j == 0) {
                ts.add_center(q, j, 0, false);
                continue;
            }
            const std::size_t g = ts.deepest(q);
            if (ts.groups[g].level < leaf_level) ts.add_center(q, j, g, true);
            else if (ts.groups[g].cand.size() < ts.cap_cand) ts.groups[g].cand.push_back(j);  // shared leaf
        }
    };

    // Draw (j, t) = proposal t for center j uses uniform draws 3 (j M + t) + {0, 1, 2} of rng,
    // M = max_proposals: the group, the point in the group, the acceptance.
    const counter_rng rng(o.seed, 0x7ee7);
    const std::uint64_t M = o.rejection ? o.max_proposals : 1;
    const auto proposal = [&](std::size_t gi, double u) {
        const group& g = T0.groups[gi];
        double off = u * g.weight;
        range last{0, 0};
        std::size_t pos = n;
        for_each_segment(g, [&](range s) {
            if (pos != n) return;
            const double sw = qt.weight(s);
            if (!(sw > 0.0)) return;
            last = s;
            if (off < sw) pos = qt.locate(s, off);
            else off -= sw;
        });
        if (pos == n) pos = qt.locate(last, qt.weight(last));  // rounding: the last positive segment
        return pos;
    };
    // Coordinates of the chosen centers (contiguous, for the rejection test's nearest search).
    std::vector<double> crow;
    if (o.rejection) crow.reserve(kk * d);
    const auto push_row = [&](std::size_t i) {
        if (!o.rejection) return;
        const T* x = points.row_data(i);
        for (std::size_t t = 0; t < d; ++t) crow.push_back(static_cast<double>(x[t]));
    };
    const double diam0 = std::sqrt(static_cast<double>(p)) * T0.root_side;  // root cell's diameter
    add(qt.locate(range{0, n}, rng.uniform_double(1) * qt.prefix[n]), 0, false);
    push_row(r.centers.back());
    for (std::size_t j = 1; j < k; ++j) {
        if (!(T0.masses.total() > 0.0)) break;  // every point shares a leaf with a center
        std::size_t gi = 0, pos = 0;
        for (std::uint64_t t = 0; t < M; ++t) {
            const std::uint64_t base = 3 * (j * M + t);
            gi = T0.masses.sample(rng.uniform_double(base));
            pos = proposal(gi, rng.uniform_double(base + 1));
            if (!o.rejection) break;
            // Accept with probability (D(x, C) / D_T(x, C))^z, D_T = the diameter of the group's
            // cell (Cohen-Addad et al. 2020, rejection sampling on the tree proposal): the
            // accepted draw has the k-means++ law w_x D(x, C)^z / sum (D <= D_T without
            // projection; with one, the ratio is clamped at 1 and the law is approximate).
            const T* x = points.row_data(qt.order[pos]);
            double best = std::numeric_limits<double>::infinity();
            const std::size_t nc = r.centers.size();
            for (std::size_t c = 0; c < nc; ++c) {
                const double* cr = crow.data() + c * d;
                double s2 = 0.0;
                for (std::size_t q = 0; q < d; ++q) {
                    const double v = static_cast<double>(x[q]) - cr[q];
                    s2 += v * v;
                }
                best = std::min(best, s2);
            }
            const double dt = std::ldexp(diam0, -T0.groups[gi].level);
            const double ratio = std::min(1.0, power_from_squared(best, z) / power_from_squared(dt * dt, z));
            if (rng.uniform_double(base + 2) < ratio) break;
        }
        add(pos, gi, true);
        push_row(r.centers.back());
    }

    // Assignment: each point to the nearest (exact) of the candidates of its deepest occupied
    // cell in every tree.
    std::vector<std::vector<std::uint32_t>> owner(o.trees);
    for (std::size_t t = 0; t < o.trees; ++t) trees[t].owners(owner[t], policy);
    r.nearest.assign(n, 0);
    std::vector<double> d2(n);
    parallel_chunks(n, 1, policy, [&](std::size_t a, std::size_t b) {
        for (std::size_t i = a; i < b; ++i) {
            const T* x = points.row_data(i);
            double best = std::numeric_limits<double>::infinity();
            std::size_t arg = 0;
            for (std::size_t t = 0; t < o.trees; ++t)
                for (std::uint32_t c : trees[t].groups[owner[t][i]].cand) {
                    const double dd = exact_squared_distance(x, points.row_data(r.centers[c]), d);
                    if (dd < best || (dd == best && c < arg)) {
                        best = dd;
                        arg = c;
                    }
                }
            d2[i] = best;
            r.nearest[i] = arg;
        }
    });
    finish_seeding(r, d2, weights, z, policy);
    return r;
}

}  // namespace tree

inline void require_tree_options(const tree_seeding_options& o, std::size_t d, const char* fn) {
    require_valid_policy(o.policy, fn);
    require_z(o.z, fn);
    require(o.projection_dims <= d, fn, "projection_dims", "must be 0 (none) or in [1, d = ", d, "], got ",
            o.projection_dims);
    require(o.candidates >= 1 && o.candidates <= 64, fn, "candidates", "must lie in [1, 64], got ", o.candidates);
    require(o.trees >= 1 && o.trees <= 16, fn, "trees", "must lie in [1, 16], got ", o.trees);
    require(o.max_proposals >= 1 && o.max_proposals <= (std::size_t(1) << 20), fn, "max_proposals",
            "must lie in [1, 2^20], got ", o.max_proposals);
}

/// tree_seeding with the shift fractions given (p = projection_dims or d values in [0, 1)): the
/// tests' hook to fix the tree. Validates like tree_seeding.
template <class T>
seeding_result tree_seeding_with_shift(const_matrix_view<T> points, vector_view<const T> weights, std::size_t k,
                                       const tree_seeding_options& options, const std::vector<double>& shift) {
    const char* fn = "tree_seeding";
    require_valid_policy(options.policy, fn);
    require_tree_options(options, points.cols(), fn);
    validate_points(points, weights, fn, options.policy);
    const std::size_t n = points.rows();
    require(k >= 1 && k <= n, fn, "k", "must lie in [1, n = ", n, "], got ", k);
    const std::size_t p = options.projection_dims == 0 ? points.cols() : options.projection_dims;
    require(shift.size() == p, fn, "shift", "must hold ", p, " values, got ", shift.size());
    for (double s : shift) require(s >= 0.0 && s < 1.0, fn, "shift", "values must lie in [0, 1), got ", s);
    return tree::seed_with_shift(points, weights, k, options, shift);
}

}  // namespace detail

/// D^z seeding in a randomly shifted quadtree metric (see the header comment): at most k
/// centers, exact nearest / point_cost / cost for the tree's assignment. Validates points,
/// weights, 1 <= k <= n, z in {1, 2}, projection_dims in {0} u [1, d], candidates in [1, 64].
template <class T>
seeding_result tree_seeding(const_matrix_view<T> points, vector_view<const T> weights, std::size_t k,
                            const tree_seeding_options& options = {}) {
    const char* fn = "tree_seeding";
    require_valid_policy(options.policy, fn);
    detail::require_tree_options(options, points.cols(), fn);
    detail::validate_points(points, weights, fn, options.policy);
    const std::size_t n = points.rows();
    require(k >= 1 && k <= n, fn, "k", "must lie in [1, n = ", n, "], got ", k);
    const std::size_t p = options.projection_dims == 0 ? points.cols() : options.projection_dims;
    const counter_rng srng(options.seed, 0x7ee5);
    std::vector<double> shift(p);
    for (std::size_t t = 0; t < p; ++t) shift[t] = srng.uniform_double(t);
    return detail::tree::seed_with_shift(points, weights, k, options, shift);
}

}  // namespace sensitivity
}  // namespace kestrel
