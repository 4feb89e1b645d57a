// Typical acceptance on a token tree (Medusa, Cai et al. 2024, section 3.3.1, and its public
// code's evaluate_posterior): the form Medusa actually runs, over the candidate tree its heads
// propose. NOT distribution-preserving (see typical.hpp): no draft law, no uniforms for the
// acceptance itself.
//
// Trees, rows and outputs as in tree.hpp (target row (b, v) = the target's law after the path
// to v; draft rows are not used; sibling tokens may repeat). A node v >= 1 with parent u passes
// when the typical test of typical.hpp holds for its token against row u:
//   p_u(x_v) > min(epsilon, delta exp(-H_u))      (temperature > 0)
//   x_v = argmax p_u (ties: lowest id)             (temperature 0)
// A node is kept when it and every ancestor pass. The accepted path ends at the deepest kept
// node; among kept nodes of that depth, the largest likelihood sum of log p along the path
// (Medusa's rule for candidates of equal accepted length; temperature 0: none needed, the
// smallest node id), then the smallest node id. The next token comes from the end node's row:
// its argmax, or with sample_correction a draw from it (purpose::bonus if the end node is a
// leaf, purpose::residual otherwise, at absolute position trees.positions[b] + depth).
//
// Cost: the rows of kept nodes (and the root) are read in full for the entropy; rows of nodes
// below a failed node are never read.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tree.hpp"
#include "typical.hpp"

namespace kestrel {
namespace speculative {

namespace detail {

template <class T, class Source>
void tree_typical_request(const char* fn, const token_rows<T>& target, const tree_batch& t, std::size_t b,
                          const typical_options& topt, const verify_options& opt, const Source& uniforms,
                          sibling_scratch& s, request_result& res, std::vector<std::int32_t>& path) {
    const std::uint64_t req = t.request_ids[b], pos0 = t.positions[b];
    const bool greedy = opt.temperature == 0.0;
    const law_reader<T> rd = make_reader<T>(fn, b, opt, s);
    const std::size_t n = t.sizes[b];
    res.tokens.clear();
    res.flags.clear();
    res.stats = request_stats{};
    path.clear();
    build_children(t, b, s);

    // Per node: depth (s.ids), log-likelihood of its path (s.px), kept flag (s.order: 1 = kept).
    s.ids.assign(n, 0);
    s.px.assign(n, 0.0);
    s.order.assign(n, 0);
    s.order[0] = 1;
    std::size_t best = 0;
    // Parents precede children, so one pass in node order sees every parent's verdict first;
    // the children of a kept node are judged together against its row (read once).
    for (std::size_t u = 0; u < n; ++u) {
        const std::size_t c0 = s.offsets[u], c1 = s.offsets[u + 1];
        if (!s.order[u] || c0 == c1) continue;
        if (greedy) {
            const std::size_t a = rd.argmax(target, u, "target");
            for (std::size_t c = c0; c < c1; ++c) {
                const std::size_t v = s.children[c];
                s.order[v] = static_cast<std::size_t>(t.tokens(b, v)) == a ? 1 : 0;
                s.ids[v] = s.ids[u] + 1;
            }
        } else {
            const row_law<T> P = rd.law(target, u, "target");
            const double h = typical_entropy(rd, P, u);
            const double a = topt.delta * std::exp(-h);
            const double threshold = topt.epsilon < a ? topt.epsilon : a;
            for (std::size_t c = c0; c < c1; ++c) {
                const std::size_t v = s.children[c];
                const double pv = rd.value(P, static_cast<std::size_t>(t.tokens(b, v)), u, "target", false);
                s.order[v] = pv > threshold ? 1 : 0;
                s.ids[v] = s.ids[u] + 1;
                s.px[v] = s.px[u] + std::log(pv);
            }
        }
        for (std::size_t c = c0; c < c1; ++c) {
            const std::size_t v = s.children[c];
            if (!s.order[v]) continue;
            // Children come after their parent, in increasing id within a parent; an equal
            // (depth, likelihood) keeps the smaller id seen first.
            if (s.ids[v] > s.ids[best] || (s.ids[v] == s.ids[best] && s.px[v] > s.px[best]) ||
                (s.ids[v] == s.ids[best] && s.px[v] == s.px[best] && v < best))
                best = v;
        }
    }

    for (std::size_t v = best; v != 0; v = static_cast<std::size_t>(t.parents(b, v)))
        path.push_back(static_cast<std::int32_t>(v));
    std::reverse(path.begin(), path.end());
    for (auto v : path) res.tokens.push_back(t.tokens(b, static_cast<std::size_t>(v)));
    res.stats.accepted = static_cast<std::uint32_t>(path.size());

    const bool leaf = s.offsets[best] == s.offsets[best + 1];
    if (!leaf || opt.emit_bonus) {
        std::size_t y;
        if (greedy || !topt.sample_correction) {
            y = rd.argmax(target, best, "target");
            if (!greedy) (void)rd.law(target, best, "target");  // logits: refuse a row with NaN or inf
        } else {
            const row_law<T> P = rd.law(target, best, "target");
            const purpose use = leaf ? purpose::bonus : purpose::residual;
            y = draw_from_target(rd, P, best, uniforms(uniform_key{req, pos0 + path.size(), use, 0}), s.sums);
        }
        res.tokens.push_back(static_cast<std::int32_t>(y));
    }
    res.stats.emitted = static_cast<std::uint32_t>(res.tokens.size());
}

}  // namespace detail

/// Typical acceptance over a batch of token trees with a caller-chosen uniform source (used
/// only with sample_correction). Outputs as in verify_tree; independent_accepts stays 0.
template <class T, class Source>
void verify_tree_typical_with(const token_rows<T>& target, const tree_batch& trees, const Source& uniforms,
                              const tree_outputs& out, const typical_options& topt = {},
                              const verify_options& opt = {}, multi_draft_workspace* workspace = nullptr) {
    const char* fn = "verify_tree_typical";
    require(std::isfinite(topt.epsilon) && topt.epsilon >= 0.0, fn, "typical.epsilon", "must be finite and >= 0, got ",
            topt.epsilon);
    require(std::isfinite(topt.delta) && topt.delta >= 0.0, fn, "typical.delta", "must be finite and >= 0, got ",
            topt.delta);
    detail::check_sibling_options(fn, opt);
    detail::check_tree_batch(fn, target, static_cast<const token_rows<T>*>(nullptr), trees, out, false);
    detail::run_tree_batch(trees.sizes.size(), opt, workspace, out, [&](std::size_t b, auto& scratch, auto& result, auto& path) {
        detail::tree_typical_request(fn, target, trees, b, topt, opt, uniforms, scratch, result, path);
    });
}

/// Typical acceptance over a batch of token trees with the counter-based uniforms of `seed`.
template <class T>
void verify_tree_typical(const token_rows<T>& target, const tree_batch& trees, std::uint64_t seed,
                         const tree_outputs& out, const typical_options& topt = {}, const verify_options& opt = {},
                         multi_draft_workspace* workspace = nullptr) {
    verify_tree_typical_with(target, trees, keyed_uniforms(seed), out, topt, opt, workspace);
}

}  // namespace speculative
}  // namespace kestrel
