// Diffusion ODE/SDE solvers: schedules, grids, parameterizations, solver steps, the sampling loop.
#pragma once

#include "core.hpp"
#include "diffusion/ancestral.hpp"
#include "diffusion/ddim.hpp"
#include "diffusion/deis.hpp"
#include "diffusion/dpm_solver.hpp"
#include "diffusion/dpm_solver_pp.hpp"
#include "diffusion/dpm_solver_pp_sde.hpp"
#include "diffusion/euler.hpp"
#include "diffusion/grid.hpp"
#include "diffusion/guidance.hpp"
#include "diffusion/heun.hpp"
#include "diffusion/parameterization.hpp"
#include "diffusion/sampler.hpp"
#include "diffusion/schedule.hpp"
#include "diffusion/thresholding.hpp"
#include "diffusion/unipc.hpp"
