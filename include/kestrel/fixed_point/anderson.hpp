// Anderson acceleration, type II (Walker & Ni, "Anderson acceleration for fixed-point
// iterations", SIAM J. Numer. Anal. 49(4), 2011, Algorithm AA with the QR-updated least-squares
// solve of their Section 4), with damping, Tikhonov regularization, delayed start, restarts and
// a residual safeguard. Map convention, stopping rule and errors: fixed_point_options.hpp.
//
// With f_k = G(x_k) - x_k, the history Delta F = [f_{i+1} - f_i], Delta X = [x_{i+1} - x_i] of the
// last m_k <= m steps (oldest first), and damping beta in (0, 1]:
//     gamma_k = argmin ||f_k - Delta F gamma||^2 + mu ||gamma||^2
//     x_{k+1} = x_k + beta f_k - (Delta X + beta Delta F) gamma_k              (Walker & Ni (4.1)
//             = (1 - beta) x_k + beta G(x_k) - U gamma_k,   U = Delta X + beta Delta F;  damped form)
// m = 0 (or m_k = 0) is the damped plain step x_{k+1} = (1 - beta) x_k + beta G(x_k).
//
// The least-squares factor. Delta F = Q R with R (m_k x m_k, upper triangular) kept up to date
// and Q = Delta F R^{-1} never formed: the memory holds raw f and w vectors (see Storage).
//   * Append a column df: its inner products with the history, s = Delta F^T df, come from the
//     pass that forms df; classical Gram-Schmidt in coefficients, r = Q^T df = R^{-T} s, then
//     one reorthogonalization step r += Q^T (df - Q r) = R^{-T}(s - Gram R^{-1} r), with the
//     Gram matrix Delta F^T Delta F accumulated from the same inner products; the new diagonal
//     is rho = ||df - Q r||, rho^2 = ||df||^2 - 2 s.y + y.Gram y with y = R^{-1} r.
//   * Delete the oldest column (when m_k = m): R without its first column is Hessenberg; m_k - 1
//     Givens rotations restore the triangle (Walker & Ni Section 4). Q changes implicitly.
//   * Conditioning: if rho <= sqrt(1000 eps_T) ||df|| (the new column is numerically in the span
//     of the history, where the coefficient form loses accuracy), the history is cleared and
//     df starts a new one (a "restart", counted in result.restarts).
// Nothing is refactored from scratch: an iterate costs O(m^2) scalar work besides its passes.
//
// Tikhonov regularization: mu = tikhonov * ||Delta F||_F^2 (scale invariant; trace of the Gram
// matrix). gamma solves the normal equations of the stacked problem [R; sqrt(mu) I] gamma ~
// [Q^T f_k; 0], i.e. (R^T R + mu I) gamma = Delta F^T f_k, by an m_k x m_k Cholesky
// factorization; with mu = 0, gamma = R^{-1} R^{-T} Delta F^T f_k (two triangular solves).
//
// Alternating Anderson (Pratapa, Suryanarayana & Pask, "Anderson acceleration of the Jacobi
// iterative method: an efficient alternative to Krylov methods for large, sparse linear
// systems", J. Comput. Phys. 306, 2016: AAJ): with extrapolation_period = p > 1 only the steps
// from x_k with (k + 1) % p == 0 extrapolate; the others are the damped plain step
// x_{k+1} = w_k, and every step, plain or not, adds its column to the history, so an
// extrapolation sees the last m consecutive differences. On a linear map this is a polynomial
// method of higher degree per least-squares solve: on the shifted Poisson problem
// (rho = 0.99, n = 10^6) m = 5 needs 258 evaluations of G at p = 1 and 115-123 at p = 2-3,
// m = 10 199 and 96-98 at p = 3-8. A plain step makes no update pass: x_{k+1} is w_k's slot
// itself, read in place by the next residual pass (no copy). The products the R update needs
// are deferred: a step whose successor does not extrapolate only writes f and w (its column
// waits), and the step before an extrapolation reads the raw f of the whole window once,
// forming the Gram block of the new columns (at most min(p, m)) against all columns
// (detail::residual_gram_pass), then appends the new columns to R one by one (deletions of the
// oldest columns happen at their steps). Per p steps that is one pass over the m raw f instead
// of p. Iterates equal the every-step order's up to rounding (the same columns, R updated in
// another order); periodic restarts are counted per column at its step, as with p = 1.
//
// Delayed start: the first `delay` steps are plain and record no history. Restart: with
// restart_period = p > 0 the history is cleared after every p recorded columns. Safeguard: with
// safeguard_factor = c > 0, an accelerated step whose new residual exceeds c ||f_k|| is rejected:
// the history is cleared and the damped plain step from x_k is taken instead (counted in
// result.safeguard_events; its rejected evaluation is counted in result.evaluations).
//
// Storage: raw vectors, not differences. Slot j of two rings of m + 1 n-vectors holds
// f_j = G(x_j) - x_j and w_j = (1 - beta) x_j + beta G(x_j) (= G(x_j) when beta = 1) for the
// iterates x_{k-m_k}, ..., x_k of the history; column j of Delta F is f_{j+1} - f_j and of U
// is w_{j+1} - w_j (U = Delta X + beta Delta F), each difference formed in registers where it is
// read. Delta F's columns have the same bits as a stored (f_new - f_old) would have, so R and the
// Gram matrix are those of the stored-difference form; U differs from it only in rounding.
// The new iterate does not need x_k: x_{k+1} = w_k - U gamma_k.
//
// Work beyond G per iterate, in passes over an n-vector (one pass = n elements read or written):
//   update     x_{k+1} = w_k - sum_j gamma_j (w_{j+1} - w_j)     reads m_k + 1, writes 1
//   residual   f = G(x_{k+1}) - x_{k+1}, written to the new slot with w (beta < 1 only: with
//              beta = 1, G writes its output straight into the new w slot), and every inner
//              product (||f||^2, ||df||^2, df.f, Delta F^T df, Delta F^T f) with df = f - f_k,
//              the columns formed from the raw f_{k-m'}..f_k (m' = m_k - 1 once the history is
//              full and the oldest column is dropped: m raw vectors at most)
//                                                               reads 2 + m, writes 1 (+1 if beta < 1)
// = 2m + 5 passes per iterate with a full history (2m + 6 with damping beta < 1; with m = 0: 4,
// or 5 with damping): 2m + 3 loads and 2 stores per unknown (beta = 1). Stores and memory
// traffic: x_{k+1} is read by G right after the update writes it, so it is stored normally (its
// lines are then partly in cache when G reads them); f_{k+1} replaces the dropped column's f,
// which nothing has read for m iterates, and is read again only by the next residual pass, so
// with a history larger than a last-level cache it is written by non-temporal stores (no
// write-allocate read of the old contents: 8 bytes per unknown less in double).
// The layout this replaced stored the difference columns Delta F and U and made 2m + 8 (its
// header said 2m + 9, counting the dropped column in the residual pass): its update read x_k
// and G(x_k) beside the m columns of U (m + 3: here w_k and m raw w, m + 2), and its residual
// pass read x_k and G(x_k) again to form df and wrote both new columns df and u
// (m + 5: here f_k is one of the m raw f, and only f is written, m + 3).
// Fused G (G given as a block_map, see below): G is evaluated inside the residual pass, one
// sub-block of 256 elements at a time into an L1 buffer, and its output goes from there into the
// pass and to the new w slot (damping 1; damped, w is formed from it and G(x) is not kept). So
// G's output is never written to a whole n-vector and read back: per unknown, the pass reads m
// raw f (x_{k+1} comes from the cache, where G's stencil just read it) and writes f and w, both
// without write-allocate when the history is large. With G's own traffic (reading x_{k+1},
// writing its output) counted in: 2m + 2 loads and 3 stores per unknown per iterate fused,
// 2m + 4 loads and 3 stores (2 of them with a write-allocate read) with the vector map. Same
// iterates bit for bit as the vector form, at any thread count.
// Both passes run on the policy's threads with the blocked, thread-count independent
// reductions of detail/accelerated_passes.hpp.
// Workspace memory (core/large_buffer.hpp): the rings and scratch vectors are not zero-filled
// (every element is written before it is read) and sit on 2 MiB transparent huge pages where the
// kernel grants them. With std::vector (zero-filled, 4 KiB pages), anderson() making its
// workspace at n = 10^6, m = 20 (2m + 5 vectors, 360 MB; Poisson benchmark map, 120 iterates,
// 2 threads) took 2.4 s against 1.4 s with a workspace made beforehand; now 1.3 s either way.
// With a workspace already used once, huge pages alone cut the time beyond G per iterate by
// 15-25% (measured 2 threads, m = 5 / 10 / 20: 3.9 / 6.9 / 12.5 -> 3.2 / 5.3 / 9.7 ns per
// unknown): each of the 2m + 3 streams of a pass then misses the TLB once per 2 MiB, not 4 KiB.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/large_buffer.hpp"
#include "../core/simd.hpp"
#include "block_map.hpp"
#include "detail/accelerated_passes.hpp"
#include "fixed_point_options.hpp"

namespace kestrel {
namespace fixed_point {

struct anderson_options : fixed_point_options {
    int memory = 5;                  ///< m >= 0 history columns (0: damped plain iteration)
    double damping = 1.0;            ///< beta in (0, 1]
    double tikhonov = 0.0;           ///< >= 0; mu = tikhonov * ||Delta F||_F^2
    std::size_t delay = 0;           ///< plain steps before the history starts
    std::size_t restart_period = 0;  ///< clear the history after this many recorded columns (0: never)
    double safeguard_factor = 0.0;   ///< 0: off; else >= 1: reject a step whose residual grows by more
    /// >= 1: extrapolate only at iterates k with (k + 1) % period == 0; the steps between are damped
    /// plain steps that still record history columns (Alternating Anderson, see above). 1: every step.
    std::size_t extrapolation_period = 1;
};

/// Largest memory accepted (the m x m work is O(m^2) per iterate; the n x m history dominates).
inline constexpr int anderson_max_memory = 1000;

/// History and scratch of anderson() for n unknowns and memory up to m, allocated once; keep
/// one across calls of the same size. Not shared between concurrent calls.
/// Holds 2m + 5 n-vectors of T (m + 1 slots of f and of w, the other x buffer, G's output).
template <class T>
class anderson_workspace {
public:
    anderson_workspace(std::size_t n, int memory) : n_(n), m_(memory < 0 ? 0 : static_cast<std::size_t>(memory)) {
        static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "anderson works on float and double");
        require(n > 0, "anderson_workspace", "n", "must be > 0");
        require(memory >= 0 && memory <= anderson_max_memory, "anderson_workspace", "memory", "must be in [0, ",
                anderson_max_memory, "], got ", memory);
        const std::size_t slots = m_ + 1;
        const std::size_t cols = checked_product(n, slots, "anderson_workspace", "n * (memory + 1)");
        require(cols <= detail_max() / 2, "anderson_workspace", "n * (memory + 1)", "history of ", cols,
                " elements exceeds the address space");
        // Uninitialized, on huge pages where granted (core/large_buffer.hpp): every element is
        // written before it is read.
        xa_.get(n);
        g_.get(n);
        if (m_ > 0) F_.get(cols);
        W_.get(cols);
        const kestrel::simd::reduction_blocks rb(n);
        partials_.resize(rb.count * (3 + 2 * m_));
        const std::size_t mm = std::max<std::size_t>(m_, 1);
        R_.assign(mm * mm, 0.0);
        gram_.assign(mm * mm, 0.0);
        chol_.assign(mm * mm, 0.0);
        d_.assign(mm, 0.0);
        s_.assign(mm, 0.0);
        t_.assign(mm, 0.0);
        gamma_.assign(mm, 0.0);
        w1_.assign(mm, 0.0);
        w2_.assign(mm, 0.0);
        neg_gamma_.assign(mm, T(0));
        ptrs_.assign(slots, nullptr);
        raw_.assign(slots, 0);
        pend_.reserve(slots);
        in_use_.assign(slots, 0);
    }
    std::size_t size() const noexcept { return n_; }
    int memory() const noexcept { return static_cast<int>(m_); }

private:
    static constexpr std::size_t detail_max() { return kestrel::detail::max_view_elements<T>; }

    template <class V, class Map>
    friend fixed_point_result anderson(Map&& G, vector_view<V> x, const anderson_options& options,
                                       anderson_workspace<V>& ws);

    double& R(std::size_t i, std::size_t j) noexcept { return R_[j * m_ + i]; }
    double& Gm(std::size_t i, std::size_t j) noexcept { return gram_[j * m_ + i]; }
    double& L(std::size_t i, std::size_t j) noexcept { return chol_[j * m_ + i]; }
    T* F(std::size_t slot) noexcept { return F_.data() + slot * n_; }
    T* Wv(std::size_t slot) noexcept { return W_.data() + slot * n_; }

    // The history: raw_[0..mk_] are the slots of x_{k-mk_}, ..., x_k (oldest first); column j
    // is slot raw_[j + 1] minus slot raw_[j]. Alternating Anderson with deferred products:
    // pend_ holds the slots of the iterates after raw_[mk_] whose columns are not yet in R (the
    // chain raw_[0..mk_], pend_[0..] continues with them); empty otherwise.
    void start(std::size_t slot) noexcept {
        std::fill(in_use_.begin(), in_use_.end(), 0);
        raw_[0] = slot;
        in_use_[slot] = 1;
        for (std::size_t p : pend_) in_use_[p] = 1;
        mk_ = 0;
    }
    std::size_t newest_slot() const noexcept { return pend_.empty() ? raw_[mk_] : pend_.back(); }
    // Drops the chain's oldest column (deferred mode): from R, or the first pending one.
    void drop_oldest_column() noexcept {
        if (mk_ > 0) {
            delete_oldest();
            return;
        }
        in_use_[raw_[0]] = 0;
        raw_[0] = pend_.front();
        pend_.erase(pend_.begin());
    }
    // The chain's raw f slots, oldest first (mk_ + 1 + pend_.size() pointers).
    const T* const* chain_f_ptrs() noexcept {
        for (std::size_t p = 0; p <= mk_; ++p) ptrs_[p] = F(raw_[p]);
        for (std::size_t q = 0; q < pend_.size(); ++q) ptrs_[mk_ + 1 + q] = F(pend_[q]);
        return ptrs_.data();
    }
    // Drops every column; the newest iterate stays as the start of the next history.
    void clear() noexcept { start(raw_[mk_]); }
    // A slot for the next iterate that holds none of the history (m + 1 slots, at most m in
    // use once the oldest column is dropped); with m = 0 the only slot, whose w_k the update
    // has consumed by then.
    std::size_t free_slot() const noexcept {
        std::size_t s = 0;
        while (s <= m_ && in_use_[s]) ++s;
        return s <= m_ ? s : raw_[0];
    }
    // x_{k+1} is the newest iterate and the history is empty (no column recorded).
    void replace_newest(std::size_t slot) noexcept { start(slot); }
    const T* const* f_ptrs() noexcept {
        for (std::size_t p = 0; p <= mk_; ++p) ptrs_[p] = F(raw_[p]);
        return ptrs_.data();
    }
    const T* const* w_ptrs() noexcept {
        for (std::size_t p = 0; p <= mk_; ++p) ptrs_[p] = Wv(raw_[p]);
        return ptrs_.data();
    }

    // Drops the oldest column: shift R left, restore the triangle by Givens rotations.
    void delete_oldest() noexcept {
        in_use_[raw_[0]] = 0;
        for (std::size_t p = 0; p < mk_; ++p) raw_[p] = raw_[p + 1];
        for (std::size_t p = 0; p + 1 < mk_; ++p)
            for (std::size_t i = 0; i < mk_; ++i) R(i, p) = R(i, p + 1);
        for (std::size_t p = 0; p + 1 < mk_; ++p) {
            const double a = R(p, p), b = R(p + 1, p);
            const double h = std::hypot(a, b);
            const double c = h > 0 ? a / h : 1.0, s = h > 0 ? b / h : 0.0;
            for (std::size_t q = p; q + 1 < mk_; ++q) {
                const double u = R(p, q), v = R(p + 1, q);
                R(p, q) = c * u + s * v;
                R(p + 1, q) = -s * u + c * v;
            }
            R(p + 1, p) = 0.0;
        }
        for (std::size_t j = 0; j + 1 < mk_; ++j)
            for (std::size_t i = 0; i + 1 < mk_; ++i) Gm(i, j) = Gm(i + 1, j + 1);
        --mk_;
    }

    // y = R^{-T} b (forward substitution), in place allowed.
    void solve_rt(const double* b, double* y) noexcept {
        for (std::size_t i = 0; i < mk_; ++i) {
            double v = b[i];
            for (std::size_t p = 0; p < i; ++p) v -= R(p, i) * y[p];
            y[i] = v / R(i, i);
        }
    }
    // y = R^{-1} b (back substitution), in place allowed.
    void solve_r(const double* b, double* y) noexcept {
        for (std::size_t q = 0; q < mk_; ++q) {
            const std::size_t ii = mk_ - 1 - q;
            double v = b[ii];
            for (std::size_t p = ii + 1; p < mk_; ++p) v -= R(ii, p) * y[p];
            y[ii] = v / R(ii, ii);
        }
    }

    // Appends the column f(slot) - f(raw_[mk_]) (inner products s with the history, t = Delta F^T
    // f_new, dd = ||df||^2, dfn = df.f_new from the residual pass); slot becomes the newest
    // iterate. Returns false when it restarted the history.
    bool append(std::size_t slot, double dd, double dfn) noexcept {
        const double thr = std::sqrt(1000.0 * static_cast<double>(std::numeric_limits<T>::epsilon()));
        double rho2 = dd;
        if (mk_ > 0) {
            solve_rt(s_.data(), w1_.data());  // r1 = R^{-T} s
            solve_r(w1_.data(), w2_.data());  // y1 = R^{-1} r1
            for (std::size_t i = 0; i < mk_; ++i) {  // s - Gram y1
                double v = s_[i];
                for (std::size_t j = 0; j < mk_; ++j) v -= Gm(i, j) * w2_[j];
                gamma_[i] = v;  // scratch
            }
            solve_rt(gamma_.data(), gamma_.data());  // r2
            for (std::size_t i = 0; i < mk_; ++i) w1_[i] += gamma_[i];  // r = r1 + r2
            solve_r(w1_.data(), w2_.data());  // y = R^{-1} r
            double sy = 0.0, yGy = 0.0;
            for (std::size_t i = 0; i < mk_; ++i) {
                sy += s_[i] * w2_[i];
                double gy = 0.0;
                for (std::size_t j = 0; j < mk_; ++j) gy += Gm(i, j) * w2_[j];
                yGy += w2_[i] * gy;
            }
            rho2 = dd - 2.0 * sy + yGy;
        }
        const bool dependent = !(dd > 0.0) || !(rho2 > thr * thr * dd);
        if (dependent && mk_ > 0) {
            // Restart from the last two iterates (the column df alone), or from x_{k+1} alone
            // when df = 0.
            clear();
            if (dd > 0.0) append_column(slot, std::sqrt(dd), dd, dfn);
            else replace_newest(slot);
            return false;
        }
        if (!(dd > 0.0)) {  // a zero column and no history: nothing to add
            replace_newest(slot);
            return true;
        }
        append_column(slot, std::sqrt(rho2), dd, dfn);
        return true;
    }

    void append_column(std::size_t slot, double rho, double dd, double dfn) noexcept {
        const std::size_t c = mk_;
        for (std::size_t i = 0; i < c; ++i) {
            R(i, c) = w1_[i];
            R(c, i) = 0.0;
            Gm(i, c) = Gm(c, i) = s_[i];
            d_[i] = t_[i];
        }
        R(c, c) = rho;
        Gm(c, c) = dd;
        d_[c] = dfn;
        raw_[c + 1] = slot;
        in_use_[slot] = 1;
        ++mk_;
    }

    // gamma from (R^T R + mu I) gamma = d.
    void solve_gamma(double tikhonov) noexcept {
        if (tikhonov == 0.0) {
            solve_rt(d_.data(), gamma_.data());
            solve_r(gamma_.data(), gamma_.data());
            return;
        }
        double tr = 0.0;
        for (std::size_t i = 0; i < mk_; ++i) tr += Gm(i, i);
        const double mu = tikhonov * tr;
        // M = R^T R + mu I, lower Cholesky factor in L.
        for (std::size_t j = 0; j < mk_; ++j) {
            for (std::size_t i = j; i < mk_; ++i) {
                double v = 0.0;
                for (std::size_t p = 0; p <= j; ++p) v += R(p, i) * R(p, j);
                if (i == j) v += mu;
                for (std::size_t p = 0; p < j; ++p) v -= L(i, p) * L(j, p);
                L(i, j) = i == j ? std::sqrt(v) : v / L(j, j);
            }
        }
        for (std::size_t i = 0; i < mk_; ++i) {
            double v = d_[i];
            for (std::size_t p = 0; p < i; ++p) v -= L(i, p) * gamma_[p];
            gamma_[i] = v / L(i, i);
        }
        for (std::size_t ii = mk_; ii-- > 0;) {
            double v = gamma_[ii];
            for (std::size_t p = ii + 1; p < mk_; ++p) v -= L(p, ii) * gamma_[p];
            gamma_[ii] = v / L(ii, ii);
        }
    }

    std::size_t n_, m_, mk_ = 0;
    kestrel::detail::large_buffer<T> xa_, g_, F_, W_;
    std::vector<double> partials_, R_, gram_, chol_, d_, s_, t_, gamma_, w1_, w2_;
    std::vector<T> neg_gamma_;
    std::vector<const T*> ptrs_;
    std::vector<std::size_t> raw_, pend_;
    std::vector<unsigned char> in_use_;
};

/// Anderson-accelerated iteration from x (x0 on entry, the last iterate on return), with the
/// caller's workspace (size x.size(), memory >= options.memory).
template <class T, class Map>
fixed_point_result anderson(Map&& G, vector_view<T> x, const anderson_options& options, anderson_workspace<T>& ws) {
    static constexpr const char* fn = "anderson";
    detail::check_common_options(fn, options);
    require(options.memory >= 0 && options.memory <= anderson_max_memory, fn, "options.memory", "must be in [0, ",
            anderson_max_memory, "], got ", options.memory);
    require(std::isfinite(options.damping) && options.damping > 0.0 && options.damping <= 1.0, fn, "options.damping",
            "must be in (0, 1], got ", options.damping);
    require(std::isfinite(options.tikhonov) && options.tikhonov >= 0.0, fn, "options.tikhonov",
            "must be finite and >= 0, got ", options.tikhonov);
    require(options.safeguard_factor == 0.0 || (std::isfinite(options.safeguard_factor) && options.safeguard_factor >= 1.0),
            fn, "options.safeguard_factor", "must be 0 (off) or a finite value >= 1, got ", options.safeguard_factor);
    require(options.extrapolation_period >= 1, fn, "options.extrapolation_period", "must be >= 1, got ",
            options.extrapolation_period);
    require(ws.size() == x.size(), fn, "ws", "workspace for n = ", ws.size(), ", x has size ", x.size());
    require(ws.memory() >= options.memory, fn, "ws", "workspace memory ", ws.memory(), " < options.memory ",
            options.memory);
    detail::check_start(fn, x);

    const std::size_t n = x.size(), m = static_cast<std::size_t>(options.memory);
    const exec_policy pol = options.policy;
    const double beta = options.damping;
    // beta = 1: w = G(x) exactly, so G writes straight into the new w slot and the residual
    // pass writes f only; otherwise G writes to a scratch vector and the pass writes w too.
    const bool undamped = beta == 1.0;
    const bool keep_f = m > 0;
    // f_{k+1} goes to the slot of the dropped column, which no pass has read for m iterates; it
    // is read again only by the next residual pass. When the raw history is larger than a
    // last-level cache, neither the old nor the new contents are cached by then, so it is
    // stored without write-allocate (non-temporal stores): the pass then moves 8 fewer bytes
    // per unknown in double (measured 3-9% less time for the residual pass at n = 10^6,
    // m = 5, 10, one thread, under load). Smaller histories stay cached with ordinary stores.
    const bool stream_f = keep_f && 2.0 * double(m + 1) * double(n) * sizeof(T) > double(detail::stream_history_bytes);
    fixed_point_result r;
    // x_k (accepted): in x, in the workspace's other x buffer, or (after a plain step with a
    // history) in the w slot it was taken from. x_{k+1} is written to the x buffer X is not in.
    T* const xbuf[2] = {x.data(), ws.xa_.data()};
    T* X = x.data();
    T* XN = ws.xa_.data();
    auto spare = [&]() { return X == xbuf[0] ? xbuf[1] : xbuf[0]; };
    const std::size_t period = options.extrapolation_period;
    // Alternating Anderson with deferred products (period > 1): a step whose successor does not
    // extrapolate writes f and w only (its column waits in ws.pend_); the step before an
    // extrapolation forms the Gram block of every new column in one pass (residual_gram_pass)
    // and appends them to R one by one. At most min(period, m) new columns: the block's scratch
    // is made here, once per call; beyond a few thousand entries per reduction block the
    // products are taken at every step as with period 1.
    const std::size_t new_max = std::min(period, m);
    const bool deferred = period > 1 && m > 0 && new_max * m + m <= 4096;
    std::vector<double> gram_partials, gram_block;
    std::vector<T> colbufs;
    if (deferred) {
        const kestrel::simd::reduction_blocks rb(n);
        gram_partials.resize(rb.count * (1 + new_max * m + m));
        gram_block.resize(new_max * m + m);
        colbufs.resize(static_cast<std::size_t>(effective_threads(pol)) * (m - 1) * detail::pass_sub_block + 1);
    }
    // x_k held in the w slot a pass is about to rewrite (the slot left the history: a restart,
    // a safeguard, the delay, or m = 1) is first moved to the x buffer XN is not, so that a
    // throwing G still leaves x_k to the caller.
    auto keep_xk_out_of = [&](std::size_t slot) {
        if (X != ws.Wv(slot)) return;
        T* const to = XN == xbuf[0] ? xbuf[1] : xbuf[0];
        std::copy(X, X + n, to);
        X = to;
    };
    // x keeps the last accepted iterate if G throws (fixed_point_options.hpp).
    // The fused form (G a block_map): G runs inside the residual pass, sub-block by sub-block.
    constexpr bool fused = detail::is_block_map<std::decay_t<Map>>::value;
    auto fail = [&](std::size_t k) {
        if (XN != x.data()) std::copy(XN, XN + n, x.data());
        detail::fail_non_finite_map(fn, k);
    };
    // The residual pass at xn whose G(xn) is in gn, writing slot `slot`; with `hist`, inner
    // products with the current history (the columns of ws.raw_[0..mk_]).
    // Vector form: G(xn) into gn first (G writes it straight into the new w slot when
    // undamped). Fused form: gn is made inside the pass and stored to the w slot from L1 (when
    // undamped; damped, the pass stores w = (1 - beta) xn + beta gn and gn is not kept).
    auto eval_pass = [&](const T* xn, std::size_t slot, bool hist, bool gram = false) {
        T* const gn = undamped ? ws.Wv(slot) : ws.g_.data();
        detail::residual_pass_args<T> a;
        a.gn = gn;
        a.xn = xn;
        a.stream_f = stream_f;
        a.f_out = keep_f ? ws.F(slot) : nullptr;
        a.w_out = undamped ? nullptr : ws.Wv(slot);
        if (fused && undamped) a.g_out = gn;
        a.beta = static_cast<T>(beta);
        a.one_minus_beta = static_cast<T>(1.0 - beta);
        if (gram) {
            a.raw = ws.chain_f_ptrs();
            a.mk = ws.mk_ + ws.pend_.size();
        } else if (hist) {
            a.raw = ws.f_ptrs();
            a.mk = ws.mk_;
        }
        detail::residual_pass_sums sums;
#if KESTREL_HAS_EXCEPTIONS
        try {
#endif
            if constexpr (fused) {
                if (gram)
                    sums.ff = detail::residual_gram_pass(a, ws.mk_, n, gram_partials.data(), colbufs.data(),
                                                         gram_block.data(), pol, &G.block);
                else
                    sums = detail::residual_pass(a, n, ws.partials_.data(), ws.s_.data(), ws.t_.data(), pol, &G.block);
            } else {
                detail::evaluate_map<T>(G, xn, gn, n);
            }
#if KESTREL_HAS_EXCEPTIONS
        } catch (...) {
            if (X != x.data()) std::copy(X, X + n, x.data());
            throw;
        }
#endif
        ++r.evaluations;
        if constexpr (!fused) {
            if (gram)
                sums.ff = detail::residual_gram_pass(a, ws.mk_, n, gram_partials.data(), colbufs.data(), gram_block.data(), pol);
            else
                sums = detail::residual_pass(a, n, ws.partials_.data(), ws.s_.data(), ws.t_.data(), pol);
        }
        return sums;
    };

    // x_0: G(x_0), then f_0 (and w_0) in slot 0.
    ws.pend_.clear();
    const detail::residual_pass_sums s0 = eval_pass(X, 0, false);
    if (!std::isfinite(s0.ff)) detail::fail_non_finite_map(fn, 0);
    ws.start(0);
    double fk = std::sqrt(s0.ff);
    detail::start_result(r, options, fk);

    std::size_t since_restart = 0;
    for (std::size_t k = 0;; ++k) {
        if (fk <= r.tolerance) {
            r.converged = true;
            break;
        }
        if (k == options.max_iterations) break;
        // The step x_{k+1} = w_k - U gamma_k (gamma = 0 between extrapolations).
        const bool extrapolate = period == 1 || (k + 1) % period == 0;
        const std::size_t used = extrapolate ? ws.mk_ : 0;
        // A plain step with m > 0 reads x_{k+1} = w_k in its slot (which stays in use: it is the
        // newest raw slot) instead of copying it; m = 0 has one slot, which G rewrites.
        T* const wk = ws.Wv(ws.newest_slot());
        const bool in_place = used == 0 && m > 0;
        XN = in_place ? wk : spare();
        if (used > 0) ws.solve_gamma(options.tikhonov);
        if (!in_place)
            detail::history_combine_pass<T>(XN, ws.w_ptrs(), used, ws.gamma_.data(), ws.neg_gamma_.data(), n, pol);
        // The slot of x_{k+1}: with a full history the oldest column is dropped first.
        const bool record = m > 0 && k >= options.delay;
        if (record) {
            if (!deferred && ws.mk_ == m) ws.delete_oldest();
            if (deferred && ws.mk_ + ws.pend_.size() == m) ws.drop_oldest_column();
        }
        // Deferred: the Gram block only before an extrapolation (step k + 1 extrapolates).
        const bool commit = record && deferred && (k + 2) % period == 0;
        std::size_t slot = ws.free_slot();
        keep_xk_out_of(slot);
        detail::residual_pass_sums sums = eval_pass(XN, slot, record && !deferred, commit);
        if (!std::isfinite(sums.ff)) fail(k + 1);
        double fnew = std::sqrt(sums.ff);
        bool safeguard = false, restarted = false;
        if (used > 0 && options.safeguard_factor > 0.0 && fnew > options.safeguard_factor * fk) {
            // Reject: clear the history, take the damped plain step x_{k+1} = w_k.
            safeguard = restarted = true;
            ++r.safeguard_events;
            ws.clear();
            since_restart = 0;
            slot = ws.free_slot();
            keep_xk_out_of(slot);
            detail::history_combine_pass<T>(XN, ws.w_ptrs(), 0, nullptr, nullptr, n, pol);
            sums = eval_pass(XN, slot, record && !deferred, commit);
            if (!std::isfinite(sums.ff)) fail(k + 1);
            fnew = std::sqrt(sums.ff);
        }
        if (record && deferred) {
            if (!commit) {
                ws.pend_.push_back(slot);
                ws.in_use_[slot] = 1;
            } else {
                // The chain's columns first_new..last (pending ones, then df) into R in order,
                // each with its products with the window then in R (chain columns lo..u-1).
                const std::size_t first_new = ws.mk_, last = ws.mk_ + ws.pend_.size();
                const std::size_t tt = detail::gram_block_size(last, first_new) - (last + 1);
                for (std::size_t u = first_new; u <= last; ++u) {
                    std::size_t su = slot;
                    if (u < last) {
                        su = ws.pend_.front();
                        ws.pend_.erase(ws.pend_.begin());
                    }
                    const std::size_t lo = u - ws.mk_;
                    for (std::size_t i = 0; i < ws.mk_; ++i)
                        ws.s_[i] = gram_block[detail::gram_pair_index(first_new, u, lo + i)];
                    const double dd = gram_block[detail::gram_pair_index(first_new, u, u)];
                    if (!ws.append(su, dd, 0.0)) {
                        // As at every step: the count restarts at column u (u..last - 1 were
                        // counted at their steps, last is counted below).
                        restarted = true;
                        ++r.restarts;
                        since_restart = last - u;
                    }
                }
                // Right-hand side Delta F^T f_new of the window (chain columns last + 1 - mk_ ..).
                const std::size_t lo = last + 1 - ws.mk_;
                for (std::size_t i = 0; i < ws.mk_; ++i) ws.d_[i] = gram_block[tt + lo + i];
            }
            // Periodic restart counted per recorded column at its step, as with period 1 (a
            // pending column may be dropped before it is appended).
            if (options.restart_period > 0 && ++since_restart >= options.restart_period) {
                ws.pend_.clear();
                ws.start(slot);
                since_restart = 0;
                restarted = true;
                ++r.restarts;
            }
        } else if (record) {
            if (!ws.append(slot, sums.dd, sums.dfn)) {
                restarted = true;
                ++r.restarts;
                since_restart = 0;
            }
            if (options.restart_period > 0 && ++since_restart >= options.restart_period) {
                ws.clear();
                since_restart = 0;
                restarted = true;
                ++r.restarts;
            }
        } else {
            ws.pend_.clear();
            ws.replace_newest(slot);
        }
        X = XN;
        fk = fnew;
        r.residual_norm = fk;
        ++r.iterations;
        if (options.record_history) r.history.push_back(iteration_record{k + 1, fk, used, restarted, safeguard});
    }
    if (X != x.data()) std::copy(X, X + n, x.data());
    return r;
}

/// The same with a workspace made for this call.
template <class T, class Map>
fixed_point_result anderson(Map&& G, vector_view<T> x, const anderson_options& options = {}) {
    require(options.memory >= 0 && options.memory <= anderson_max_memory, "anderson", "options.memory",
            "must be in [0, ", anderson_max_memory, "], got ", options.memory);
    require(!x.empty(), "anderson", "x", "is empty");
    anderson_workspace<T> ws(x.size(), options.memory);
    return anderson(std::forward<Map>(G), x, options, ws);
}

}  // namespace fixed_point
}  // namespace kestrel
