// Red-black Gauss-Seidel / SOR on a copy of the matrix stored in colour order.
//
//   red_black_ordered_matrix<T, I>(A, coloring)   a prepared copy of A: rows and columns
//                                      permuted so that the rows of colour 0 come first (in
//                                      increasing original index), then those of colour 1; per
//                                      row the non-zero off-diagonal entries in A's storage order
//                                      (column indices renumbered) and the diagonal in its own
//                                      array. The constructor checks that the colouring is a
//                                      proper 2-colouring of A (red_black.hpp) and has A's size.
//     order()[p]                       the original row at position p; color_begin(1) = the
//                                      number of colour-0 rows.
//   to_red_black_order(P, v, out)      out[p] = v[order[p]];  from_red_black_order(P, v, out)
//                                      out[order[p]] = v[p] (one pass each, parallel).
//   red_black_sor_sweep(P, b, x, omega[, policy])   one red-black SOR sweep in place on vectors
//                                      in P's order: colour 0 rows [0, n0), then colour 1 rows
//                                      [n0, n), each a Jacobi-like pass over contiguous rows
//                                      spread over threads.
//   red_black_sor_solve(P, b, x, omega, options[, ws])   b and x in the user's order: both
//                                      are copied into P's order once (workspace), swept, checked
//                                      as sor_solve does (a residual pass every check_every
//                                      sweeps), and x is copied back.
//
// Results: the same bits at any thread count (rows of one colour read only the other colour),
// and the same bits as red_black_sor_sweep / red_black_sor_solve with the index lists of
// red_black.hpp on the original matrix, up to the permutation: every row adds the same terms in
// the same order (red_black_update). (The residual reported by the solver is summed in P's
// order, so it may differ from the index-list solver's in the last bits.)
//
// Why a copy: red_black_sor_sweep over index lists visits every other row of the user's
// matrix, so each colour's half-sweep touches nearly every cache line of the CSR arrays and
// of b and x (rows of the 5-point matrix are ~60 bytes): the sweep moves the data about twice.
// In colour order each half-sweep reads its rows' entries, b and x contiguously, once; the
// x values of the other colour it reads come in three nearby streams (grid neighbours). Bytes
// per sweep: the off-diagonal values and indices, the diagonal, n + 1 row pointers, b once, x
// written once and read twice (as a row's own value and as the other colour's neighbour).
// The copy costs nnz values and indices of memory and one pass to build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/view.hpp"
#include "red_black.hpp"
#include "sparse_relaxation.hpp"

namespace kestrel {
namespace fixed_point {

/// A relaxation matrix copied into red-black (colour) order; see the header comment.
template <class T, class I = int>
class red_black_ordered_matrix {
public:
    static_assert(std::is_floating_point_v<T>, "red_black_ordered_matrix: T must be float or double");
    static_assert(std::is_integral_v<I>, "red_black_ordered_matrix: I must be an integer type");

    red_black_ordered_matrix() = default;

    red_black_ordered_matrix(const relaxation_matrix<T, I>& A, const red_black_coloring& coloring) {
        const char* f = "red_black_ordered_matrix";
        const auto& v = A.csr();
        const std::size_t n = A.size();
        require_size(coloring.size(), n, f, "coloring", "the rows of A");
        // Positions: colour 0 rows first, each colour in increasing original index.
        std::vector<std::uint32_t> order;
        order.reserve(n);
        for (int c = 0; c < 2; ++c) order.insert(order.end(), coloring.rows(c).begin(), coloring.rows(c).end());
        std::vector<std::uint32_t> pos(n, 0xffffffffu);
        for (std::size_t p = 0; p < n; ++p) {
            require(order[p] < n && pos[order[p]] == 0xffffffffu, f, "coloring", "row ", order[p],
                    " is missing, repeated or out of range");
            pos[order[p]] = static_cast<std::uint32_t>(p);
        }
        const std::size_t n0 = coloring.rows(0).size();
        auto color_of = [&](std::size_t i) { return pos[i] < n0 ? 0 : 1; };
        std::size_t kept = 0;
        for (std::size_t i = 0; i < n; ++i)
            for (auto k = static_cast<std::size_t>(v.row_ptr[i]); k < static_cast<std::size_t>(v.row_ptr[i + 1]); ++k) {
                const auto j = static_cast<std::size_t>(v.col_index[k]);
                if (j == i || v.values[k] == T(0)) continue;
                require(color_of(i) != color_of(j), f, "coloring", "not a proper colouring of A: rows ", i, " and ", j,
                        " are coupled and both have colour ", color_of(i));
                ++kept;
            }
        ptr_.assign(n + 1, I(0));
        col_.resize(kept);
        val_.resize(kept);
        diag_.resize(n);
        std::size_t q = 0;
        for (std::size_t p = 0; p < n; ++p) {
            const std::size_t i = order[p];
            for (auto k = static_cast<std::size_t>(v.row_ptr[i]); k < static_cast<std::size_t>(v.row_ptr[i + 1]); ++k) {
                const auto j = static_cast<std::size_t>(v.col_index[k]);
                if (j == i) {
                    diag_[p] = v.values[k];
                } else if (v.values[k] != T(0)) {
                    col_[q] = static_cast<I>(pos[j]);
                    val_[q] = v.values[k];
                    ++q;
                }
            }
            ptr_[p + 1] = static_cast<I>(q);
        }
        order_.swap(order);
        n0_ = n0;
    }

    std::size_t size() const noexcept { return diag_.size(); }
    /// Stored off-diagonal non-zeros.
    std::size_t off_diagonal_nnz() const noexcept { return val_.size(); }
    /// First position of colour c (0 or 1); colour c occupies [color_begin(c), color_begin(c + 1)).
    std::size_t color_begin(int c) const noexcept { return c <= 0 ? 0 : c == 1 ? n0_ : size(); }
    /// order()[p]: the original row at position p.
    const std::vector<std::uint32_t>& order() const noexcept { return order_; }

    const I* row_ptr() const noexcept { return ptr_.data(); }
    const I* col_index() const noexcept { return col_.data(); }
    const T* values() const noexcept { return val_.data(); }
    const T* diagonal() const noexcept { return diag_.data(); }

private:
    std::vector<I> ptr_, col_;
    std::vector<T> val_, diag_;
    std::vector<std::uint32_t> order_;
    std::size_t n0_ = 0;
};

namespace relaxation_detail {

/// Rows [begin, end) of P in place (all of one colour).
template <class T, class I>
void red_black_ordered_rows(const red_black_ordered_matrix<T, I>& P, std::size_t begin, std::size_t end, const T* b,
                            T* x, T omega) noexcept {
    const I* ptr = P.row_ptr();
    const I* col = P.col_index();
    const T* val = P.values();
    const T* diag = P.diagonal();
    std::size_t p = begin;
#if KESTREL_RELAX_GROUPS
    // Rows of one colour in a grid line share their stencil in colour order (constant column
    // offsets): groups of W rows in SIMD lanes, the same operations as the rows below, so the
    // same bits whichever rows go which way (detail/relaxation_rows.hpp).
    if constexpr (relax_groups<T, I>) {
        constexpr std::size_t W = static_cast<std::size_t>(vgroup<T>::W);
        const std::size_t nnz = P.off_diagonal_nnz();
        for (; p + W <= end; p += W) {
            const auto p0 = static_cast<std::size_t>(ptr[p]);
            prefetch_group<true>(val, col, p0, static_cast<std::size_t>(ptr[p + W]) - p0, nnz);
            const bool done = dispatch_length(ptr[p + 1] - ptr[p], [&](auto len) {
                return colour_group<decltype(len)::value>(ptr, col, val, diag, p, b, x, omega);
            });
            if (done) continue;
            for (std::size_t q = p; q < p + W; ++q) {
                T s = T(0);
                const auto ke = static_cast<std::size_t>(ptr[q + 1]);
                for (auto k = static_cast<std::size_t>(ptr[q]); k < ke; ++k)
                    s = mul_add(val[k], x[static_cast<std::size_t>(col[k])], s);
                x[q] = red_black_update(x[q], b[q], s, diag[q], omega);
            }
        }
    }
#endif
    for (; p < end; ++p) {
        T s = T(0);
        const auto ke = static_cast<std::size_t>(ptr[p + 1]);
        for (auto k = static_cast<std::size_t>(ptr[p]); k < ke; ++k) s = mul_add(val[k], x[static_cast<std::size_t>(col[k])], s);
        x[p] = red_black_update(x[p], b[p], s, diag[p], omega);
    }
}

template <class T, class I>
void red_black_ordered_sweep_unchecked(const red_black_ordered_matrix<T, I>& P, const T* b, T* x, T omega,
                                       exec_policy policy) {
    for (int c = 0; c < 2; ++c) {
        const std::size_t lo = P.color_begin(c), hi = P.color_begin(c + 1);
        parallel_chunks(
            hi - lo, 64, policy,
            [&](std::size_t begin, std::size_t end) { red_black_ordered_rows(P, lo + begin, lo + end, b, x, omega); },
            std::size_t(1) << 13);
    }
}

/// ||b - A x||^2 in P's order, per reduction block in block order (thread-count invariant).
template <class T, class I>
double red_black_ordered_residual(const red_black_ordered_matrix<T, I>& P, const T* b, const T* x,
                                  std::vector<double>& partial, exec_policy policy) {
    const I* ptr = P.row_ptr();
    const I* col = P.col_index();
    const T* val = P.values();
    const T* diag = P.diagonal();
    return blocked_row_reduce(P.size(), partial, policy, [&](std::size_t begin, std::size_t end) {
        double acc = 0.0;
        for (std::size_t p = begin; p < end; ++p) {
            T s = T(0);
            const auto ke = static_cast<std::size_t>(ptr[p + 1]);
            for (auto k = static_cast<std::size_t>(ptr[p]); k < ke; ++k) s += val[k] * x[static_cast<std::size_t>(col[k])];
            const T r = (b[p] - s) - diag[p] * x[p];
            acc += static_cast<double>(r) * static_cast<double>(r);
        }
        return acc;
    });
}

template <class T, class I>
void require_ordered(const red_black_ordered_matrix<T, I>& P, const char* f) {
    require(P.size() >= 1, f, "P", "is empty (default-constructed)");
}

/// The checks of to/from_red_black_order: P prepared, v and out of P's size, not overlapping.
template <class T, class I>
void require_permutation_args(const red_black_ordered_matrix<T, I>& P, vector_view<const T> v, vector_view<T> out,
                              exec_policy policy, const char* f) {
    require_ordered(P, f);
    require_size(v.size(), P.size(), f, "v", "the rows of P");
    require_size(out.size(), P.size(), f, "out", "the rows of P");
    require(!overlaps(v.data(), v.size() * sizeof(T), out.data(), out.size() * sizeof(T)), f, "out", "must not overlap v");
    require_valid_policy(policy, f);
}

}  // namespace relaxation_detail

/// out[p] = v[order[p]]: a vector in the user's order into P's order.
template <class T, class I>
void to_red_black_order(const red_black_ordered_matrix<T, I>& P, vector_view<const relaxation_detail::nondeduced_t<T>> v,
                        vector_view<relaxation_detail::nondeduced_t<T>> out, exec_policy policy = {}) {
    relaxation_detail::require_permutation_args(P, v, out, policy, "to_red_black_order");
    const std::uint32_t* ord = P.order().data();
    const T* src = v.data();
    T* dst = out.data();
    parallel_chunks(P.size(), 64, policy, [&](std::size_t lo, std::size_t hi) {
        for (std::size_t p = lo; p < hi; ++p) dst[p] = src[ord[p]];
    });
}

/// out[order[p]] = v[p]: a vector in P's order back into the user's order.
template <class T, class I>
void from_red_black_order(const red_black_ordered_matrix<T, I>& P, vector_view<const relaxation_detail::nondeduced_t<T>> v,
                          vector_view<relaxation_detail::nondeduced_t<T>> out, exec_policy policy = {}) {
    relaxation_detail::require_permutation_args(P, v, out, policy, "from_red_black_order");
    const std::uint32_t* ord = P.order().data();
    const T* src = v.data();
    T* dst = out.data();
    parallel_chunks(P.size(), 64, policy, [&](std::size_t lo, std::size_t hi) {
        for (std::size_t p = lo; p < hi; ++p) dst[ord[p]] = src[p];
    });
}

/// One red-black SOR sweep (omega = 1: Gauss-Seidel) in place; b and x in P's order.
template <class T, class I>
void red_black_sor_sweep(const red_black_ordered_matrix<T, I>& P, vector_view<const relaxation_detail::nondeduced_t<T>> b,
                         vector_view<relaxation_detail::nondeduced_t<T>> x, double omega, exec_policy policy = {}) {
    const char* f = "red_black_sor_sweep";
    relaxation_detail::require_ordered(P, f);
    require_size(b.size(), P.size(), f, "b", "the rows of P");
    require_size(x.size(), P.size(), f, "x", "the rows of P");
    relaxation_detail::require_omega(omega, f);
    require_valid_policy(policy, f);
    require(!relaxation_detail::overlaps(b.data(), b.size() * sizeof(T), x.data(), x.size() * sizeof(T)), f, "x",
            "must not overlap b");
    relaxation_detail::red_black_ordered_sweep_unchecked(P, b.data(), x.data(), static_cast<T>(omega), policy);
}

/// Red-black SOR from the x given (user order), omega in (0, 2); as sor_solve. Uses ws.r and
/// ws.z for b and x in P's order.
template <class T, class I>
relaxation_result red_black_sor_solve(const red_black_ordered_matrix<T, I>& P,
                                      vector_view<const relaxation_detail::nondeduced_t<T>> b,
                                      vector_view<relaxation_detail::nondeduced_t<T>> x, double omega,
                                      const relaxation_options& options, relaxation_workspace<T>& ws) {
    const char* f = "red_black_sor_solve";
    relaxation_detail::require_ordered(P, f);
    require_size(b.size(), P.size(), f, "b", "the rows of P");
    require_size(x.size(), P.size(), f, "x", "the rows of P");
    relaxation_detail::require_omega(omega, f);
    relaxation_detail::require_options(options, f);
    relaxation_detail::require_distinct_finite(b.data(), b.size(), x.data(), x.size(), f);
    const std::size_t n = P.size();
    if (ws.r.size() < n) ws.r.resize(n);
    if (ws.z.size() < n) ws.z.resize(n);
    T* bo = ws.r.data();
    T* xo = ws.z.data();
    to_red_black_order(P, b, vector_view<T>(bo, n), options.policy);
    to_red_black_order(P, vector_view<const T>(x.data(), n), vector_view<T>(xo, n), options.policy);
    const T w = static_cast<T>(omega);
    const relaxation_result res = relaxation_detail::inplace_loop_with(
        n, b.data(), options, 1,
        [&] { return relaxation_detail::red_black_ordered_residual(P, bo, xo, ws.partial, options.policy); },
        [&] { relaxation_detail::red_black_ordered_sweep_unchecked(P, bo, xo, w, options.policy); });
    from_red_black_order(P, vector_view<const T>(xo, n), x, options.policy);
    return res;
}

template <class T, class I>
relaxation_result red_black_sor_solve(const red_black_ordered_matrix<T, I>& P,
                                      vector_view<const relaxation_detail::nondeduced_t<T>> b,
                                      vector_view<relaxation_detail::nondeduced_t<T>> x, double omega,
                                      const relaxation_options& options = {}) {
    relaxation_workspace<T> ws;
    return red_black_sor_solve(P, b, x, omega, options, ws);
}

}  // namespace fixed_point
}  // namespace kestrel
