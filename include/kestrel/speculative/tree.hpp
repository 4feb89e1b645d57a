// Tree verification (SpecInfer, Miao et al. 2024; the sibling rules of multi_draft.hpp): the
// drafts of a request form a token tree, and the verifier walks it from the root, choosing
// among the children of the current node with a multi-draft rule, until it draws a
// correction or reaches a leaf (then a bonus token follows).
//
// The tree of request b: nodes 0..n-1 (n = trees.sizes[b]); node 0 is the root (the last
// token already accepted; its token entry is ignored). parents(b, v) is v's parent:
// parents(b, 0) = -1 and 0 <= parents(b, v) < v for v >= 1 (a parent precedes its children,
// so the parents describe a tree rooted at 0 and cannot form a cycle; breadth-first and
// depth-first numberings both qualify; children need not be contiguous). The children of a
// node, in increasing node order, are its candidates in drafting order. tokens(b, v) is the
// token of node v, in [0, vocab). The depth of the tree (edges on its longest root path) is
// bounded by the outputs: tokens needs depth + 1 columns, nodes depth columns.
//
// Rows: target row (b, v) holds the target's law after the path to v (its children are judged
// against it; for a leaf it gives the bonus token). Draft row (b, v) holds the law v's
// children were drawn from: i.i.d. for k_seq and recursive_with_replacement (equal sibling
// tokens are allowed and stay separate trials), without replacement for
// recursive_without_replacement (sibling tokens must differ); no draft rows for point_mass
// (sibling tokens must differ). The output follows the target's law when the children were
// drawn as the rule assumes. Row errors name the node as "position". Temperature and sampling
// filters apply as in multi_draft.hpp.
//
// Uniforms: at absolute position trees.positions[b] + depth of the children being judged (the
// first drafted token is at trees.positions[b]), with the purposes and indices of
// multi_draft.hpp (index = order among the siblings).
//
// Outputs: tokens(b, 0..emitted-1) = the kept path's tokens, then the correction or bonus;
// nodes(b, 0..accepted-1) = the kept path's node ids; request_stats as in multi_draft.hpp.
// Written after every request is verified; an error leaves the outputs untouched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "multi_draft.hpp"

namespace kestrel {
namespace speculative {

struct tree_batch {
    matrix_view<const std::int32_t> parents;       ///< [batch][>= max size]
    matrix_view<const std::int32_t> tokens;        ///< [batch][>= max size]
    vector_view<const std::uint32_t> sizes;        ///< [batch]: nodes of request b's tree (>= 1)
    vector_view<const std::uint64_t> request_ids;  ///< [batch]
    vector_view<const std::uint64_t> positions;    ///< [batch]: absolute position of depth-1 tokens
};

struct tree_outputs {
    matrix_view<std::int32_t> tokens;       ///< [batch][>= deepest tree's depth + 1]
    vector_view<request_stats> stats;       ///< [batch]
    matrix_view<std::int32_t> nodes = {};   ///< optional [batch][>= deepest tree's depth]
};

namespace detail {

/// Children of every node in increasing order, as offsets into one list (s.offsets, s.children).
inline void build_children(const tree_batch& t, std::size_t b, sibling_scratch& s) {
    const std::size_t n = t.sizes[b];
    s.offsets.assign(n + 1, 0);
    for (std::size_t v = 1; v < n; ++v) ++s.offsets[static_cast<std::size_t>(t.parents(b, v)) + 1];
    for (std::size_t v = 0; v < n; ++v) s.offsets[v + 1] += s.offsets[v];
    s.children.resize(n > 0 ? n - 1 : 0);
    s.order.assign(s.offsets.begin(), s.offsets.end() - 1);  // next free slot per node
    for (std::size_t v = 1; v < n; ++v) s.children[s.order[static_cast<std::size_t>(t.parents(b, v))]++] = v;
}

/// Runs request(b, scratch, result, path) for every tree of a checked batch (requests across
/// threads), then writes every request's tokens, stats and (if asked for) kept nodes.
template <class Request>
void run_tree_batch(std::size_t batch, const verify_options& opt, multi_draft_workspace* workspace,
                    const tree_outputs& out, Request&& request) {
    multi_draft_workspace local;
    multi_draft_workspace& ws = workspace ? *workspace : local;
    ws.results.resize(batch);
    ws.scratch.resize(static_cast<std::size_t>(effective_threads(opt.policy)));
    ws.paths.resize(batch);
    parallel_for(batch, opt.policy, [&](std::size_t b) {
        request(b, ws.scratch[static_cast<std::size_t>(current_loop_slot())], ws.results[b], ws.paths[b]);
    });
    write_results(ws.results, verify_outputs{out.tokens, out.stats, {}});
    if (out.nodes.data())
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t i = 0; i < ws.paths[b].size(); ++i) out.nodes(b, i) = ws.paths[b][i];
}

template <class T, class Source>
void tree_request(const char* fn, multi_draft_rule rule, const token_rows<T>& target, const token_rows<T>& draft,
                  const tree_batch& t, std::size_t b, const verify_options& opt, const Source& uniforms,
                  sibling_scratch& s, request_result& res, std::vector<std::int32_t>& path) {
    const std::uint64_t req = t.request_ids[b], pos0 = t.positions[b];
    const bool greedy = opt.temperature == 0.0;
    const law_reader<T> rd = make_reader<T>(fn, b, opt, s);
    res.tokens.clear();
    res.flags.clear();
    res.stats = request_stats{};
    path.clear();
    build_children(t, b, s);
    std::size_t u = 0, depth = 0;
    for (;;) {
        const std::size_t c0 = s.offsets[u], c1 = s.offsets[u + 1];
        if (c0 == c1) {
            if (opt.emit_bonus) {
                std::size_t y;
                if (greedy) {
                    y = rd.argmax(target, u, "target");
                } else {
                    y = draw_from_target_row(rd, target, u,
                                             uniforms(uniform_key{req, pos0 + depth, purpose::bonus, 0}), s.sums);
                }
                res.tokens.push_back(static_cast<std::int32_t>(y));
            }
            break;
        }
        s.candidates.clear();
        for (std::size_t i = c0; i < c1; ++i) s.candidates.push_back(t.tokens(b, s.children[i]));
        const sibling_outcome o = verify_siblings(rule, greedy, rd, target, u, draft, u, s.candidates.data(),
                                                  s.candidates.size(), req, pos0 + depth, uniforms, s);
        res.tokens.push_back(static_cast<std::int32_t>(o.token));
        res.stats.residual_fallbacks += o.fallback ? 1u : 0u;
        if (o.trial < 0) break;
        u = s.children[c0 + static_cast<std::size_t>(o.trial)];
        path.push_back(static_cast<std::int32_t>(u));
        ++res.stats.accepted;
        ++depth;
    }
    res.stats.emitted = static_cast<std::uint32_t>(res.tokens.size());
}

}  // namespace detail

namespace detail {

/// Checks a batch of trees (see the header comment) and the outputs they need; returns the
/// deepest tree's depth. `distinct_siblings`: sibling tokens must differ. Rows are checked
/// against the largest tree (target always, draft when present).
template <class T>
std::size_t check_tree_batch(const char* fn, const token_rows<T>& target, const token_rows<T>* draft,
                             const tree_batch& trees, const tree_outputs& out, bool distinct_siblings) {
    const std::size_t batch = trees.sizes.size();
    require(trees.request_ids.size() == batch, fn, "trees.request_ids", "size ", trees.request_ids.size(),
            " does not match the batch (", batch, ")");
    require(trees.positions.size() == batch, fn, "trees.positions", "size ", trees.positions.size(),
            " does not match the batch (", batch, ")");
    std::size_t max_size = 1;
    for (std::size_t b = 0; b < batch; ++b) {
        if (trees.sizes[b] < 1) fail_argument(fn, "trees.sizes", "request ", b, ": a tree needs its root (size 0)");
        max_size = std::max<std::size_t>(max_size, trees.sizes[b]);
    }
    require(trees.parents.rows() == batch && trees.parents.cols() >= max_size, fn, "trees.parents",
            "must be at least ", batch, " x ", max_size, ", got ", trees.parents.rows(), " x ", trees.parents.cols());
    require(trees.tokens.rows() == batch && trees.tokens.cols() >= max_size, fn, "trees.tokens", "must be at least ",
            batch, " x ", max_size, ", got ", trees.tokens.rows(), " x ", trees.tokens.cols());
    check_rows_shape(target, fn, "target", batch, max_size);
    if (draft) check_draft_rows(fn, target, *draft, batch, max_size);
    std::size_t deepest = 0;
    std::vector<std::size_t> depth, count, last_child, previous_sibling;
    const std::size_t none = ~std::size_t(0);
    for (std::size_t b = 0; b < batch; ++b) {
        const std::size_t n = trees.sizes[b];
        if (trees.parents(b, 0) != -1)
            fail_argument(fn, "trees.parents", "request ", b, ", node 0: the root's parent must be -1, got ",
                          trees.parents(b, 0));
        depth.assign(n, 0);
        count.assign(n, 0);
        last_child.assign(n, none);
        previous_sibling.assign(n, none);
        for (std::size_t v = 1; v < n; ++v) {
            const std::int32_t p = trees.parents(b, v);
            if (p < 0 || static_cast<std::size_t>(p) >= v)
                fail_argument(fn, "trees.parents", "request ", b, ", node ", v, ": parent ", p,
                              " must lie in [0, ", v, ") (a parent precedes its children)");
            const std::int32_t x = trees.tokens(b, v);
            if (x < 0 || static_cast<std::size_t>(x) >= target.vocab)
                fail_argument(fn, "trees.tokens", "request ", b, ", node ", v, ": token id ", x, " outside [0, ",
                              target.vocab, ")");
            depth[v] = depth[static_cast<std::size_t>(p)] + 1;
            deepest = std::max(deepest, depth[v]);
            if (++count[static_cast<std::size_t>(p)] >= (std::size_t(1) << 16))
                fail_argument(fn, "trees.parents", "request ", b, ", node ", p, ": more than 2^16 - 1 children");
            // Earlier siblings through a per-parent list: the check costs sum (siblings^2).
            const auto pu = static_cast<std::size_t>(p);
            if (distinct_siblings)
                for (std::size_t w = last_child[pu]; w != none; w = previous_sibling[w])
                    if (trees.tokens(b, w) == x)
                        fail_argument(fn, "trees.tokens", "request ", b, ", nodes ", w, " and ", v,
                                      ": siblings with the same token ", x,
                                      " (the rule needs distinct siblings; merge them)");
            previous_sibling[v] = last_child[pu];
            last_child[pu] = v;
        }
        if (trees.positions[b] >= max_position || deepest + 1 > max_position - trees.positions[b])
            fail_argument(fn, "trees.positions", "request ", b, ": position ", trees.positions[b], " beyond 2^40");
    }
    require(out.stats.size() == batch, fn, "outputs.stats", "size ", out.stats.size(), " does not match the batch (",
            batch, ")");
    require(out.tokens.rows() == batch && out.tokens.cols() >= deepest + 1, fn, "outputs.tokens",
            "must be at least ", batch, " x ", deepest + 1, " (the deepest tree's depth + 1), got ", out.tokens.rows(),
            " x ", out.tokens.cols());
    require(out.nodes.data() == nullptr || (out.nodes.rows() == batch && out.nodes.cols() >= deepest), fn,
            "outputs.nodes", "must be empty or at least ", batch, " x ", deepest);

    return deepest;
}

}  // namespace detail

/// Tree verification of a batch with a caller-chosen uniform source (see the header comment).
/// `draft` is absent (data == nullptr) exactly for rule point_mass.
template <class T, class Source>
void verify_tree_with(multi_draft_rule rule, const token_rows<T>& target, const token_rows<T>& draft,
                      const tree_batch& trees, const Source& uniforms, const tree_outputs& out,
                      const verify_options& opt = {}, multi_draft_workspace* workspace = nullptr) {
    const char* fn = "verify_tree";
    detail::check_multi_options(fn, draft, rule, opt);
    const bool distinct_siblings =
        rule == multi_draft_rule::recursive_without_replacement || rule == multi_draft_rule::point_mass;
    detail::check_tree_batch(fn, target, &draft, trees, out, distinct_siblings);
    detail::run_tree_batch(trees.sizes.size(), opt, workspace, out, [&](std::size_t b, auto& scratch, auto& result, auto& path) {
        detail::tree_request(fn, rule, target, draft, trees, b, opt, uniforms, scratch, result, path);
    });
}

/// Tree verification of a batch with the counter-based uniforms of `seed`.
template <class T>
void verify_tree(multi_draft_rule rule, const token_rows<T>& target, const token_rows<T>& draft,
                 const tree_batch& trees, std::uint64_t seed, const tree_outputs& out, const verify_options& opt = {},
                 multi_draft_workspace* workspace = nullptr) {
    verify_tree_with(rule, target, draft, trees, keyed_uniforms(seed), out, opt, workspace);
}

}  // namespace speculative
}  // namespace kestrel
