// Jacobi decoding of greedy autoregressive generation (Santilli et al. 2023, "Accelerating
// Transformer Inference for Translation via Parallel Decoding", Algorithm 1; the aggressive
// decoding initialization of Ge et al. / Sun et al., "Lossless Acceleration for Seq2seq
// Generation with Aggressive Decoding": start from a copy of the input).
//
// Greedy decoding is the triangular system y_t = argmax p(. | prompt, y_1..y_{t-1}), t = 1..n.
// One call of the model on a window of guessed tokens gives the argmax at every position of the
// window (one causal forward pass does exactly that), so Jacobi iteration with freezing
// (triangular_system.hpp) produces the greedy output in at most n rounds, and in one round per
// token only when every guess is wrong. The window slides as the prefix becomes final.
//
//   model(kestrel::vector_view<const std::int32_t> sequence,  // prompt, then the current guess (n tokens)
//         std::size_t begin,                                  // first output position of the window
//         kestrel::vector_view<std::int32_t> out)             // out[i]: greedy token for output position begin + i
//
// out[i] must depend only on sequence[0, prompt.size() + begin + i) (causality) and not on what
// else the window holds; the model may return void or the number of tokens written. It runs on
// the calling thread and may throw (the exception reaches the caller). Generation has a fixed
// length n = output.size() (stop at an end token yourself by truncating the result).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "../core/view.hpp"
#include "triangular_system.hpp"

namespace kestrel {
namespace fixed_point {

/// Initial guess of the generated tokens.
enum class decoding_init {
    fill,        // every position holds fill_token
    copy_input,  // aggressive decoding: guess[t] = source[t] (the input sentence), fill_token past its end
    draft        // guess[t] = source[t] from a draft (another model, a previous answer), fill_token past its end
};

struct jacobi_decoding_options {
    decoding_init init = decoding_init::fill;
    std::int32_t fill_token = 0;
    vector_view<const std::int32_t> source;  // for copy_input and draft
    /// Positions evaluated per round (sliding as the prefix converges); 0 = all unfinished.
    std::size_t window = 0;
    /// Limit on rounds (model calls); 0 = none (at most n are needed).
    std::size_t max_rounds = 0;
    /// When > 0, every token the model returns must lie in [0, vocab_size).
    std::size_t vocab_size = 0;
};

struct jacobi_decoding_report {
    std::size_t rounds = 0;       // model calls
    std::size_t evaluations = 0;  // token positions evaluated, summed over rounds
    std::size_t tokens = 0;       // n
    /// final_round[t]: the round after which output token t was final, or triangular_report::never.
    std::vector<std::size_t> final_round;
    bool converged = false;  // the output is the greedy output (false only when max_rounds was hit)
};

/// Workspace of jacobi_decode / greedy_decode: the prompt-and-guess sequence and the model output.
struct jacobi_decoding_workspace {
    std::vector<std::int32_t> sequence;
    triangular_workspace<std::int32_t> solver;
};

namespace detail {

template <class Model>
auto decoding_eval(Model& model, const char* fn, std::size_t prompt_len) {
    return [&model, fn, prompt_len](vector_view<const std::size_t> pos, matrix_view<const std::int32_t> seq,
                                    matrix_view<std::int32_t> out) {
        // The engine evaluates contiguous increasing positions; sequence rows are single tokens.
        const vector_view<const std::int32_t> s(seq.data(), seq.rows());
        const vector_view<std::int32_t> o(out.data(), out.rows());
        using R = decltype(model(s, std::size_t(0), o));
        if constexpr (std::is_void_v<R>) {
            model(s, pos[0] - prompt_len, o);
        } else {
            static_assert(std::is_integral_v<R>, "the model returns void or the number of tokens written");
            const R r = model(s, pos[0] - prompt_len, o);
            require(r >= R(0) && static_cast<std::size_t>(r) == o.size(), fn, "model", "returned ", r, " tokens for a window of ",
                    o.size(), " (output position ", pos[0] - prompt_len, ")");
        }
    };
}

template <class Model>
jacobi_decoding_report decode(const char* fn, Model& model, vector_view<const std::int32_t> prompt,
                              vector_view<std::int32_t> output, const jacobi_decoding_options& o,
                              jacobi_decoding_workspace& ws, bool sequential) {
    const std::size_t m = prompt.size(), n = output.size();
    require(n >= 1, fn, "output", "must hold at least one token");
    require(o.init == decoding_init::fill || o.init == decoding_init::copy_input || o.init == decoding_init::draft, fn,
            "options.init", "is not a decoding_init (", static_cast<int>(o.init), ")");
    require(o.source.data() != nullptr || o.source.size() == 0, fn, "options.source", "null pointer");
    if (o.vocab_size > 0) {
        const auto in_vocab = [&](std::int32_t v) { return v >= 0 && static_cast<std::size_t>(v) < o.vocab_size; };
        for (std::size_t i = 0; i < m; ++i)
            require(in_vocab(prompt[i]), fn, "prompt", "token ", i, " = ", prompt[i], " outside [0, ", o.vocab_size, ")");
        if (!sequential) {
            require(in_vocab(o.fill_token), fn, "options.fill_token", "is ", o.fill_token, ", outside [0, ", o.vocab_size, ")");
            if (o.init != decoding_init::fill)
                for (std::size_t i = 0; i < std::min(n, o.source.size()); ++i)
                    require(in_vocab(o.source[i]), fn, "options.source", "token ", i, " = ", o.source[i], " outside [0, ",
                            o.vocab_size, ")");
        }
    }
    const std::size_t len = checked_sum(m, n, fn, "output");
    ws.sequence.resize(len);
    std::copy(prompt.begin(), prompt.end(), ws.sequence.begin());
    for (std::size_t t = 0; t < n; ++t)
        ws.sequence[m + t] = (o.init != decoding_init::fill && t < o.source.size()) ? o.source[t] : o.fill_token;

    triangular_options topt;
    topt.window = sequential ? 1 : o.window;
    topt.max_rounds = o.max_rounds;
    topt.policy = exec_policy::serial();
    auto eval = decoding_eval(model, fn, m);
    const std::size_t vocab = o.vocab_size;
    const matrix_view<std::int32_t> x(ws.sequence.data(), len, 1);
    const triangular_report r = solve_blocks(
        fn, eval, x, m, {n}, {std::numeric_limits<std::size_t>::max()}, block_limit_action::finish_sequentially, topt,
        ws.solver,
        [vocab](const std::int32_t* y, std::size_t) {
            return vocab == 0 || (*y >= 0 && static_cast<std::size_t>(*y) < vocab);
        },
        [&](std::size_t t, const std::int32_t* y) {
            fail_argument(fn, "model", "returned token ", *y, " outside [0, ", vocab, ") at output position ", t - m);
        });
    std::copy(ws.sequence.begin() + static_cast<std::ptrdiff_t>(m), ws.sequence.end(), output.begin());
    jacobi_decoding_report rep;
    rep.rounds = r.rounds;
    rep.evaluations = r.evaluations;
    rep.tokens = n;
    rep.final_round.assign(r.final_round.begin() + static_cast<std::ptrdiff_t>(m), r.final_round.end());
    rep.converged = r.converged;
    return rep;
}

}  // namespace detail

/// Greedy generation of output.size() tokens after `prompt` by Jacobi iteration. `output` receives
/// the tokens; when the report says converged they are exactly the sequential greedy tokens.
/// When the limit is hit, output holds the last iterate (tokens t with final_round[t] != never are exact).
template <class Model>
jacobi_decoding_report jacobi_decode(Model&& model, vector_view<const std::int32_t> prompt,
                                     vector_view<std::int32_t> output, jacobi_decoding_workspace& ws,
                                     const jacobi_decoding_options& options = {}) {
    return detail::decode("jacobi_decode", model, prompt, output, options, ws, false);
}

/// The sequential reference: one model call per token (window of one).
template <class Model>
jacobi_decoding_report greedy_decode(Model&& model, vector_view<const std::int32_t> prompt,
                                     vector_view<std::int32_t> output, jacobi_decoding_workspace& ws,
                                     std::size_t vocab_size = 0) {
    jacobi_decoding_options o;
    o.vocab_size = vocab_size;
    return detail::decode("greedy_decode", model, prompt, output, o, ws, true);
}

}  // namespace fixed_point
}  // namespace kestrel
