// Fixed-point iteration: parallel evaluation of sequential computations (Jacobi, Gauss-Seidel,
// block GS-Jacobi, Jacobi decoding, Picard windows for diffusion), accelerated fixed-point
// solvers (Krasnoselskii-Mann, Halpern, Anderson) and relaxation for sparse linear systems.
#pragma once

// (headers are added here as they land)
#include "fixed_point/triangular_system.hpp"
#include "fixed_point/jacobi_decoding.hpp"
#include "fixed_point/picard_diffusion.hpp"
#include "fixed_point/poisson_2d.hpp"
#include "fixed_point/sparse_relaxation.hpp"
#include "fixed_point/red_black.hpp"
#include "fixed_point/red_black_ordered.hpp"
#include "fixed_point/chebyshev.hpp"
#include "fixed_point/polynomial_preconditioner.hpp"
#include "fixed_point/symmetric_polynomial_fast_gradient.hpp"
#include "fixed_point/symmetric_polynomial_preconditioner.hpp"
#include "fixed_point/omega_bandit.hpp"
#include "fixed_point/fixed_point_options.hpp"
#include "fixed_point/krasnoselskii_mann.hpp"
#include "fixed_point/halpern.hpp"
#include "fixed_point/infeasibility.hpp"
#include "fixed_point/anderson.hpp"
