// Sensitivity sampling: weighted-sampling primitives, k-means / k-median coresets, leverage
// scores and l_p Lewis weights, weighted least squares from few samples, distortion evaluation.
#pragma once

// (headers are added here as they land)
#include "sensitivity/sampling_weights.hpp"
#include "sensitivity/alias_table.hpp"
#include "sensitivity/without_replacement.hpp"
#include "sensitivity/poisson_sampling.hpp"
#include "sensitivity/systematic_sampling.hpp"
#include "sensitivity/weighted_reservoir.hpp"
#include "sensitivity/leverage_scores.hpp"
#include "sensitivity/lewis_weights.hpp"
#include "sensitivity/lp_sensitivity_sampling.hpp"
#include "sensitivity/least_squares_sampling.hpp"
#include "sensitivity/subspace_distortion.hpp"
#include "sensitivity/kmeans_distances.hpp"
#include "sensitivity/dz_seeding.hpp"
#include "sensitivity/clustering_coreset.hpp"
#include "sensitivity/coreset_workspace.hpp"
#include "sensitivity/lightweight_coreset.hpp"
#include "sensitivity/weighted_lloyd.hpp"
#include "sensitivity/coreset_distortion.hpp"
#include "sensitivity/tree_seeding.hpp"
