// The row kernels of the CSR relaxation sweeps (detail/relaxation_rows.hpp) against references
// written here, bit for bit: the Jacobi row and the chained SOR row, each row's operations
// spelled out (every a * b + c one rounding where the build has FMA, two otherwise, as the
// header fixes it). Where the build targets AVX-512 the sweeps run most rows of a stencil
// matrix as lane-per-row groups (8 doubles or 16 floats); those must give the same bits as
// the row-by-row reference, on matrices where groups apply (constant-coefficient 2-D and 3-D
// stencils with varying values), where they apply only to some groups (grid edges, an entry
// inside the group's rows, which the lexicographic sweep must refuse) and where none do
// (irregular rows). Without AVX-512 the same checks pin the scalar rows. Jacobi is also
// checked at 1, 2 and 3 threads (bits of x_out and of the returned residual).
#include <catch2/catch.hpp>

#include <kestrel/core/random.hpp>
#include <kestrel/fixed_point/poisson_2d.hpp>
#include <kestrel/fixed_point/sparse_relaxation.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "test_relaxation_util.hpp"

using namespace relax_test;

namespace {

template <class T>
using sparse = Eigen::SparseMatrix<T, Eigen::RowMajor, int>;

template <class T>
T fused(T a, T b, T c) {
#if defined(__FMA__)
    return std::fma(a, b, c);
#else
    return a * b + c;
#endif
}

/// Reference Jacobi sweep: s = off-diagonal terms in storage order, r = (b - s) - d x_i,
/// x_out = x_i + (w r) / d.
template <class T>
void reference_jacobi(const sparse<T>& A, const std::vector<T>& b, const std::vector<T>& x, T w, std::vector<T>& out) {
    for (int i = 0; i < A.rows(); ++i) {
        T s = 0, d = 1;
        for (int k = A.outerIndexPtr()[i]; k < A.outerIndexPtr()[i + 1]; ++k) {
            const int c = A.innerIndexPtr()[k];
            if (c == i)
                d = A.valuePtr()[k];
            else
                s = fused(A.valuePtr()[k], x[std::size_t(c)], s);
        }
        const auto ui = std::size_t(i);
        const T r = fused(-d, x[ui], b[ui] - s);
        out[ui] = x[ui] + (w * r) / d;
    }
}

/// Reference SOR sweep in the chained form: the neighbour row's entries (i - 1 forward,
/// i + 1 backward) summed into m, the other off-diagonal terms into s (storage order),
/// c0 = x_i + (omega / d)((b - s) - d x_i), x_i = c0 - ((omega / d) m) x_nb.
template <class T>
void reference_sor(const sparse<T>& A, const std::vector<T>& b, std::vector<T>& x, T omega, bool forward) {
    const int n = static_cast<int>(A.rows());
    for (int q = 0; q < n; ++q) {
        const int i = forward ? q : n - 1 - q;
        const int nb = forward ? i - 1 : i + 1;
        T s = 0, d = 1, m = 0;
        bool linked = false;
        for (int k = A.outerIndexPtr()[i]; k < A.outerIndexPtr()[i + 1]; ++k) {
            const int c = A.innerIndexPtr()[k];
            const T v = A.valuePtr()[k];
            if (c == i) {
                d = v;
            } else if (c == nb) {
                m += v;
                linked = true;
            } else {
                s = fused(v, x[std::size_t(c)], s);
            }
        }
        const auto ui = std::size_t(i);
        const T xi = x[ui], inv = omega / d;
        const T c0 = fused(inv, fused(-d, xi, b[ui] - s), xi);
        x[ui] = linked ? fused(-(inv * m), x[std::size_t(nb)], c0) : c0;
    }
}

template <class T>
sparse<T> from_triplets(std::size_t n, const std::vector<Eigen::Triplet<T, int>>& t) {
    sparse<T> A(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(n));
    A.setFromTriplets(t.begin(), t.end());
    A.makeCompressed();
    return A;
}

/// A constant-offset stencil on an M^dim grid (offsets in grid steps, one per dimension pair
/// plus extra), values varying row by row, diagonally dominant.
template <class T>
sparse<T> stencil_matrix(std::size_t M, int dim, std::uint64_t seed) {
    const kestrel::counter_rng rng(seed, 11);
    std::size_t n = 1;
    for (int d = 0; d < dim; ++d) n *= M;
    std::vector<Eigen::Triplet<T, int>> t;
    std::uint64_t draw = 0;
    for (std::size_t i = 0; i < n; ++i) {
        double off = 0.0;
        std::size_t stride = 1, rest = i;
        for (int d = 0; d < dim; ++d) {
            const std::size_t coord = rest % M;
            rest /= M;
            for (int sgn : {-1, 1}) {
                if ((sgn < 0 && coord == 0) || (sgn > 0 && coord + 1 == M)) continue;
                const double v = -0.5 - rng.uniform_double(draw++);
                off += std::abs(v);
                t.emplace_back(int(i), int(sgn < 0 ? i - stride : i + stride), static_cast<T>(v));
            }
            stride *= M;
        }
        t.emplace_back(int(i), int(i), static_cast<T>(off + 0.25 + rng.uniform_double(draw++)));
    }
    return from_triplets<T>(n, t);
}

/// A banded matrix with offsets -17, -2, -1, 0, +1, +3: a stencil for the Jacobi groups, but
/// rows i - 2 lie inside a forward group (the lexicographic groups must refuse it: the
/// value is the one the sweep has just written) and +3 inside a backward one.
template <class T>
sparse<T> inner_offset_matrix(std::size_t n, std::uint64_t seed) {
    const kestrel::counter_rng rng(seed, 13);
    std::vector<Eigen::Triplet<T, int>> t;
    std::uint64_t draw = 0;
    for (std::size_t i = 0; i < n; ++i) {
        double off = 0.0;
        for (long o : {-17L, -2L, -1L, 1L, 3L}) {
            const long j = long(i) + o;
            if (j < 0 || j >= long(n)) continue;
            const double v = rng.uniform_double(draw++) - 0.5;
            off += std::abs(v);
            t.emplace_back(int(i), int(j), static_cast<T>(v));
        }
        t.emplace_back(int(i), int(i), static_cast<T>(off + 0.5));
    }
    return from_triplets<T>(n, t);
}

/// Irregular rows: 1 to 9 entries at random columns in random order (no two groups alike).
template <class T>
sparse<T> irregular_rows(std::size_t n, std::uint64_t seed) {
    const kestrel::counter_rng rng(seed, 17);
    std::vector<Eigen::Triplet<T, int>> t;
    std::uint64_t draw = 0;
    for (std::size_t i = 0; i < n; ++i) {
        double off = 0.0;
        const int extra = static_cast<int>(rng.uniform_double(draw++) * 9.0);
        for (int e = 0; e < extra; ++e) {
            const auto j = static_cast<std::size_t>(rng.uniform_double(draw++) * double(n));
            if (j == i) continue;
            const double v = rng.uniform_double(draw++) - 0.5;
            off += std::abs(v);
            t.emplace_back(int(i), int(j), static_cast<T>(v));
        }
        t.emplace_back(int(i), int(i), static_cast<T>(off + 0.5));
    }
    return from_triplets<T>(n, t);
}

template <class T>
std::vector<T> as(const std::vector<double>& v) {
    return std::vector<T>(v.begin(), v.end());
}

template <class T>
bool bits_equal(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

template <class T>
void check_rows(const sparse<T>& A, const std::string& label) {
    INFO(label << ", " << (sizeof(T) == 8 ? "double" : "float"));
    const fp::relaxation_matrix<T> M(A);
    const std::size_t n = M.size();
    const auto b = as<T>(random_vector(n, 41));
    const auto x0 = as<T>(random_vector(n, 42));
    fp::relaxation_workspace<T> ws;
    // Jacobi, damped, at 1, 2 and 3 threads: the reference's x_out, the same residual bits.
    std::vector<T> ref(n);
    reference_jacobi(A, b, x0, T(0.75), ref);
    double rr1 = 0.0;
    for (int threads : {1, 2, 3}) {
        std::vector<T> out(n);
        const double rr = fp::jacobi_sweep(M, b, x0, out, ws, 0.75, kestrel::exec_policy::with_threads(threads));
        CHECK(bits_equal(out, ref));
        if (threads == 1) rr1 = rr;
        CHECK(rr == rr1);
    }
    // The residual is ||b - A x0||^2 (rounding aside).
    const double direct = fp::residual_norm_squared(M, b, x0, ws);
    CHECK(std::abs(rr1 - direct) <= (sizeof(T) == 8 ? 1e-12 : 1e-5) * direct);
    // Lexicographic SOR forward, backward and symmetric, three sweeps each.
    for (double omega : {1.0, 1.37}) {
        std::vector<T> f = x0, fr = x0, g = x0, gr = x0, s = x0, sr = x0;
        for (int sweep = 0; sweep < 3; ++sweep) {
            fp::sor_sweep(M, b, f, omega, fp::sweep_direction::forward);
            reference_sor(A, b, fr, T(omega), true);
            fp::sor_sweep(M, b, g, omega, fp::sweep_direction::backward);
            reference_sor(A, b, gr, T(omega), false);
            fp::ssor_sweep(M, b, s, omega);
            reference_sor(A, b, sr, T(omega), true);
            reference_sor(A, b, sr, T(omega), false);
        }
        INFO("omega " << omega);
        CHECK(bits_equal(f, fr));
        CHECK(bits_equal(g, gr));
        CHECK(bits_equal(s, sr));
        CHECK(f != x0);
    }
}

template <class T>
void check_all_matrices() {
    // 2-D: 5 entries inside, 4 on edges, 3 in corners; 37 and 40 put group boundaries at
    // every position relative to the grid lines.
    check_rows(stencil_matrix<T>(37, 2, 1), "2-D stencil N = 37");
    check_rows(stencil_matrix<T>(40, 2, 2), "2-D stencil N = 40");
    check_rows(fp::poisson_2d<T>(33, 0.1), "poisson_2d N = 33");
    // 3-D: 7 entries inside (22: 16 consecutive interior rows occur, for float groups).
    check_rows(stencil_matrix<T>(optimized ? 22 : 18, 3, 3), "3-D stencil");
    check_rows(inner_offset_matrix<T>(777, 4), "offsets inside the group");
    check_rows(irregular_rows<T>(600, 5), "irregular rows");
}

#if KESTREL_RELAX_GROUPS
/// The definition of a stencil group, spelled out: rows i0 .. i0 + W - 1 have the same
/// length L in [3, 9] and entry k of row i0 + j sits at column (i0 + j) + off[k] for every j.
bool grp_reference(const std::vector<int>& ptr, const std::vector<int>& col, std::size_t i0, std::size_t W,
                   std::vector<std::ptrdiff_t>& off) {
    const int L = ptr[i0 + 1] - ptr[i0];
    if (L < 3 || L > 9) return false;
    off.assign(std::size_t(L), 0);
    for (int k = 0; k < L; ++k) off[std::size_t(k)] = std::ptrdiff_t(col[std::size_t(ptr[i0] + k)]) - std::ptrdiff_t(i0);
    for (std::size_t j = 0; j < W; ++j) {
        if (ptr[i0 + j + 1] - ptr[i0 + j] != L) return false;
        for (int k = 0; k < L; ++k)
            if (std::ptrdiff_t(col[std::size_t(ptr[i0 + j] + k)]) - std::ptrdiff_t(i0 + j) != off[std::size_t(k)]) return false;
    }
    return true;
}

/// The kernel's check (the instantiation the sweeps dispatch to) against grp_reference at
/// every group start in rows [from, to); returns the number of groups found.
template <class T>
std::size_t grp_compare_all(const std::vector<int>& ptr, const std::vector<int>& col, std::size_t from = 0,
                            std::size_t to = ~std::size_t(0)) {
    namespace rd = fp::relaxation_detail;
    constexpr int W = rd::vgroup<T>::W;
    std::size_t found = 0;
    for (std::size_t i0 = from; i0 + W < ptr.size() && i0 < to; i0 += W) {
        std::vector<std::ptrdiff_t> want;
        const bool expect = grp_reference(ptr, col, i0, W, want);
        std::ptrdiff_t got[9] = {};
        const bool is = rd::dispatch_length(ptr[i0 + 1] - ptr[i0], [&](auto len) {
            return rd::stencil_group<decltype(len)::value, W>(ptr.data(), col.data(), i0, got);
        });
        INFO("group at row " << i0);
        REQUIRE(is == expect);
        if (!is) continue;
        ++found;
        for (std::size_t k = 0; k < want.size(); ++k) REQUIRE(got[k] == want[k]);
    }
    return found;
}

template <class T>
void grp_check(const sparse<T>& A, bool expect_groups) {
    INFO((sizeof(T) == 8 ? "double" : "float") << ", " << A.rows() << " rows");
    std::vector<int> ptr(A.outerIndexPtr(), A.outerIndexPtr() + A.rows() + 1);
    std::vector<int> col(A.innerIndexPtr(), A.innerIndexPtr() + A.nonZeros());
    const std::size_t found = grp_compare_all<T>(ptr, col);
    if (expect_groups) CHECK(found > 0);
    // Near misses: every single column index of the first group moved by one, then every row
    // pointer of it (the check must see each position, the overlapping last chunk included).
    constexpr int W = fp::relaxation_detail::vgroup<T>::W;
    std::size_t g = 0;
    std::vector<std::ptrdiff_t> unused;
    while (g + W < ptr.size() && !grp_reference(ptr, col, g, W, unused)) g += W;
    if (g + W >= ptr.size()) return;
    for (int q = ptr[g]; q < ptr[g + W]; ++q) {
        col[std::size_t(q)] += 1;
        CHECK(grp_compare_all<T>(ptr, col, g, g + W) == 0);
        col[std::size_t(q)] -= 1;
    }
    for (std::size_t j = 1; j <= std::size_t(W); ++j) {
        ptr[g + j] += 1;
        grp_compare_all<T>(ptr, col, g, g + 2 * W);
        ptr[g + j] -= 1;
    }
}
#endif

}  // namespace

#if KESTREL_RELAX_GROUPS
TEST_CASE("relaxation rows: the stencil-group check accepts exactly the groups the definition gives", "[fixed_point][relaxation]") {
    // The lane width of this build (AVX-512: 8 / 16, AVX2: 4 / 8) and its group check, against
    // the definition on stencil matrices (groups exist) and irregular ones.
    grp_check(stencil_matrix<double>(37, 2, 1), true);
    grp_check(stencil_matrix<float>(40, 2, 2), true);
    grp_check(stencil_matrix<double>(18, 3, 3), true);  // 16 consecutive interior rows in a line
    grp_check(stencil_matrix<float>(22, 3, 3), true);
    grp_check(inner_offset_matrix<double>(300, 4), true);
    grp_check(irregular_rows<float>(300, 5), false);
    grp_check(irregular_rows<double>(300, 5), false);
}
#else
TEST_CASE("relaxation rows: without AVX-512 or AVX2 (with FMA) the sweeps take the scalar rows", "[fixed_point][relaxation]") {
    CHECK_FALSE(fp::relaxation_detail::relax_groups<double, int>);
    CHECK(fp::relaxation_detail::residual_lanes<double> == 1);
}
#endif

TEST_CASE("relaxation rows: Jacobi and SOR sweeps equal the row-by-row reference bit for bit", "[fixed_point][relaxation]") {
    check_all_matrices<double>();
    check_all_matrices<float>();
}

TEST_CASE("relaxation rows: a sweep over groups and rows keeps a row without a stored neighbour off the chain", "[fixed_point][relaxation]") {
    // A 2-D stencil whose x-neighbours are dropped in one grid line: those rows are not
    // linked to the chain, the others are; an infinite x in an unlinked row's neighbour
    // position must not reach it (0 * inf).
    const std::size_t N = 40, n = N * N;
    auto A = stencil_matrix<double>(N, 2, 9);
    std::vector<Eigen::Triplet<double, int>> t;
    for (int i = 0; i < A.rows(); ++i)
        for (int k = A.outerIndexPtr()[i]; k < A.outerIndexPtr()[i + 1]; ++k) {
            const int c = A.innerIndexPtr()[k];
            if (i / int(N) == 20 && c == i - 1) continue;  // row line 20: no left neighbour
            t.emplace_back(i, c, A.valuePtr()[k]);
        }
    const auto B = from_triplets<double>(n, t);
    const fp::relaxation_matrix<double> M(B);
    auto b = random_vector(n, 3);
    // Row 20 N + 7's left neighbour becomes infinite after its own update.
    b[20 * N + 6] = std::numeric_limits<double>::infinity();
    std::vector<double> x(n, 0.0), r(n, 0.0);
    fp::gauss_seidel_sweep(M, b, x);
    reference_sor(B, b, r, 1.0, true);
    CHECK(std::isinf(x[20 * N + 6]));
    CHECK(std::isfinite(x[20 * N + 7]));
    CHECK(bits_equal(x, r));
}

#if KESTREL_RELAX_AVX2
namespace {

/// The AVX2 transposition against its definition (out[k] lane j = vals[j L + k]) on a group
/// whose rows repeat the same values (the broadcast path) and on every single-word change of
/// it: one value moved by an ulp, or +0 turned into -0 (bitwise different, == as numbers), in
/// any row and entry; each must take the strided path and still give the definition's lanes.
template <int L, class T>
void check_transpose_periodic() {
    namespace rd = fp::relaxation_detail;
    using A = rd::v256<T>;
    constexpr int W = A::W;
    const kestrel::counter_rng rng(77, static_cast<std::uint64_t>(L * 10 + int(sizeof(T))));
    T first[L];
    for (int k = 0; k < L; ++k) first[k] = static_cast<T>(rng.uniform_double(std::uint64_t(k)) - 0.5);
    first[L / 2] = T(0);  // a +0 the perturbation can flip to -0
    std::vector<T> vals(std::size_t(W * L));
    auto lanes_match = [&]() {
        typename A::V out[L];
        rd::transpose_group<L>(vals.data(), out);
        bool ok = true;
        for (int k = 0; k < L; ++k) {
            alignas(32) T got[W];
            A::storeu(got, out[k]);
            for (int j = 0; j < W; ++j) ok = ok && std::memcmp(&got[j], &vals[std::size_t(j * L + k)], sizeof(T)) == 0;
        }
        return ok;
    };
    for (int j = 0; j < W; ++j)
        for (int k = 0; k < L; ++k) vals[std::size_t(j * L + k)] = first[k];
    CHECK(rd::periodic_group<L>(vals.data()));
    CHECK(lanes_match());
    for (std::size_t q = 0; q < vals.size(); ++q) {
        const T keep = vals[q];
        vals[q] = keep == T(0) ? -T(0) : std::nextafter(keep, T(2));
        INFO("value " << q << " changed");
        CHECK_FALSE(rd::periodic_group<L>(vals.data()));
        CHECK(lanes_match());
        vals[q] = keep;
    }
}

}  // namespace

TEST_CASE("relaxation rows: the AVX2 broadcast of repeated group values equals the strided transposition", "[fixed_point][relaxation]") {
    check_transpose_periodic<3, double>();
    check_transpose_periodic<5, double>();
    check_transpose_periodic<9, double>();
    check_transpose_periodic<3, float>();
    check_transpose_periodic<5, float>();
    check_transpose_periodic<7, float>();
}
#endif
