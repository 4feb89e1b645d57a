// Everything in Kestrel. Each family also has its own umbrella header.
#pragma once

#include "core.hpp"
#include "diffusion.hpp"
#include "fixed_point.hpp"
#include "kmedoids.hpp"
#include "sensitivity.hpp"
#include "speculative.hpp"
