// Red-black (two-colour) ordering: Gauss-Seidel and SOR parallel within each colour.
//
//   red_black_coloring                 the rows of colour 0 and of colour 1 (index lists),
//                                      built from a user colouring validated as a proper
//                                      2-colouring of the matrix graph (no stored off-diagonal
//                                      a_ij with colour(i) == colour(j)), or for an N x N
//                                      lexicographic grid by grid_red_black_coloring(A, N).
//   red_black_sor_sweep(A, b, x, c, omega)   colour 0 rows, then colour 1 rows, each updated
//                                      from the current x: rows of one colour read only rows of
//                                      the other, so a colour's updates are independent and are
//                                      spread over threads; x is bit-identical at any thread count.
//   red_black_sor_solve / red_black_gauss_seidel_solve   as sor_solve (sparse_relaxation.hpp),
//                                      a residual pass every check_every sweeps.
//
// On the 2-D Poisson matrix red-black ordering is consistently ordered, so Young's theory gives
// the same spectral radii as lexicographic order: rho_GS = rho_J^2, and omega_opt and
// rho_SOR = omega_opt - 1 unchanged.
//
// Memory traffic: each half-sweep visits every other row of a grid line, so with rows of ~60
// bytes both colours touch (nearly) every cache line of the CSR arrays: a red-black sweep reads
// the matrix about twice, plus the index lists (4 bytes per row). This header never copies the
// user's matrix; red_black_ordered.hpp keeps a copy in colour order (each colour's rows
// contiguous), with the same results bit for bit, and reads it once per sweep.
//
// Rows of one colour must not read each other's x while they are updated in parallel: a stored
// zero a_ij between rows of one colour (allowed by the colouring check) is skipped, never
// multiplied. Each row adds its terms in storage order (red_black_update).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/view.hpp"
#include "sparse_relaxation.hpp"

namespace kestrel {
namespace fixed_point {

/// The rows of each of the two colours, in increasing order.
class red_black_coloring {
public:
    red_black_coloring() = default;

    /// From colours[i] in {0, 1}, validated as a proper colouring of A's graph.
    template <class T, class I>
    red_black_coloring(const relaxation_matrix<T, I>& A, vector_view<const std::uint8_t> colors) {
        build(A, colors, "red_black_coloring");
    }

    const std::vector<std::uint32_t>& rows(int color) const noexcept { return color == 0 ? c0_ : c1_; }
    std::size_t size() const noexcept { return c0_.size() + c1_.size(); }

    template <class T, class I>
    void build(const relaxation_matrix<T, I>& A, vector_view<const std::uint8_t> colors, const char* f) {
        const auto& v = A.csr();
        require_size(colors.size(), A.size(), f, "colors", "the rows of A");
        require(A.size() <= 0xffffffffu, f, "A", "more than 2^32 - 1 rows");
        for (std::size_t i = 0; i < colors.size(); ++i)
            require(colors[i] <= 1, f, "colors", "colour ", int(colors[i]), " at row ", i, " is not 0 or 1");
        for (std::size_t i = 0; i < v.rows; ++i)
            for (auto k = static_cast<std::size_t>(v.row_ptr[i]); k < static_cast<std::size_t>(v.row_ptr[i + 1]); ++k) {
                const auto j = static_cast<std::size_t>(v.col_index[k]);
                require(j == i || v.values[k] == T(0) || colors[i] != colors[j], f, "colors",
                        "not a proper colouring: rows ", i, " and ", j, " are coupled and both have colour ",
                        int(colors[i]));
            }
        std::vector<std::uint32_t> a, b;
        for (std::size_t i = 0; i < colors.size(); ++i) (colors[i] == 0 ? a : b).push_back(static_cast<std::uint32_t>(i));
        c0_.swap(a);
        c1_.swap(b);
    }

private:
    std::vector<std::uint32_t> c0_, c1_;
};

/// The (x + y) mod 2 colouring of an N x N grid in lexicographic order, validated against A.
template <class T, class I>
red_black_coloring grid_red_black_coloring(const relaxation_matrix<T, I>& A, std::size_t N) {
    const char* f = "grid_red_black_coloring";
    require(N >= 1 && A.size() % N == 0 && A.size() / N == N, f, "N", "N^2 = ", N, "^2 does not match the ", A.size(),
            " rows of A");
    std::vector<std::uint8_t> c(A.size());
    for (std::size_t y = 0; y < N; ++y)
        for (std::size_t x = 0; x < N; ++x) c[y * N + x] = static_cast<std::uint8_t>((x + y) & 1u);
    red_black_coloring rb;
    rb.build(A, vector_view<const std::uint8_t>(c), f);
    return rb;
}

namespace relaxation_detail {

/// The red-black update of one row from its off-diagonal sum s = sum_{j != i} a_ij x_j (summed
/// in storage order, zero entries skipped): x_i + (omega / a_ii) (b_i - s - a_ii x_i). The
/// index-list sweep and the colour-ordered one both use it and add the same terms in the same
/// order, so their results are identical bit for bit. Every a * b + c is mul_add
/// (detail/relaxation_rows.hpp), as in the colour-ordered group kernel's lanes.
template <class T>
KESTREL_ALWAYS_INLINE T red_black_update(T xi, T bi, T s, T d, T omega) noexcept {
    return mul_add(omega / d, neg_mul_add(d, xi, bi - s), xi);
}

template <class T, class I>
KESTREL_ALWAYS_INLINE void red_black_row(const csr_view<T, I>& A, std::size_t i, const T* b, T* x, T omega) noexcept {
    T s = T(0), d = T(1);
    const I* col = A.col_index;
    const T* val = A.values;
    const auto end = static_cast<std::size_t>(A.row_ptr[i + 1]);
    for (auto k = static_cast<std::size_t>(A.row_ptr[i]); k < end; ++k) {
        const auto c = static_cast<std::size_t>(col[k]);
        const T v = val[k];
        if (c == i)
            d = v;
        else if (v != T(0))  // a stored zero may couple rows of one colour: never read that x
            s = mul_add(v, x[c], s);
    }
    x[i] = red_black_update(x[i], b[i], s, d, omega);
}

template <class T, class I>
void red_black_sweep_unchecked(const csr_view<T, I>& A, const T* b, T* x, T omega, const red_black_coloring& c,
                               exec_policy policy) {
    for (int color = 0; color < 2; ++color) {
        const auto& rows = c.rows(color);
        const std::uint32_t* idx = rows.data();
        parallel_chunks(
            rows.size(), 64, policy,
            [&](std::size_t begin, std::size_t end) {
                for (std::size_t q = begin; q < end; ++q) red_black_row(A, idx[q], b, x, omega);
            },
            std::size_t(1) << 13);
    }
}

inline void require_coloring(const red_black_coloring& c, std::size_t n, const char* f) {
    require_size(c.size(), n, f, "coloring", "the rows of A");
}

}  // namespace relaxation_detail

/// One red-black SOR sweep in place (omega = 1: red-black Gauss-Seidel).
template <class T, class I>
void red_black_sor_sweep(const relaxation_matrix<T, I>& A, vector_view<const relaxation_detail::nondeduced_t<T>> b,
                         vector_view<relaxation_detail::nondeduced_t<T>> x, const red_black_coloring& coloring, double omega,
                         exec_policy policy = {}) {
    const char* f = "red_black_sor_sweep";
    relaxation_detail::require_system(A, b.size(), x.size(), f);
    relaxation_detail::require_coloring(coloring, A.size(), f);
    relaxation_detail::require_omega(omega, f);
    require_valid_policy(policy, f);
    require(!relaxation_detail::overlaps(b.data(), b.size() * sizeof(T), x.data(), x.size() * sizeof(T)), f, "x", "must not overlap b");
    relaxation_detail::red_black_sweep_unchecked(A.csr(), b.data(), x.data(), static_cast<T>(omega), coloring, policy);
}

/// Red-black SOR from the x given; omega in (0, 2).
template <class T, class I>
relaxation_result red_black_sor_solve(const relaxation_matrix<T, I>& A, vector_view<const relaxation_detail::nondeduced_t<T>> b,
                                      vector_view<relaxation_detail::nondeduced_t<T>> x, const red_black_coloring& coloring,
                                      double omega, const relaxation_options& options, relaxation_workspace<T>& ws,
                                      const char* f = "red_black_sor_solve") {
    relaxation_detail::require_system(A, b.size(), x.size(), f);
    relaxation_detail::require_coloring(coloring, A.size(), f);
    relaxation_detail::require_omega(omega, f);
    relaxation_detail::require_options(options, f);
    relaxation_detail::require_distinct_finite(b.data(), b.size(), x.data(), x.size(), f);
    const T w = static_cast<T>(omega);
    return relaxation_detail::inplace_loop(A, b.data(), x.data(), options, ws, 1, [&] {
        relaxation_detail::red_black_sweep_unchecked(A.csr(), b.data(), x.data(), w, coloring, options.policy);
    });
}

template <class T, class I>
relaxation_result red_black_gauss_seidel_solve(const relaxation_matrix<T, I>& A,
                                               vector_view<const relaxation_detail::nondeduced_t<T>> b,
                                               vector_view<relaxation_detail::nondeduced_t<T>> x,
                                               const red_black_coloring& coloring, const relaxation_options& options,
                                               relaxation_workspace<T>& ws) {
    return red_black_sor_solve(A, b, x, coloring, 1.0, options, ws, "red_black_gauss_seidel_solve");
}

}  // namespace fixed_point
}  // namespace kestrel
