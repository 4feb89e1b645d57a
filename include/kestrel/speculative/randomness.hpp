// Where the verifiers' uniforms come from.
//
// Every uniform is named by (request id, absolute position, purpose, index) and drawn from the
// counter-based stream (seed, request id): the draw does not depend on the batch row, the
// batch's composition or order, the thread count, or on how a request's verification is
// split into chunks (PEARL's pre-/post-verify). Uniforms have 53 random bits and lie in
// [0, 1), never 1, so an accept test `u * q < p` always accepts when p == q.
//
// The verifiers take the source as a template parameter, so a test can inject chosen values
// (the exact-law audits in tests/speculative sweep u over [0, 1)).
#pragma once

#include <cstdint>

#include "../core/random.hpp"

namespace kestrel {
namespace speculative {

/// What a uniform is used for; part of its name, so that no two uses share a draw.
enum class purpose : std::uint32_t {
    accept = 0,        ///< accept test of the drafted token at a position (index: draft or sibling)
    residual = 1,      ///< inverse-CDF draw from the residual after a rejection
    bonus = 2,         ///< draw from the target row after the last drafted position
    block_accept = 3,  ///< block verification's independent uniform at a position
    selection = 4,     ///< multi-draft: selection among candidates
};

struct uniform_key {
    std::uint64_t request;   ///< the caller's request id
    std::uint64_t position;  ///< absolute position of the token being decided (< 2^40)
    purpose use;
    std::uint32_t index;     ///< sub-draw (draft, sibling or trial), < 2^16
};

/// The default source: Philox4x32-10 keyed (seed, request), draw index
/// position * 2^24 + purpose * 2^16 + index.
class keyed_uniforms {
public:
    constexpr explicit keyed_uniforms(std::uint64_t seed) noexcept : seed_(seed) {}
    double operator()(const uniform_key& k) const noexcept {
        const std::uint64_t draw =
            (k.position << 24) | (std::uint64_t(static_cast<std::uint32_t>(k.use) & 0xff) << 16) | (k.index & 0xffff);
        return counter_rng(seed_, k.request).uniform_double(draw);
    }
    constexpr std::uint64_t seed() const noexcept { return seed_; }

private:
    std::uint64_t seed_;
};

/// Positions must stay below this bound (the key packs them into 40 bits).
inline constexpr std::uint64_t max_position = std::uint64_t(1) << 40;

}  // namespace speculative
}  // namespace kestrel
