// What every verifier of a batch takes and returns: the drafted tokens, the options, the
// outputs and their statistics, and the checks they share.
//
// Outputs are written only after every request of the batch has been verified: an error
// (bad input found in a row the verifier reads, a callback of the uniform source that
// throws) leaves every output untouched.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/view.hpp"
#include "randomness.hpp"
#include "rows.hpp"
#include "sampling_params.hpp"

namespace kestrel {
namespace speculative {

/// The drafted tokens of a batch.
struct draft_batch {
    matrix_view<const std::int32_t> tokens;     ///< [batch][max_draft]: row b holds request b's drafts
    vector_view<const std::uint32_t> lengths;   ///< [batch]: draft length of request b (<= tokens.cols())
    vector_view<const std::uint64_t> request_ids;  ///< [batch]: names the request's random stream
    vector_view<const std::uint64_t> positions;    ///< [batch]: absolute position of drafted token 0
};

struct verify_options {
    /// Temperature of the law read from logit rows, for both models (probability rows are used
    /// as given). 0 = greedy: a drafted token is kept iff it is the target's argmax (ties: the
    /// lowest id), and the correction or bonus is that argmax.
    double temperature = 1.0;
    /// Filters applied after the temperature, in this order, to the target rows and to the
    /// draft rows alike (the draft must have been sampled with the same filters): top-k
    /// (0 = off), top-p in (0, 1] (1 = off), min-p in [0, 1] (0 = off). See
    /// sampling_params.hpp for their meaning and the tie rule. With a filter on, every row
    /// the verifier uses is read in full (the kept set needs the whole row) and
    /// log_normalizers are not read.
    std::size_t top_k = 0;
    double top_p = 1.0;
    double min_p = 0.0;
    sampling_filters filters() const noexcept { return {top_k, top_p, min_p}; }
    /// When every drafted token is kept, emit a bonus token from the target row after them.
    /// false lets a caller verify a request in chunks (PEARL): the next chunk continues.
    bool emit_bonus = true;
    /// |sum - 1| allowed for a probability row Kestrel reads in full.
    double row_sum_tolerance = default_row_sum_tolerance;
    exec_policy policy = {};
};

/// Per-request statistics (independent of threads and batch composition).
struct request_stats {
    std::uint32_t accepted = 0;  ///< drafted tokens kept
    std::uint32_t emitted = 0;   ///< tokens written: accepted + 1, or accepted if no bonus was asked for
    /// Positions whose accept test passes, each with its own uniform, ignoring earlier
    /// rejections (draft/target alignment, as FlashInfer reports it). Counted where p(x) and
    /// q(x) are known without reading more rows: probability rows, or logits with normalizers.
    std::uint32_t independent_accepts = 0;
    std::uint32_t residual_fallbacks = 0;  ///< rejections whose residual was 0 in double: drawn from p instead
};

/// Where a verifier writes. `tokens` row b receives request b's emitted tokens (at most
/// max_draft + 1 columns are written). accept_flags, if given ([batch][>= max_draft]), gets
/// 1 for a kept drafted token, 0 for the rejected one, and is left alone after it.
struct verify_outputs {
    matrix_view<std::int32_t> tokens;
    vector_view<request_stats> stats;
    matrix_view<std::uint8_t> accept_flags = {};
};

namespace detail {

/// The outputs every batch verifier shares: stats [batch], tokens [batch][>= longest + 1],
/// accept_flags empty or [batch][>= longest].
template <class Outputs>
void check_output_shapes(const char* fn, const Outputs& out, std::size_t batch, std::size_t longest) {
    require(out.stats.size() == batch, fn, "outputs.stats", "size ", out.stats.size(), " does not match the batch (",
            batch, ")");
    require(out.tokens.rows() == batch && out.tokens.cols() >= longest + 1, fn, "outputs.tokens", "must be at least ",
            batch, " x ", longest + 1, ", got ", out.tokens.rows(), " x ", out.tokens.cols());
    require(out.accept_flags.data() == nullptr ||
                (out.accept_flags.rows() == batch && out.accept_flags.cols() >= longest),
            fn, "outputs.accept_flags", "must be empty or at least ", batch, " x ", longest);
}

/// Shape checks shared by the batch verifiers; returns the longest draft.
template <class T>
std::size_t check_batch(const char* fn, const token_rows<T>& target, const token_rows<T>* draft,
                        const draft_batch& d, const verify_outputs& out, const verify_options& opt,
                        std::size_t target_extra_rows) {
    require_valid_policy(opt.policy, fn);
    require(std::isfinite(opt.temperature) && opt.temperature >= 0.0, fn, "options.temperature",
            "must be finite and >= 0, got ", opt.temperature);
    require(std::isfinite(opt.row_sum_tolerance) && opt.row_sum_tolerance >= 0.0 && opt.row_sum_tolerance < 1.0, fn,
            "options.row_sum_tolerance", "must lie in [0, 1), got ", opt.row_sum_tolerance);
    check_filters(opt.filters(), 0, fn);
    const std::size_t batch = d.lengths.size();
    require(d.tokens.rows() == batch, fn, "drafts.tokens", "has ", d.tokens.rows(), " rows for a batch of ", batch);
    require(d.request_ids.size() == batch, fn, "drafts.request_ids", "size ", d.request_ids.size(),
            " does not match the batch (", batch, ")");
    require(d.positions.size() == batch, fn, "drafts.positions", "size ", d.positions.size(),
            " does not match the batch (", batch, ")");
    std::size_t longest = 0;
    for (std::size_t b = 0; b < batch; ++b) {
        const std::size_t k = d.lengths[b];
        if (k > d.tokens.cols())
            fail_argument(fn, "drafts.lengths", "request ", b, ": draft length ", k, " exceeds the token columns (",
                          d.tokens.cols(), ")");
        if (d.positions[b] >= max_position || k + 1 > max_position - d.positions[b])
            fail_argument(fn, "drafts.positions", "request ", b, ": position ", d.positions[b], " beyond 2^40");
        longest = k > longest ? k : longest;
    }
    for (std::size_t b = 0; b < batch; ++b) {
        const std::size_t k = d.lengths[b];
        if (k + target_extra_rows > target.positions)
            fail_argument(fn, "target", "request ", b, ", position ", target.positions, ": draft length ", k, " needs ",
                          k + target_extra_rows, " target rows per request, the rows hold ", target.positions);
        if (draft && draft->present() && k > draft->positions)
            fail_argument(fn, "draft", "request ", b, ", position ", draft->positions, ": draft length ", k,
                          " needs ", k, " draft rows per request, the rows hold ", draft->positions);
    }
    check_rows_shape(target, fn, "target", batch, longest + target_extra_rows);
    if (draft && draft->present()) {
        check_rows_shape(*draft, fn, "draft", batch, longest);
        require(draft->vocab == target.vocab, fn, "draft", "vocab ", draft->vocab, " differs from the target's (",
                target.vocab, ")");
    }
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t i = 0; i < d.lengths[b]; ++i) {
            const std::int32_t x = d.tokens(b, i);
            if (x < 0 || static_cast<std::size_t>(x) >= target.vocab)
                fail_argument(fn, "drafts.tokens", "request ", b, ", position ", i, ": token id ", x,
                              " outside [0, ", target.vocab, ")");
        }
    check_output_shapes(fn, out, batch, longest);
    return longest;
}

/// A request's result before it is copied out.
struct request_result {
    std::vector<std::int32_t> tokens;
    std::vector<std::uint8_t> flags;
    request_stats stats;
};

inline void write_results(const std::vector<request_result>& results, const verify_outputs& out) {
    for (std::size_t b = 0; b < results.size(); ++b) {
        const auto& r = results[b];
        for (std::size_t j = 0; j < r.tokens.size(); ++j) out.tokens(b, j) = r.tokens[j];
        out.stats[b] = r.stats;
        if (out.accept_flags.data())
            for (std::size_t j = 0; j < r.flags.size(); ++j) out.accept_flags(b, j) = r.flags[j];
    }
}

}  // namespace detail

namespace detail {

/// Per-thread scratch of float logit rows: the chunk shifts of a request's laws, and the kept
/// exponentials of the rows a residual pass may read again (chain.hpp, block.hpp).
struct float_row_scratch {
    std::vector<float> shifts;
    std::vector<float> exps;
};

/// Rows longer than this recompute their exponentials in the residual pass instead of keeping
/// them (4 MiB per kept row).
inline constexpr std::size_t max_kept_exps = std::size_t(1) << 20;

}  // namespace detail

/// Reusable scratch of the batch verifiers (keeps allocations out of repeated calls).
struct verify_workspace {
    std::vector<detail::request_result> results;
    std::vector<std::vector<double>> chunk_sums;  // per thread slot
    std::vector<sampling_workspace> filters;      // per thread slot (sampling filters)
    std::vector<detail::float_row_scratch> float_rows;  // per thread slot (float logit rows)
};

}  // namespace speculative
}  // namespace kestrel
