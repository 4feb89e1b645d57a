// k-medoids: dissimilarity sources, initializations, PAM and the fast SWAP family, silhouettes.
#pragma once

#include "kmedoids/alternating.hpp"
#include "kmedoids/assignment.hpp"
#include "kmedoids/dissimilarity.hpp"
#include "kmedoids/fastpam1.hpp"
#include "kmedoids/fasterpam.hpp"
#include "kmedoids/initialization.hpp"
#include "kmedoids/pam.hpp"
#include "kmedoids/result.hpp"
#include "kmedoids/silhouette.hpp"
