// Parallel evaluation of a sequential (triangular, feedforward) computation
//
//   x_t = f_t(x_0, ..., x_{t-1}),  t = 1..T,  x_0 given,
//
// by nonlinear Jacobi and Gauss-Seidel iteration (Song, Meng, Liao & Ermon 2021, "Accelerating
// Feedforward Computation via Parallel Nonlinear Equation Solving", Algorithms 1-3) and by the
// block hybrid GS-Jacobi of "Accelerate TarFlow Sampling with GS-Jacobi Iteration" (Gauss-Seidel
// across blocks, Jacobi inside a block, a per-block limit on Jacobi rounds).
//
// The state of a position is a row of `width` values of type V: float or double (continuous
// states) or an integer type (discrete states, e.g. tokens). x is a (T + 1) x width matrix_view:
// row 0 holds x_0 (read only); rows 1..T hold the initial guess on entry and the result on exit.
//
// The user callback evaluates a SET of positions in one call, so that it can batch them on its
// own hardware (a GPU batch, a thread pool, kestrel::parallel_for):
//
//   eval(kestrel::vector_view<const std::size_t> positions,   // increasing, contiguous
//        kestrel::matrix_view<const V> x,                     // the current iterate, T + 1 rows
//        kestrel::matrix_view<V> out)                         // positions.size() x width
//
// Row r of `out` must become f_{positions[r]}(x_0, ..., x_{positions[r]-1}) read from `x`. The
// callback may return void, or the number of rows it wrote (anything but positions.size() is an
// error). It must evaluate a position the same way whatever else is in the batch (then exact mode
// reproduces sequential evaluation bit for bit). It is called on the calling thread; it may throw,
// and the exception reaches the caller (x then holds the last completed iterate).
//
// Convergence. A position's new value y_t is "unchanged" when every element satisfies
// |y_t - x_t| <= atol + rtol |y_t| (atol = rtol = 0, the default, is exact equality; integer
// states are always compared exactly). Freezing (Song et al., Prop. 1): at round k the solver
// keeps the first unfinished position p; y_p was computed from final inputs, so it is final;
// position q > p is final after the round if positions p..q-1 were all unchanged in it (then
// y_q was computed from final inputs too). Final positions are never evaluated again. Each round
// makes at least one more position final, so Jacobi reaches the exact sequential result in at
// most T rounds (exact mode); with a tolerance, "final" means final within the tolerance.
//
// Rounds = callback calls (the sequential depth on parallel hardware); evaluations = positions
// evaluated in total (the work). A dependency structure of depth D (every x_t reachable from x_0
// through at most D applications of the f's) converges in D rounds when only position T has depth
// D and the guess is wrong everywhere, otherwise in D + 1 rounds (the last one confirms that the
// depth-D values no longer change); plain sequential evaluation (Gauss-Seidel) takes T rounds.
//
// Errors. Arguments are checked before anything is written. An output row with NaN or inf (or a
// wrong row count) raises kestrel::invalid_argument naming the position, before that round's
// outputs are used: x then holds the previous round's iterate (for Gauss-Seidel, positions before
// the refused one are already written).
//
// A run that hits options.max_rounds stops with converged = false; x then holds the last iterate,
// whose positions with final_round[t] != never are exact (or within tolerance).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/view.hpp"

namespace kestrel {
namespace fixed_point {

/// What the block hybrid does when a block reaches its limit of Jacobi rounds unfinished.
enum class block_limit_action {
    /// Evaluate the block's unfinished positions one at a time (Gauss-Seidel): the result stays
    /// exact and `converged` can still be true; the block is counted in blocks_finished_sequentially.
    finish_sequentially,
    /// Keep the block's last Jacobi iterate and go on (the TarFlow paper's fixed iteration budget):
    /// the result is approximate, `converged` is false, and no later position is marked final.
    accept_iterate
};

struct triangular_options {
    /// Exact equality by default; a tolerance for continuous states (ignored for integer states,
    /// which must leave both at 0).
    double atol = 0.0, rtol = 0.0;
    /// Limit on rounds (callback calls) over the whole run; 0 = none (Jacobi needs at most T).
    std::size_t max_rounds = 0;
    /// Jacobi evaluates at most this many unfinished positions per round (a window that slides
    /// as the prefix becomes final); 0 = all unfinished positions (of the block, for the hybrid).
    std::size_t window = 0;
    /// Threads of the solver's own loops (comparisons, copies, checks); the callback's
    /// parallelism is the callback's.
    exec_policy policy{};
};

/// Block partition for the GS-Jacobi hybrid: block b covers `sizes[b]` consecutive positions
/// (the sizes sum to T) and may use at most `max_rounds[b]` Jacobi rounds (>= 1).
struct block_schedule {
    std::vector<std::size_t> sizes;
    std::vector<std::size_t> max_rounds;
    block_limit_action on_limit = block_limit_action::finish_sequentially;

    /// Blocks of `block` positions (the last one shorter), each allowed `rounds` Jacobi rounds.
    static block_schedule uniform(std::size_t T, std::size_t block, std::size_t rounds,
                                  block_limit_action action = block_limit_action::finish_sequentially) {
        require(block >= 1, "block_schedule::uniform", "block", "must be >= 1, got ", block);
        block_schedule s;
        s.on_limit = action;
        for (std::size_t b = 0; b < T; b += block) {
            s.sizes.push_back(std::min(block, T - b));
            s.max_rounds.push_back(rounds);
        }
        return s;
    }
};

struct triangular_report {
    static constexpr std::size_t never = std::numeric_limits<std::size_t>::max();
    std::size_t rounds = 0;       // callback calls
    std::size_t evaluations = 0;  // positions evaluated, summed over rounds
    /// final_round[t]: the round after which x_t was final (0 for the given rows), or `never`.
    std::vector<std::size_t> final_round;
    bool converged = false;                       // every position final, no limit hit
    bool hit_round_limit = false;                 // stopped by options.max_rounds
    std::size_t blocks_finished_sequentially = 0; // hybrid: blocks that reached their limit
    std::size_t blocks_accepted_unconverged = 0;  // hybrid with accept_iterate
};

/// Scratch of the solvers; keep it across calls to avoid allocation.
template <class V>
struct triangular_workspace {
    std::vector<V> out;                    // the callback's output rows
    std::vector<std::size_t> positions;    // the positions of a round
    std::vector<unsigned char> changed;    // per evaluated row: 1 changed, 2 rejected
};

namespace detail {

template <class V>
inline constexpr bool continuous_state = std::is_floating_point_v<V>;

// Below this many elements the solver's own loops stay on the calling thread.
inline constexpr std::size_t triangular_parallel_elements = std::size_t(1) << 14;

inline exec_policy small_work_policy(exec_policy p, std::size_t elements) {
    return elements < triangular_parallel_elements ? exec_policy::serial() : p;
}

template <class V>
bool row_unchanged(const V* y, const V* x, std::size_t w, double atol, double rtol) noexcept {
    if constexpr (continuous_state<V>) {
        for (std::size_t j = 0; j < w; ++j) {
            const double d = std::fabs(double(y[j]) - double(x[j]));
            if (!(d <= atol + rtol * std::fabs(double(y[j])))) return false;
        }
        return true;
    } else {
        (void)atol;
        (void)rtol;
        for (std::size_t j = 0; j < w; ++j)
            if (y[j] != x[j]) return false;
        return true;
    }
}

template <class V>
bool row_finite(const V* y, std::size_t w) noexcept {
    if constexpr (continuous_state<V>) {
        for (std::size_t j = 0; j < w; ++j)
            if (!(y[j] - y[j] == V(0))) return false;
    } else {
        (void)y;
        (void)w;
    }
    return true;
}

/// Calls eval and checks the count it returns (if any).
template <class Eval, class V>
void call_eval(Eval& eval, const char* fn, vector_view<const std::size_t> pos, matrix_view<const V> x,
               matrix_view<V> out) {
    using R = decltype(eval(pos, x, out));
    if constexpr (std::is_void_v<R>) {
        eval(pos, x, out);
    } else {
        static_assert(std::is_integral_v<R>, "the callback returns void or the number of rows it wrote");
        const R r = eval(pos, x, out);
        require(r >= R(0) && static_cast<std::size_t>(r) == pos.size(), fn, "eval", "returned ", r,
                " rows for ", pos.size(), " positions (first position ", pos.size() ? pos[0] : 0, ")");
    }
}

/// Checks of the shared entry points: shape, tolerances, options, the iterate's finiteness.
template <class V>
void validate_triangular(const char* fn, matrix_view<V> x, std::size_t first, const triangular_options& o) {
    require_valid_policy(o.policy, fn);
    require(x.rows() > first, fn, "x", "needs at least one position to compute (T >= 1): ", x.rows(),
            " rows with ", first, " given");
    require(x.cols() >= 1, fn, "x", "state width must be >= 1, got ", x.cols());
    require(std::isfinite(o.atol) && o.atol >= 0, fn, "options.atol", "must be finite and >= 0, got ", o.atol);
    require(std::isfinite(o.rtol) && o.rtol >= 0, fn, "options.rtol", "must be finite and >= 0, got ", o.rtol);
    if constexpr (!continuous_state<V>)
        require(o.atol == 0 && o.rtol == 0, fn, "options.atol", "integer states are compared exactly: atol and rtol must be 0");
    if constexpr (continuous_state<V>) {
        for (std::size_t r = 0; r < x.rows(); ++r)
            require(row_finite(x.row_data(r), x.cols()), fn, "x", "row ", r,
                    r < first ? " (given) contains NaN or inf" : " (initial guess) contains NaN or inf");
    }
}

inline void validate_blocks(const char* fn, const block_schedule& b, std::size_t T) {
    require(!b.sizes.empty(), fn, "blocks.sizes", "is empty");
    require(b.max_rounds.size() == b.sizes.size(), fn, "blocks.max_rounds", "has ", b.max_rounds.size(),
            " entries for ", b.sizes.size(), " blocks");
    require(b.on_limit == block_limit_action::finish_sequentially || b.on_limit == block_limit_action::accept_iterate, fn,
            "blocks.on_limit", "is not a block_limit_action (", static_cast<int>(b.on_limit), ")");
    std::size_t total = 0;
    for (std::size_t i = 0; i < b.sizes.size(); ++i) {
        require(b.sizes[i] >= 1, fn, "blocks.sizes", "block ", i, " is empty");
        require(b.max_rounds[i] >= 1, fn, "blocks.max_rounds", "block ", i, " allows 0 rounds");
        require(b.sizes[i] <= T - total, fn, "blocks.sizes", "blocks cover more than T = ", T, " positions (block ", i, ")");
        total += b.sizes[i];
    }
    require(total == T, fn, "blocks.sizes", "blocks cover ", total, " positions, T = ", T);
}

/// The engine: blocks [first + offset_b, ...) of x's rows, Jacobi rounds inside a block (at most
/// `window` positions per round; 0 = the whole unfinished block), Gauss-Seidel across blocks.
/// `check(row_pointer, position)` returns false for an output row the caller must refuse;
/// `refuse(position, row_pointer)` raises the error (it must throw or abort).
template <class V, class Eval, class Check, class Refuse>
triangular_report solve_blocks(const char* fn, Eval& eval, matrix_view<V> x, std::size_t first,
                               const std::vector<std::size_t>& sizes, const std::vector<std::size_t>& limits,
                               block_limit_action action, const triangular_options& opt, triangular_workspace<V>& ws,
                               Check&& check, Refuse&& refuse) {
    constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();
    const std::size_t n = x.rows(), w = x.cols();
    triangular_report rep;
    rep.final_round.assign(n, triangular_report::never);
    for (std::size_t r = 0; r < first; ++r) rep.final_round[r] = 0;
    const std::size_t window = opt.window == 0 ? unlimited : opt.window;
    const std::size_t max_batch = std::min(window, *std::max_element(sizes.begin(), sizes.end()));
    ws.out.resize(checked_product(max_batch, w, fn, "x"));
    ws.positions.resize(max_batch);
    ws.changed.resize(max_batch);
    const matrix_view<const V> xc(x);
    bool exact = true;  // false once a block was accepted unconverged

    auto limit_hit = [&] { return opt.max_rounds != 0 && rep.rounds >= opt.max_rounds; };

    // One round over positions [p, q): evaluate, check, compare, copy; returns the new p.
    auto round = [&](std::size_t p, std::size_t q) -> std::size_t {
        const std::size_t count = q - p;
        for (std::size_t r = 0; r < count; ++r) ws.positions[r] = p + r;
        const matrix_view<V> out(ws.out.data(), count, w);
        call_eval(eval, fn, vector_view<const std::size_t>(ws.positions.data(), count), xc, out);
        ++rep.rounds;
        rep.evaluations += count;
        const exec_policy pol = small_work_policy(opt.policy, count * w);
        parallel_for(count, pol, [&](std::size_t r) {
            const V* y = out.row_data(r);
            ws.changed[r] = !check(y, p + r) ? 2 : row_unchanged(y, x.row_data(p + r), w, opt.atol, opt.rtol) ? 0 : 1;
        });
        for (std::size_t r = 0; r < count; ++r)
            if (ws.changed[r] == 2) refuse(p + r, out.row_data(r));  // before anything is written
        std::size_t np = p + 1;
        while (np < q && ws.changed[np - 1 - p] == 0) ++np;
        parallel_for(count, pol, [&](std::size_t r) {
            std::copy(out.row_data(r), out.row_data(r) + w, x.row_data(p + r));
        });
        if (exact)
            for (std::size_t t = p; t < np; ++t) rep.final_round[t] = rep.rounds;
        return np;
    };

    std::size_t p = first, begin = first;
    for (std::size_t b = 0; b < sizes.size(); ++b) {
        const std::size_t end = begin + sizes[b];
        std::size_t used = 0;
        while (p < end) {
            if (limit_hit()) {
                rep.hit_round_limit = true;
                return rep;
            }
            if (used == limits[b]) {
                if (action == block_limit_action::finish_sequentially) {
                    ++rep.blocks_finished_sequentially;
                    while (p < end) {
                        if (limit_hit()) {
                            rep.hit_round_limit = true;
                            return rep;
                        }
                        p = round(p, p + 1);
                    }
                } else {
                    ++rep.blocks_accepted_unconverged;
                    exact = false;
                    p = end;
                }
                break;
            }
            p = round(p, std::min(end, window >= end - p ? end : p + window));
            ++used;
        }
        begin = end;
    }
    rep.converged = exact;
    return rep;
}

template <class V>
struct triangular_checks {
    std::size_t w;
    bool operator()(const V* y, std::size_t) const noexcept { return row_finite(y, w); }
};
}  // namespace detail

/// Jacobi iteration (Song et al. 2021, Algorithm 1, with freezing): every round evaluates all
/// unfinished positions (or the first options.window of them) from the previous iterate.
template <class V, class Eval>
triangular_report solve_jacobi(Eval&& eval, matrix_view<V> x, triangular_workspace<V>& ws,
                               const triangular_options& options = {}) {
    const char* fn = "solve_jacobi";
    detail::validate_triangular(fn, x, 1, options);
    const std::size_t T = x.rows() - 1;
    const std::size_t w = x.cols();
    return detail::solve_blocks(fn, eval, x, 1, {T}, {std::numeric_limits<std::size_t>::max()},
                                block_limit_action::finish_sequentially, options, ws,
                                detail::triangular_checks<V>{w}, [&](std::size_t t, const V*) {
                                    fail_argument(fn, "eval", "returned NaN or inf for position ", t);
                                });
}

/// Gauss-Seidel: sequential evaluation, one position per round (T rounds, T evaluations); the
/// reference the other solvers reproduce. options.window is ignored.
template <class V, class Eval>
triangular_report solve_gauss_seidel(Eval&& eval, matrix_view<V> x, triangular_workspace<V>& ws,
                                     const triangular_options& options = {}) {
    const char* fn = "solve_gauss_seidel";
    detail::validate_triangular(fn, x, 1, options);
    triangular_options o = options;
    o.window = 1;
    const std::size_t T = x.rows() - 1;
    return detail::solve_blocks(fn, eval, x, 1, {T}, {std::numeric_limits<std::size_t>::max()},
                                block_limit_action::finish_sequentially, o, ws, detail::triangular_checks<V>{x.cols()},
                                [&](std::size_t t, const V*) { fail_argument(fn, "eval", "returned NaN or inf for position ", t); });
}

/// Block GS-Jacobi hybrid ("Accelerate TarFlow Sampling with GS-Jacobi Iteration"): blocks in
/// order (Gauss-Seidel across blocks), Jacobi rounds with freezing inside a block, at most
/// blocks.max_rounds[b] rounds for block b; then blocks.on_limit decides (see block_limit_action).
/// Blocks of size 1 give Gauss-Seidel; one block of size T with an unreachable limit gives Jacobi.
template <class V, class Eval>
triangular_report solve_gs_jacobi(Eval&& eval, matrix_view<V> x, const block_schedule& blocks,
                                  triangular_workspace<V>& ws, const triangular_options& options = {}) {
    const char* fn = "solve_gs_jacobi";
    detail::validate_triangular(fn, x, 1, options);
    detail::validate_blocks(fn, blocks, x.rows() - 1);
    return detail::solve_blocks(fn, eval, x, 1, blocks.sizes, blocks.max_rounds, blocks.on_limit, options, ws,
                                detail::triangular_checks<V>{x.cols()},
                                [&](std::size_t t, const V*) { fail_argument(fn, "eval", "returned NaN or inf for position ", t); });
}

}  // namespace fixed_point
}  // namespace kestrel
