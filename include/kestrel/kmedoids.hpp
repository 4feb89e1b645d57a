// k-medoids: dissimilarity sources, initializations, PAM and the fast SWAP family, CLARA and
// CLARANS, silhouettes and medoid-silhouette optimization (FastMSC, DynMSC).
#pragma once

#include "kmedoids/alternating.hpp"
#include "kmedoids/assignment.hpp"
#include "kmedoids/clara.hpp"
#include "kmedoids/clarans.hpp"
#include "kmedoids/dissimilarity.hpp"
#include "kmedoids/fastpam1.hpp"
#include "kmedoids/fastpam2.hpp"
#include "kmedoids/fasterpam.hpp"
#include "kmedoids/initialization.hpp"
#include "kmedoids/medoid_silhouette_optimizer.hpp"
#include "kmedoids/pam.hpp"
#include "kmedoids/result.hpp"
#include "kmedoids/silhouette.hpp"
