// Speculative-decoding acceptance: verify drafted tokens against the target model so that
// the emitted tokens follow the target's law exactly (chain, block, multi-draft and tree
// verification; typical acceptance is the one lossy rule), with
// the inputs as views of the caller's rows, counter-based randomness keyed by request and
// absolute position, and analysis of acceptance rates.
#pragma once

#include "speculative/analysis.hpp"
#include "speculative/block.hpp"
#include "speculative/chain.hpp"
#include "speculative/multi_draft.hpp"
#include "speculative/randomness.hpp"
#include "speculative/rows.hpp"
#include "speculative/sampling_params.hpp"
#include "speculative/softmax.hpp"
#include "speculative/tree.hpp"
#include "speculative/tree_typical.hpp"
#include "speculative/typical.hpp"
#include "speculative/verification.hpp"
