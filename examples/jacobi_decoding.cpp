// Jacobi decoding: the greedy output of an autoregressive model in fewer parallel rounds.
//
// A toy "corrector" model reads a source sentence and writes it out again, fixing some tokens:
// the greedy token at output position i is the source token, except where the source token is a
// multiple of 5, where it depends on the previous output token (and so, transitively, on a run of
// earlier corrections). Greedy decoding needs one model call per token; Jacobi iteration calls
// the model on a whole window of guessed tokens per round and gets the identical output in as
// many rounds as the longest dependency chain (plus one to confirm). Starting from a copy of the
// source (aggressive decoding) helps most. The same chain, written as a triangular system, is
// then solved with block GS-Jacobi (blocks of 8 positions, at most 3 Jacobi rounds per block).
#include <kestrel/fixed_point.hpp>

#include <cstdint>
#include <cstdio>
#include <vector>

namespace fp = kestrel::fixed_point;
using kestrel::matrix_view;
using kestrel::vector_view;

namespace {

constexpr std::int32_t vocab = 23;

// The model's greedy token at output position i given the previous output token.
std::int32_t corrected(std::int32_t source_token, std::int32_t previous) {
    return source_token % 5 == 0 ? (previous * 3 + source_token + 1) % vocab : source_token;
}

void print(const char* label, const std::vector<std::int32_t>& tokens) {
    std::printf("%-28s", label);
    for (std::int32_t t : tokens) std::printf(" %2d", t);
    std::printf("\n");
}

}  // namespace

int main() {
    // The source sentence; the prompt is the source followed by a separator token.
    std::vector<std::int32_t> source;
    for (std::size_t i = 0; i < 48; ++i) source.push_back(std::int32_t((i * 7 + 3 * (i / 5)) % vocab));
    const std::int32_t separator = 0;
    std::vector<std::int32_t> prompt = source;
    prompt.push_back(separator);
    const std::size_t m = prompt.size(), n = source.size();

    std::size_t calls = 0;
    // model(sequence, begin, out): out[i] is the greedy token of output position begin + i, from
    // the prompt and the output tokens before it (a causal model does this in one forward pass).
    auto model = [&](vector_view<const std::int32_t> seq, std::size_t begin, vector_view<std::int32_t> out) {
        ++calls;
        for (std::size_t i = 0; i < out.size(); ++i) {
            const std::size_t pos = begin + i;
            out[i] = corrected(seq[pos], seq[m + pos - 1]);  // seq[pos] = source token pos; seq[m - 1] = separator
        }
    };

    fp::jacobi_decoding_workspace ws;
    std::vector<std::int32_t> greedy(n), jacobi(n), aggressive(n), windowed(n);
    const auto rg = fp::greedy_decode(model, vector_view<const std::int32_t>(prompt), vector_view<std::int32_t>(greedy), ws, vocab);

    fp::jacobi_decoding_options o;
    o.vocab_size = vocab;
    const auto rj = fp::jacobi_decode(model, vector_view<const std::int32_t>(prompt), vector_view<std::int32_t>(jacobi), ws, o);

    o.init = fp::decoding_init::copy_input;
    o.source = vector_view<const std::int32_t>(source);
    const auto ra = fp::jacobi_decode(model, vector_view<const std::int32_t>(prompt), vector_view<std::int32_t>(aggressive), ws, o);

    o.window = 8;
    const auto rw = fp::jacobi_decode(model, vector_view<const std::int32_t>(prompt), vector_view<std::int32_t>(windowed), ws, o);

    print("source", source);
    print("greedy (sequential)", greedy);
    print("Jacobi (fill init)", jacobi);
    print("Jacobi (copy input)", aggressive);
    print("Jacobi (copy, window 8)", windowed);
    const bool same = greedy == jacobi && greedy == aggressive && greedy == windowed;
    std::printf("\nidentical outputs: %s\n", same ? "yes" : "NO");
    std::printf("%-28s %3zu rounds, %4zu token evaluations\n", "greedy", rg.rounds, rg.evaluations);
    std::printf("%-28s %3zu rounds, %4zu token evaluations\n", "Jacobi, fill", rj.rounds, rj.evaluations);
    std::printf("%-28s %3zu rounds, %4zu token evaluations\n", "Jacobi, copy input", ra.rounds, ra.evaluations);
    std::printf("%-28s %3zu rounds, %4zu token evaluations\n", "Jacobi, copy input, window 8", rw.rounds, rw.evaluations);

    // The same chain as a triangular system x_t = f_t(x_{t-1}), x_0 = the separator, solved by
    // block GS-Jacobi: Gauss-Seidel across blocks of 8, Jacobi inside, at most 3 rounds per block
    // (then the block is finished sequentially, so the result stays exact).
    auto eval = [&](vector_view<const std::size_t> pos, matrix_view<const std::int32_t> x, matrix_view<std::int32_t> out) {
        for (std::size_t r = 0; r < pos.size(); ++r) out(r, 0) = corrected(source[pos[r] - 1], x(pos[r] - 1, 0));
    };
    std::vector<std::int32_t> x(n + 1, 0);
    x[0] = separator;
    for (std::size_t t = 1; t <= n; ++t) x[t] = source[t - 1];  // the copy-input guess
    fp::triangular_workspace<std::int32_t> tws;
    const auto blocks = fp::block_schedule::uniform(n, 8, 3);
    const auto rb = fp::solve_gs_jacobi(eval, matrix_view<std::int32_t>(x.data(), n + 1, 1), blocks, tws);
    const std::vector<std::int32_t> hybrid(x.begin() + 1, x.end());
    print("\nGS-Jacobi (blocks of 8)", hybrid);
    std::printf("identical to greedy: %s; %zu rounds, %zu evaluations, %zu of %zu blocks finished sequentially, converged: %s\n",
                hybrid == greedy ? "yes" : "NO", rb.rounds, rb.evaluations, rb.blocks_finished_sequentially, blocks.sizes.size(),
                rb.converged ? "yes" : "no");
    return same && hybrid == greedy ? 0 : 1;
}
