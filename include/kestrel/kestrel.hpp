// Everything in Kestrel. Each family also has its own umbrella header.
#pragma once

#include "core.hpp"
#include "diffusion.hpp"
#include "kmedoids.hpp"
#include "speculative.hpp"
